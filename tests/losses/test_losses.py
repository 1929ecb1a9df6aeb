"""Loss values, schedules, defaults and the gradient penalty against hand computations."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.losses import LOSSES, get_loss, gradient_penalties, reduce_scores
from biogans_tf.losses.registry import penalty


def _bce(logits, label):
    p = 1.0 / (1.0 + np.exp(-logits))
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_reduce_scores_single_and_bank():
    assert float(reduce_scores(tf.constant([1.0, 2.0, 6.0]))) == pytest.approx(3.0)
    bank = tf.constant([[1.0, 3.0], [10.0, 20.0]])  # [C=2, B=2]
    assert float(reduce_scores(bank)) == pytest.approx((2.0 + 15.0) / 2)
    with pytest.raises(ValueError, match="scores"):
        reduce_scores(tf.zeros([2, 2, 2]))


def test_gan_loss_matches_bce():
    loss = get_loss("gan")
    real = np.array([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]], np.float32)
    fake = np.array([[-0.5, 1.5, 0.0], [0.7, -2.0, 0.3]], np.float32)
    want_d = np.mean(_bce(real, 1)) + np.mean(_bce(fake, 0))
    assert float(loss.critic_loss(tf.constant(real), tf.constant(fake))) == pytest.approx(want_d, rel=1e-5)
    assert float(loss.generator_loss(tf.constant(fake))) == pytest.approx(np.mean(_bce(fake, 1)), rel=1e-5)
    assert float(loss.score_gap(tf.constant(real), tf.constant(fake))) == pytest.approx(
        real.mean() - fake.mean()
    )


def test_wgan_losses_and_sign_convention():
    loss = get_loss("wgan")
    real, fake = tf.constant([3.0, 5.0]), tf.constant([1.0, 0.0])
    # The critic scores real images high: d_loss = mean fake - mean real, wdist = real - fake.
    assert float(loss.critic_loss(real, fake)) == pytest.approx(0.5 - 4.0)
    assert float(loss.generator_loss(fake)) == pytest.approx(-0.5)
    assert float(loss.score_gap(real, fake)) == pytest.approx(3.5)


def test_a_loss_holds_only_its_objectives_settings():
    gan, wgan, gp = get_loss("gan"), get_loss("wgan"), get_loss("wgan-gp")
    fields = {f.name for f in dataclasses.fields(gan)}
    assert fields == {"name", "clip", "gp_lambda", "penalty_type"}  # the schedule is the trainer's
    assert (gan.clip, gan.gp_lambda, gan.penalty_type) == (0.0, 0.0, "none")
    assert (wgan.clip, wgan.gp_lambda) == (0.01, 0.0)
    assert (gp.gp_lambda, gp.clip, gp.penalty_type) == (10.0, 0.0, "gp")
    assert sorted(LOSSES) == ["gan", "wgan", "wgan-gp"]


def test_get_loss_overrides_and_errors():
    loss = get_loss("wgan-gp", gp_lambda=None, clip=0.5)
    assert loss.gp_lambda == 10.0 and loss.clip == 0.5
    with pytest.raises(ValueError, match="--gan='lsgan'"):
        get_loss("lsgan")
    with pytest.raises(ValueError, match="--clip"):
        get_loss("wgan", clip=-1.0)
    with pytest.raises(TypeError):
        get_loss("gan", n_critic=2)  # not a loss's setting


def test_gradient_penalty_linear_critic_is_exact():
    # D(x) = sum(w * x) has gradient w everywhere: penalty (||w|| - 1)^2 for every sample and eps.
    w = tf.constant(np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32))

    def critic(x, training=True):
        return tf.reduce_sum(x * w, axis=[-3, -2, -1])

    real = tf.random.stateless_uniform([3, 4, 6, 2], seed=[1, 2])
    fake = tf.random.stateless_uniform([3, 4, 6, 2], seed=[3, 4])
    got = gradient_penalties(critic, real, fake, tf.constant([5, 6], tf.int64)).numpy()
    want = (np.linalg.norm(w.numpy()) - 1.0) ** 2
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    bank_real = tf.stack([real, real])
    got_bank = gradient_penalties(critic, bank_real, tf.stack([fake, fake]), tf.constant([5, 6], tf.int64))
    assert got_bank.shape == (2, 3)


def test_gradient_penalty_uses_one_eps_per_sample_and_critic():
    # D(x) = 0.5 * sum(x^2): gradient x, so ||grad|| = ||eps*real + (1-eps)*fake|| reveals eps.
    def critic(x, training=True):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[-3, -2, -1])

    real = tf.ones([2, 5, 2, 2, 1])  # [C, B, H, W, ch]
    fake = tf.zeros([2, 5, 2, 2, 1])
    seed = tf.constant([7, 8], tf.int64)
    got = gradient_penalties(critic, real, fake, seed).numpy()
    eps = tf.random.stateless_uniform([2, 5, 1, 1, 1], seed=seed).numpy().reshape(2, 5)
    np.testing.assert_allclose(got, (eps * 2.0 - 1.0) ** 2, rtol=1e-5, atol=1e-6)  # ||eps * ones(4)|| = 2 eps
    assert len(np.unique(np.round(got, 6))) == 10  # all (critic, sample) pairs got their own eps


def test_wgan_gp_penalty_is_float32_mean():
    loss = get_loss("wgan-gp")

    def critic(x, training=True):
        return tf.reduce_sum(x, axis=[-3, -2, -1])

    x = tf.zeros([2, 2, 2, 1])
    # gradient = ones(4): norm 2, penalty 1 per sample.
    assert float(penalty(loss, critic, x, x, tf.constant([0, 1], tf.int64))) == pytest.approx(1.0)
    assert float(penalty(get_loss("wgan"), critic, x, x, None)) == 0.0

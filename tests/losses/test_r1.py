"""The R1 penalty on real images (`--penalty=r1`): exact values, shapes, float32, registry, config."""

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.losses import LOSSES, PENALTIES, get_loss
from biogans_tf.losses.r1 import r1_penalties, r1_penalty
from biogans_tf.losses.registry import penalty
from biogans_tf.trainer.config import ConfigError, resolve


def test_r1_of_a_linear_critic_is_the_squared_weight_norm():
    # D(x) = sum(w * x) has gradient w everywhere: ||grad||^2 = ||w||^2 for every real sample.
    w = tf.constant(np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32))

    def critic(x, training=True):
        return tf.reduce_sum(x * w, axis=[-3, -2, -1])

    real = tf.random.stateless_uniform([3, 4, 6, 2], seed=[1, 2])
    got = r1_penalties(critic, real).numpy()
    assert got.shape == (3,)
    np.testing.assert_allclose(got, np.sum(w.numpy() ** 2), rtol=1e-5)
    assert r1_penalties(critic, tf.stack([real, real])).shape == (2, 3)  # a bank [C, B, ...]


def test_r1_looks_at_real_images_only_and_is_half_the_mean():
    # D(x) = 0.5 * sum(x^2): gradient x, so ||grad||^2 = sum(real^2); fakes and seed play no part.
    def critic(x, training=True):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[-3, -2, -1])

    real = tf.reshape(tf.range(12, dtype=tf.float32), [2, 3, 2, 1, 1]) / 10.0  # [C, B, H, W, ch]
    loss = get_loss("wgan-gp", penalty_type="r1")
    want = 0.5 * np.mean(np.sum(real.numpy() ** 2, axis=(2, 3, 4)))
    got = penalty(loss, critic, real, tf.zeros_like(real) + 5.0, tf.constant([1, 2], tf.int64))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    assert float(r1_penalty(critic, real, -real, None)) == float(got)


def test_r1_is_float32_under_a_bfloat16_critic():
    def critic(x, training=True):
        return tf.reduce_sum(tf.cast(x, tf.bfloat16) * tf.constant(3.0, tf.bfloat16), axis=[-3, -2, -1])

    got = r1_penalties(critic, tf.ones([2, 2, 2, 1], tf.bfloat16))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), 9.0 * 4)


def test_penalty_registry_and_loss_defaults():
    assert sorted(PENALTIES) == ["gp", "none", "r1"] and sorted(LOSSES) == ["gan", "wgan", "wgan-gp"]
    assert [get_loss(n).penalty_type for n in ("gan", "wgan", "wgan-gp")] == ["none", "none", "gp"]
    r1 = get_loss("gan", penalty_type="r1", gp_lambda=1.0)
    assert (r1.name, r1.penalty_type, r1.gp_lambda) == ("gan", "r1", 1.0)
    with pytest.raises(ValueError, match="--penalty='l2'"):
        get_loss("wgan-gp", penalty_type="l2")


def test_config_penalty_follows_the_loss_and_needs_a_weight():
    assert resolve({"run_dir": "x"}).penalty == "gp"
    assert resolve({"run_dir": "x", "gan": "wgan"}).penalty == "none"
    cfg = resolve({"run_dir": "x", "penalty": "r1"})
    assert (cfg.penalty, cfg.gp_lambda, cfg.loss().penalty_type) == ("r1", 10.0, "r1")
    gan_r1 = resolve(
        {"run_dir": "x", "gan": "gan", "penalty": "r1", "gp_lambda": 5.0, "critic_batchnorm": False}
    )
    assert (gan_r1.loss().name, gan_r1.loss().penalty_type, gan_r1.loss().gp_lambda) == ("gan", "r1", 5.0)
    with pytest.raises(ConfigError, match="--penalty=r1 needs its weight: --gp_lambda"):
        resolve({"run_dir": "x", "gan": "gan", "penalty": "r1"})

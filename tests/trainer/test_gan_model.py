"""GanTrainer: every architecture x loss trains; the reference's step semantics hold exactly."""

import math

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.losses.registry import penalty
from biogans_tf.trainer.gan_model import _PURPOSE_EPS, stateless_seed
from tests.trainer.util import Recorder, dataset, make_trainer, with_nan_at

FAST_ARCHS = ("dcgan", "multichannel", "star")  # one per family
OTHER_ARCHS = ("dcgan-sep", "multichannel-sep", "independent", "independent-sep")
# Cheap schedules: 2 critic steps per generator step, no WGAN bursts.
LOSS_KW = {"gan": {}, "wgan": {"n_critic": 2, "n_critic_burst": 0}, "wgan-gp": {"n_critic": 2}}


def _snapshot(model):
    return [np.array(v) for v in model.weights]


def _train_two_iterations(arch, gan):
    t = make_trainer(arch, gan, **LOSS_KW[gan])
    g0, d0 = _snapshot(t.generator), _snapshot(t.critic)
    rec = Recorder()
    n = t.schedule.total_critic_steps(0, 2)
    t.fit(dataset(arch), steps_per_epoch=n, epochs=1, verbose=0, shuffle=False, callbacks=[rec])
    assert int(t.step.numpy()) == 2 and int(t.critic_step.numpy()) == n
    assert int(t.d_optimizer.iterations.numpy()) == n and int(t.g_optimizer.iterations.numpy()) == 2
    d_losses = [r["d_loss"] for r in rec.logs]
    assert all(math.isfinite(r[k]) for r in rec.logs for k in ("d_loss", "g_loss", "gp", "wdist"))
    assert len(set(np.round(d_losses, 7))) > 1, d_losses  # the loss moves
    assert [r["generator_updated"] for r in rec.logs].count(1.0) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(g0, _snapshot(t.generator), strict=False))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, _snapshot(t.critic), strict=False))
    if gan == "wgan":
        assert max(float(np.abs(v).max()) for v in t.critic.trainable_weights) <= 0.01 + 1e-7
    if gan == "wgan-gp":
        assert all(r["gp"] > 0 for r in rec.logs)
    return t


@pytest.mark.parametrize("gan", ["gan", "wgan", "wgan-gp"])
@pytest.mark.parametrize("arch", FAST_ARCHS)
def test_each_family_trains_with_each_loss(arch, gan):
    _train_two_iterations(arch, gan)


@pytest.mark.parametrize("gan", ["gan", "wgan", "wgan-gp"])
@pytest.mark.parametrize("arch", OTHER_ARCHS)
def test_other_archs_train_with_each_loss(arch, gan):
    _train_two_iterations(arch, gan)


def test_wgan_burst_schedule_drives_fit_steps():
    t = make_trainer("dcgan", "wgan", n_critic=2, n_critic_burst=3, burst_first=1, burst_every=0)
    rec = Recorder()
    t.fit(dataset("dcgan"), steps_per_epoch=3 + 2 + 2, verbose=0, shuffle=False, callbacks=[rec])
    assert [int(r["generator_updated"]) for r in rec.logs] == [0, 0, 1, 0, 1, 0, 1]
    assert int(t.step.numpy()) == 3


def test_generator_step_reuses_last_fakes_with_updated_critic():
    """Replay one WGAN-GP iteration (n_critic=1) eagerly and compare every weight."""
    t = make_trainer("dcgan", "wgan-gp", n_critic=1)
    ref = make_trainer("dcgan", "wgan-gp", n_critic=1)  # same seed: identical initial weights
    real = next(iter(dataset("dcgan")))[0]
    t.fit(tf.data.Dataset.from_tensors(real).repeat(), steps_per_epoch=1, verbose=0, shuffle=False)

    loss = ref.gan_loss
    z = ref._draw_z(tf.constant(0, tf.int64))
    with tf.GradientTape() as g_tape:
        fake = ref.generator(z, training=True)  # the ONLY generator forward of the iteration
    with tf.GradientTape() as d_tape:
        sg = tf.stop_gradient(fake)
        d_loss = loss.critic_loss(ref.critic(real, training=True), ref.critic(sg, training=True))
        d_loss += loss.gp_lambda * penalty(loss, ref.critic, real, sg, stateless_seed(0, 0, _PURPOSE_EPS))
    dv = ref.critic.trainable_variables
    ref.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, dv), dv, strict=False))
    with g_tape:
        g_loss = loss.generator_loss(ref.critic(fake, training=True))  # the just-updated critic
    gv = ref.generator.trainable_variables
    ref.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, gv), gv, strict=False))

    for a, b in zip(t.critic.weights, ref.critic.weights, strict=False):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-7)
    # Generator weights AND BatchNorm moving statistics: one forward pass, not two.
    for a, b in zip(t.generator.weights, ref.generator.weights, strict=False):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-7, err_msg=a.path)
    assert float(t.last_g_loss.numpy()) == pytest.approx(float(g_loss), rel=1e-5)


def test_ema_generator_tracks_generator():
    t = make_trainer("dcgan", "gan", ema=True, ema_decay=0.5)
    g0 = _snapshot(t.generator)
    assert all(
        np.array_equal(a, np.array(b)) for a, b in zip(g0, t.ema_generator.weights, strict=False)
    )  # reset at compile
    t.fit(dataset("dcgan"), steps_per_epoch=1, verbose=0, shuffle=False)
    trainable = {id(v) for v in t.generator.trainable_weights}
    for w0, w, e in zip(g0, t.generator.weights, t.ema_generator.weights, strict=False):
        want = 0.5 * w0 + 0.5 * np.array(w) if id(w) in trainable else np.array(w)
        np.testing.assert_allclose(np.array(e), want, rtol=1e-6, atol=1e-7)
    z = tf.zeros([2, 16])
    assert not np.allclose(np.array(t.sample(z)), np.array(t.sample(z, use_ema=False)))


def test_nan_in_data_shows_in_losses():
    t = make_trainer("dcgan", "gan")
    rec = Recorder()
    t.fit(with_nan_at(dataset("dcgan"), 1), steps_per_epoch=2, verbose=0, shuffle=False, callbacks=[rec])
    assert math.isfinite(rec.logs[0]["d_loss"]) and math.isnan(rec.logs[1]["d_loss"])


@pytest.mark.parametrize("gan", ["wgan-gp", "wgan"])
def test_fused_weight_updates_train_the_same_numbers(gan):
    """XLA-fused optimiser steps, clipping and EMA: the same losses and weights to float32 rounding."""
    runs = []
    for fused in (False, True):
        t = make_trainer("star", gan, ema=True, ema_decay=0.9, fused_updates=fused, **LOSS_KW[gan])
        rec = Recorder()
        n = t.schedule.total_critic_steps(0, 3)
        t.fit(dataset("star"), steps_per_epoch=n, epochs=1, verbose=0, shuffle=False, callbacks=[rec])
        assert int(t.g_optimizer.iterations.numpy()) == 3
        runs.append((rec.logs, t))
    (logs_a, a), (logs_b, b) = runs
    for key in ("d_loss", "g_loss", "wdist"):
        np.testing.assert_allclose([r[key] for r in logs_b], [r[key] for r in logs_a], rtol=1e-4, atol=1e-5)
    for model in ("generator", "critic", "ema_generator"):
        for va, vb in zip(getattr(a, model).weights, getattr(b, model).weights, strict=True):
            np.testing.assert_allclose(np.asarray(vb), np.asarray(va), rtol=1e-4, atol=1e-6, err_msg=va.path)
    if gan == "wgan":  # the clipping ran inside the fused update
        assert max(float(np.abs(v).max()) for v in b.critic.trainable_weights) <= 0.01 + 1e-7

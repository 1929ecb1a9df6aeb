"""Checkpoints restore the full training state; mismatches and bad weights are refused."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.trainer.checkpoint import (
    CheckpointError,
    TrainingCheckpoints,
    restore_generator,
    save_keras_model,
)
from tests.trainer.util import dataset, make_trainer


def test_save_restore_round_trip(tmp_path):
    t = make_trainer("dcgan", "wgan-gp", n_critic=1, ema=True)
    t.fit(dataset("dcgan"), steps_per_epoch=2, verbose=0, shuffle=False)
    ck = TrainingCheckpoints(t, str(tmp_path / "checkpoints"), max_to_keep=2)
    path = ck.save()
    assert path.endswith("ckpt-2") and ck.latest == path

    fresh = make_trainer("dcgan", "wgan-gp", n_critic=1, ema=True, seed=5)  # other init
    assert TrainingCheckpoints(fresh, str(tmp_path / "empty")).restore_latest() is None
    step = TrainingCheckpoints(fresh, str(tmp_path / "checkpoints")).restore_latest()
    assert step == 2 and int(fresh.critic_step.numpy()) == 2
    for m_a, m_b in (
        (t.generator, fresh.generator),
        (t.critic, fresh.critic),
        (t.ema_generator, fresh.ema_generator),
    ):
        for a, b in zip(m_a.weights, m_b.weights, strict=False):
            np.testing.assert_array_equal(np.array(a), np.array(b))
    for a, b in zip(t.d_optimizer.variables, fresh.d_optimizer.variables, strict=False):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    assert int(fresh.g_optimizer.iterations.numpy()) == 2


def test_keep_n_and_refuse_non_finite(tmp_path):
    t = make_trainer("dcgan", "gan")
    ck = TrainingCheckpoints(t, str(tmp_path), max_to_keep=2)
    for _ in range(3):
        t.step.assign_add(1)
        ck.save()
    names = sorted(f for f in os.listdir(tmp_path) if f.endswith(".index"))
    assert names == ["ckpt-2.index", "ckpt-3.index"]
    t.critic.trainable_weights[0].assign(tf.fill(t.critic.trainable_weights[0].shape, np.nan))
    t.step.assign_add(1)
    with pytest.raises(CheckpointError, match="NaN"):
        ck.save()
    assert ck.latest.endswith("ckpt-3")


def test_restore_into_other_architecture_is_a_clear_error(tmp_path):
    t = make_trainer("dcgan", "gan")
    TrainingCheckpoints(t, str(tmp_path)).save()
    other = make_trainer("star", "gan")
    with pytest.raises(CheckpointError, match="does not match"):
        TrainingCheckpoints(other, str(tmp_path)).restore_latest()


def test_save_keras_model_is_loadable_and_leaves_no_temp(tmp_path):
    t = make_trainer("dcgan", "gan")
    path = str(tmp_path / "generator.keras")
    save_keras_model(t.generator, path)
    assert os.listdir(tmp_path) == ["generator.keras"]
    loaded = keras.saving.load_model(path)
    z = tf.random.stateless_normal([3, 16], seed=[1, 2])
    np.testing.assert_allclose(np.array(loaded(z)), np.array(t.generator(z)), atol=1e-6)
    with pytest.raises(ValueError, match=".keras"):
        save_keras_model(t.generator, str(tmp_path / "g.h5"))


def test_restore_generator_for_export(tmp_path):
    t = make_trainer("star", "gan", ema=True, ema_decay=0.5)
    t.fit(dataset("star"), steps_per_epoch=1, verbose=0, shuffle=False)
    TrainingCheckpoints(t, str(tmp_path)).save()
    for ema, src in ((False, t.generator), (True, t.ema_generator)):
        g = make_trainer("star", "gan", seed=9).generator
        assert restore_generator(g, str(tmp_path), ema=ema) == 1
        for a, b in zip(src.weights, g.weights, strict=False):  # BatchNorm moving statistics included
            np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=a.path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        restore_generator(g, str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="cannot restore"):
        restore_generator(g, str(tmp_path / "missing" / "ckpt-1"))

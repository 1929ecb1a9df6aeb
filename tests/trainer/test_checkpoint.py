"""Checkpoints restore the full training state; mismatches and bad weights are refused."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.io_utils import write_keras
from biogans_tf.trainer.checkpoint import (
    CheckpointError,
    CorruptCheckpointError,
    TrainingCheckpoints,
    restore_generator,
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
    write_keras(t.generator, path)
    assert os.listdir(tmp_path) == ["generator.keras"]
    loaded = keras.saving.load_model(path)
    z = tf.random.stateless_normal([3, 16], seed=[1, 2])
    np.testing.assert_allclose(np.array(loaded(z)), np.array(t.generator(z)), atol=1e-6)
    with pytest.raises(ValueError, match=".keras"):
        write_keras(t.generator, str(tmp_path / "g.h5"))


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


def _saved_run(directory, steps=3, keep=3):
    t = make_trainer("dcgan", "gan")
    ck = TrainingCheckpoints(t, str(directory), max_to_keep=keep)
    for _ in range(steps):
        t.step.assign_add(1)
        ck.save()
    return t


def _truncate(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


@pytest.mark.parametrize("state", ["missing", "empty", "garbage"])
def test_resume_lists_the_files_when_the_state_file_is_lost(tmp_path, state):
    _saved_run(tmp_path)
    state_file = tmp_path / "checkpoint"
    if state == "missing":
        state_file.unlink()
    else:
        state_file.write_text("" if state == "empty" else "}{ not a CheckpointState")
    ck = TrainingCheckpoints(make_trainer("dcgan", "gan", seed=5), str(tmp_path), max_to_keep=3)
    assert ck.restore_latest() == 3 and ck.restored_from.endswith("ckpt-3")
    assert ck.latest.endswith("ckpt-3")  # the manager now knows the checkpoints again


@pytest.mark.parametrize("damage", ["data", "index"])
def test_corrupt_newest_falls_back_and_is_kept_aside(tmp_path, damage):
    _saved_run(tmp_path, steps=3, keep=2)  # ckpt-2, ckpt-3
    bad = tmp_path / ("ckpt-3.data-00000-of-00001" if damage == "data" else "ckpt-3.index")
    _truncate(bad)
    lines = []
    t = make_trainer("dcgan", "gan", seed=5)
    ck = TrainingCheckpoints(t, str(tmp_path), max_to_keep=2)
    assert ck.restore_latest(log=lines.append) == 2 and ck.restored_from.endswith("ckpt-2")
    assert len(lines) == 1 and str(bad) in lines[0] and "truncated" in lines[0]
    # Set aside, not deleted, and never pruned by later saves.
    assert (tmp_path / f"corrupt-{bad.name}").exists() and not bad.exists()
    for _ in range(3):
        t.step.assign_add(1)
        ck.save()
    names = sorted(os.listdir(tmp_path))
    kept = [n for n in names if n.startswith("ckpt-") and n.endswith(".index")]
    assert kept == ["ckpt-4.index", "ckpt-5.index"]
    assert f"corrupt-{bad.name}" in names


def test_no_intact_checkpoint_is_a_clear_error(tmp_path):
    _saved_run(tmp_path, steps=2)
    for name in ("ckpt-1.index", "ckpt-2.index"):
        _truncate(tmp_path / name)
    ck = TrainingCheckpoints(make_trainer("dcgan", "gan"), str(tmp_path))
    with pytest.raises(CorruptCheckpointError, match=r"none of the 2 checkpoints restores; .*ckpt-2.index"):
        ck.restore_latest(log=lambda line: None)
    g = make_trainer("dcgan", "gan").generator
    with pytest.raises(CorruptCheckpointError, match="ckpt-2.index: missing, truncated or corrupt"):
        restore_generator(g, str(tmp_path / "ckpt-2"))


def test_restore_generator_skips_a_corrupt_newest(tmp_path, capsys):
    t = _saved_run(tmp_path, steps=2)
    _truncate(tmp_path / "ckpt-2.data-00000-of-00001")
    g = make_trainer("dcgan", "gan", seed=7).generator
    assert restore_generator(g, str(tmp_path)) == 1
    assert "ckpt-2.data-00000-of-00001" in capsys.readouterr().err
    assert os.path.exists(tmp_path / "ckpt-2.index")  # export only reads: nothing renamed
    del t


def test_save_failure_is_a_checkpoint_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    t = make_trainer("dcgan", "gan")
    ck = TrainingCheckpoints(t, str(tmp_path / "file" / "checkpoints"))
    with pytest.raises(CheckpointError, match=r"file/checkpoints: cannot write checkpoint ckpt-0"):
        ck.save()

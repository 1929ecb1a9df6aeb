"""The two stabilisers beyond the paper, end to end through `python -m training.run`.

`--penalty=r1` (R1 on real images, Mescheder et al. 2018) and `--critic_norm=spectral`
(`keras.layers.SpectralNormalization` around every critic conv): each trains a few steps with
finite losses, stops and resumes to exactly the weights of an uninterrupted run (the spectral
vectors `u` are checkpointed with the critic), and exports a SavedModel that reloads.
"""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from biogans_tf.export import saved_model as sm
from tests.conftest import run_cli, tiny_flags

pytestmark = pytest.mark.e2e

CLI_TINY = tiny_flags(sample_every=100, log_every=1, n_critic=2, checkpoint_every=2, deterministic=True)


def _run(args):
    p = run_cli("training.run", *CLI_TINY, *args)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _losses(run_dir):
    """The TensorBoard loss scalars (`d_loss`, `g_loss`, `gp`), one value per logged iteration."""
    acc = event_accumulator.EventAccumulator(
        os.path.join(run_dir, "tb"), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    return {
        t: [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(t)]
        for t in ("d_loss", "g_loss", "gp")
    }


@pytest.mark.parametrize(
    "option, arch, config_key, value",
    [
        ("--penalty=r1", "dcgan", "penalty", "r1"),
        ("--critic_norm=spectral", "star", "critic_norm", "spectral"),
    ],
    ids=["r1", "spectral"],
)
def test_option_trains_resumes_exactly_and_exports(tmp_path, option, arch, config_key, value):
    common = [option, f"--arch={arch}"]
    a, b = tmp_path / "a", tmp_path / "b"
    res = _run([*common, "--steps=4", f"--run_dir={a}"])
    assert res["status"] == "ok" and res["step"] == 4
    scalars = _losses(a)
    for tag in ("d_loss", "g_loss", "gp"):
        assert len(scalars[tag]) == 4 and all(math.isfinite(v) for v in scalars[tag]), (tag, scalars[tag])
    if value == "r1":
        assert all(gp > 0 for gp in scalars["gp"]), scalars["gp"]  # active: 1/2 E|grad D(real)|^2
    config = json.loads((a / "config.json").read_text())
    assert config[config_key] == value

    # Stop after 2 iterations, resume to 4: the same weights, optimiser slots and spectral vectors.
    assert _run([*common, "--steps=2", f"--run_dir={b}"])["step"] == 2
    res = _run([*common, "--steps=4", f"--run_dir={b}", "--resume"])
    assert res["start_step"] == 2 and res["step"] == 4
    ra = tf.train.load_checkpoint(str(a / "checkpoints" / "ckpt-4"))
    rb = tf.train.load_checkpoint(str(b / "checkpoints" / "ckpt-4"))
    keys = [k for k in ra.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE")]
    assert any(k.startswith("critic/") for k in keys) and any("optimizer" in k for k in keys)
    if value == "spectral":
        assert any("vector_u" in k for k in keys), keys
    for k in keys:
        np.testing.assert_array_equal(ra.get_tensor(k), rb.get_tensor(k), err_msg=k)

    written = sm.export_run(str(b), str(tmp_path / "models"), "cells", warmup=False)
    loaded = tf.saved_model.load(written["cells"])
    out = loaded.signatures["sample"](n=tf.constant(3, tf.int32), seed=tf.constant(1, tf.int64))
    images = out["images"].numpy()
    assert images.shape[0] == 3 and images.shape[1:3] == (24, 40)
    assert np.isfinite(images).all() and np.abs(images).max() <= 1.0

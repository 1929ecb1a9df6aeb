"""`--precision` end to end through `python -m training.run`: what `auto` chose is in config.json,
a bfloat16 run trains with finite losses, resumes, and writes float32 generators for everyone
who loads them (samplers, exports, servers)."""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import biogans_tf  # noqa: F401  (registers the custom classes for keras.saving.load_model)
from biogans_tf.models.critic_bank import grouped_training_error
from biogans_tf.trainer.precision import resolve_precision
from tests.conftest import run_cli, tiny_flags

pytestmark = [pytest.mark.cpu_kinds, pytest.mark.e2e]

CLI_TINY = tiny_flags(arch="star", sample_every=100, log_every=1, n_critic=2, checkpoint_every=2, ema=True)


def _run(args):
    p = run_cli("training.run", *CLI_TINY, *args)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def test_auto_is_recorded_and_resumes(tmp_path):
    run = str(tmp_path / "run")
    res, err = _run([f"--run_dir={run}", "--steps=2", "--precision=auto"])
    chosen = resolve_precision("auto")[0]
    with open(os.path.join(run, "config.json")) as f:
        assert json.load(f)["precision"] == chosen
    assert f"precision: {chosen} (auto: " in err
    assert all(math.isfinite(v) for v in res["metrics"].values())
    res, _ = _run([f"--run_dir={run}", "--steps=3", "--precision=auto", "--resume"])
    assert res["start_step"] == 2 and res["step"] == 3


# loop: tests/trainer/test_precision.py; auto is grouped where it trains (oneDNN), else loop.
@pytest.mark.parametrize("bank", ["auto"])
def test_bf16_run_writes_float32_generators(tmp_path, bank):
    run = str(tmp_path / "run")
    res, _ = _run([f"--run_dir={run}", "--steps=2", "--precision=bf16", f"--critic_bank={bank}"])
    with open(os.path.join(run, "config.json")) as f:
        expected = "grouped" if grouped_training_error("bfloat16") is None else "loop"
        assert json.load(f)["critic_bank"] == expected
    assert all(math.isfinite(v) for v in res["metrics"].values())
    z = tf.random.stateless_normal([3, 16], seed=[1, 2])
    for name in ("generator.keras", "generator_ema.keras"):
        g = keras.saving.load_model(os.path.join(run, name))
        assert g.compute_dtype == "float32"
        x = g(z, training=False)
        assert x.dtype == tf.float32 and x.shape == (3, 24, 40, 3)
        assert np.all(np.isfinite(x.numpy())) and float(tf.reduce_max(tf.abs(x))) <= 1.0

"""End-to-end runs of the training program: run directory, TensorBoard, NaN guard, resume."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from biogans_tf.data import pipeline
from biogans_tf.models import registry
from biogans_tf.runs.folder import read_metadata
from biogans_tf.trainer.checkpoint import restore_generator
from biogans_tf.trainer.config import ConfigError, resolve
from biogans_tf.training.train import train
from tests.conftest import ROOT, subprocess_env
from tests.trainer.util import with_nan_at

TINY = dict(
    image_size=(24, 40),
    ngf=8,
    ndf=8,
    nz=16,
    batch_size=4,
    data="sim:8",
    proteins=("Alp14", "Arp3"),
    log_every=1,
)
CLI_TINY = [
    "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4", "--data=sim:8",
    "--proteins=Alp14,Arp3", "--sample_every=100", "--log_every=100",
]  # fmt: skip


def _tb_tensors(run_dir):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: acc.Tensors(tag) for tag in acc.Tags()["tensors"]}


def test_star_run_writes_a_complete_run_directory(tiny_star_run):
    run = tiny_star_run  # 2 steps, n_critic=1, EMA, a sample and a checkpoint every step
    results = json.load(open(os.path.join(run, "results.json")))
    assert results["status"] == "ok" and results["step"] == 2 and results["critic_steps"] == 2

    config = json.load(open(os.path.join(run, "config.json")))
    assert (
        config["arch"] == "star"
        and config["proteins"] == ["Alp14", "Arp3"]
        and config["image_size"] == [24, 40]
    )
    assert config["n_critic"] == 1 and config["gp_lambda"] == 10.0 and config["ema"] is True
    assert json.load(open(os.path.join(run, "proteins.json"))) == ["Alp14", "Arp3"]
    assert sorted(os.listdir(os.path.join(run, "samples"))) == ["step_0000001.png", "step_0000002.png"]
    grid = np.asarray(Image.open(os.path.join(run, "samples", "step_0000002.png")))
    assert grid.shape[2] == 3 and grid.shape[0] > grid.shape[1] // 2  # 8 rows x 2 proteins

    g = keras.saving.load_model(os.path.join(run, "generator_ema.keras"))
    assert g(tf.zeros([1, 16])).shape == (1, 24, 40, 3)
    assert os.path.exists(os.path.join(run, "generator.keras"))
    # Both files carry their own metadata (biogans_tf.load_generator needs no config.json).
    meta = read_metadata(os.path.join(run, "generator_ema.keras"))
    got = (meta["arch"], meta["proteins"], meta["nz"], meta["image_size"])
    assert got == ("star", ["Alp14", "Arp3"], 16, [24, 40])
    assert meta["ema"] is True and read_metadata(os.path.join(run, "generator.keras"))["ema"] is False
    # Export's path: rebuild from config.json and restore from the newest checkpoint.
    fresh = registry.build_generator("star", image_size=(24, 40), n_proteins=2, nz=16, ngf=8, seed=3)
    assert restore_generator(fresh, os.path.join(run, "checkpoints"), ema=True) == 2
    np.testing.assert_allclose(np.array(fresh(tf.ones([1, 16]))), np.array(g(tf.ones([1, 16]))), atol=1e-6)

    tensors = _tb_tensors(os.path.join(run, "tb"))
    for tag in ("d_loss", "g_loss", "gp", "wdist", "steps_per_s", "images_per_s"):
        events = tensors[tag]
        assert [e.step for e in events] == [1, 2], tag
        assert all(np.isfinite(tf.make_ndarray(e.tensor_proto)) for e in events)
    assert tf.make_ndarray(tensors["images_per_s"][-1].tensor_proto) > 0
    image = tf.make_ndarray(tensors["samples"][-1].tensor_proto)  # [width, height, png]
    png = Image.open(io.BytesIO(image[2]))
    assert png.size == (int(image[0]), int(image[1])) and png.mode == "RGB"


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = str(tmp_path / "run")
    cfg = resolve(dict(TINY, arch="dcgan", gan="gan", steps=5, checkpoint_every=1, sample_every=100,
                       run_dir=run))  # fmt: skip
    make_batches = pipeline.make_batches

    def nan_at_iteration_2(*args, start_step=0, **kwargs):  # gan: one critic step per iteration
        return with_nan_at(make_batches(*args, start_step=start_step, **kwargs), 2, start_step)

    monkeypatch.setattr(pipeline, "make_batches", nan_at_iteration_2)
    results = train(cfg)
    assert results["status"] == "failed"
    assert "non-finite d_loss=nan in generator iteration 3" in results["error"]  # 0-based 2
    assert results["last_checkpoint"].endswith("ckpt-2") and "ckpt-2" in results["error"]
    assert not os.path.exists(os.path.join(run, "generator.keras"))
    g = registry.build_generator("dcgan", image_size=(24, 40), n_proteins=2, nz=16, ngf=8)
    assert restore_generator(g, os.path.join(run, "checkpoints")) == 2
    assert all(np.isfinite(np.array(v)).all() for v in g.weights)


def test_data_checks_and_existing_run_dir(tmp_path):
    with pytest.raises(ConfigError, match=r"--batch_size=16 is larger than the 8 training images of protein"):
        train(resolve(dict(TINY, arch="star", batch_size=16, run_dir=str(tmp_path / "a"))))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run .*--resume"):
        train(resolve(dict(TINY, arch="dcgan", run_dir=str(tmp_path / "b"))))


def _cli(args, program=("training.run",), **kw):
    env = subprocess_env()
    return subprocess.Popen(
        [sys.executable, "-m", *program, *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


@pytest.mark.e2e
def test_cli_rejects_incompatible_flags(tmp_path):
    p = _cli(["--arch=star", "--proteins=Alp14", f"--run_dir={tmp_path / 'r'}"])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "--arch=star" in err and "--proteins=Alp14" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.e2e
def test_sigkill_and_resume_matches_an_uninterrupted_run(tmp_path):
    common = CLI_TINY + ["--arch=dcgan", "--steps=6", "--checkpoint_every=2", "--deterministic"]
    a, b = tmp_path / "a", tmp_path / "b"
    p = _cli(common + [f"--run_dir={a}"])
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["step"] == 6

    p = _cli(common + [f"--run_dir={b}"], program=("tests.training.slow_run", "1.0"))
    deadline = time.time() + 240
    while not (b / "checkpoints" / "checkpoint").exists():
        assert p.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    killed_at = tf.train.latest_checkpoint(str(b / "checkpoints"))
    assert not killed_at.endswith("ckpt-6")

    p = _cli(common + [f"--run_dir={b}", "--resume"])
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["start_step"] == int(killed_at.rsplit("-", 1)[1]) and res["step"] == 6

    ra = tf.train.load_checkpoint(str(a / "checkpoints" / "ckpt-6"))
    rb = tf.train.load_checkpoint(str(b / "checkpoints" / "ckpt-6"))
    keys = [k for k in ra.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE")]
    assert any(k.startswith("generator/") for k in keys) and any("optimizer" in k for k in keys)
    for k in keys:
        np.testing.assert_array_equal(ra.get_tensor(k), rb.get_tensor(k), err_msg=k)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "flag, names",
    [("--arch=stars", "dcgan|dcgan-sep|multichannel|multichannel-sep|star|independent|independent-sep"),
     ("--gan=lsgan", "gan|wgan|wgan-gp"), ("--penalty=l2", "none|gp|r1")],
)  # fmt: skip
def test_a_bad_registered_name_is_refused_before_tensorflow_loads(flag, names):
    """The registries are read without TensorFlow: the usage error is one line, exit status 2."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['training.run', {flag!r}]\n"
        "try:\n    runpy.run_module('training.run', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    print('EXIT', e.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=subprocess_env(), capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert p.stdout.split() == ["EXIT", "2", "False", "False"], p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: flag {flag}") and f"<{names}>" in lines[0]

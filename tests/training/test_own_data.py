"""Own TIFF crops train and evaluate without conversion: --channel_map, --percentiles, --resize_policy
reach `sources.load` from `training.run` and `training.evaluate` (issue 16 B3)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from biogans_tf.data.own import load_own
from biogans_tf.trainer.config import ConfigError, load_config, resolve
from biogans_tf.training.evaluate import EvalOptions, _own_options
from tests.conftest import ROOT, subprocess_env

PROTEINS = ("Alp14", "Tea1")


def make_own_tiffs(root, n=6, shape=(30, 44), seed=0):
    """`root/{train,test}/<Protein>/cellN.tif`: 16-bit, 3 channels (CYX), larger than 24x40.

    Channel 1 is the reference (a bright ellipse), channel 0 the protein's spots, channel 2 noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for split in ("train", "test"):
        for p, protein in enumerate(PROTEINS):
            os.makedirs(os.path.join(root, split, protein), exist_ok=True)
            for i in range(n):
                cell = ((yy - shape[0] / 2) / 8) ** 2 + ((xx - shape[1] / 2) / (12 + i)) ** 2 < 1
                red = cell * 3000 + rng.integers(0, 200, shape)
                green = cell * rng.integers(0, 1000 * (p + 1), shape)
                noise = rng.integers(0, 60000, shape)
                stack = np.stack([green, red, noise]).astype(np.uint16)
                tifffile.imwrite(os.path.join(root, split, protein, f"cell{i}.tif"), stack)
    return str(root)


@pytest.mark.e2e
def test_training_run_trains_two_steps_on_own_tiffs(tmp_path):
    data = make_own_tiffs(tmp_path / "crops")
    run = str(tmp_path / "run")
    cmd = [sys.executable, "-m", "training.run", "--arch=star", f"--data=own:{data}", "--proteins=Alp14,Tea1",
           "--channel_map=red=1,green=0", "--percentiles=1,99", "--resize_policy=fit",
           "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4", "--steps=2",
           "--n_critic=1", "--sample_every=100", "--log_every=100", f"--run_dir={run}"]  # fmt: skip
    env = subprocess_env()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results["status"] == "ok" and results["step"] == 2
    cfg = load_config(os.path.join(run, "config.json"))
    assert (cfg.channel_map, cfg.percentiles, cfg.resize_policy) == ("red=1,green=0", (1.0, 99.0), "fit")
    assert os.path.isfile(os.path.join(run, "generator.keras"))


def test_evaluation_uses_the_runs_own_data_options_unless_overridden(tmp_path):
    class Run:  # only `config` is read
        config = {"channel_map": "red=1,green=0", "percentiles": [1.0, 99.0], "resize_policy": "fit"}

    got = _own_options(EvalOptions(), Run())
    assert got == {"channel_map": "red=1,green=0", "percentiles": [1.0, 99.0], "resize_policy": "fit"}
    got = _own_options(
        EvalOptions(channel_map="red=2,green=0", percentiles="none", resize_policy="stretch"), Run()
    )
    assert got == {"channel_map": "red=2,green=0", "percentiles": None, "resize_policy": "stretch"}
    assert _own_options(EvalOptions())["percentiles"] == (0.5, 99.5)  # no run: the reader's default
    # And the options change what is loaded: the reference channel is channel 1 of the files.
    data = make_own_tiffs(tmp_path / "crops", n=2)
    a = load_own(data, "test", image_size=(24, 40), **_own_options(EvalOptions(), Run()))
    b = load_own(data, "test", image_size=(24, 40), channel_map="red=0,green=1")
    assert not np.array_equal(a.images, b.images)


def test_bad_own_data_options_name_the_flag():
    with pytest.raises(ConfigError, match=r"--channel_map: .*expected exactly the keys red and green"):
        resolve(dict(channel_map="blue=0,green=1"))
    with pytest.raises(ConfigError, match=r"--resize_policy='zoom': expected one of pad_or_crop"):
        resolve(dict(resize_policy="zoom"))
    with pytest.raises(ConfigError, match=r"--percentiles=\(99.0, 1.0\): expected 0 <= LOW < HIGH <= 100"):
        resolve(dict(percentiles=(99.0, 1.0)))

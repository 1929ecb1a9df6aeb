"""`python -m training.sample`: cells from a generator file or run directory, no server, seeded."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from biogans_tf import tiff
from biogans_tf.models import build_generator
from biogans_tf.training.sample import sample_to_file
from tests.conftest import ROOT, forge_run, subprocess_env


def _run_dir(path):
    g = build_generator("star", image_size=(16, 32), n_proteins=2, nz=8, ngf=8, seed=0)
    return forge_run(
        path, g, {"arch": "star", "proteins": ["Alp14", "Tea1"], "nz": 8, "image_size": [16, 32]}
    )


@pytest.mark.e2e
def test_cli_writes_a_named_ome_tiff(tmp_path):
    run = _run_dir(tmp_path / "run")
    out = str(tmp_path / "s.ome.tif")
    cmd = [sys.executable, "-m", "training.sample", "--generator", os.path.join(run, "generator.keras"),
           "--n", "5", "--seed", "2", "--bits", "16", "--out", out]  # fmt: skip
    env = subprocess_env()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["channels"] == ["Bgs4", "Alp14", "Tea1"] and summary["axes"] == "QCYX"
    with tifffile.TiffFile(out) as t:
        assert t.is_ome and t.series[0].axes == "QCYX" and t.series[0].shape == (5, 3, 16, 32)
        assert t.series[0].dtype == np.uint16 and 'PhysicalSizeX="0.1"' in t.ome_metadata

    # Same seed from the run directory in-process: the same cells; another seed: other cells.
    again = str(tmp_path / "again.ome.tif")
    sample_to_file(again, run_dir=run, n=5, seed=2, bits=16)
    np.testing.assert_array_equal(tiff.read_tiff(again).data, tiff.read_tiff(out).data)
    other = str(tmp_path / "other.ome.tif")
    sample_to_file(other, run_dir=run, n=5, seed=3, bits=16)
    assert not np.array_equal(tiff.read_tiff(other).data, tiff.read_tiff(out).data)


@pytest.mark.e2e
def test_cli_errors_are_one_line(tmp_path):
    env = subprocess_env()
    for args, expected in (
        (["--generator", str(tmp_path / "none.keras")], "none.keras: generator file not found"),
        (["--generator", "g.keras", "--out", "x.jpg"], "--out=x.jpg: expected a file name ending in"),
        ([], "give --run_dir"),
    ):
        proc = subprocess.run([sys.executable, "-m", "training.sample", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 2
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0] and "Traceback" not in proc.stderr


def test_png_grid_names_the_proteins_and_follows_the_palette(tmp_path):
    from PIL import Image

    run = _run_dir(tmp_path / "run")
    rg, mg = str(tmp_path / "rg.png"), str(tmp_path / "mg.png")
    sample_to_file(rg, run_dir=run, n=4, seed=1)
    sample_to_file(mg, run_dir=run, n=4, seed=1, palette="magenta-green")
    a, b = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (rg, mg))
    assert a.shape == b.shape
    # The labelled grid is taller than the unlabelled one by its header band of protein names.
    from biogans_tf import viz

    plain = viz.sample_grid(np.zeros((4, 16, 32, 3), np.float32), cols=8)
    assert a.shape[0] > 2 * plain.shape[0]
    header = a[: a.shape[0] - 2 * plain.shape[0]]
    assert (header < 128).any()  # dark text on the white band
    body_a, body_b = a[header.shape[0] :], b[header.shape[0] :]
    cells = ~(body_a == 255).all(axis=-1)  # not the white gutters between tiles
    assert (body_a[..., 2][cells] == 0).all()  # red-green: no blue
    np.testing.assert_array_equal(body_b[..., 0][cells], body_b[..., 2][cells])  # magenta-green: R = B
    assert (body_b[..., 2][cells] > 0).any()

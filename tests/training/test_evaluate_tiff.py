"""training.evaluate writes named-channel OME-TIFFs beside its PNG figures (interpolation, Fig. 5)."""

import os

import numpy as np
import pytest
import tifffile

from biogans_tf import tiff
from biogans_tf.models import build_generator
from biogans_tf.training.evaluate import evaluate
from tests.conftest import forge_run


def _run(path):
    g = build_generator("star", image_size=(24, 40), n_proteins=2, nz=8, ngf=8, seed=0)
    config = {"arch": "star", "proteins": ["Alp14", "Tea1"], "image_size": [24, 40], "nz": 8, "data": "sim"}
    return forge_run(path, g, config)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("runs") / "star")


def test_interpolation_writes_a_time_series_ome_tiff(tmp_path, run):
    out = str(tmp_path / "interp")
    res = evaluate(dict(task="interpolate", run_dir=run, endpoints="random", kinds="linear", quick=True,
                        out=out, progress=False))  # fmt: skip
    assert res["paths"]["linear"]["files"]["tiff"] == "interp_linear.ome.tif"
    with tifffile.TiffFile(os.path.join(out, "interp_linear.ome.tif")) as t:
        assert t.is_ome and t.series[0].axes == "TCYX" and t.series[0].shape == (5, 3, 24, 40)
        assert t.series[0].dtype == np.uint8
    walk = tiff.read_tiff(os.path.join(out, "interp_linear.ome.tif"))
    assert walk.channels == ["Bgs4", "Alp14", "Tea1"] and walk.pixel_size_um == (0.1, 0.1)


def test_reconstruction_writes_figure5_as_ome_tiff(tmp_path, run):
    out = str(tmp_path / "rec")
    res = evaluate(
        dict(task="reconstruct", run_dir=run, modes="regular", quick=True, out=out, progress=False)
    )
    assert res["figures"]["fig5_tiff"] == "fig5_reconstructions.ome.tif"
    rec = tiff.read_tiff(os.path.join(out, "fig5_reconstructions.ome.tif"))
    assert rec.channels == [f"{c} ({p})" for p in ("test", "nearest", "regular") for c in ("Bgs4", "green")]
    assert rec.axes == "QCYX" and rec.data.shape[1:] == (6, 24, 40) and rec.pixel_size_um == (0.1, 0.1)

"""`python -m training.evaluate`: every task in --quick mode on a tiny (untrained) generator run."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from biogans_tf.models import build_generator
from biogans_tf.training.evaluate import evaluate
from tests.conftest import forge_run, run_cli


def _make_run(path, arch="star", proteins=("Alp14", "Tea1")):
    model = build_generator(arch, image_size=(24, 40), n_proteins=len(proteins), nz=8, ngf=8, seed=0)
    config = {
        "arch": arch,
        "proteins": list(proteins),
        "image_size": [24, 40],
        "nz": 8,
        "data": "sim",
        "seed": 0,
    }
    return forge_run(path, model, config)


@pytest.fixture(scope="module")
def star_run(tmp_path_factory):
    return _make_run(tmp_path_factory.mktemp("runs") / "star")


def _results(out):
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def test_c2st_real_quick(tmp_path):
    out = str(tmp_path / "t1")
    res = evaluate(
        dict(
            task="c2st_real",
            proteins="Alp14,Tea1",
            image_size="24x40",
            quick=True,
            out=out,
            progress=False,
            c2st_steps=24,
        )  # fmt: skip
    )
    assert res == _results(out)
    assert res["proteins"] == ["Alp14", "Tea1"] and len(res["median"]) == 2 and len(res["scores"][0][1]) == 3
    # --quick shrinks what was not given (data, splits) and never overrides what was (c2st_steps; quick: 20).
    assert res["options"]["c2st_steps"] == 24 and res["options"]["data"] == "sim:16"
    assert os.path.isfile(os.path.join(out, "table1.md")) and os.path.isfile(os.path.join(out, "table1.png"))


def test_c2st_fake_and_joint_quick(tmp_path, star_run):
    out = str(tmp_path / "t2")
    res = evaluate(dict(task="c2st_fake", run_dir=star_run, quick=True, out=out, progress=False))
    assert res == _results(out)
    assert set(res["per_protein"]) == {"Alp14", "Tea1"}
    assert res["per_protein"]["Tea1"]["n_real"] == 16  # quick: sim:16 test cells per protein
    assert "| star |" in open(os.path.join(out, "table2.md")).read()
    out = str(tmp_path / "joint")
    res = evaluate(
        dict(task="joint", generator=os.path.join(star_run, "generator.keras"), quick=True, out=out)
    )
    assert res["proteins"] == ["Alp14", "Tea1"] and "generated_vs_truth" in res["summary"]
    assert os.path.isfile(os.path.join(out, "joint_pair_correlations.png"))


def test_interpolate_random_endpoints_quick(tmp_path, star_run):
    out = str(tmp_path / "interp")
    opts = dict(task="interpolate", run_dir=star_run, endpoints="random", quick=True, out=out)
    res = evaluate(dict(opts, palette="magenta-green"))
    assert set(res["paths"]) == {"linear", "spherical"}
    bio = res["paths"]["linear"]["biology"]
    assert len(bio["lengths_px"]) == 5 and -1.0 <= bio["spearman"] <= 1.0
    assert os.path.isfile(os.path.join(out, "interp_linear.gif"))
    strip = np.asarray(Image.open(os.path.join(out, "interp_spherical_strip.png")).convert("RGB"))
    # magenta-green: red shown as R = B in every tile; labels are gray text on white (also R = B).
    assert (strip[..., 0] == strip[..., 2]).all() and strip[..., 0].max() > 0


def test_bad_options_are_named(tmp_path, star_run):
    with pytest.raises(ValueError, match="needs --run_dir or --generator"):
        evaluate(dict(task="reconstruct", out=str(tmp_path)))
    with pytest.raises(ValueError, match="--task"):
        evaluate(dict(task="nope", out=str(tmp_path)))
    with pytest.raises(ValueError, match="--palette=.blue.: expected one of red-green, magenta-green, gray"):
        evaluate(dict(task="c2st_real", palette="blue", out=str(tmp_path)))
    with pytest.raises(ValueError, match="generator file not found"):
        evaluate(dict(task="c2st_fake", run_dir=str(tmp_path / "missing"), out=str(tmp_path)))
    dcgan = _make_run(tmp_path / "dcgan", arch="dcgan", proteins=("Alp14",))
    with pytest.raises(ValueError, match="needs a star or multichannel generator"):
        evaluate(dict(task="joint", run_dir=dcgan, quick=True, out=str(tmp_path / "j")))
    with pytest.raises(ValueError, match="z0 and z1"):
        evaluate(dict(task="interpolate", run_dir=star_run, endpoints="file", z_file=str(tmp_path / "no.npz"),
                      out=str(tmp_path / "i")))  # fmt: skip


def _cli(*args):
    return run_cli("training.evaluate", *args)


@pytest.mark.e2e
def test_cli_prints_results_json_last(tmp_path, star_run):
    out = str(tmp_path / "cli")
    p = _cli("--task=c2st_fake", f"--run_dir={star_run}", "--quick", "--c2st_steps=22", "--noprogress",
             f"--out={out}")  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    last = json.loads(p.stdout.strip().splitlines()[-1])
    assert last == _results(out) and last["task"] == "c2st_fake"
    # The flag given stays (quick would make it 20); what was not given is shrunk.
    assert last["options"]["c2st_steps"] == 22 and last["options"]["n_splits"] == 3
    bad = _cli("--task=c2st_fake", f"--run_dir={tmp_path / 'missing'}", f"--out={out}")
    assert bad.returncode == 2
    assert "generator file not found" in json.loads(bad.stdout.strip().splitlines()[-1])["error"]


@pytest.mark.slow
def test_reconstruct_and_interpolate_from_reconstructed_cells_quick(tmp_path, star_run):
    out = str(tmp_path / "rec")
    res = evaluate(dict(task="reconstruct", run_dir=star_run, quick=True, out=out, progress=False))
    methods = [r["method"] for r in res["rows"]]
    assert methods == ["regular", "separable", "nearest training cell", "prior N(0, I) draws"]
    assert set(res["per_protein"]) == {"Alp14", "Tea1"}
    for name in ("fig5_reconstructions.png", "fig6_l2_vs_nll.png", "table3.md", "results.json"):
        assert os.path.isfile(os.path.join(out, name))
    out = str(tmp_path / "interp")
    res = evaluate(dict(task="interpolate", run_dir=star_run, quick=True, out=out, progress=False))
    assert (
        res["chosen"]["young"]["stage"] == "monopolar" and res["chosen"]["dividing"]["stage"] == "septating"
    )
    assert res["real_endpoints"]["lengths_px"][0] < res["real_endpoints"]["lengths_px"][1]
    assert os.path.isfile(os.path.join(out, "interp_endpoints_real.png"))

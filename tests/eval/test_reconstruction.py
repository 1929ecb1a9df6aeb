"""Table 3 wrapper: own samples reconstruct to ~0, baselines, summaries, Figures 5 and 6."""

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from biogans_tf.data.cellset import CellSet
from biogans_tf.eval import reconstruction as rec
from biogans_tf.eval.runs import GeneratorRun
from biogans_tf.models import build_generator

NZ = 8
SIZE = (16, 32)


def _run(arch="dcgan"):
    model = build_generator(arch, image_size=SIZE, nz=NZ, ngf=8, seed=1)
    return GeneratorRun(model, arch, "joint", ("Alp14",), NZ, SIZE, arch.endswith("-sep"), {}, "mem")


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, (7, 6, 10, 2), dtype=np.uint8)
    r = rng.integers(0, 256, (13, 6, 10, 2), dtype=np.uint8)
    r[4] = q[2]  # an exact duplicate must be found with error 0
    idx, l2 = rec.nearest_neighbours(q, r, chunk=3)
    d = np.sqrt((((q[:, None].astype(float) - r[None].astype(float)) / 255) ** 2).mean(axis=(2, 3, 4)))
    np.testing.assert_array_equal(idx, d.argmin(axis=1))
    np.testing.assert_allclose(l2, d.min(axis=1), rtol=1e-6, atol=1e-9)
    assert idx[2] == 4 and l2[2] == 0.0


def test_prior_nll_matches_scipy():
    nll = rec.prior_nll(5, NZ, seed=3)
    z = np.random.default_rng(np.random.SeedSequence([3, 7])).standard_normal((5, NZ))
    expected = -stats.multivariate_normal(np.zeros(NZ), np.eye(NZ)).logpdf(z)
    np.testing.assert_allclose(nll, expected, rtol=1e-5)


def test_table3_rows_and_markdown():
    rows = rec.table3_rows(
        {"regular": {"l2": np.array([0.1, 0.2, 0.4]), "nll": np.array([140.0, 150.0, 141.0])}},
        nn_l2=np.array([0.3, 0.3]),
        prior=np.array([140.0, 142.0, 150.0]),
    )
    assert [r["method"] for r in rows] == ["regular", "nearest training cell", "prior N(0, I) draws"]
    assert rows[0]["l2"] == {"median": 0.2, "mad": 0.1, "n": 3}
    assert rows[1]["nll"] is None and rows[2]["l2"] is None
    text = rec.format_table3(rows, "T3")
    assert (
        "| regular | 0.2000 ± 0.1000 | 141.0 ± 1.0 |" in text
        and "| nearest training cell | 0.3000 ± 0.0000 | — |" in text
    )


def test_separable_mode_needs_a_separable_arch():
    run = _run("dcgan")
    cells = CellSet(np.zeros((2, *SIZE, 2), np.uint8), np.zeros(2, np.int32), ("Alp14",), ("a", "b"))
    with pytest.raises(ValueError, match="separable needs a separable arch"):
        rec.evaluate_run(run, cells, cells, modes=("separable",))


def test_own_samples_reconstruct_to_near_zero_and_figures(tmp_path):
    run = _run("dcgan")
    z = run.latents(6, seed=2)
    own = run.generate(run.pair_fn(0), z)  # uint8: quantisation leaves ~1e-3 RMS at best
    rng = np.random.default_rng(5)
    train_images = rng.integers(0, 256, (10, *SIZE, 2), dtype=np.uint8)
    test = CellSet(own, np.zeros(6, np.int32), ("Alp14",), tuple(f"t{i}" for i in range(6)))
    train = CellSet(train_images, np.zeros(10, np.int32), ("Alp14",), tuple(f"r{i}" for i in range(10)))
    out = rec.evaluate_run(
        run, test, train, modes=("regular", "separable"), iterations=30, restarts=2, seed=0, batch=4,
        out_dir=str(tmp_path), n_figure_rows=4,
    )  # fmt: skip
    assert out["skipped_modes"] == ["separable"]
    rows = {r["method"]: r for r in out["rows"]}
    # Tolerance: below 3e-3 RMS on [0, 1] (8-bit quantisation alone is ~1.1e-3).
    assert rows["regular"]["l2"]["median"] < 3e-3, rows["regular"]
    assert rows["regular"]["l2"]["n"] == 6
    # Random training images are far away: the nearest-neighbour baseline is much worse.
    assert rows["nearest training cell"]["l2"]["median"] > 0.1
    assert 0 < rows["prior N(0, I) draws"]["nll"]["median"] < 100
    fig5 = np.asarray(Image.open(tmp_path / out["figures"]["fig5"]))
    # 4 rows x 3 columns (test, nearest neighbour, regular) of 16x32 tiles with 2 px gutters, x2.
    assert fig5.shape == (2 * (4 * 18 + 2), 2 * (3 * 34 + 2), 3)
    assert (tmp_path / out["figures"]["fig6"]).read_bytes()[:4] == b"\x89PNG"
    assert "| regular |" in (tmp_path / "table3.md").read_text()


def test_star_pair_views_agree():
    """The one-tower path (Python int, used for speed) equals the gathered full output (tensor index)."""
    import tensorflow as tf

    model = build_generator("star", image_size=SIZE, n_proteins=3, nz=NZ, ngf=8, seed=2)
    run = GeneratorRun(model, "star", "conditional", ("A", "B", "C"), NZ, SIZE, True, {}, "mem")
    assert run.has_protein_path
    z = run.latents(4, seed=1)
    fast = run.pair(z, 1).numpy()
    full = run.pair(z, tf.constant(1, tf.int32)).numpy()
    assert fast.shape == (4, *SIZE, 2)
    np.testing.assert_allclose(fast, full, atol=1e-5)
    np.testing.assert_allclose(full, model(z, training=False).numpy()[..., [0, 2]], atol=1e-6)

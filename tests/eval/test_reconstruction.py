"""Table 3 wrapper: own samples reconstruct to ~0, baselines, summaries, Figures 5 and 6."""

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from biogans_tf.data.cellset import CellSet
from biogans_tf.eval import reconstruction as rec
from biogans_tf.eval import reconstruction_report as report
from biogans_tf.models import build_generator
from biogans_tf.runs.generator import GeneratorRun

NZ = 8
SIZE = (16, 32)


def _run(arch="dcgan"):
    model = build_generator(arch, image_size=SIZE, nz=NZ, ngf=8, seed=1)
    return GeneratorRun(model, arch, "joint", ("Alp14",), NZ, SIZE, arch.endswith("-sep"), {}, "mem")


def _steep_generator():
    """`z [N, NZ] -> tanh(z W)` as `[N, 16, 32, 2]` images: unlike an untrained DCGAN (near-constant
    images, gradients below the reference's tolerance 1e-7, so its L-BFGS never moves), it responds
    to z, as a trained generator does."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(7).normal(0, 0.5, (NZ, SIZE[0] * SIZE[1] * 2)).astype(np.float32))
    return lambda z: tf.reshape(tf.tanh(tf.matmul(z, w)), [-1, *SIZE, 2])


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
    rows = report.table3_rows(
        {"regular": {"l2": np.array([0.1, 0.2, 0.4]), "nll": np.array([140.0, 150.0, 141.0])}},
        nn_l2=np.array([0.3, 0.3]),
        prior=np.array([140.0, 142.0, 150.0]),
    )
    assert [r["method"] for r in rows] == ["regular", "nearest training cell", "prior N(0, I) draws"]
    assert rows[0]["l2"] == {"median": 0.2, "mad": 0.1, "n": 3}
    assert rows[1]["nll"] is None and rows[2]["l2"] is None
    text = report.format_table3(rows, "T3")
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
    # 4 rows x 3 columns (test, nearest neighbour, regular) of 16x32 tiles with 2 px gutters, x2,
    # under a 20 px header naming the columns and right of a band naming each row's protein.
    body_h, body_w = 2 * (4 * 18 + 2), 2 * (3 * 34 + 2)
    assert fig5.shape[0] == body_h + 20 and fig5.shape[1] > body_w and fig5.shape[2] == 3
    assert (fig5[:20].min(axis=2) < 128).sum() > 30  # column titles on the white header band
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


PROTEINS6 = ("A", "B", "C", "D", "E", "F")


def _multichannel_sep(red_portion=0.143, nz=50):
    # 6 proteins: 7 output channels, so the last layer has int(7 * 0.143) = 1 red channel.
    model = build_generator(
        "multichannel-sep", image_size=SIZE, n_proteins=6, nz=nz, ngf=14, red_portion=red_portion, seed=3
    )
    return GeneratorRun(model, "multichannel-sep", "multichannel", PROTEINS6, nz, SIZE, True, {}, "mem")


def test_separable_reconstruction_splits_z_at_the_generators_red_portion():
    import tensorflow as tf

    from biogans_tf.eval import latent

    run = _multichannel_sep()
    red = int(50 * 0.143)
    assert rec.red_dims_of(run.model, run.nz) == red == 7  # not nz // 2 = 25
    images = run.pair(tf.constant(run.latents(2, seed=4)), 0)
    out = latent.reconstruct(
        run.pair_fn(0), images, run.nz, iterations=3, restarts=2, seed=1, mode="separable",
        red_dims=rec.red_dims_of(run.model, run.nz), return_phases=True,
    )  # fmt: skip
    moved = np.abs(out["z_red"].numpy() - out["z_init"].numpy()).max(axis=0) > 0
    # Phase one optimises exactly the first int(nz * 0.143) coordinates, and all of them.
    np.testing.assert_array_equal(np.flatnonzero(moved), np.arange(red))
    # Phase two leaves them as phase one ended (red then green within each restart).
    np.testing.assert_array_equal(out["z_all"].numpy()[:, :red], out["z_red"].numpy()[:, :red])
    # The Table 3 path uses the same split.
    labels = np.arange(6, dtype=np.int32)
    cells = CellSet(np.zeros((6, *SIZE, 2), np.uint8), labels, PROTEINS6, tuple("abcdef"))
    res = rec.evaluate_run(run, cells, cells, modes=("separable",), iterations=1, restarts=1, batch=2)
    assert res["settings"]["red_dims"] == red and res["settings"]["separable_red"] == "per-restart"


def test_per_restart_red_and_the_shared_best_option():
    from biogans_tf.eval import latent

    run = _run("dcgan-sep")
    images = run.pair_fn(0)(run.latents(2, seed=6))
    kw = dict(iterations=4, restarts=3, seed=2, mode="separable", return_phases=True)
    own = latent.reconstruct(run.pair_fn(0), images, NZ, **kw)
    shared = latent.reconstruct(run.pair_fn(0), images, NZ, red_sharing="shared-best", **kw)
    half = NZ // 2
    per_restart_red = own["z_all"].numpy()[:, :half].reshape(3, 2, half)
    shared_red = shared["z_all"].numpy()[:, :half].reshape(3, 2, half)
    assert np.abs(per_restart_red[0] - per_restart_red[1]).max() > 1e-3  # each restart keeps its own red
    np.testing.assert_array_equal(shared_red[0], shared_red[1])  # one best red for all restarts
    # The best restart is the one with the lowest total error over all channels.
    total = np.mean(
        (run.pair_fn(0)(own["z_all"]).numpy() - np.tile(images, [3, 1, 1, 1])) ** 2, axis=(1, 2, 3)
    )
    best = total.reshape(3, 2).argmin(axis=0)
    np.testing.assert_allclose(own["z"].numpy(), own["z_all"].numpy().reshape(3, 2, NZ)[best, [0, 1]])
    with pytest.raises(ValueError, match="red_sharing must be one of per-restart|shared-best"):
        latent.reconstruct(run.pair_fn(0), images, NZ, mode="separable", red_sharing="first")


def test_reference_lbfgs_budget_runs_its_own_iterations():
    from biogans_tf.eval import latent

    assert latent.REFERENCE_OUTER_STEPS * latent.REFERENCE_INNER_ITERATIONS == 1000
    g = _steep_generator()
    images = np.random.default_rng(0).uniform(-1, 1, (2, *SIZE, 2)).astype(np.float32)
    kw = dict(iterations=0, restarts=1, seed=3, return_phases=True)
    # With iterations=0 the fast budget does nothing; the reference budget ignores it and fits.
    fast = latent.reconstruct(g, images, NZ, **kw)
    ref = latent.reconstruct(g, images, NZ, budget="reference", **kw)
    np.testing.assert_array_equal(fast["z"].numpy(), fast["z_init"].numpy())
    assert np.abs(ref["z"].numpy() - ref["z_init"].numpy()).max() > 1e-2
    assert np.all(ref["l2"].numpy() < fast["l2"].numpy()), (ref["l2"], fast["l2"])
    with pytest.raises(ValueError, match="budget must be one of fast|reference"):
        latent.reconstruct(g, images, NZ, budget="slow")


def test_reference_budget_solves_each_restarts_batch_as_one_problem(monkeypatch):
    """As the reference: the codes of one restart's batch are ONE L-BFGS problem (one history) on
    4x the mean of the images' [0, 1] MSEs, i.e. torch.mean((G(z) - x)**2) in [-1, 1] units."""
    import tensorflow as tf

    from biogans_tf.eval import latent, lbfgs_reference

    monkeypatch.setattr(latent, "REFERENCE_OUTER_STEPS", 3)
    g = _steep_generator()
    images = np.random.default_rng(1).uniform(-1, 1, (2, *SIZE, 2)).astype(np.float32)
    out = latent.reconstruct(g, images, NZ, restarts=2, seed=5, budget="reference", return_phases=True)
    z_init, z_all = out["z_init"].numpy(), out["z_all"].numpy()
    for r in range(2):

        def value_and_gradient(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_mean(tf.square(g(tf.reshape(x, [2, NZ])) - images))
            return loss, tape.gradient(loss, x)

        direct = tf.function(lambda x: lbfgs_reference.minimize(value_and_gradient, x, steps=3))(
            tf.constant(z_init[2 * r : 2 * r + 2].reshape(-1))
        )
        np.testing.assert_allclose(z_all[2 * r : 2 * r + 2].reshape(-1), direct.position.numpy(), atol=1e-4)
    assert np.abs(z_all - z_init).max() > 1e-3  # it moved

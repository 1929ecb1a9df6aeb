"""C2ST: score with the penalty (same <= ~0, different >> 0), fresh fakes, flips, critics, stacking."""

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.data.cellset import CellSet
from biogans_tf.eval import c2st_tables
from biogans_tf.eval.c2st import C2STSettings, c2st, median_mad, run_c2st
from biogans_tf.eval.c2st_bank import stacked_critic
from biogans_tf.eval.fakes import GeneratorFakes
from biogans_tf.models.critic_bank import grouped_training_error


def _noise_cells(mean, n, seed, size=(16, 32)):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, 30, (n, *size, 2)), 0, 255).astype(np.uint8)


def test_same_source_at_or_below_zero_because_of_the_penalty_different_sources_positive():
    a, a2, b = _noise_cells(60, 64, 0), _noise_cells(60, 64, 1), _noise_cells(190, 64, 2)
    settings = C2STSettings(n_splits=10, steps=200, batch_size=16, ndf=8, seed=0, lr=5e-4)
    same, diff = run_c2st([(a, a2), (a, b)], settings)
    assert len(same["scores"]) == len(diff["scores"]) == 10
    for r in (same, diff):
        # score = -(E D(fake) - E D(real) + lambda GP) = gap - penalty, per split.
        np.testing.assert_allclose(r["scores"], np.subtract(r["gaps"], r["penalties"]), atol=1e-9)
        assert min(r["penalties"]) > 0 and r["critic"] == "wgan-gp"
    # Same distribution: the penalty term pulls the score below the gap, to 0 or below (the paper's
    # "negative because the quadratic regularization term is the dominant part").
    assert same["penalty_median"] > 0.005, same
    assert same["median"] < same["gap_median"], same
    assert same["median"] < 0.01, same
    # Different distributions: clearly positive despite the penalty.
    assert diff["median"] > 1.0, diff
    assert min(diff["scores"]) > 20 * max(abs(s) for s in same["scores"]), (same["scores"], diff["scores"])
    assert np.isfinite([same["mean"], same["std"]]).all()


def _toy_generator(nz=6, size=(16, 32), channels=3):
    """A deterministic 'generator': tanh of a fixed linear map of z, `[B, nz] -> [B, H, W, c]`."""
    w = np.random.default_rng(5).normal(0, 0.3, (nz, size[0] * size[1] * channels)).astype(np.float32)
    return lambda z: tf.reshape(tf.tanh(tf.matmul(z, w)), [-1, *size, channels])


def test_fake_vs_real_draws_a_new_generator_batch_at_every_critic_step():
    steps, n_splits = 7, 3
    real = _noise_cells(40, 24, 0)
    fakes = GeneratorFakes(_toy_generator(), 6)
    # Two problems share one generator (as the proteins of a star model): one forward per step.
    views = [fakes.view(lambda x, i=i: x[..., [0, 1 + i]]) for i in range(2)]
    res = run_c2st([(real, v) for v in views], C2STSettings(n_splits=n_splits, steps=steps, batch_size=4,
                                                             ndf=4, eval_batch=8))  # fmt: skip
    n_score_chunks = -(-(24 - 24 // 2) // 8)  # fresh fakes for the 12 held-out reals, 8 per chunk
    assert fakes.calls == steps + n_score_chunks
    assert len(set(fakes.z_seeds)) == len(fakes.z_seeds) == n_splits * (steps + n_score_chunks)
    trained = {(k, s) for k, s in fakes.z_seeds if s < steps}
    assert len({s for _, s in trained}) == steps  # every training step drew its own latents
    assert all(r["fresh_fakes"] and r["n_fake"] == 0 for r in res)
    # A fixed fake set makes no generator calls (the old protocol, still available).
    before = fakes.calls
    run_c2st([(real, _noise_cells(40, 24, 3))], C2STSettings(n_splits=2, steps=3, batch_size=4, ndf=4))
    assert fakes.calls == before


def test_table2_fake_vs_real_uses_fresh_samples_of_a_star_generator():
    from biogans_tf.models import build_generator
    from biogans_tf.runs.generator import GeneratorRun

    g = build_generator("star", image_size=(16, 32), n_proteins=2, nz=8, ngf=8, seed=0)
    run = GeneratorRun(g, "star", "conditional", ("Alp14", "Arp3"), 8, (16, 32), True, {}, "mem")
    rng = np.random.default_rng(0)
    test = CellSet(
        rng.integers(0, 255, (12, 16, 32, 2), dtype=np.uint8), np.repeat([0, 1], 6).astype(np.int32),
        ("Alp14", "Arp3"), tuple(f"{p}/c{i}.png" for p in ("Alp14", "Arp3") for i in range(6)), "test",
    )  # fmt: skip
    settings = C2STSettings(n_splits=2, steps=5, batch_size=4, ndf=4, eval_batch=8)
    res = c2st_tables.fake_vs_real(run, test, settings)
    # One star forward per critic step serves both proteins; plus one per scoring chunk.
    assert res["generator_calls"] == 5 + 1
    assert set(res["per_protein"]) == {"Alp14", "Arp3"}
    old = c2st_tables.fake_vs_real(run, test, settings, fresh=False)
    assert not old["per_protein"]["Alp14"]["fresh_fakes"] and old["per_protein"]["Alp14"]["n_fake"] == 6


def test_real_images_are_flipped_in_training_and_scoring():
    # A left-bright set against its own mirror image: without flips a critic separates them at once;
    # with random flips (as the reference's loader) both are the same distribution.
    cells = _noise_cells(60, 40, 0)
    cells[:, :, :16] = np.minimum(cells[:, :, :16].astype(int) + 120, 255).astype(np.uint8)
    mirror = cells[:, :, ::-1].copy()
    base = dict(n_splits=3, steps=60, batch_size=8, ndf=4, lr=1e-3)
    flipped = c2st(cells, mirror, C2STSettings(**base))
    plain = c2st(cells, mirror, C2STSettings(**base, flips=False))
    assert plain["median"] > 1.0, plain
    assert flipped["median"] < 0.2 * plain["median"], (flipped, plain)


def test_cross_entropy_and_clipped_wgan_critics():
    a, b = _noise_cells(60, 30, 0), _noise_cells(190, 30, 1)
    base = dict(n_splits=2, steps=40, batch_size=8, ndf=4, lr=1e-3)
    gan = run_c2st([(a, a), (a, b)], C2STSettings(**base, critic="gan"))
    # Negated cross-entropy: about -2 ln 2 when nothing separates the sources, higher when it does.
    assert abs(gan[0]["median"] + 2 * np.log(2)) < 0.1, gan[0]
    assert gan[1]["median"] > gan[0]["median"] + 0.5, gan
    assert gan[0]["penalties"] == [0.0, 0.0]
    wgan = run_c2st([(a, a), (a, b)], C2STSettings(**base, critic="wgan"))
    assert wgan[1]["median"] > wgan[0]["median"] and wgan[0]["scores"] == wgan[0]["gaps"]
    with pytest.raises(ValueError, match=r"--c2st_critic='lsgan': expected one of gan, wgan, wgan-gp"):
        C2STSettings(critic="lsgan")


def test_evaluate_flags_are_validated_with_allowed_values(tmp_path):
    from biogans_tf.training.evaluate import evaluate

    for flag, allowed in (
        ("c2st_critic", "gan, wgan, wgan-gp"),
        ("lbfgs_budget", "fast, reference"),
        ("separable_red", "per-restart, shared-best"),
    ):
        with pytest.raises(ValueError, match=rf"--{flag}='x': expected one of {re.escape(allowed)}"):
            evaluate({"task": "c2st_real", flag: "x", "out": str(tmp_path)})


def test_stacked_equals_sequential_for_same_seeds():
    a, b = _noise_cells(80, 20, 3), _noise_cells(120, 24, 4)
    settings = C2STSettings(n_splits=3, steps=12, batch_size=8, ndf=4, seed=7, eval_batch=8)
    stacked = c2st(a, b, settings, stacked=True)
    sequential = c2st(a, b, settings, stacked=False)
    np.testing.assert_allclose(stacked["scores"], sequential["scores"], rtol=1e-4, atol=1e-6)
    # Grouping critics into banks of 2 changes nothing either.
    chunked = c2st(a, b, settings, max_critics=2)
    np.testing.assert_allclose(stacked["scores"], chunked["scores"], rtol=1e-4, atol=1e-6)
    # Float inputs in [-1, 1] (mixed with uint8) give the same result as uint8 inputs.
    mixed = c2st(a, b.astype(np.float32) / 127.5 - 1.0, settings)
    np.testing.assert_allclose(stacked["scores"], mixed["scores"], rtol=1e-4, atol=1e-6)
    # A different seed gives different splits and critics.
    other = c2st(a, b, C2STSettings(n_splits=3, steps=12, batch_size=8, ndf=4, seed=8, eval_batch=8))
    assert not np.allclose(stacked["scores"], other["scores"])


def test_stacked_critic_matches_per_critic_evaluation():
    keys = [11, 12, 13]
    bank = stacked_critic(keys, (16, 32), 2, ndf=4)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 5, 16, 32, 2)).astype(np.float32)
    out = bank(x).numpy()
    assert out.shape == (3, 5)
    for i, k in enumerate(keys):
        single = stacked_critic([k], (16, 32), 2, ndf=4)
        np.testing.assert_allclose(out[i], single(x[i : i + 1]).numpy()[0], rtol=1e-5, atol=1e-6)
    # Critics differ (independent initial weights).
    assert not np.allclose(out[0], out[1])


def test_median_mad():
    assert median_mad([1.0, 2.0, 3.0, 10.0]) == (2.5, 1.0)


def test_bad_inputs_are_named():
    good = _noise_cells(60, 8, 0)
    with pytest.raises(ValueError, match="real images must be"):
        run_c2st([(good[0], good)])
    with pytest.raises(ValueError, match="at least 2 images"):
        run_c2st([(good, good[:1])])
    with pytest.raises(ValueError, match="expected"):
        run_c2st([(good, _noise_cells(60, 8, 1, size=(24, 40)))])
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        run_c2st([(good, good.astype(np.float32))])
    with pytest.raises(ValueError, match="steps"):
        C2STSettings(steps=0)


def test_real_vs_real_table_layout(tmp_path):
    rng = np.random.default_rng(0)
    names = ("Dark", "Bright")

    def cellset(n):
        images = np.concatenate(
            [_noise_cells(50, n, rng.integers(1e6)), _noise_cells(200, n, rng.integers(1e6))]
        )
        return CellSet(
            images, np.repeat(np.arange(2, dtype=np.int32), n), names, tuple(f"c{i}" for i in range(2 * n))
        )

    res = c2st_tables.real_vs_real(
        cellset(12), cellset(8), names, C2STSettings(n_splits=2, steps=60, batch_size=8, ndf=4)
    )
    med = np.array(res["median"])
    assert med.shape == (2, 2) and np.array(res["scores"]).shape == (2, 2, 2)
    # Different proteins score above same-protein pairs even after a few steps. (Issue 11: scores now
    # subtract the penalty, which dominates after 60 steps; the gap alone is the old quantity.)
    gap = np.array(res["gap_median"])
    assert gap[0, 1] > abs(gap[0, 0]) and gap[1, 0] > abs(gap[1, 1])
    terms = np.array(res["gaps"]) - np.array(res["penalties"])
    np.testing.assert_allclose(np.array(res["scores"]), terms, atol=1e-9)
    text = c2st_tables.format_matrix(res)
    assert text.splitlines()[0] == "| train \\ test | Dark | Bright |" and "±" in text
    c2st_tables.matrix_figure(str(tmp_path / "t1.png"), res)
    assert (tmp_path / "t1.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.cpu_kinds
def test_both_critic_bank_strategies_give_the_same_c2st():
    # C2ST runs `loop` (measured faster on CPU); `grouped` convolutions are the same critics.
    a, b = _noise_cells(80, 16, 3), _noise_cells(120, 16, 4)
    settings = C2STSettings(n_splits=2, steps=6, batch_size=4, ndf=4, seed=1, eval_batch=8)
    if grouped_training_error() is not None:  # oneDNN off: Eigen cannot train grouped convs; a clear refusal
        refusal = r"execution='grouped' cannot train .*Conv2DBackprop(Input|Filter) failed.*'loop'"
        with pytest.raises(ValueError, match=refusal):
            c2st(a, b, settings, execution="grouped")
        assert np.all(np.isfinite(c2st(a, b, settings)["scores"]))
        return
    loop, grouped = c2st(a, b, settings), c2st(a, b, settings, execution="grouped")
    np.testing.assert_allclose(loop["scores"], grouped["scores"], rtol=1e-4, atol=1e-6)
    for critic in ("wgan", "gan"):  # the optimiser factory's RMSProp (+ clipping) and Adam
        s = dataclasses.replace(settings, critic=critic)
        np.testing.assert_allclose(
            c2st(a, b, s)["scores"], c2st(a, b, s, execution="grouped")["scores"], atol=1e-5
        )

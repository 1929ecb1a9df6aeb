"""C2ST with stacked WGAN-GP critics: calibration (same ~0, different >> 0), stacked == sequential."""

import numpy as np
import pytest

from biogans_tf.data.cellset import CellSet
from biogans_tf.eval import c2st_tables
from biogans_tf.eval.c2st import C2STSettings, StackedCritic, c2st, median_mad, run_c2st


def _noise_cells(mean, n, seed, size=(16, 32)):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, 30, (n, *size, 2)), 0, 255).astype(np.uint8)


def test_identical_sources_near_zero_different_sources_large():
    a, a2, b = _noise_cells(60, 64, 0), _noise_cells(60, 64, 1), _noise_cells(190, 64, 2)
    settings = C2STSettings(n_splits=10, steps=200, batch_size=16, ndf=8, seed=0)
    same, diff = run_c2st([(a, a2), (a, b)], settings)
    assert len(same["scores"]) == len(diff["scores"]) == 10
    # Same distribution: the median over 10 splits is ~0 (noise of a few 1e-3 here).
    assert abs(same["median"]) < 0.05, same
    # Clearly different sources: every split's critic separates them, by far more than the noise.
    assert diff["median"] > 1.0, diff
    assert min(diff["scores"]) > 20 * max(abs(s) for s in same["scores"]), (same["scores"], diff["scores"])


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
    bank = StackedCritic(keys, (16, 32), 2, ndf=4)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 5, 16, 32, 2)).astype(np.float32)
    out = bank(x).numpy()
    assert out.shape == (3, 5)
    for i, k in enumerate(keys):
        single = StackedCritic([k], (16, 32), 2, ndf=4)
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
    # Different proteins score above same-protein pairs even after a few steps.
    assert med[0, 1] > abs(med[0, 0]) and med[1, 0] > abs(med[1, 1])
    text = c2st_tables.format_matrix(res)
    assert text.splitlines()[0] == "| train \\ test | Dark | Bright |" and "±" in text
    c2st_tables.matrix_figure(str(tmp_path / "t1.png"), res)
    assert (tmp_path / "t1.png").read_bytes()[:4] == b"\x89PNG"

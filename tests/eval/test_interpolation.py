"""Interpolation rendering, the cell-cycle biology check and the mask-based cell measures."""

import numpy as np
import pytest
from PIL import Image

from biogans_tf.data.simulator import simulate
from biogans_tf.eval import cell_stats, endpoints, interpolation
from biogans_tf.models import build_generator
from biogans_tf.models.registry import get_arch
from biogans_tf.runs.generator import GeneratorRun

SIZE = (24, 40)


@pytest.fixture(scope="module")
def cells():
    return simulate("Tea1", 120, seed=1, split="test", image_size=(48, 80))


def test_mask_length_matches_simulator_metadata(cells):
    images, meta = cells
    masks = cell_stats.cell_masks(images[..., 0])
    lengths = cell_stats.cell_lengths(masks)
    truth = np.array([m["length_px"] for m in meta], float)
    assert np.corrcoef(lengths, truth)[0, 1] > 0.99
    assert np.abs(lengths - truth).max() <= 5
    # The mask holds every red pixel above the threshold (one connected cell, holes filled).
    lit = images[..., 0] > cell_stats.MASK_THRESHOLD
    assert (lit & masks).sum() >= 0.995 * lit.sum()
    # With threshold 0 the mask is (nearly) exact: the simulator's background is 0 but for a few
    # isolated dim specks next to the edge.
    exact = cell_stats.cell_masks(images[..., 0], threshold=0)
    assert (images[..., 0][~exact] > 0).sum() <= 1e-3 * (images[..., 0] > 0).sum()


def test_septum_detector_agrees_with_simulated_stage(cells):
    images, meta = cells
    masks = cell_stats.cell_masks(images[..., 0])
    found = cell_stats.has_septum(images[..., 0], masks)
    truth = np.array([m["stage"] == "septating" for m in meta])
    assert truth.sum() >= 10  # the sample contains septating cells
    assert np.mean(found == truth) >= 0.97


def test_monotonicity_score_definition():
    assert interpolation.monotonicity([40, 42, 45, 50, 60])["spearman"] == pytest.approx(1.0)
    assert interpolation.monotonicity([60, 50, 40])["spearman"] == pytest.approx(-1.0)
    assert interpolation.monotonicity([50, 50, 50]) == {"spearman": 0.0, "fraction_nondecreasing": 1.0}
    # A 1 px dip is measurement jitter; a 5 px drop is not.
    assert interpolation.monotonicity([40, 39, 45, 40])["fraction_nondecreasing"] == pytest.approx(2 / 3)


def test_biology_check_on_a_simulated_cell_cycle(cells):
    images, meta = cells
    i0, i1 = endpoints.pick_endpoints(meta)
    assert meta[i0]["stage"] == "monopolar" and meta[i1]["stage"] == "septating"
    assert meta[i0]["length_px"] < meta[i1]["length_px"]
    # Real cells ordered by cell-cycle phase play the role of a perfect interpolation.
    order = np.argsort([m["phase"] for m in meta])[::12]
    bio = interpolation.biology(images[order])
    assert bio["spearman"] > 0.8, bio["lengths_px"]
    assert bio["septum_at_end"] and not bio["septum_at_start"]
    assert bio["length_growth_px"] > 10
    # The reverse path shrinks.
    assert interpolation.biology(images[order[::-1]])["spearman"] < -0.8


def test_pick_endpoints_needs_both_stages():
    with pytest.raises(ValueError, match="monopolar and a septating"):
        endpoints.pick_endpoints([{"stage": "bipolar", "length_px": 50}])


def test_one_endpoint_rule_for_metadata_and_measurement(cells):
    """Metadata and measured masks pick with the same rule: shortest young, longest dividing, ties low."""
    assert endpoints.choose_endpoints([5, 3, 3, 9, 9], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1], "x") == (1, 3)
    with pytest.raises(ValueError, match="^no young$"):
        endpoints.choose_endpoints([5, 3], [0, 0], [1, 1], "no young")
    images, meta = cells
    # The reference implementation pick_endpoints had before it moved here (min/max over the stages).
    young = [i for i, m in enumerate(meta) if m["stage"] == "monopolar"]
    old = [i for i, m in enumerate(meta) if m["stage"] == "septating"]
    want = (
        min(young, key=lambda i: (meta[i]["length_px"], i)),
        max(old, key=lambda i: (meta[i]["length_px"], -i)),
    )
    assert endpoints.pick_endpoints(meta) == want
    i0, i1 = endpoints.measured_endpoints(images, "Tea1")
    masks = cell_stats.cell_masks(images[..., 0])
    sept = cell_stats.has_septum(images[..., 0], masks)
    assert not sept[i0] and sept[i1]
    assert cell_stats.cell_lengths(masks)[i0] < cell_stats.cell_lengths(masks)[i1]
    with pytest.raises(ValueError, match="with and without a septum for Tea1"):
        endpoints.measured_endpoints(images[sept], "Tea1")


@pytest.mark.parametrize("arch,tiles", [("star", 2), ("multichannel", 2), ("dcgan", 1), ("independent", 2)])
def test_paths_written_as_gif_and_strip(tmp_path, arch, tiles):
    model = build_generator(arch, image_size=SIZE, n_proteins=2, nz=8, ngf=8, seed=0)
    spec = get_arch(arch)
    run = GeneratorRun(model, arch, spec.family, ("Alp14", "Tea1"), 8, SIZE, spec.separable, {}, "mem")
    z = run.latents(2, seed=0)
    out = interpolation.interpolation_study(run, z[0], z[1], steps=5, out_dir=str(tmp_path), name="p")
    assert set(out) == {"linear", "spherical"}
    for kind in out:
        gif = Image.open(tmp_path / out[kind]["files"]["gif"])
        assert gif.n_frames == 5
        # Frame: one 24x40 tile per protein with 1 px gutters, scaled x3, under a "step i/T" title
        # (and the protein names for multi-protein models): taller than the tiles, as wide.
        assert gif.size[0] == 3 * (tiles * 41 + 1) and gif.size[1] >= 3 * 26 + 18 * (1 + (tiles > 1))
        first = np.asarray(gif.convert("RGB"))
        assert (first[:18].min(axis=2) < 128).sum() > 20  # title text on the white band
        strip = Image.open(tmp_path / out[kind]["files"]["strip"])
        # Strip: "step 1".."step 5" over the columns; star rows named by protein (a left band).
        rows_band = tiles > 1
        assert strip.size[1] == 2 * (tiles * 26 + 2) + 20
        assert (strip.size[0] > 2 * (5 * 42 + 2)) == rows_band
        header = np.asarray(strip.convert("RGB"))[:20, -2 * 42 :]
        assert (header.min(axis=2) < 128).sum() > 10  # the last column's step label
        assert len(out[kind]["biology"]["lengths_px"]) == 5
    # Both paths start and end at the same codes, so the end frames agree.
    lin = interpolation.render_path(run, interpolation.path_codes(z[0], z[1], 3, "linear"))
    sph = interpolation.render_path(run, interpolation.path_codes(z[0], z[1], 3, "spherical"))
    np.testing.assert_array_equal(lin[[0, -1]], sph[[0, -1]])


def test_enrichment_and_pair_correlations():
    masks = np.zeros((1, 8, 20), bool)
    masks[0, 2:6, 2:18] = True
    tip_signal = np.zeros((1, 8, 20), np.uint8)
    tip_signal[0, 2:6, 2:4] = 200
    e = cell_stats.enrichment(tip_signal, masks)
    assert e["tips"] > 3 and e["middle"] == 0
    greens = np.stack([tip_signal[0], tip_signal[0], 255 - tip_signal[0]], axis=-1)[None]
    c = cell_stats.pair_correlations(greens, masks)
    np.testing.assert_allclose(c, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=1e-9)

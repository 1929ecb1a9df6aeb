"""Figures: labelled grids, palettes, and no backend switching inside the library."""

import os
import re

import numpy as np
import pytest

from biogans_tf import viz
from tests.conftest import ROOT

PROTEINS = ["Alp14", "Arp3", "Tea1"]


def _cells(n=2, c=3, h=12, w=20, seed=0):
    """uint8 `[n, h, w, 1+c]` with distinct random values per channel."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 1 + c), dtype=np.uint8)


def test_protein_names_add_a_header_band_with_text_over_every_column():
    x = _cells()
    plain = viz.sample_figure(x, None, scale=2)
    named = viz.sample_figure(x, PROTEINS, scale=2)
    assert named.shape[1] == plain.shape[1] and named.shape[0] > plain.shape[0]
    band = named.shape[0] - plain.shape[0]
    np.testing.assert_array_equal(named[band:], plain)  # the grid itself is untouched
    header = named[:band].min(axis=2)  # dark pixels = text on the white band
    tile_w, pad = 20 * 2, 2 * 2
    for q in range(len(PROTEINS)):
        column = header[:, pad + q * (tile_w + pad) : (q + 1) * (tile_w + pad)]
        assert (column < 128).sum() > 10, f"no label over column {q}"
    other = viz.sample_figure(x, ["Cki2", "Mkh1", "Sid2"], scale=2)
    assert not np.array_equal(other[:band], named[:band])  # the text depends on the names
    # A name list that does not fit the channels is dropped (a label never stops training).
    np.testing.assert_array_equal(viz.sample_figure(x, ["Alp14", "Arp3"], scale=2), plain)


def test_long_names_shrink_to_fit_their_column_and_rows_get_labels():
    tiles = viz.composite(_cells(n=2, c=1))[None]  # [1, 2, H, W, 3]
    out = viz.labelled_grid(tiles, ["a very long column name", "b"], row_names=["row"], scale=1)
    assert out.shape[1] > tiles.shape[1] * 22  # a left band for the row name
    with pytest.raises(ValueError, match="col_names: 1 names for 2 columns"):
        viz.labelled_grid(tiles, ["only one"])


def test_red_green_magenta_green_and_gray_palettes():
    x = _cells(n=1, c=2)
    red, g1, g2 = x[..., 0], x[..., 1], x[..., 2]

    rg = viz.composite(x, 2, "red-green")
    np.testing.assert_array_equal(rg[..., 0], red)
    np.testing.assert_array_equal(rg[..., 1], g2)
    assert not rg[..., 2].any()

    mg = viz.composite(x, 1, "magenta-green")  # red shown as magenta: R == B == red
    np.testing.assert_array_equal(mg[..., 0], red)
    np.testing.assert_array_equal(mg[..., 2], red)
    np.testing.assert_array_equal(mg[..., 1], g1)

    gray = viz.composite(x, 1, "gray")  # red panel | white seam | green panel, all gray
    w = x.shape[2]
    assert gray.shape[2] == 2 * w + viz.GRAY_SEAM
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    np.testing.assert_array_equal(gray[..., :w, 0], red)
    np.testing.assert_array_equal(gray[..., w + viz.GRAY_SEAM :, 0], g1)

    # Multichannel grids in gray: the reference gets its own first column, named.
    tiles, names = viz.sample_tiles(x, palette="gray", proteins=["Alp14", "Arp3"])
    assert names == ["Bgs4", "Alp14", "Arp3"] and tiles.shape[:2] == (1, 3)
    np.testing.assert_array_equal(tiles[0, 2, ..., 1], g2[0])


def test_float_input_and_every_layout_follow_the_palette():
    rng = np.random.default_rng(1)
    star = rng.uniform(-1, 1, (2, 8, 12, 3)).astype(np.float32)
    indep = rng.uniform(-1, 1, (2, 2, 8, 12, 2)).astype(np.float32)
    pair = rng.uniform(-1, 1, (5, 8, 12, 2)).astype(np.float32)
    for images in (star, indep, pair):
        out = viz.sample_figure(images, ["A", "B"] if images is not pair else None, "magenta-green", 1, 4)
        body = out[-viz.sample_grid(images, 4, "magenta-green").shape[0] :]
        assert (body[..., 0] == body[..., 2]).all()


def test_unknown_palette_names_the_allowed_values():
    with pytest.raises(ValueError, match="palette 'blue': expected one of red-green, magenta-green, gray"):
        viz.composite(_cells(), 1, "blue")


def test_the_library_never_switches_the_matplotlib_backend():
    """Only command-line entry points may call matplotlib.use (it breaks notebooks)."""
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "biogans_tf")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                text = open(path, encoding="utf-8").read()
                if re.search(r"matplotlib\.use\(|\buse\(\s*['\"]Agg", text):
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []

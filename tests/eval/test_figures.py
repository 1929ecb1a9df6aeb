"""Evaluation figures say what they show: column headers, palettes, readable heat maps."""

import numpy as np
import pytest
from PIL import Image

from biogans_tf.eval import c2st_tables, joint
from biogans_tf.eval.reconstruction_report import figure5


def _pairs(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 12, 20, 2), dtype=np.uint8)


def test_figure5_names_its_columns_and_rows_and_follows_the_palette(tmp_path):
    t, nn = _pairs(3, 0), _pairs(3, 1)
    rec = {"regular": _pairs(3, 2), "separable": _pairs(3, 3)}
    img = figure5(
        str(tmp_path / "f5.png"), t, nn, rec, scale=2, palette="magenta-green", row_names=["Alp14"] * 3
    )
    assert np.array_equal(np.asarray(Image.open(tmp_path / "f5.png")), img)
    body_h = 3 * (12 + 2) * 2 + 4
    header = img[: img.shape[0] - body_h]
    assert header.shape[0] >= 15
    left = img.shape[1] - (4 * (20 + 2) * 2 + 4)  # the row-name band
    assert left > 0
    for q in range(4):  # text over each of the 4 columns (test, neighbour, regular, separable)
        x0 = left + 4 + q * 44
        assert (header[:, x0 : x0 + 40].min(axis=2) < 128).sum() > 10, q
    assert (img[-body_h:, : left - 2].min(axis=2) < 128).sum() > 10  # row names drawn
    body = img[-body_h:, left:]
    assert (body[..., 0] == body[..., 2]).all()  # magenta-green: red shown as R = B


def test_heat_map_text_contrasts_with_its_cell_and_is_200_dpi(tmp_path):
    assert c2st_tables.text_colour((0.99, 0.9, 0.14, 1)) == "black"  # viridis yellow
    assert c2st_tables.text_colour((0.27, 0.0, 0.33, 1)) == "white"  # viridis purple
    p = ["Alp14", "Arp3"]
    c2st_tables.matrix_figure(
        str(tmp_path / "t1.png"), {"proteins": p, "median": [[0, 9], [8, 0]], "mad": [[0.1] * 2] * 2}
    )
    dpi = Image.open(tmp_path / "t1.png").info["dpi"]
    assert dpi[0] == pytest.approx(200, abs=0.5)


def test_difference_panel_is_scaled_to_its_data_with_a_colour_bar(tmp_path):
    """A 0.02 difference must not vanish on a +-1 scale: the third panel's scale is +-0.02."""
    truth = np.array([[1.0, 0.5], [0.5, 1.0]])
    fake = truth + np.array([[0.0, 0.02], [-0.02, 0.0]])
    fig = joint._heatmaps(str(tmp_path / "h.png"), ["A", "B"], truth, fake)
    assert Image.open(tmp_path / "h.png").size[0] > 1000
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [im.get_clim() for im in images[:2]] == [(-1.0, 1.0), (-1.0, 1.0)]
    assert images[2].get_clim() == pytest.approx((-0.02, 0.02))
    assert len(fig.axes) == 6  # three panels, each with its colour bar
    # Annotation colours: white on the dark ends of the scale, black in its pale middle.
    texts = {t.get_text(): t.get_color() for t in fig.axes[2].texts}
    assert texts["0.02"] == "white" and texts["-0.02"] == "white" and texts["0.00"] == "black"

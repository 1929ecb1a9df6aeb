"""Tests for the simulator calibration: statistics on known images, ranges, the CLI and figure."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from biogans_tf.data import calibration as C
from biogans_tf.training.data_calibrate import main as calibrate_main

REAL = C.DEFAULT_REAL
needs_real = pytest.mark.skipif(
    not os.path.exists(REAL), reason="real LIN reference cells absent (../shared)"
)


def _rod(h=48, w=80, top=11, bottom=36, left=10, right=69, red=100, green=150):
    img = np.zeros((h, w, 3), np.uint8)
    img[top : bottom + 1, left : right + 1, 0] = red
    img[top : bottom + 1, left : right + 1, 1] = green
    return img


def test_cell_stats_on_a_known_rectangle():
    img = _rod()
    img[20, 30, 1] = 255
    s = C.cell_stats(img)
    assert s["width_px"] == 26 and s["length_px"] == 60
    assert s["zero_fraction"] == pytest.approx(1 - 26 * 60 / (48 * 80))
    assert s["median_red"] == 100 and s["median_green"] == 150
    assert s["saturated_red"] == 0 and s["saturated_green"] == pytest.approx(1 / (26 * 60))
    assert s["noise_sd_red"] == 0.0


def test_noise_sd_recovers_white_noise_level():
    rng = np.random.default_rng(0)
    img = _rod()
    noisy = np.clip(100 + rng.normal(0, 10, img.shape[:2]), 1, 254).astype(np.uint8)
    img[..., 0] = np.where(img[..., 0] > 0, noisy, 0)
    sd = C.cell_stats(img)["noise_sd_red"]
    # Residual to a sigma-1 Gaussian removes ~1/4 of white-noise variance's SD: expect ~8.
    assert 6.5 < sd < 10.0


def test_hole_inside_cell_counts_as_cell():
    img = _rod()
    img[20:23, 30:33, :] = 0  # both channels clipped to 0 inside the cell
    assert C.cell_mask(img)[21, 31]


def test_cli_skips_cleanly_without_real_cells(tmp_path, capsys):
    rc = calibrate_main(["--real", str(tmp_path / "missing.npy"), "--n", "2", "--figure", ""])
    assert rc == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["status"] == "skipped"


def test_real_ranges_widen_protein_specific_stats():
    real = np.stack([_rod(green=100 + 10 * i, red=90 + i) for i in range(12)])
    ranges = C.real_ranges(real, ("Alp14", "Fim1"))
    span = 110.0  # green medians 100..210 over 12 cells
    assert ranges["Alp14"]["median_green"] == pytest.approx(
        (100 - C.TOLERANCE * span, 110 + C.TOLERANCE * span)
    )
    assert ranges["Fim1"]["median_green"] == (100.0, 210.0)  # no real Fim1: the 12-cell range
    assert ranges["Alp14"]["median_red"] == (90.0, 101.0)  # protein-agnostic: all 12 cells


@needs_real
def test_simulated_statistics_fall_inside_real_ranges():
    real = np.load(REAL)
    results = C.calibrate(real, n=60, seed=0)
    out = [(p, k) for p, stats in results.items() for k, r in stats.items() if not r["ok"]]
    assert not out, out


@needs_real
def test_cli_prints_table_json_and_writes_figure(tmp_path, capsys):
    fig = tmp_path / "fig.png"
    rc = calibrate_main(["--n", "30", "--seed", "0", "--figure", str(fig)])
    text = capsys.readouterr().out
    summary = json.loads(text.strip().splitlines()[-1])
    assert rc == (0 if summary["out"] == 0 else 1)
    assert "OK" in text and set(summary["results"]) == {
        "Alp14",
        "Arp3",
        "Cki2",
        "Mkh1",
        "Sid2",
        "Tea1",
        "Fim1",
        "Tea4",
    }
    img = Image.open(fig)
    assert img.mode in ("RGB", "RGBA") and img.size[0] > 400 and img.size[1] > 400


@needs_real
def test_figure_palette_flag_and_default_location(tmp_path, capsys):
    # Regenerating the committed docs/figures/real_vs_sim.png must be asked for explicitly.
    assert C.DEFAULT_FIGURE.startswith("runs" + os.sep)
    assert calibrate_main(["--n", "2", "--palette", "blue", "--figure", ""]) == 2
    err = capsys.readouterr().err  # one line naming the flag and the allowed values
    assert len(err.strip().splitlines()) == 1 and "--palette" in err and "blue" in err
    assert all(name in err for name in ("red-green", "magenta-green", "gray"))
    real = np.load(REAL)
    reds = {}
    for palette in ("red-green", "magenta-green"):
        path = tmp_path / f"{palette}.png"
        C.write_figure(str(path), real, 0, n_sim=1, palette=palette)
        rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
        reds[palette] = int(((rgb[..., 0] > 100) & (rgb[..., 2] < 40)).sum())  # pure red pixels
    assert reds["red-green"] > 1000 and reds["magenta-green"] < reds["red-green"] / 50

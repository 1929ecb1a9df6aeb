"""Calibrate the simulator against the 12 real LIN cells: statistics, ranges, a side-by-side figure.

    python -m biogans_tf.data.calibration [--n 500] [--seed 0] [--figure runs/calibration/real_vs_sim.png]
        [--palette red-green|magenta-green|gray] [--real ../shared/reference/lin_real_cells.npy]

For each protein it simulates `--n` cells and compares the median of each statistic with the
range [min, max] measured by the same functions on the real cells (uint8 `[12, 48, 80, 3]`, two
per protein: Alp14, Arp3, Cki2, Mkh1, Sid2, Tea1). Protein-agnostic statistics (geometry and
red) use all 12 real cells; green statistics use the protein's own 2 cells, widened on each side
by `TOLERANCE` x the 12-cell span (two cells cannot show a protein's spread), and Fim1/Tea4
(no real cells) use the 12-cell range. It prints a table with OK/OUT flags, writes the figure,
prints the results JSON as its last line and exits 1 if any statistic is OUT. Without the real
cells it prints a message and the JSON {"status": "skipped"} and exits 0.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import ndimage as ndi

REAL_ORDER = (
    "Alp14",
    "Alp14",
    "Arp3",
    "Arp3",
    "Cki2",
    "Cki2",
    "Mkh1",
    "Mkh1",
    "Sid2",
    "Sid2",
    "Tea1",
    "Tea1",
)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Under runs/ so that a calibration run never overwrites the committed docs/figures/real_vs_sim.png.
DEFAULT_FIGURE = os.path.join("runs", "calibration", "real_vs_sim.png")
DEFAULT_REAL = os.path.join(REPO_ROOT, "..", "shared", "reference", "lin_real_cells.npy")
TOLERANCE = 0.15
# Statistic name -> (channel it is about, protein-specific?).
STATS = {
    "zero_fraction": (None, False),
    "width_px": (None, False),
    "length_px": (None, False),
    "median_red": (0, False),
    "median_green": (1, True),
    "saturated_red": (0, False),
    "saturated_green": (1, True),
    "noise_sd_red": (0, False),
    "noise_sd_green": (1, True),
}


def cell_mask(image: np.ndarray) -> np.ndarray:
    """The cell mask of one image `[H, W, >=2]` uint8: any channel > 0, holes filled."""
    return ndi.binary_fill_holes((image[..., 0] > 0) | (image[..., 1] > 0))


def noise_sd(channel: np.ndarray, mask: np.ndarray) -> float:
    """Residual pixel noise: robust SD (1.4826 MAD) of channel - Gaussian(sigma 1)-smoothed channel,
    inside the mask eroded by 3 px, excluding clipped pixels (0 or 255)."""
    x = channel.astype(np.float32)
    resid = x - ndi.gaussian_filter(x, 1.0)
    core = ndi.binary_erosion(mask, iterations=3) & (x > 0) & (x < 255)
    r = resid[core]
    if r.size < 10:
        return float("nan")
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def cell_stats(image: np.ndarray) -> dict:
    """All calibration statistics of one cell image `[H, W, >=2]` uint8 (red, green, ...)."""
    m = cell_mask(image)
    rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    red, green = image[..., 0][m], image[..., 1][m]
    return {
        "zero_fraction": float(1.0 - m.mean()),
        "width_px": float(rows[-1] - rows[0] + 1) if rows.size else 0.0,
        "length_px": float(cols[-1] - cols[0] + 1) if cols.size else 0.0,
        "median_red": float(np.median(red)),
        "median_green": float(np.median(green)),
        "saturated_red": float((red == 255).mean()),
        "saturated_green": float((green == 255).mean()),
        "noise_sd_red": noise_sd(image[..., 0], m),
        "noise_sd_green": noise_sd(image[..., 1], m),
    }


def stats_table(images: np.ndarray) -> dict[str, np.ndarray]:
    """Statistic name -> values `[N]` for images `[N, H, W, >=2]`."""
    per = [cell_stats(im) for im in images]
    return {k: np.array([p[k] for p in per]) for k in STATS}


def real_ranges(real: np.ndarray, proteins) -> dict[str, dict[str, tuple[float, float]]]:
    """protein -> statistic -> (lo, hi) from the real cells (see the module docstring)."""
    table = stats_table(real)
    labels = np.array(REAL_ORDER[: real.shape[0]])
    out = {}
    for p in proteins:
        out[p] = {}
        for k, (_, specific) in STATS.items():
            vals = table[k][~np.isnan(table[k])]
            lo, hi = float(vals.min()), float(vals.max())
            own = table[k][labels == p]
            if specific and own.size:
                span = hi - lo
                lo, hi = float(own.min()) - TOLERANCE * span, float(own.max()) + TOLERANCE * span
            out[p][k] = (lo, hi)
    return out


def calibrate(real: np.ndarray, n: int, seed: int) -> dict:
    """Simulate n cells per protein; compare per-statistic medians with the real ranges."""
    from biogans_tf.data import simulator

    ranges = real_ranges(real, simulator.SIM_PROTEINS)
    results = {}
    for p in simulator.SIM_PROTEINS:
        images, _ = simulator.simulate(p, n, seed, split="calibration")
        table = stats_table(images)
        results[p] = {}
        for k in STATS:
            vals = table[k][~np.isnan(table[k])]
            med = float(np.median(vals))
            lo, hi = ranges[p][k]
            results[p][k] = {
                "sim_median": round(med, 4),
                "sim_p10": round(float(np.percentile(vals, 10)), 4),
                "sim_p90": round(float(np.percentile(vals, 90)), 4),
                "real_lo": round(lo, 4),
                "real_hi": round(hi, 4),
                "ok": bool(lo <= med <= hi),
            }
    return results


def print_table(results: dict) -> None:
    head = (
        f"{'protein':7s} {'statistic':16s} {'sim median':>10s} {'sim p10-p90':>17s} {'real range':>19s}  flag"
    )
    print(head)
    print("-" * len(head))
    for p, stats in results.items():
        for k, r in stats.items():
            print(
                f"{p:7s} {k:16s} {r['sim_median']:10.3f} {r['sim_p10']:8.3f}-{r['sim_p90']:<8.3f} "
                f"{r['real_lo']:9.3f}-{r['real_hi']:<9.3f}  {'OK' if r['ok'] else 'OUT'}"
            )


def write_figure(path: str, real: np.ndarray, seed: int, n_sim: int = 4, palette: str = "red-green") -> None:
    """Per protein a row: its real cells (if any) then `n_sim` simulated cells.

    Args:
        path: PNG output path (written atomically).
        real: uint8 `[N, H, W, >=2]` real LIN cells in `REAL_ORDER`.
        seed: simulator seed.
        n_sim: simulated cells per protein.
        palette: one of `biogans_tf.viz.PALETTES` (``gray``: red and green as separate panels).
    """
    # The object API (Figure + its own Agg canvas) leaves pyplot and the session's backend alone.
    from matplotlib.figure import Figure

    from biogans_tf import viz
    from biogans_tf.data import simulator
    from biogans_tf.io_utils import atomic_path

    viz.check_palette(palette)
    n_real = 2
    cols = n_real + n_sim
    wide = 2 if palette == "gray" else 1  # gray tiles hold two panels side by side
    fig = Figure(figsize=(cols * 1.6 * wide, len(simulator.SIM_PROTEINS) * 1.05))
    axes = fig.subplots(len(simulator.SIM_PROTEINS), cols, squeeze=False)
    for r, p in enumerate(simulator.SIM_PROTEINS):
        sims, _ = simulator.simulate(p, n_sim, seed, split="figure")
        own = [real[i] for i, q in enumerate(REAL_ORDER[: real.shape[0]]) if q == p]
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < n_real:
                cell = own[c][..., :2] if c < len(own) else np.zeros(sims.shape[1:3] + (2,), np.uint8)
            else:
                cell = sims[c - n_real]
            ax.imshow(viz.composite(cell, 1, palette), interpolation="nearest")
            if r == 0:
                ax.set_title("real (LIN)" if c < n_real else "simulated", fontsize=8)
        axes[r, 0].set_ylabel(
            p + ("" if own else "\n(no real)"), fontsize=8, rotation=0, ha="right", va="center"
        )
    fig.subplots_adjust(left=0.1, right=0.99, top=0.96, bottom=0.01, wspace=0.04, hspace=0.06)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, facecolor="white")

"""Ground-truth multichannel evaluation (beyond the paper): do synthesised multichannel cells look
like real multichannel cells?

LIN images one green protein per cell, so the paper could never check the joint picture its star
and multichannel models draw. The simulator's `joint` split renders every protein's green on the
same cell. Here a generator with a `[B, H, W, 1+C]` output (star, multichannel, multichannel-sep)
is scored against it by:

1. C2ST on the full (1+C)-channel images (critics see the red and all greens together), beside the
   same C2ST between two disjoint truth samples (the noise floor), trained in the same stacked bank;
2. between-protein statistics, truth vs generated:
   - `pair_correlations`: Pearson correlation of every pair of greens over in-cell pixels of all
     cells (co-variation of two proteins within the same cell);
   - `enrichment`: for every green, intensity share at the cell tips and in the medial region
     relative to their area share (tip / septum co-localisation with Bgs4's geometry);
   summarised as the mean absolute difference of the off-diagonal pair correlations and of the
   enrichments, each beside the same numbers between two truth samples.
"""

from __future__ import annotations

import io
import os

import numpy as np

from biogans_tf.eval import cell_stats
from biogans_tf.eval.c2st import C2STSettings, run_c2st
from biogans_tf.io_utils import write_bytes
from biogans_tf.viz import labelled_grid, sample_tiles, save_png


def joint_truth(data: str, proteins, n: int, seed: int, image_size) -> tuple[np.ndarray, np.ndarray, str]:
    """Two disjoint true multichannel samples (truth, reference) in the given protein order.

    Args:
        data: `sim` / `sim:<n>` (the simulator's joint split: `n` cells each, the reference
            starting after the truth) or a dataset folder with `joint/cells.npz` (split in halves).
        proteins: the run's protein names (channel order of the result after the red).
        n: cells per sample (simulated data only).
        seed: the simulator seed.
        image_size: `(height, width)` (simulated data only).

    Returns:
        `(truth uint8 [N, H, W, 1+C], reference [M, H, W, 1+C], description of the source)`.

    Raises:
        DataError: no joint file, or it lacks some of `proteins`.
    """
    from biogans_tf.data import simulator
    from biogans_tf.data.errors import DataError

    if data.startswith("sim"):
        truth, _ = simulator.simulate_joint(proteins, n, seed, "joint", image_size)
        ref, _ = simulator.simulate_joint(proteins, n, seed, "joint", image_size, start=n)
        return truth, ref, f"simulator joint split (seed={seed})"
    path = os.path.join(data, "joint", "cells.npz")
    if not os.path.isfile(path):
        raise DataError(path, "joint evaluation needs --data sim or a dataset folder with joint/cells.npz")
    with np.load(path) as f:
        images, names = f["images"], [str(p) for p in f["proteins"]]
    missing = [p for p in proteins if p not in names]
    if missing:
        raise DataError(path, f"proteins {missing} of the run are not in the joint file ({names})")
    images = images[..., [0] + [1 + names.index(p) for p in proteins]]
    half = len(images) // 2
    return images[:half], images[half:], path


def joint_statistics(images) -> dict:
    """Between-protein statistics of multichannel cells.

    Args:
        images: uint8 `[N, H, W, 1+C]` (or float in [-1, 1]); channel 0 = red (Bgs4).

    Returns:
        `{"pair_correlations": [C, C] array, "enrichment": [C, 2] array (tips, middle)}`.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] < 3:
        raise ValueError(f"joint_statistics: expected [N, H, W, 1+C] with C >= 2, got shape {x.shape}")
    masks = cell_stats.cell_masks(x[..., 0])
    corr = cell_stats.pair_correlations(x[..., 1:], masks)
    enr = np.array(
        [[v for v in cell_stats.enrichment(x[..., 1 + i], masks).values()] for i in range(x.shape[-1] - 1)]
    )
    return {"pair_correlations": corr, "enrichment": enr}


def compare_statistics(a: dict, b: dict) -> dict:
    """Mean absolute differences of two `joint_statistics` results (off-diagonal correlations)."""
    c = a["pair_correlations"].shape[0]
    off = ~np.eye(c, dtype=bool)
    return {
        "pair_correlation_mad": float(
            np.nanmean(np.abs(a["pair_correlations"] - b["pair_correlations"])[off])
        ),
        "enrichment_mad": float(np.nanmean(np.abs(a["enrichment"] - b["enrichment"]))),
    }


def _heatmaps(path: str, proteins, truth: np.ndarray, fake: np.ndarray):
    """Truth and generated pair correlations on a shared [-1, 1] scale, and their difference on
    a symmetric scale fitted to its own largest value (so small differences stay visible).

    Returns:
        the matplotlib `Figure` written to `path` (three image axes, then their colour bars).
    """
    from matplotlib.figure import Figure  # object API: no pyplot, no backend switch

    from biogans_tf.eval.c2st_tables import text_colour

    diff = fake - truth
    span = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
    span = max(span, 1e-3)
    fig = Figure(figsize=(11, 3.6), dpi=200)
    axes = fig.subplots(1, 3)
    panels = (("truth (simulator joint split)", truth, "RdBu_r", 1.0, "correlation"),
              ("generated", fake, "RdBu_r", 1.0, "correlation"),
              (f"generated - truth (scale ±{span:.2f})", diff, "PuOr_r", span, "difference"))  # fmt: skip
    for ax, (title, m, cmap, lim, label) in zip(axes, panels, strict=True):
        im = ax.imshow(m, cmap=cmap, vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(proteins)), proteins, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(proteins)), proteins, fontsize=7)
        ax.set_title(title, fontsize=9)
        for i in range(len(proteins)):
            for j in range(len(proteins)):
                colour = text_colour(im.cmap(im.norm(m[i, j]))) if np.isfinite(m[i, j]) else "black"
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6, color=colour)
        fig.colorbar(im, ax=ax, fraction=0.046, label=label)
    fig.suptitle("Correlation of each pair of greens over in-cell pixels", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    write_bytes(path, buf.getvalue())
    return fig


def joint_evaluation(
    generated,
    truth,
    truth_reference,
    proteins,
    *,
    settings: C2STSettings = C2STSettings(),
    out_dir: str | None = None,
    progress: bool = False,
    palette: str = "red-green",
    fresh=None,
) -> dict:
    """Score generated multichannel cells against ground-truth multichannel cells.

    Args:
        generated: uint8 `[N, H, W, 1+C]` generator samples (red, then greens in `proteins` order).
        truth: uint8 `[M, H, W, 1+C]` true joint cells, same channel order.
        truth_reference: a second, disjoint truth sample (noise floor of every number).
        proteins: the C protein names.
        settings: C2ST settings (critics on all 1+C channels).
        out_dir: where to write `joint_pair_correlations.png` and `joint_samples.png`.
        progress: tqdm bars.
        palette: colours of `joint_samples.png` (`biogans_tf.viz.PALETTES`).
        fresh: optional `biogans_tf.eval.fakes.GeneratorFakes` of the same generator: the C2ST then
            trains on a new generator batch at every critic step (the paper's protocol) while the
            statistics use `generated`.

    Returns:
        JSON-ready dict with `c2st` (generated vs truth) and `c2st_truth_vs_truth`, `statistics`
        (truth / generated / truth_reference matrices), `summary` (mean abs differences vs truth for
        generated and for the reference), and `figures`.
    """
    g, t, r = (np.asarray(a) for a in (generated, truth, truth_reference))
    c = len(proteins)
    for name, a in (("generated", g), ("truth", t), ("truth_reference", r)):
        if a.ndim != 4 or a.shape[-1] != 1 + c:
            raise ValueError(f"joint_evaluation: {name} must be [N, H, W, 1+C] with C={c}, got {a.shape}")
    problems = [(t, g if fresh is None else fresh), (t, r)]
    fake_vs_truth, ref_vs_truth = run_c2st(problems, settings, progress=progress, desc="joint c2st")
    st_t, st_g, st_r = joint_statistics(t), joint_statistics(g), joint_statistics(r)
    figures = {}
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        _heatmaps(os.path.join(out_dir, "joint_pair_correlations.png"), proteins, st_t["pair_correlations"],
                  st_g["pair_correlations"])  # fmt: skip
        k = min(6, len(t), len(g))
        samples = np.concatenate([t[:k], g[:k]], axis=0)
        tiles, names = sample_tiles(samples, palette=palette, proteins=proteins)
        rows = ["truth"] * k + ["generated"] * k
        save_png(os.path.join(out_dir, "joint_samples.png"), labelled_grid(tiles, names, rows, scale=2))
        figures = {"pair_correlations": "joint_pair_correlations.png", "samples": "joint_samples.png"}

    def as_json(st):
        return {"pair_correlations": np.round(st["pair_correlations"], 4).tolist(),
                "enrichment_tips_middle": np.round(st["enrichment"], 4).tolist()}  # fmt: skip

    return {
        "proteins": list(proteins),
        "c2st": fake_vs_truth,
        "c2st_truth_vs_truth": ref_vs_truth,
        "statistics": {"truth": as_json(st_t), "generated": as_json(st_g), "truth_reference": as_json(st_r)},
        "summary": {
            "generated_vs_truth": compare_statistics(st_g, st_t),
            "truth_reference_vs_truth": compare_statistics(st_r, st_t),
        },  # fmt: skip
        "figures": figures,
        "note": "joint_samples.png: first rows truth, last rows generated; one column per protein",
    }

"""Reconstruction study output (paper Sec. 5.2): Table 3 rows and text, Figure 5 grid, Figure 6 scatter.

`biogans_tf.eval.reconstruction` computes the codes and the baselines; this module summarises them
as the paper's Table 3 (median +- MAD, unscaled, over cells) and draws the figures.
"""

from __future__ import annotations

import io
import os

import numpy as np

from biogans_tf.eval.c2st import median_mad
from biogans_tf.io_utils import write_bytes
from biogans_tf.viz import composite, labelled_grid, save_png


def summary(values) -> dict:
    """`{"median", "mad", "n"}` of a 1-D array (the paper's "median +- MAD")."""
    med, mad = median_mad(values)
    return {"median": med, "mad": mad, "n": int(np.size(values))}


def table3_rows(results: dict[str, dict], nn_l2=None, prior=None) -> list[dict]:
    """Table 3 rows: one per method with L2 and NLL as median +- MAD.

    Args:
        results: method name -> dict with `l2 [N]` and `nll [N]`.
        nn_l2: nearest-training-cell L2 per test cell (baseline row, L2 only).
        prior: NLL of random prior draws (baseline row, NLL only).

    Returns:
        list of `{"method", "l2": {median, mad, n} | None, "nll": {...} | None}`.
    """
    rows = [{"method": k, "l2": summary(v["l2"]), "nll": summary(v["nll"])} for k, v in results.items()]
    if nn_l2 is not None:
        rows.append({"method": "nearest training cell", "l2": summary(nn_l2), "nll": None})
    if prior is not None:
        rows.append({"method": "prior N(0, I) draws", "l2": None, "nll": summary(prior)})
    return rows


def format_table3(rows: list[dict], title: str = "") -> str:
    """Markdown table of `table3_rows` output (values as `median ± MAD`)."""

    def cell(s, digits):
        return "—" if s is None else f"{s['median']:.{digits}f} ± {s['mad']:.{digits}f}"

    lines = [f"**{title}**", ""] if title else []
    lines += ["| method | L2 (RMS, [0,1]) | NLL of z |", "|---|---|---|"]
    lines += [f"| {r['method']} | {cell(r['l2'], 4)} | {cell(r['nll'], 1)} |" for r in rows]
    return "\n".join(lines)


COLUMN_TITLES = {"regular": "regular", "separable": "separable (red first)"}


def figure5(
    path: str,
    test,
    neighbours,
    reconstructions: dict[str, np.ndarray],
    scale: int = 2,
    palette: str = "red-green",
    row_names=None,
) -> np.ndarray:
    """Figure 5-style grid: one row per test cell; columns test, nearest neighbour, reconstructions.

    Args:
        path: PNG output path.
        test, neighbours: `[N, H, W, 2]` uint8 or float in [-1, 1].
        reconstructions: column name -> `[N, H, W, 2]` (columns in dict order).
        scale: nearest-neighbour upscaling of the PNG (labels are drawn at the final size).
        palette: one of `biogans_tf.viz.PALETTES`.
        row_names: optional label per row (e.g. the protein of each test cell).

    Returns:
        the RGB image written (uint8), with a header band naming the columns.
    """
    imgs = [test, neighbours] + list(reconstructions.values())
    tiles = np.stack([composite(x, 1, palette) for x in imgs], axis=1)  # [N, columns, H, W', 3]
    names = ["test cell", "nearest neighbour"] + [COLUMN_TITLES.get(k, k) for k in reconstructions]
    image = labelled_grid(tiles, col_names=names, row_names=row_names, scale=scale)
    save_png(path, image)
    return image


def figure6(path: str, series: dict[str, tuple[np.ndarray, np.ndarray]], nn_l2=None, prior=None) -> None:
    """Figure 6-style scatter of reconstruction L2 (x) against the NLL of z (y).

    Args:
        path: PNG output path.
        series: label -> `(l2 [N], nll [N])`.
        nn_l2: nearest-training-cell L2 (drawn as a vertical line at its median).
        prior: NLL of prior draws (drawn as a horizontal band: median +- MAD).
    """
    from matplotlib.figure import Figure  # object API: no pyplot, no backend switch

    fig = Figure(figsize=(5.5, 4.0), dpi=150)
    ax = fig.subplots()
    for label, (l2, nll) in series.items():
        ax.scatter(l2, nll, s=9, alpha=0.6, label=label)
    if nn_l2 is not None and len(nn_l2):
        ax.axvline(float(np.median(nn_l2)), color="k", ls="--", lw=1, label="nearest training cell (median)")
    if prior is not None and len(prior):
        med, mad = median_mad(prior)
        ax.axhspan(med - mad, med + mad, color="0.8", alpha=0.6, label="prior draws (median ± MAD)")
    values = np.concatenate([np.asarray(nll, np.float64) for _, nll in series.values()] or [np.ones(1)])
    if values.min() > 0 and values.max() > 100 * values.min():
        ax.set_yscale("log")  # diverged codes (huge NLL) would flatten the rest
    ax.set_xlabel("reconstruction L2 (RMS on [0, 1])")
    ax.set_ylabel("NLL of z under N(0, I)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    write_bytes(path, buf.getvalue())


def write_figures(
    out_dir: str,
    arch: str,
    fig_rows,
    pooled,
    nn_l2,
    prior,
    rows,
    *,
    n_rows: int = 8,
    palette: str = "red-green",
) -> dict:
    """Write Figure 5 (PNG + OME-TIFF), Figure 6 and `table3.md` of one run into `out_dir`.

    Args:
        out_dir: output folder (created).
        arch: the run's architecture (titles).
        fig_rows: per group `(test [n, H, W, c], nearest neighbours, {mode: reconstructions}, name)`.
        pooled: `{mode: {"l2": [N], "nll": [N]}}` over all cells.
        nn_l2: nearest-training-cell L2 of all cells `[N]`.
        prior: NLL of prior draws `[N]`.
        rows: Table 3 rows over all cells (`table3_rows`).
        n_rows: test cells shown in Figure 5 (spread over the groups).
        palette: colours of Figure 5 (`biogans_tf.viz.PALETTES`).

    Returns:
        the file names: `{"fig5", "fig6", "table", "fig5_tiff"}`.
    """
    from biogans_tf.tiff import write_panels  # the same cells for Fiji / napari, channels named

    os.makedirs(out_dir, exist_ok=True)
    modes = list(pooled)
    per = max(1, -(-n_rows // len(fig_rows)))
    t = np.concatenate([f[0][:per] for f in fig_rows])[:n_rows]
    nn = np.concatenate([f[1][:per] for f in fig_rows])[:n_rows]
    rec = {m: np.concatenate([f[2][m][:per] for f in fig_rows])[:n_rows] for m in modes}
    row_names = [f[3] for f in fig_rows for _ in range(len(f[0][:per]))][:n_rows]
    figure5(
        os.path.join(out_dir, "fig5_reconstructions.png"), t, nn, rec, palette=palette, row_names=row_names
    )
    desc = f"biogans-tf {arch} reconstructions (cells on the Q axis; proteins: {', '.join(row_names)})"
    write_panels(os.path.join(out_dir, "fig5_reconstructions.ome.tif"), {"test": t, "nearest": nn, **rec},
                 description=desc)  # fmt: skip
    figure6(
        os.path.join(out_dir, "fig6_l2_vs_nll.png"),
        {m: (pooled[m]["l2"], pooled[m]["nll"]) for m in modes},
        nn_l2,
        prior,
    )
    text = format_table3(rows, f"Table 3 ({arch}, {len(nn_l2)} test cells)")
    write_bytes(os.path.join(out_dir, "table3.md"), (text + "\n").encode())
    figures = {"fig5": "fig5_reconstructions.png", "fig6": "fig6_l2_vs_nll.png", "table": "table3.md"}
    figures["fig5_tiff"] = "fig5_reconstructions.ome.tif"
    return figures

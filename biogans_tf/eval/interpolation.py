"""Latent interpolation that mimics the cell cycle (paper Sec. 5.3), rendered and checked.

Between two codes (given, random, or found by reconstructing two real cells, e.g. a short
monopolar cell and a septating one: `biogans_tf.eval.endpoints`) we walk a linear or
spherical path (`biogans_tf.eval.latent.interpolate`), draw every point, and write:

- an animated GIF (one frame per step) and a strip PNG (steps left to right), and an OME-TIFF
  time series (`write_path_tiffs`);
- for star and multichannel models every protein's green beside the shared red (one tile per
  protein in a frame; one strip row per protein);
- a biology check on the red (Bgs4) channel: the cell length from the mask at every step, the
  septum score (`cell_stats.septum_scores`), and a monotonicity score.

Monotonicity score (defined here): Spearman's rank correlation between the step index and the
measured cell length (+1 = length never decreases and grows overall, 0 = no trend, -1 = shrinks).
We also report the fraction of consecutive steps whose length does not drop by more than 1 px
(the mask's measurement jitter).
"""

from __future__ import annotations

import os

import numpy as np
from scipy import stats

from biogans_tf.eval import cell_stats
from biogans_tf.eval.latent import interpolate
from biogans_tf.viz import composite, labelled_grid, save_gif, save_png


def path_codes(z0, z1, steps: int, kind: str = "linear") -> np.ndarray:
    """float32 `[steps, nz]` points from z0 to z1 (endpoints included)."""
    return interpolate(np.asarray(z0, np.float32), np.asarray(z1, np.float32), int(steps), kind).numpy()


def frames_of(images: np.ndarray, palette: str = "red-green", proteins=None, scale: int = 1) -> np.ndarray:
    """RGB frames `[T, H', W', 3]` uint8: one tile per protein side by side, titled "step i/T".

    Args:
        images: uint8 `[T, H, W, 2]`, `[T, H, W, 1+C]` (star/multichannel) or `[T, C, H, W, 2]`
            (independent).
        palette: one of `biogans_tf.viz.PALETTES`.
        proteins: names over the tiles (None: no names).
        scale: upscaling before the labels are drawn.
    """
    tiles = protein_tiles(images, palette)  # [T, C, H, W', 3]
    names = list(proteins) if proteins is not None and len(proteins) == tiles.shape[1] else None
    n = len(tiles)
    return np.stack(
        [
            labelled_grid(t[None], names, pad=1, scale=scale, title=f"step {i + 1}/{n}")
            for i, t in enumerate(tiles)
        ]
    )


def protein_tiles(images: np.ndarray, palette: str = "red-green") -> np.ndarray:
    """`[T, C, H, W', 3]` RGB pictures: red with each green (C = 1 for two-channel images)."""
    x = np.asarray(images)
    if x.ndim == 5:
        return composite(x, 1, palette)
    return np.stack([composite(x, 1 + i, palette) for i in range(x.shape[-1] - 1)], axis=1)


def strip_of(images: np.ndarray, palette: str = "red-green", proteins=None, scale: int = 1) -> np.ndarray:
    """Strip PNG image: steps left to right (labelled "step 1".."step T"), one row per protein."""
    tiles = np.transpose(protein_tiles(images, palette), (1, 0, 2, 3, 4))  # [C, T, H, W', 3]
    steps = [f"step {i + 1}" for i in range(tiles.shape[1])]
    rows = list(proteins) if proteins is not None and len(proteins) == tiles.shape[0] else None
    return labelled_grid(tiles, steps, rows, scale=scale)


def red_of(images: np.ndarray) -> np.ndarray:
    """Red channel `[T, H, W]` (independent models: protein 0's red)."""
    x = np.asarray(images)
    return x[:, 0, ..., 0] if x.ndim == 5 else x[..., 0]


def monotonicity(lengths) -> dict:
    """`{"spearman": rho, "fraction_nondecreasing": f}` of a length sequence (see module doc)."""
    v = np.asarray(lengths, np.float64)
    if len(v) < 2 or np.all(v == v[0]):
        rho = 0.0
    else:
        rho = float(stats.spearmanr(np.arange(len(v)), v).statistic)
    steps = np.diff(v)
    frac = float(np.mean(steps >= -1.0)) if len(steps) else 1.0
    return {"spearman": rho, "fraction_nondecreasing": frac}


def biology(images: np.ndarray, threshold: int = cell_stats.MASK_THRESHOLD) -> dict:
    """Cell length, septum score and monotonicity along a rendered path (uint8 images `[T, ...]`)."""
    red = red_of(images)
    masks = cell_stats.cell_masks(red, threshold)
    lengths = cell_stats.cell_lengths(masks)
    septum = cell_stats.septum_scores(red, masks)
    has = np.nan_to_num(septum, nan=0.0) >= cell_stats.SEPTUM_RATIO
    # First step from which the septum stays present to the end (None if absent at the end).
    onset = None
    if has[-1]:
        onset = int(len(has) - np.argmin(has[::-1])) if not has.all() else 0
    return {
        "lengths_px": [float(v) for v in lengths],
        "septum_scores": [None if np.isnan(v) else float(v) for v in septum],
        "septum_present": [bool(v) for v in has],
        "septum_at_start": bool(has[0]),
        "septum_at_end": bool(has[-1]),
        "septum_onset_step": onset,
        "length_growth_px": float(lengths[-1] - lengths[0]),
        **monotonicity(lengths),
    }


def render_path(run, zs: np.ndarray, batch: int = 64) -> np.ndarray:
    """Draw a path with the run's full output (`[T, H, W, c]` or `[T, C, H, W, 2]`), uint8."""
    return run.generate(lambda z: run.model(z, training=False), zs, batch)


def write_path(
    out_dir: str,
    name: str,
    images: np.ndarray,
    duration_ms: int = 150,
    palette: str = "red-green",
    proteins=None,
) -> dict:
    """Write `<name>.gif` and `<name>_strip.png` into out_dir; return the file names."""
    os.makedirs(out_dir, exist_ok=True)
    frames = frames_of(images, palette, proteins, scale=3)
    save_gif(os.path.join(out_dir, f"{name}.gif"), frames, duration_ms=duration_ms, scale=1)
    save_png(os.path.join(out_dir, f"{name}_strip.png"), strip_of(images, palette, proteins, scale=2))
    return {"gif": f"{name}.gif", "strip": f"{name}_strip.png"}


def reconstructed_endpoints(
    run, cells: np.ndarray, protein_index: int, *, iterations: int = 50, restarts: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of two real cells (uint8 `[2, H, W, 2]`, red + protein's green) found by reconstruction.

    Uses separable (red-first) reconstruction for separable archs, regular otherwise.

    Returns:
        `(z0 [nz], z1 [nz], l2 [2])`.
    """
    from biogans_tf.eval.reconstruction import Reconstructor

    mode = "separable" if run.separable else "regular"
    rec = Reconstructor(
        run.pair, run.nz, iterations=iterations, restarts=restarts, static_protein=run.has_protein_path
    )
    res = rec(cells, mode=mode, seed=seed, protein_index=int(protein_index))
    return res["z"][0], res["z"][1], res["l2"]


def interpolation_study(
    run,
    z0,
    z1,
    *,
    steps: int = 16,
    kinds=("linear", "spherical"),
    out_dir: str | None = None,
    name: str = "interp",
    palette: str = "red-green",
) -> dict:
    """Render the path z0 -> z1 for each interpolation kind, write GIF + strip, check the biology.

    Args:
        run: a `GeneratorRun`.
        z0, z1: float `[nz]` endpoint codes.
        steps: points on each path, endpoints included.
        kinds: subset of ("linear", "spherical").
        out_dir: output folder (None: compute only).
        name: file-name prefix.
        palette: colours of the GIF and strip (`biogans_tf.viz.PALETTES`).

    Returns:
        `{kind: {"biology": {...}, "files": {...}}}`.
    """
    out = {}
    for kind in kinds:
        zs = path_codes(z0, z1, steps, kind)
        images = render_path(run, zs)
        entry = {"biology": biology(images)}
        if out_dir:
            entry["files"] = write_path(
                out_dir, f"{name}_{kind}", images, palette=palette, proteins=run.proteins
            )
        out[kind] = entry
    return out


def write_path_tiffs(run, z0, z1, steps: int, kinds, out_dir: str, results: dict) -> None:
    """`interp_<kind>.ome.tif` beside each GIF: T = step, one named channel per protein (Fiji, napari).

    Args:
        run: a `GeneratorRun`.
        z0, z1: float `[nz]` endpoint codes.
        steps: points on each path.
        kinds: interpolation kinds.
        out_dir: output folder.
        results: `interpolation_study`'s result; each kind's `files` gains `"tiff"`.
    """
    from biogans_tf import tiff

    for kind in kinds:
        # Re-drawing the path costs `steps` generator calls: cheap next to the reconstruction.
        images = render_path(run, path_codes(z0, z1, steps, kind))
        name = f"interp_{kind}.ome.tif"
        desc = f"biogans-tf {run.arch} {kind} interpolation, {steps} steps (T axis)"
        tiff.write_cells(os.path.join(out_dir, name), images, run.proteins, time_axis=True, description=desc)
        results[kind].setdefault("files", {})["tiff"] = name

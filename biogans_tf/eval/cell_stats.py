"""Mask-based cell measurements: cell length, septum presence, and where a green signal sits.

All functions take uint8 images (or floats in [-1, 1], converted) with the cell's long axis
horizontal, as in LIN and the simulator. The cell mask comes from the red (Bgs4) channel: LIN's
background is exactly 0 and the mask edge is steep, so a low threshold plus the largest connected
component gives the cell. The default threshold (10 grey levels) ignores the faint background of
generated images (tanh outputs near -1 round to a few grey levels) and costs about 1 px of length
on simulated cells (their outermost edge pixels can be dimmer than 10).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from biogans_tf.conventions import to_uint8

MASK_THRESHOLD = 10
# Fraction of the cell length at each end counted as a "tip", and half-width of the medial window
# (as a fraction of the length) searched for a septum / counted as "middle".
TIP_FRACTION = 0.15
MIDDLE_HALF_WIDTH = 0.12
# A septating cell's medial Bgs4 band is 0.7-1.0 of the maximum against a cytoplasm of 0.25-0.45, so
# its column profile peaks at 1.4-4x the cell's median column; interphase cells stay below ~1.35x
# (measured on simulated cells at 24x40, 48x80 and 96x160).
SEPTUM_RATIO = 1.4
# Diagonal neighbours belong to the cell too (rounded caps leave diagonal-only edge pixels).
_EIGHT = np.ones((3, 3), bool)


def cell_masks(red, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Per-image cell mask: the largest 8-connected region of `red > threshold`, holes filled.

    Args:
        red: `[N, H, W]` red channel, uint8 or float in [-1, 1].
        threshold: grey level (0-255) above which a pixel counts as cell (0 for exact masks of
            LIN or simulated cells, whose background is exactly 0).

    Returns:
        bool `[N, H, W]` (all False for an empty image).
    """
    red = to_uint8(np.asarray(red))
    if red.ndim != 3:
        raise ValueError(f"cell_masks: expected red channel [N, H, W], got shape {red.shape}")
    out = np.zeros(red.shape, bool)
    for i, img in enumerate(red):
        labels, count = ndimage.label(img > threshold, structure=_EIGHT)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        out[i] = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    return out


def extents(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last mask column per image, int `[N]` each (-1 where a mask is empty)."""
    cols = masks.any(axis=1)  # [N, W]
    has = cols.any(axis=1)
    first = np.where(has, cols.argmax(axis=1), -1)
    last = np.where(has, cols.shape[1] - 1 - cols[:, ::-1].argmax(axis=1), -1)
    return first, last


def cell_lengths(masks: np.ndarray) -> np.ndarray:
    """Cell length in px along the (horizontal) long axis, float `[N]` (0 for an empty mask)."""
    first, last = extents(masks)
    return np.where(first >= 0, last - first + 1, 0).astype(np.float64)


def column_profiles(channel, masks: np.ndarray) -> np.ndarray:
    """Mean intensity (0-255) of `channel` inside the mask per column, `[N, W]` (NaN outside)."""
    x = to_uint8(np.asarray(channel)).astype(np.float64)
    count = masks.sum(axis=1)
    total = (x * masks).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def septum_scores(red, masks: np.ndarray) -> np.ndarray:
    """Septum evidence per cell: peak medial red column mean / median red column mean, `[N]`.

    The medial window is the cell centre +- `MIDDLE_HALF_WIDTH` of its length. About 1 for
    interphase cells (tips bright, middle dim), about 2 or more with a medial Bgs4 band. NaN for an
    empty mask.
    """
    prof = column_profiles(red, masks)
    first, last = extents(masks)
    out = np.full(len(prof), np.nan)
    for i, (p, a, b) in enumerate(zip(prof, first, last, strict=False)):
        if a < 0:
            continue
        centre, half = (a + b) / 2.0, max(1.0, MIDDLE_HALF_WIDTH * (b - a + 1))
        lo, hi = int(np.floor(centre - half)), int(np.ceil(centre + half)) + 1
        med = np.nanmedian(p[a : b + 1])
        out[i] = np.nanmax(p[lo:hi]) / max(med, 1.0)
    return out


def has_septum(red, masks: np.ndarray, ratio: float = SEPTUM_RATIO) -> np.ndarray:
    """bool `[N]`: the medial red band is at least `ratio` times the cell's median column."""
    return np.nan_to_num(septum_scores(red, masks), nan=0.0) >= ratio


def region_masks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each cell into tips (the outer `TIP_FRACTION` of its length at both ends) and middle.

    Returns:
        bool `(tips [N, H, W], middle [N, H, W])`, both inside the cell mask.
    """
    first, last = extents(masks)
    col = np.arange(masks.shape[2])[None, :]
    length = np.maximum(last - first + 1, 1)[:, None]
    rel = (col - first[:, None]) / length  # 0 at the left tip, ~1 at the right tip
    tips_col = (rel < TIP_FRACTION) | (rel > 1.0 - TIP_FRACTION)
    mid_col = np.abs(rel - 0.5) <= MIDDLE_HALF_WIDTH
    tips = masks & tips_col[:, None, :]
    middle = masks & mid_col[:, None, :]
    return tips, middle


def enrichment(green, masks: np.ndarray) -> dict[str, float]:
    """How much of a green signal sits at the tips and in the middle, relative to area.

    Pools all cells: enrichment = (share of in-cell green intensity in the region) / (share of
    in-cell area in the region); 1 means no preference, > 1 enriched.

    Args:
        green: `[N, H, W]` one green channel (uint8 or float in [-1, 1]).
        masks: bool `[N, H, W]` cell masks (from the red).

    Returns:
        `{"tips": float, "middle": float}`.
    """
    g = to_uint8(np.asarray(green)).astype(np.float64)
    tips, middle = region_masks(masks)
    total, area = (g * masks).sum(), max(masks.sum(), 1)
    out = {}
    for name, region in (("tips", tips), ("middle", middle)):
        share = (g * region).sum() / max(total, 1e-9)
        out[name] = float(share / max(region.sum() / area, 1e-9))
    return out


def pair_correlations(greens, masks: np.ndarray) -> np.ndarray:
    """Pearson correlation of every pair of green channels over in-cell pixels of all cells.

    Args:
        greens: `[N, H, W, C]` green channels of the same cells (uint8 or float in [-1, 1]).
        masks: bool `[N, H, W]` cell masks.

    Returns:
        float `[C, C]` correlation matrix (1 on the diagonal; NaN for a constant channel).
    """
    g = to_uint8(np.asarray(greens)).astype(np.float64)
    values = g[masks]  # [pixels, C]
    if values.shape[0] < 2:
        return np.full((g.shape[-1], g.shape[-1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(values, rowvar=False).reshape(g.shape[-1], g.shape[-1])

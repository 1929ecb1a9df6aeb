"""Vectorised drawing primitives on a batch of images `[n, H, W]` (float32).

Small features (actin patches, spindle pole bodies, microtubules) are drawn by splatting point
masses with bilinear weights and blurring the result with a Gaussian: a blurred point is a
Gaussian spot, a blurred row of points is a line. This costs O(points) per cell plus one
separable blur per layer, instead of evaluating every spot on every pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from biogans_tf.data.sim.geometry import Geometry


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `[n, H, W]` images along H and W only (zero outside the frame)."""
    if sigma <= 0:
        return images
    return ndi.gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="constant", cval=0.0, truncate=3.0)


def splat(shape: tuple[int, int, int], y: np.ndarray, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Accumulate point masses into images with bilinear weights.

    Args:
        shape: (n, H, W).
        y, x: float point positions `[n, k]` (image pixels; row, column).
        weight: `[n, k]` masses; use 0 to switch a point off.

    Returns:
        float32 `[n, H, W]`; points outside the frame are dropped.
    """
    n, H, W = shape
    cell = np.broadcast_to(np.arange(n)[:, None], y.shape).ravel()
    y, x, weight = y.ravel(), x.ravel(), np.broadcast_to(weight, y.shape).ravel()
    keep = weight != 0
    cell, y, x, weight = cell[keep], y[keep], x[keep], weight[keep]
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    # The four bilinear corners of every point, accumulated with a single bincount.
    yy = np.concatenate([y0, y0, y0 + 1, y0 + 1])
    xx = np.concatenate([x0, x0 + 1, x0, x0 + 1])
    w = np.concatenate([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]) * np.tile(weight, 4)
    cc = np.tile(cell, 4)
    ok = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
    idx = (cc[ok] * H + yy[ok]) * W + xx[ok]
    out = np.bincount(idx, weights=w[ok], minlength=n * H * W)
    return out.reshape(n, H, W).astype(np.float32)


def spots(geom: Geometry, u: np.ndarray, v: np.ndarray, amplitude: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian spots of peak height `amplitude` and width `sigma` at cell-frame points `[n, k]`."""
    y, x = geom.to_image(u, v)
    mass = amplitude * (2.0 * np.pi * sigma * sigma)
    return blur(splat(geom.u.shape, y, x, mass), sigma)


def lines(
    geom: Geometry,
    u0: np.ndarray,
    v0: np.ndarray,
    u1: np.ndarray,
    v1: np.ndarray,
    amplitude: np.ndarray,
    sigma: float,
    step: float = 0.5,
    max_len: float = 80.0,
) -> np.ndarray:
    """Gaussian-profile line segments from (u0, v0) to (u1, v1), all `[n, k]`, peak `amplitude`."""
    m = int(np.ceil(max_len / step)) + 1
    # Every segment gets the same m samples (spacing <= step for segments up to max_len), so
    # one fixed-size array serves short and long segments alike.
    t = np.linspace(0.0, 1.0, m)
    seg_len = np.hypot(u1 - u0, v1 - v0)
    uu = u0[..., None] + (u1 - u0)[..., None] * t
    vv = v0[..., None] + (v1 - v0)[..., None] * t
    density = amplitude * np.sqrt(2 * np.pi) * sigma * seg_len / (m - 1)
    w = np.broadcast_to(density[..., None], uu.shape)
    n = u0.shape[0]
    y, x = geom.to_image(uu.reshape(n, -1), vv.reshape(n, -1))
    return blur(splat(geom.u.shape, y, x, w.reshape(n, -1)), sigma)


def band(geom: Geometry, centre: np.ndarray, width: np.ndarray, soft: float = 0.7) -> np.ndarray:
    """A band across the cell, `|u - centre| < width / 2`, with soft edges; values in [0, 1]."""
    dist = np.abs(geom.u - geom.col(centre)) - geom.col(width) / 2.0
    return np.clip(0.5 - dist / np.float32(soft * geom.scale), 0.0, 1.0)


def disk(geom: Geometry, cu: np.ndarray, cv: np.ndarray, radius: np.ndarray, soft: float = 1.0) -> np.ndarray:
    """Soft disks at cell-frame centres (cu, cv) `[n]` with `radius` `[n]`; values in [0, 1]."""
    dist = np.hypot(geom.u - geom.col(cu), geom.v - geom.col(cv)) - geom.col(radius)
    return np.clip(0.5 - dist / np.float32(soft * geom.scale), 0.0, 1.0)


def tip_cap(geom: Geometry, side: np.ndarray, depth: np.ndarray, soft: float = 1.2) -> np.ndarray:
    """The cap of a cell tip: points within `depth` px of the tip outline along the axis.

    Args:
        geom: the cells.
        side: +1 (right tip) or -1 (left tip), `[n]`.
        depth: crescent depth along the axis `[n]` (px).
        soft: edge softness (px at 48x80).

    Returns:
        float32 `[n, H, W]` in [0, 1], a crescent that follows the cap's curvature.
    """
    # Distance to the cap outline along the axis: the crescent has constant thickness along u.
    e = geom.cap_edge - geom.u * geom.col(side)
    return np.clip(0.5 + (geom.col(depth) - e) / np.float32(soft * geom.scale), 0.0, 1.0)


def cortex_points(geom: Geometry, u: np.ndarray, angle: np.ndarray, inset: float = 1.0) -> np.ndarray:
    """Projected v of points on the cell cortex at axis position u `[n, k]` and angle around it."""
    half = geom.half_width_at(u)
    return np.maximum(half - inset * geom.scale, 0.0) * np.cos(angle)

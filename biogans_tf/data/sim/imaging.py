"""The imaging model: optics, camera noise, segmentation mask and LIN's per-image contrast stretch.

content (diffuse + feature layers) -> confine to the cell -> Gaussian PSF (sigma 1.0 px at
48x80) -> Poisson-Gaussian noise (variance gain * signal + read^2, scaled per image so the noise
relative to the in-cell median is drawn from the channel's range) -> per-image stretch: the low
quantile maps to 0, the (1 - saturated fraction) quantile to 255, clipped -> hard mask (0
outside, exactly). The 2-3 px intensity fall-off inside the edge comes from blurring the
cell-confined signal; the hard edge from the mask.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from biogans_tf.data.sim.geometry import Geometry
from biogans_tf.data.sim.params import Draws
from biogans_tf.data.sim.render import blur

PSF_SIGMA = 1.0  # px at 48x80


@dataclasses.dataclass(frozen=True)
class Optics:
    """Per-channel imaging parameters (ranges drawn per image).

    Attributes:
        saturated: fraction of in-cell pixels that end at 255.
        rel_noise: noise SD relative to the in-cell median signal.
        black: the stretch's black point as a fraction of the 1 % in-cell quantile.
        texture: SD of a faint multiplicative cytoplasm granularity (~1.5 px grains).
    """

    saturated: tuple[float, float] = (0.006, 0.03)
    rel_noise: tuple[float, float] = (0.10, 0.15)
    black: tuple[float, float] = (0.3, 0.8)
    texture: float = 0.06


RED = Optics(saturated=(0.006, 0.03), rel_noise=(0.10, 0.14), black=(0.2, 0.6), texture=0.08)
GREEN = {
    "Alp14": Optics(saturated=(0.015, 0.03), rel_noise=(0.04, 0.06), black=(0.4, 0.8)),
    "Arp3": Optics(saturated=(0.012, 0.03), rel_noise=(0.06, 0.09), black=(0.4, 0.8)),
    "Cki2": Optics(saturated=(0.02, 0.08), rel_noise=(0.085, 0.115), black=(0.4, 0.8)),
    "Mkh1": Optics(saturated=(0.03, 0.055), rel_noise=(0.045, 0.06), black=(0.3, 0.6)),
    "Sid2": Optics(saturated=(0.006, 0.014), rel_noise=(0.053, 0.068), black=(0.3, 0.6)),
    "Tea1": Optics(saturated=(0.005, 0.016), rel_noise=(0.07, 0.095), black=(0.4, 0.8)),
    "Fim1": Optics(saturated=(0.012, 0.03), rel_noise=(0.06, 0.085), black=(0.4, 0.8)),
    "Tea4": Optics(saturated=(0.004, 0.012), rel_noise=(0.065, 0.085), black=(0.4, 0.8)),
}


def masked_quantiles(values: np.ndarray, mask: np.ndarray, qs, stride: int = 1) -> list[np.ndarray]:
    """Per-image quantiles of the masked pixels (one sort serves all quantiles).

    Args:
        values: float `[n, H, W]`; mask: bool `[n, H, W]`.
        qs: quantiles, each a float or a per-image array `[n]`, in [0, 1].
        stride: use every `stride`-th pixel only (a cheaper estimate).

    Returns:
        one float32 `[n]` per quantile (lower order statistic; 0 for an empty mask).
    """
    n = values.shape[0]
    flat = np.where(mask, values, np.inf).reshape(n, -1)[:, ::stride]
    srt = np.sort(flat, axis=1)
    m = mask.reshape(n, -1)[:, ::stride].sum(axis=1)
    out = []
    for q in qs:
        idx = np.clip(np.floor(np.broadcast_to(q, (n,)) * (m - 1)).astype(np.int64), 0, None)
        val = np.take_along_axis(srt, idx[:, None], axis=1)[:, 0]
        out.append(np.where(m > 0, val, 0.0).astype(np.float32))
    return out


def expose(layers, geom: Geometry, optics: Optics, dr: Draws, noise: np.ndarray) -> np.ndarray:
    """Image one channel of a batch of cells.

    Args:
        layers: (diffuse, features), float32 `[n, H, W]` each (cytoplasm ~ 1 unit); see patterns.
        geom: the cells (mask, soft inside, scale).
        optics: the channel's imaging parameters.
        dr: the channel's stream (consumes 3 uniforms per cell).
        noise: float32 `[n, H, W]` standard normals from the same stream.

    Returns:
        uint8 `[n, H, W]`: 0 outside the mask, stretched and clipped inside.
    """
    sat = dr.uniform(*optics.saturated)
    rel = dr.uniform(*optics.rel_noise)
    black = dr.uniform(*optics.black)
    diffuse, features = layers
    # Granular cytoplasm: the channel's noise field shifted by half a frame (so independent of
    # the pixel noise added below) modulates the cytoplasm; the PSF then smooths it into ~1 px
    # grains (white noise blurred with sigma s keeps an SD of 1 / (2 sqrt(pi) s) ~ 0.28 / s).
    grains = np.roll(noise, noise.shape[1] // 2, axis=1)
    diffuse = diffuse * (1.0 + np.float32(optics.texture * PSF_SIGMA * geom.scale / 0.28) * grains)
    signal = blur(diffuse * geom.inside + features * geom.outline, PSF_SIGMA * geom.scale)
    (med,) = masked_quantiles(signal, geom.mask, [0.5], stride=3)
    # Shot noise (variance proportional to the signal) plus a small read noise, scaled so the
    # noise at the median level is `rel` of the median.
    gain = geom.col(0.65 * rel * rel * med)
    read2 = geom.col(0.35 * (rel * med) ** 2)
    noisy = signal + np.sqrt(gain * np.maximum(signal, 0.0) + read2) * noise
    lo, hi = masked_quantiles(noisy, geom.mask, [0.01, 1.0 - sat])
    lo = lo * black.astype(np.float32)
    scale = 255.0 / np.maximum(hi - lo, 1e-6)
    out = np.rint(np.clip((noisy - geom.col(lo)) * geom.col(scale), 0.0, 255.0))
    return np.where(geom.mask, out, 0.0).astype(np.uint8)

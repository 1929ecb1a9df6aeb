"""Per-cell random streams: every cell's randomness comes from its own seeded generator.

A cell is identified by `(seed, split, key, index)`. Its generator is
`np.random.default_rng(np.random.SeedSequence([seed, split_code, key, index, stream]))`, so
cell 17 is the same whether 20 or 20,000 cells are asked for, and train/test/joint splits draw
from disjoint streams. Each generator is asked for a fixed-length vector of uniforms (the cell's
parameters, consumed column by column by `Draws`) and one block of float32 uniforms for pixel
noise (turned into normals over the whole batch by `gaussian_from_uniform`: drawing uniforms
per cell is ~4x cheaper than drawing normals). Drawing a fixed number of values per cell,
whatever its phase or protein, keeps the per-cell Python work tiny; everything else is
vectorised over the batch.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

# Stable integer codes of the usual split names; any other name is hashed (crc32).
SPLIT_CODES = {"train": 0, "test": 1, "joint": 2}

# Stream ids (the last SeedSequence entry) so geometry/red and green never share values.
STREAM_GEOMETRY = 0
STREAM_GREEN = 1

# Number of uniforms drawn per cell for the geometry + red channel, and per green channel.
GEOMETRY_DRAWS = 160
GREEN_DRAWS = 384


def split_code(split: str) -> int:
    """Integer code of a split name (train=0, test=1, joint=2, others: crc32 of the name)."""
    if split in SPLIT_CODES:
        return SPLIT_CODES[split]
    return 1000 + (zlib.crc32(split.encode("utf-8")) & 0x7FFFFFFF)


def cell_draws(
    seed: int, split: str, key: int, stream: int, indices, n_uniform: int, noise_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each cell's uniforms and pixel noise from its own generator.

    Args:
        seed: the dataset seed (non-negative int).
        split: split name.
        key: 0 for the shared geometry of the joint split, 1 + protein index otherwise.
        stream: `STREAM_GEOMETRY` or `STREAM_GREEN`.
        indices: cell indices (ints).
        n_uniform: uniforms per cell.
        noise_shape: shape of the pixel-noise block per cell, e.g. `(2, H, W)`.

    Returns:
        uniforms float64 `[n, n_uniform]` in [0, 1) and float32 uniforms `[n, *noise_shape]`.
    """
    code = split_code(split)
    indices = list(indices)
    uni = np.empty((len(indices), n_uniform), np.float64)
    noise = np.empty((len(indices),) + tuple(noise_shape), np.float32)
    for row, idx in enumerate(indices):
        rng = np.random.default_rng(np.random.SeedSequence([seed, code, key, int(idx), stream]))
        uni[row] = rng.random(n_uniform)
        noise[row] = rng.random(noise_shape, dtype=np.float32)
    return uni, noise


def gaussian_from_uniform(u: np.ndarray) -> np.ndarray:
    """Standard normals from uniforms `[n, ..., W]` (Box-Muller on pairs of pixels, float32).

    The last axis is split into halves (W must be even): (a, b) -> r cos(2 pi b), r sin(2 pi b)
    with r = sqrt(-2 ln(1 - a)).
    """
    half = u.shape[-1] // 2
    a, b = u[..., :half], u[..., half : 2 * half]
    r = np.sqrt(np.float32(-2.0) * np.log1p(-a))
    t = np.float32(2 * np.pi) * b
    return np.concatenate([r * np.cos(t), r * np.sin(t)], axis=-1)


class Draws:
    """Hands out the columns of a `[n, K]` uniform matrix in a fixed order.

    Every cell consumes the same columns whatever its phase or protein, so adding a feature to
    one pattern never shifts another pattern's randomness within the same stream.
    """

    def __init__(self, uniforms: np.ndarray):
        self._u = uniforms
        self._next = 0

    def uniform(self, lo: float = 0.0, hi: float = 1.0, k: int | None = None) -> np.ndarray:
        """Uniform values in [lo, hi): `[n]`, or `[n, k]` when k is given."""
        width = 1 if k is None else k
        if self._next + width > self._u.shape[1]:
            raise RuntimeError(f"simulator drew more than {self._u.shape[1]} uniforms per cell")
        cols = self._u[:, self._next : self._next + width]
        self._next += width
        out = lo + (hi - lo) * cols
        return out[:, 0] if k is None else out

    def normal(self, mean: float = 0.0, sd: float = 1.0, k: int | None = None, clip: float = 3.0):
        """Normal values truncated at +-clip SD (inverse-CDF of the next uniforms)."""
        z = ndtri(np.clip(self.uniform(0.0, 1.0, k), 1e-9, 1 - 1e-9))
        return mean + sd * np.clip(z, -clip, clip)

    def choice(self, p_true: float, k: int | None = None) -> np.ndarray:
        """Booleans that are True with probability `p_true`."""
        return self.uniform(0.0, 1.0, k) < p_true


def phase_from_uniform(u: np.ndarray) -> np.ndarray:
    """Cell-cycle phase with the asynchronous-population density 2 ln2 * 2^(-a) on [0, 1).

    The CDF is F(a) = 2 (1 - 2^(-a)), so a = -log2(1 - u / 2) (inverse-CDF sampling).
    """
    return -np.log2(1.0 - np.asarray(u, np.float64) / 2.0)

r"""Red-channel nearest neighbours across proteins (the paper's recipe for multichannel training sets).

For every image and every protein q, the k images of protein q whose red (Bgs4) channel is
closest in squared L2 distance on [0, 1] intensities (uint8 / 255, summed over pixels). For the
image's own protein, rank 0 is the image itself (distance 0) and ranks 1..k-1 are its nearest
*other* images of that protein (an exact duplicate of the image comes at rank 1, not 0).

Exactness. Distances are computed exactly, in integer units of (1/255)^2, as
`|a|^2 + |b|^2 - 2 a.b` with the dot products done by float32 matrix products that cannot round:
the candidate side is split into high and low nibbles (`b = 16 b_hi + b_lo`, both <= 15) and the
pixels into blocks of at most 4096, so every partial sum is an integer below 255 * 15 * 4096 <
2^24 (exact in float32, and in TF32 on GPUs, whose 10-bit mantissa also holds 0..255). Exact
ties are therefore real ties, and they are broken by the lower index (file order);
`tf.math.top_k` keeps the lower index first among equal values.

Cost. The distance matrix of proteins p and q is the transpose of that of q and p, so each pair
of proteins is computed once (query chunks of p against all of q): row-wise top-k gives p's
neighbours in q, and a running column-wise top-k, merged chunk by chunk, gives q's neighbours in
p. With C equal proteins this is (C + 1) / (2 C) of the full N x N matrix.

CLI:
    python -m biogans_tf.data.neighbours --data DIR --split train --k 5 --out FILE.npz \
        [--proteins Alp14,Arp3,...] [--image_size 48x80] [--cache_dir DIR]
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import TYPE_CHECKING

import numpy as np

from biogans_tf.conventions import is_int
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.io_utils import atomic_path

# TensorFlow is imported inside the functions that run it: the command line answers --help at once.
if TYPE_CHECKING:
    import tensorflow as tf

# Bump when the definition or the numbers change: old caches then no longer match.
ALGORITHM_VERSION = 1
# Pixels per exact partial dot product: 255 * 15 * 4096 < 2**24.
_PIXEL_BLOCK = 4096
_UNIT = 255.0 * 255.0
_NPZ_KEYS = ("indices", "distances", "files", "proteins", "k", "fingerprint", "version")


@dataclasses.dataclass(frozen=True, eq=False)
class Neighbours:
    """Red-channel nearest neighbours of every image among each protein's images.

    Attributes:
        indices: int64 `[N, C, k]`, indices into the CellSet's file order; `indices[i, q, r]` is
            the rank-r neighbour of image i among protein q's images (`indices[i, label_i, 0] == i`).
        distances: float32 `[N, C, k]`, squared L2 distance of the red channels on [0, 1]
            intensities, summed over pixels; non-decreasing along k (except own-protein rank 0 = 0).
        files: the CellSet's files (sorted relative paths), one per row of `indices`.
        proteins: protein names in the run's order (the C axis).
        k: neighbours per protein.
        fingerprint: hash of the inputs (images, labels, files, proteins, k, algorithm version).
        from_cache: True when `mine_neighbours` read this from its cache instead of computing.
    """

    indices: np.ndarray
    distances: np.ndarray
    files: tuple[str, ...]
    proteins: tuple[str, ...]
    k: int
    fingerprint: str
    from_cache: bool = False

    def save(self, path: str) -> None:
        """Write an npz (`indices`, `distances`, `files`, `proteins`, `k`, `fingerprint`, `version`)
        atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
                np.savez(
                    f,
                    indices=np.asarray(self.indices, np.int64),
                    distances=np.asarray(self.distances, np.float32),
                    files=np.array(self.files, dtype=str),
                    proteins=np.array(self.proteins, dtype=str),
                    k=np.int64(self.k),
                    fingerprint=np.array(self.fingerprint),
                    version=np.int64(ALGORITHM_VERSION),
                )

    @classmethod
    def load(cls, path: str) -> Neighbours:
        """Read an npz written by `save` (or the CLI); DataError if it is missing or malformed."""
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [key for key in _NPZ_KEYS if key not in z.files]
                if missing:
                    raise DataError(path, f"not a neighbours file: missing {missing}")
                arrays = {key: z[key] for key in _NPZ_KEYS}
        except (OSError, ValueError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(path, f"cannot read a neighbours npz ({e})") from e
        idx, dist = arrays["indices"], arrays["distances"]
        files, proteins, k = arrays["files"], arrays["proteins"], int(arrays["k"])
        if idx.ndim != 3 or idx.shape != dist.shape or idx.shape[0] != len(files):
            raise DataError(
                path, f"indices {idx.shape} / distances {dist.shape} / {len(files)} files disagree"
            )
        if idx.shape[1] != len(proteins) or idx.shape[2] != k:
            raise DataError(path, f"indices {idx.shape} do not match {len(proteins)} proteins and k={k}")
        return cls(
            indices=idx.astype(np.int64),
            distances=dist.astype(np.float32),
            files=tuple(str(f) for f in files),
            proteins=tuple(str(p) for p in proteins),
            k=k,
            fingerprint=str(arrays["fingerprint"]),
        )


def fingerprint(cells: CellSet, k: int) -> str:
    """sha256 over the images, labels, files, proteins, k and the algorithm version."""
    h = hashlib.sha256()
    h.update(f"biogans-neighbours v{ALGORITHM_VERSION} k={k} shape={cells.images.shape}\n".encode())
    h.update(np.ascontiguousarray(cells.images).tobytes())
    h.update(np.ascontiguousarray(cells.labels, dtype=np.int32).tobytes())
    h.update("\0".join(cells.files).encode())
    h.update(b"\1")
    h.update("\0".join(cells.proteins).encode())
    return h.hexdigest()


def _candidate_nibbles(cand: np.ndarray) -> tf.Tensor:
    """float32 `[2n, D]`: rows 2j and 2j+1 hold the high and low nibbles of uint8 candidate j."""
    import tensorflow as tf

    nibbles = np.stack([cand >> 4, cand & 15], axis=1).astype(np.float32)  # [n, 2, D]
    return tf.constant(nibbles.reshape(-1, cand.shape[1]))


def _neg_sq_distances(queries: np.ndarray, cand_nibbles: tf.Tensor, cand_sq: tf.Tensor) -> tf.Tensor:
    """float64 `[m, n]` exact negated squared distances, in units of (1/255)^2.

    Args:
        queries: uint8 `[m, D]` red channels.
        cand_nibbles: float32 `[2n, D]` from `_candidate_nibbles`.
        cand_sq: float64 `[n]` squared norms of the candidates (uint8 units).
    """
    import tensorflow as tf

    m, D = queries.shape
    n = cand_nibbles.shape[0] // 2
    a = tf.constant(queries.astype(np.float32))
    a_sq = tf.constant((queries.astype(np.int64) ** 2).sum(axis=1).astype(np.float64))
    dot = tf.zeros([m, n], tf.float64)
    for lo in range(0, D, _PIXEL_BLOCK):
        hi = min(lo + _PIXEL_BLOCK, D)
        # One product for both nibbles; every entry is an exact integer < 2^24.
        parts = tf.matmul(a[:, lo:hi], cand_nibbles[:, lo:hi], transpose_b=True)
        parts = tf.reshape(tf.cast(parts, tf.float64), [m, n, 2])
        dot += parts[..., 0] * 16.0 + parts[..., 1]
    # float64 holds these integers (< 2^53) exactly, and top_k on it runs on CPU and GPU.
    return (2.0 * dot - a_sq[:, None]) - cand_sq[None, :]


def _smallest(neg_dist: tf.Tensor, k: int):
    """(negated distances, int64 positions) of the k smallest per row; ties -> lower position."""
    import tensorflow as tf

    vals, pos = tf.math.top_k(neg_dist, k=k, sorted=True)
    return vals, tf.cast(pos, tf.int64)


def _check_k(cells: CellSet, k) -> None:
    if not is_int(k) or k < 1:
        raise DataError("k", f"expected a positive int, got {k!r}")
    for protein, count in cells.counts().items():
        if count < k:
            raise DataError("k", f"k={k} but protein {protein!r} has only {count} images; lower k")


def compute_neighbours(cells: CellSet, k: int = 5, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Mine the neighbours without caching.

    Args:
        cells: images uint8 `[N, H, W, 2]`; only channel 0 (red) is used.
        k: neighbours per protein (at most the smallest protein's count).
        chunk: query rows per distance block (memory ~ 48 * chunk * max_count bytes, ~220 MB
            at 1024 x 4,500).

    Returns:
        (indices int64 `[N, C, k]`, distances float32 `[N, C, k]`), see `Neighbours`.
    """
    import tensorflow as tf

    _check_k(cells, k)
    if not is_int(chunk) or chunk < 1:
        raise DataError("chunk", f"expected a positive int, got {chunk!r}")
    n, C = len(cells), len(cells.proteins)
    red = cells.images[..., 0].reshape(n, -1)
    members = [np.flatnonzero(cells.labels == p) for p in range(C)]
    out_idx = np.zeros((n, C, k), np.int64)
    out_dist = np.zeros((n, C, k), np.float64)  # exact integers, units of (1/255)^2
    from biogans_tf.progress import bar

    # One unit = one query image against one protein's candidates (stderr, terminals only).
    progress = bar(sum(len(members[p]) for q in range(C) for p in range(q + 1)), "neighbours", "img")

    for q in range(C):
        cand = red[members[q]]
        cand_nibbles = _candidate_nibbles(cand)
        cand_sq = tf.constant((cand.astype(np.int64) ** 2).sum(axis=1).astype(np.float64))
        n_q = len(cand)
        for p in range(q + 1):
            rows = members[p]
            # Running column-wise top-k: q's images' neighbours among p's (p != q).
            col_vals = tf.fill([n_q, k], tf.constant(-np.inf, tf.float64))
            col_pos = tf.fill([n_q, k], tf.constant(-1, tf.int64))
            for r0 in range(0, len(rows), chunk):
                block_rows = rows[r0 : r0 + chunk]
                progress.update(len(block_rows))
                neg = _neg_sq_distances(red[block_rows], cand_nibbles, cand_sq)
                if p == q:
                    # Own protein: self at rank 0 (distance 0), then the k-1 nearest others.
                    self_pos = np.arange(r0, r0 + len(block_rows), dtype=np.int64)
                    out_idx[block_rows, q, 0] = members[q][self_pos]
                    if k > 1:
                        not_self = tf.one_hot(self_pos, n_q, on_value=True, off_value=False)
                        vals, pos = _smallest(tf.where(not_self, -np.inf, neg), k - 1)
                        out_idx[block_rows, q, 1:] = members[q][pos.numpy()]
                        out_dist[block_rows, q, 1:] = -vals.numpy()
                    continue
                vals, pos = _smallest(neg, k)
                out_idx[block_rows, q] = members[q][pos.numpy()]
                out_dist[block_rows, q] = -vals.numpy()
                # Merge this chunk's column minima after the running ones: on equal values top_k
                # keeps the earlier position, i.e. the lower index (chunks go in index order).
                cvals, cpos = _smallest(tf.transpose(neg), min(k, len(block_rows)))
                merged_pos = tf.concat([col_pos, cpos + r0], axis=1)
                col_vals, take = tf.math.top_k(tf.concat([col_vals, cvals], axis=1), k=k, sorted=True)
                col_pos = tf.gather(merged_pos, take, batch_dims=1)
            if p != q:
                out_idx[members[q], p] = rows[col_pos.numpy()]
                out_dist[members[q], p] = -col_vals.numpy()
    progress.close()
    return out_idx, (out_dist / _UNIT).astype(np.float32)


def _cache_path(cache_dir: str, fp: str) -> str:
    return os.path.join(cache_dir, f"neighbours-{fp[:24]}.npz")


def mine_neighbours(
    cells: CellSet, k: int = 5, cache_dir: str | None = None, chunk: int = 1024
) -> Neighbours:
    """Nearest neighbours of every image among each protein, cached on disk by input fingerprint.

    Args:
        cells: images uint8 `[N, H, W, 2]` (red channel used), labels, files, proteins.
        k: neighbours per protein.
        cache_dir: folder for `neighbours-<fingerprint>.npz`; None disables caching. A changed
            data set (one pixel, a label, a file name, the protein order) or k gives another
            fingerprint, hence a recomputation. The cache file is written atomically.
        chunk: query rows per distance block.

    Returns:
        `Neighbours`; `from_cache` tells whether it came from the cache.
    """
    _check_k(cells, k)
    fp = fingerprint(cells, k)
    path = _cache_path(cache_dir, fp) if cache_dir else None
    if path and os.path.exists(path):
        try:
            cached = Neighbours.load(path)
        except DataError:
            cached = None  # unreadable cache: recompute and overwrite
        if cached is not None and cached.fingerprint == fp and cached.files == tuple(cells.files):
            return dataclasses.replace(cached, from_cache=True)
    indices, distances = compute_neighbours(cells, k=k, chunk=chunk)
    result = Neighbours(indices, distances, tuple(cells.files), tuple(cells.proteins), int(k), fp)
    if path:
        result.save(path)
    return result

"""tf.data pipelines over a `CellSet`, indexed by training step for exact resume.

Every training element is a pure function of `(seed, step)`: the dataset is
`Dataset.counter(start_step).map(batch_for_step)`, so a run resumed at step `k` sees exactly
the elements `k, k+1, ...` of a run started at 0, with no iterator state to checkpoint.
The training datasets are infinite; `steps_per_epoch(kind, cells, batch_size)` says how many
steps make one pass over the images.

Sampling without replacement: each stream of images (all images for joint and multichannel
batches, one stream per protein for conditional batches) is cut into epochs of
`n // batch_size` full batches (the remainder `n % batch_size` is dropped, like
`drop_remainder=True`, so every element has static shape and no batch holds an image twice).
Epoch `e` visits the images in a permutation drawn statelessly from `(seed, stream, e)` with
`tf.random.experimental.index_shuffle`, so no `[N]` permutation is materialised per step.
Flips (horizontal and vertical, p=0.5 each, per image; one flip for all channels of a sample)
are drawn from `(seed, step)`.

Images stay on the host as one uint8 tensor (N x H x W x 2 bytes) and are gathered, flipped and
only then scaled to [-1, 1] as `x / 255 * 2 - 1` (4x less data to move than in float32).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from biogans_tf.conventions import FAMILIES, derive_key, is_int, to_model_range_tf
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError

PICKS = ("nearest", "random")

# Purposes keep the random streams of one seed independent of each other.
_PURPOSE_ORDER = 1
_PURPOSE_FLIP = 2
_PURPOSE_PICK = 3


def _stream_seed(seed: int, purpose: int, stream: int = 0) -> int:
    """A 31-bit seed for one random stream: `conventions.derive_key(seed, purpose, stream)`."""
    if not is_int(seed) or seed < 0:
        raise DataError("seed", f"expected a non-negative int, got {seed!r}")
    return derive_key(seed, purpose, stream)


def _check_batch(batch_size, start_step) -> None:
    if not is_int(batch_size) or batch_size < 1:
        raise DataError("batch_size", f"expected a positive int, got {batch_size!r}")
    if not is_int(start_step) or start_step < 0:
        raise DataError("start_step", f"expected a non-negative int, got {start_step!r}")


def _check_counts(cells: CellSet, batch_size: int, per_protein: bool) -> None:
    if len(cells) == 0:
        raise DataError(cells.source or "CellSet", "no images")
    if per_protein:
        for protein, count in cells.counts().items():
            if count < batch_size:
                raise DataError(
                    "batch_size",
                    f"{batch_size} is larger than the {count} images of protein {protein!r} "
                    "(conditional batches draw batch_size images of every protein without "
                    "replacement); lower batch_size or add images",
                )
    elif len(cells) < batch_size:
        raise DataError("batch_size", f"{batch_size} is larger than the {len(cells)} images")


def steps_per_epoch(kind: str, cells: CellSet, batch_size: int) -> int:
    """Steps in one epoch of `kind` batches (per protein, the smallest protein's, for conditional)."""
    _check_kind(kind)
    if kind == "conditional":
        return min(cells.counts().values()) // batch_size
    return len(cells) // batch_size


def _check_kind(kind: str) -> None:
    if kind not in FAMILIES:
        raise DataError("kind", f"unknown batch kind {kind!r}; expected one of {', '.join(FAMILIES)}")


def _host_images(cells: CellSet) -> tf.Tensor:
    # One uint8 tensor on the host; the per-step functions capture it and gather from it.
    with tf.device("/CPU:0"):
        return tf.constant(cells.images)


def _epoch_positions(step, batch_size: int, steps_in_epoch):
    """(epoch, positions in that epoch's permutation) of batch `step`, drop-remainder epochs."""
    epoch = step // steps_in_epoch
    first = (step % steps_in_epoch) * batch_size
    return epoch, first + tf.range(batch_size, dtype=tf.int64)


def _shuffled(positions, stream_seed, epoch, n):
    """Image indices at `positions` of the epoch permutation of `[0, n)` keyed by (stream, epoch)."""
    stream = tf.broadcast_to(tf.cast(stream_seed, tf.int64), tf.shape(epoch))
    seed = tf.stack([stream, epoch, tf.zeros_like(epoch)], axis=-1)  # [M, 3]
    # The raw op: the public wrapper pads a batched [M, 2] seed along the wrong axis (TF 2.21).
    return tf.raw_ops.RandomIndexShuffle(index=positions, seed=seed, max_index=n - 1, rounds=4)


def _random_flips(images, flip_seed, step):
    """Flip each image of `[M, H, W, ch]` horizontally and vertically with p=0.5 each.

    All channels of one image get the same flips. Implemented as a per-image row gather (vertical)
    and a pick between the image and its mirror (horizontal): ~4x faster on CPU than `tf.where`
    with a broadcast `[M, 1, 1, 1]` mask, which dominated the step time.
    """
    u = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=tf.stack([flip_seed, step]))
    height = tf.shape(images)[1]
    up, down = tf.range(height), tf.range(height - 1, -1, -1)
    rows = tf.where((u[:, 1] < 0.5)[:, None], down[None, :], up[None, :])  # [M, H]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    both = tf.stack([images, tf.reverse(images, axis=[2])], axis=1)  # [M, 2, H, W, ch]
    return tf.gather(both, tf.cast(u[:, 0] < 0.5, tf.int32), axis=1, batch_dims=1)


def _training_dataset(batch_for_step, start_step: int) -> tf.data.Dataset:
    # An infinite counter (cardinality INFINITE, so Keras' fit never tries to exhaust it).
    ds = tf.data.Dataset.counter(start=start_step, step=1, dtype=tf.int64)
    ds = ds.map(batch_for_step, num_parallel_calls=2, deterministic=True)
    # Fixed parallelism, no autotuning: a batch is one gather, two in flight keep the step fed.
    # With autotune on, deleting the iterator at the end of training waited for the autotuner's
    # sleep, whose period doubles up to 60 s: 16 s after a 50-step run, 54 s after 1000 steps.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def joint_batches(
    cells: CellSet, batch_size: int, seed: int, start_step: int = 0, flips: bool = True
) -> tf.data.Dataset:
    """Endless batches mixing all proteins, element `s` a pure function of `(seed, s)`.

    Args:
        cells: the images; `cells.images` uint8 `[N, H, W, 2]` (red, green).
        batch_size: B, at most N.
        seed: non-negative int.
        start_step: the first step to yield (resume).
        flips: random horizontal and vertical flips, p=0.5 each per image.

    Returns:
        Dataset of `(images float32 [B, H, W, 2] in [-1, 1], labels int32 [B])`.
    """
    _check_batch(batch_size, start_step)
    _check_counts(cells, batch_size, per_protein=False)
    images = _host_images(cells)
    labels = tf.constant(cells.labels.astype(np.int32))
    n = tf.constant(len(cells), tf.int64)
    spe = tf.constant(len(cells) // batch_size, tf.int64)
    order_seed = _stream_seed(seed, _PURPOSE_ORDER)
    flip_seed = tf.constant(_stream_seed(seed, _PURPOSE_FLIP), tf.int64)
    h, w = cells.image_size

    def batch_for_step(step):
        epoch, pos = _epoch_positions(step, batch_size, spe)
        idx = _shuffled(pos, order_seed, tf.fill([batch_size], epoch), tf.fill([batch_size], n))
        x = tf.gather(images, idx)
        if flips:
            x = _random_flips(x, flip_seed, step)
        x = to_model_range_tf(x)  # after the flips: they move 4x less data in uint8
        return tf.ensure_shape(x, [batch_size, h, w, 2]), tf.ensure_shape(
            tf.gather(labels, idx), [batch_size]
        )

    return _training_dataset(batch_for_step, start_step)


def _protein_table(cells: CellSet) -> tuple[np.ndarray, np.ndarray]:
    """`[C, max_count]` int64 global indices of each protein's images (padded), and `[C]` counts."""
    members = [np.flatnonzero(cells.labels == p) for p in range(len(cells.proteins))]
    counts = np.array([len(m) for m in members], np.int64)
    table = np.zeros((len(members), max(counts.max(), 1)), np.int64)
    for p, m in enumerate(members):
        table[p, : len(m)] = m
    return table, counts


def conditional_batches(
    cells: CellSet, batch_size: int, seed: int, start_step: int = 0, flips: bool = True
) -> tf.data.Dataset:
    """Endless batches of every protein at once: `[C, B, H, W, 2]`, protein order = `cells.proteins`.

    Each protein is its own stream: shuffled within its own images, with its own epochs of
    `count_p // B` steps (so small proteins are revisited more often than large ones).

    Args:
        cells: the images; every protein must have at least `batch_size` of them.
        batch_size: B per protein.
        seed: non-negative int.
        start_step: the first step to yield (resume).
        flips: random horizontal and vertical flips, p=0.5 each per image.

    Returns:
        Dataset of float32 `[C, B, H, W, 2]` in [-1, 1] (channel 0 red, 1 green).
    """
    _check_batch(batch_size, start_step)
    _check_counts(cells, batch_size, per_protein=True)
    images = _host_images(cells)
    table_np, counts_np = _protein_table(cells)
    C = len(cells.proteins)
    table = tf.constant(table_np)
    counts = tf.constant(np.repeat(counts_np, batch_size))  # [C*B]
    spe = tf.constant(np.repeat(counts_np // batch_size, batch_size))  # [C*B]
    order_seeds = tf.constant(
        np.repeat([_stream_seed(seed, _PURPOSE_ORDER, 1 + p) for p in range(C)], batch_size), tf.int64
    )
    protein_of = tf.constant(np.repeat(np.arange(C, dtype=np.int64), batch_size))
    flip_seed = tf.constant(_stream_seed(seed, _PURPOSE_FLIP), tf.int64)
    h, w = cells.image_size
    offset_in_batch = tf.tile(tf.range(batch_size, dtype=tf.int64), [C])

    def batch_for_step(step):
        epoch = step // spe
        pos = (step % spe) * batch_size + offset_in_batch
        local = _shuffled(pos, order_seeds, epoch, counts)
        idx = tf.gather_nd(table, tf.stack([protein_of, local], axis=-1))
        x = tf.gather(images, idx)
        if flips:
            x = _random_flips(x, flip_seed, step)
        x = to_model_range_tf(x)  # after the flips: they move 4x less data in uint8
        return tf.ensure_shape(tf.reshape(x, [C, batch_size, h, w, 2]), [C, batch_size, h, w, 2])

    return _training_dataset(batch_for_step, start_step)


def _check_neighbours(cells: CellSet, neighbours) -> None:
    if neighbours is None:
        raise DataError("neighbours", "multichannel batches need mined neighbours (mine_neighbours)")
    n, C = len(cells), len(cells.proteins)
    if tuple(neighbours.proteins) != tuple(cells.proteins):
        raise DataError(
            "neighbours",
            f"proteins {list(neighbours.proteins)} differ from the data's {list(cells.proteins)}",
        )
    if tuple(neighbours.files) != tuple(cells.files):
        raise DataError("neighbours", "files differ from the data's files (mined on another data set?)")
    indices = np.asarray(neighbours.indices)
    if indices.ndim != 3 or indices.shape[:2] != (n, C) or indices.shape[2] < 1:
        raise DataError("neighbours", f"indices must be [{n}, {C}, k], got {list(indices.shape)}")
    if indices.min() < 0 or indices.max() >= n:
        raise DataError("neighbours", f"indices must lie in [0, {n})")
    if not (cells.labels[indices] == np.arange(C)[None, :, None]).all():
        raise DataError("neighbours", "indices[:, q] must point at images of protein q")


def multichannel_batches(
    cells: CellSet,
    neighbours,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    flips: bool = True,
    pick: str = "random",
) -> tf.data.Dataset:
    """Endless multichannel batches `[B, H, W, 1+C]` built from red-channel nearest neighbours.

    For a drawn image i of protein p: channel 0 = red of i, channel 1+p = green of i, and channel
    1+q (q != p) = green of one of i's k red-channel nearest neighbours among protein q's images,
    drawn at random per (sample, protein, step) as the reference's `CompositeImageFolder` does.
    Every channel is then masked by i's red cell mask (red > 0 in uint8): outside it the composite
    is 0, i.e. -1 after scaling. The mask keeps a neighbour's green, which belongs to another
    cell's outline, from lighting pixels outside this cell.

    Args:
        cells: the images, uint8 `[N, H, W, 2]`.
        neighbours: `biogans_tf.data.neighbours.Neighbours` mined on `cells` (same files and
            proteins); `indices` `[N, C, k]`.
        batch_size: B, at most N.
        seed: non-negative int.
        start_step: the first step to yield (resume).
        flips: random flips, p=0.5 each per sample, the same flip for all channels of a sample.
        pick: "random" (default, the reference's sampling) draws a rank uniformly among the k per
            (sample, protein), statelessly from `(seed, step)`, so resume stays exact;
            "nearest" always uses rank 0.

    Returns:
        Dataset of float32 `[B, H, W, 1+C]` in [-1, 1].
    """
    _check_batch(batch_size, start_step)
    _check_counts(cells, batch_size, per_protein=False)
    _check_neighbours(cells, neighbours)
    if pick not in PICKS:
        raise DataError("pick", f"unknown neighbour pick {pick!r}; expected one of {', '.join(PICKS)}")
    images = _host_images(cells)
    labels = tf.constant(cells.labels.astype(np.int64))
    nn = tf.constant(np.asarray(neighbours.indices, np.int64))  # [N, C, k]
    k = int(nn.shape[2])
    C = len(cells.proteins)
    n = tf.constant(len(cells), tf.int64)
    spe = tf.constant(len(cells) // batch_size, tf.int64)
    order_seed = _stream_seed(seed, _PURPOSE_ORDER)
    flip_seed = tf.constant(_stream_seed(seed, _PURPOSE_FLIP), tf.int64)
    pick_seed = tf.constant(_stream_seed(seed, _PURPOSE_PICK), tf.int64)
    h, w = cells.image_size

    def batch_for_step(step):
        epoch, pos = _epoch_positions(step, batch_size, spe)
        idx = _shuffled(pos, order_seed, tf.fill([batch_size], epoch), tf.fill([batch_size], n))
        cand = tf.gather(nn, idx)  # [B, C, k]
        if pick == "random":
            rank = tf.random.stateless_uniform(
                [batch_size, C], seed=tf.stack([pick_seed, step]), maxval=k, dtype=tf.int64
            )
        else:
            rank = tf.zeros([batch_size, C], tf.int64)
        partner = tf.gather(cand, rank, batch_dims=2)  # [B, C]
        # The sample's own protein channel is its own green, whatever the neighbour list says.
        own = tf.equal(tf.range(C, dtype=tf.int64)[None, :], tf.gather(labels, idx)[:, None])
        partner = tf.where(own, idx[:, None], partner)
        red = tf.gather(images, idx)[..., :1]  # [B, H, W, 1]
        # Gather whole partner images, then slice: slicing the host tensor first would copy it.
        greens = tf.gather(images, partner)[..., 1]  # [B, C, H, W]
        x = tf.concat([red, tf.transpose(greens, [0, 2, 3, 1])], axis=-1)
        # The red cell mask on every channel, in uint8 (red > 0), before the flips: they are shared
        # by all channels, so masking first or last gives the same composite.
        x = x * tf.cast(red > 0, tf.uint8)
        if flips:
            x = _random_flips(x, flip_seed, step)
        x = to_model_range_tf(x)
        return tf.ensure_shape(x, [batch_size, h, w, 1 + C])

    return _training_dataset(batch_for_step, start_step)


def make_batches(
    kind: str,
    cells: CellSet,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    neighbours=None,
    flips: bool = True,
    pick: str = "random",
) -> tf.data.Dataset:
    """Dispatch to `joint_batches`, `conditional_batches` or `multichannel_batches` by `kind`.

    Raises:
        DataError: unknown `kind`, `neighbours` missing for "multichannel", or bad sizes.
    """
    _check_kind(kind)
    if kind == "joint":
        return joint_batches(cells, batch_size, seed, start_step=start_step, flips=flips)
    if kind == "conditional":
        return conditional_batches(cells, batch_size, seed, start_step=start_step, flips=flips)
    return multichannel_batches(
        cells, neighbours, batch_size, seed, start_step=start_step, flips=flips, pick=pick
    )


def eval_batches(cells: CellSet, batch_size: int) -> tf.data.Dataset:
    """One pass in file order, no flips, the final partial batch kept.

    Returns:
        Dataset of `(images float32 [b, H, W, 2] in [-1, 1], labels int32 [b])`, b <= batch_size.
    """
    _check_batch(batch_size, 0)
    images = _host_images(cells)
    labels = tf.constant(cells.labels.astype(np.int32))
    n = len(cells)

    def batch(b):
        lo = b * batch_size
        hi = tf.minimum(lo + batch_size, n)
        return to_model_range_tf(images[lo:hi]), labels[lo:hi]

    n_batches = -(-n // batch_size)
    return tf.data.Dataset.range(n_batches).map(batch).prefetch(tf.data.AUTOTUNE)

"""Throughput of the tf.data pipelines (biogans_tf.data.pipeline) against what training consumes.

Default: 6 proteins x 4,500 cells at 48x80, batch 64, flips on; each kind is iterated for
`--batches` elements after `--warmup`. One WGAN-GP iteration draws 5 critic batches of real
images (5 x 64 for joint/multichannel, 5 x C x 64 for conditional); the PyTorch reference trains
dcgan-sep at ~0.2 iterations/s on 2 cores, i.e. ~64 real images/s. The target is >= 20x that.

Multichannel batches use random (valid) neighbour lists unless `--mine`: the throughput does not
depend on which neighbours are gathered.

Usage:
    .venv/bin/python -m benchmarks.pipeline_throughput [--batches 500] [--batch 64]
Last line: key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from biogans_tf.conventions import FAMILIES, PAPER_PROTEINS  # noqa: E402
from biogans_tf.data.cellset import CellSet  # noqa: E402
from biogans_tf.data.neighbours import Neighbours, mine_neighbours  # noqa: E402
from biogans_tf.data.pipeline import make_batches  # noqa: E402


def bench_cells(
    n_per_protein: int, n_proteins: int, image_size=(48, 80), source: str = "auto", seed: int = 0
) -> CellSet:
    """`n_per_protein` images for each of `n_proteins` proteins.

    Args:
        source: "sim" (the in-memory simulator), "random" (uniform uint8 noise), or "auto"
            (the simulator when importable, else random).
    """
    proteins = tuple(PAPER_PROTEINS[i] if i < len(PAPER_PROTEINS) else f"P{i}" for i in range(n_proteins))
    if source in ("auto", "sim"):
        try:
            from biogans_tf.data.simulator import simulate_cellset
        except ImportError:
            if source == "sim":
                raise
        else:
            return simulate_cellset(list(proteins), n_per_protein, seed, image_size=tuple(image_size))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    n = n_per_protein * n_proteins
    images = rng.integers(0, 256, (n, *image_size, 2), dtype=np.uint8)
    labels = np.repeat(np.arange(n_proteins, dtype=np.int32), n_per_protein)
    files = tuple(f"{proteins[p]}/cell_{i:06d}.png" for i, p in enumerate(labels))
    return CellSet(images, labels, proteins, files, source=f"random:{n_per_protein}")


REFERENCE_IMAGES_PER_S = 64.0  # 0.2 it/s x 5 critic batches x 64 (dcgan-sep, 2 cores)
CRITIC_STEPS = 5


def _random_neighbours(cells, k: int, seed: int = 0) -> Neighbours:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    C = len(cells.proteins)
    members = [np.flatnonzero(cells.labels == q) for q in range(C)]
    indices = np.stack([rng.choice(members[q], size=(len(cells), k)) for q in range(C)], axis=1)
    indices[np.arange(len(cells)), cells.labels, 0] = np.arange(len(cells))
    return Neighbours(indices, np.zeros(indices.shape, np.float32), cells.files, cells.proteins, k, "random")


def _measure(ds, warmup: int, batches: int) -> float:
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        element = next(it)
    _ = (element[0] if isinstance(element, tuple) else element).shape
    return time.perf_counter() - start


def add_cell_args(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the benchmark cells (shared by the data benchmarks)."""
    parser.add_argument("--n-per-protein", type=int, default=4500)
    parser.add_argument("--proteins", type=int, default=6)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument("--source", choices=("random", "sim", "auto"), default="random")


def cells_from_args(args) -> CellSet:
    """`bench_cells` for the flags of `add_cell_args`."""
    return bench_cells(args.n_per_protein, args.proteins, (args.height, args.width), args.source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cell_args(parser)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--mine", action="store_true", help="mine real neighbours for multichannel")
    parser.add_argument("--no-flips", action="store_true")
    args = parser.parse_args()

    cells = cells_from_args(args)
    C = len(cells.proteins)
    nb = mine_neighbours(cells, k=5) if args.mine else _random_neighbours(cells, 5)
    print(
        f"cells={len(cells)} proteins={C} size={args.height}x{args.width} batch={args.batch} "
        f"cpus={os.cpu_count()} tf_threads={tf.config.threading.get_inter_op_parallelism_threads()}"
    )
    target = 20 * REFERENCE_IMAGES_PER_S
    results = {}
    for kind in FAMILIES:
        ds = make_batches(kind, cells, args.batch, seed=0, neighbours=nb, flips=not args.no_flips)
        seconds = _measure(ds, args.warmup, args.batches)
        per_element = args.batch * (C if kind == "conditional" else 1)
        images_per_s = per_element * args.batches / seconds
        # Training iterations/s this pipeline alone could feed (5 critic batches per iteration).
        its_per_s = args.batches / seconds / CRITIC_STEPS
        results[kind] = images_per_s
        print(
            f"{kind:>12}: {args.batches / seconds:8.1f} batches/s  {images_per_s:9.0f} images/s  "
            f"feeds {its_per_s:7.1f} WGAN-GP it/s  = {images_per_s / REFERENCE_IMAGES_PER_S:6.1f}x the "
            f"reference's {REFERENCE_IMAGES_PER_S:.0f} images/s (target >= {target:.0f})"
        )
    print(
        " ".join(f"{k}_images_per_s={v:.0f}" for k, v in results.items())
        + f" target_images_per_s={target:.0f} meets_target={min(results.values()) >= target}"
    )


if __name__ == "__main__":
    main()

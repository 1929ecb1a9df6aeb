"""Wall time of red-channel nearest-neighbour mining (biogans_tf.data.neighbours) on CPU.

Default: 6 proteins x 4,500 cells at 48x80 (~27,000 cells, the LIN training-set scale), k=5,
no cache. The timing does not depend on the pixel values, so random images are the default;
`--source sim` uses the simulator. Optionally `--check N` verifies the first N query rows
against a brute-force numpy computation.

Usage:
    .venv/bin/python -m benchmarks.nn_mining [--n-per-protein 4500] [--proteins 6] [--k 5]
Last line: key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.pipeline_throughput import add_cell_args, cells_from_args  # noqa: E402
from biogans_tf.data.neighbours import compute_neighbours  # noqa: E402


def _brute_force_rows(cells, rows: np.ndarray, k: int):
    """int64 indices `[len(rows), C, k]` by plain numpy (self first for the own protein)."""
    red = cells.images[..., 0].reshape(len(cells), -1).astype(np.int64)
    out = np.zeros((len(rows), len(cells.proteins), k), np.int64)
    for r, i in enumerate(rows):
        d = ((red - red[i]) ** 2).sum(axis=1)
        for q in range(len(cells.proteins)):
            members = np.flatnonzero(cells.labels == q)
            if q == cells.labels[i]:
                members = members[members != i]
                order = np.lexsort((members, d[members]))[: k - 1]
                out[r, q] = np.concatenate([[i], members[order]])
            else:
                out[r, q] = members[np.lexsort((members, d[members]))[:k]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cell_args(parser)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--check", type=int, default=0, help="verify this many rows by brute force")
    args = parser.parse_args()

    cells = cells_from_args(args)
    n = len(cells)
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    print(f"cells={n} proteins={args.proteins} size={args.height}x{args.width} k={args.k} devices={devices}")
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    indices, distances = compute_neighbours(cells, k=args.k, chunk=args.chunk)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    pairs = n * n
    print(
        f"mining: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU over {os.cpu_count()} cores "
        f"({pairs / seconds / 1e6:.1f} M distance pairs/s of the full N x N); "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    ok = "skipped"
    if args.check:
        rows = np.random.default_rng(0).choice(n, size=min(args.check, n), replace=False)
        ok = str(bool((_brute_force_rows(cells, rows, args.k) == indices[rows]).all()))
        print(f"brute-force check on {len(rows)} rows: {ok}")
    print(
        f"n_cells={n} k={args.k} seconds={seconds:.2f} cpu_seconds={cpu_seconds:.1f} target_seconds=60 "
        f"meets_target={seconds < 60} check={ok} source={cells.source or args.source}"
    )


if __name__ == "__main__":
    main()

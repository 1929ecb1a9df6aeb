"""Side-by-side final sample grids of several runs, each panel titled (for benchmarks/RESULTS.md).

    python -m benchmarks.compare_grids --out FIG.png --title "..." \
        --run RUN_DIR "panel title" [--run RUN_DIR "panel title" ...] [--columns 2]

Each panel is the run's last sample grid (`RUN/samples/step_*.png`, written by the training loop:
rows = fixed latent z, columns = proteins, the run's own palette), under its title; the figure
title says what is compared. Panels are laid out `--columns` wide.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys


def last_grid(run_dir: str) -> str:
    """Path of the run's newest sample grid; exits with one line when there is none."""
    grids = sorted(glob.glob(os.path.join(run_dir, "samples", "step_*.png")))
    if not grids:
        sys.exit(f"error: {run_dir}: no samples/step_*.png (not a training run folder?)")
    return grids[-1]


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="figure file (.png)")
    ap.add_argument("--title", default="", help="figure title")
    ap.add_argument("--run", nargs=2, action="append", metavar=("RUN_DIR", "TITLE"), required=True)
    ap.add_argument("--columns", type=int, default=2)
    args = ap.parse_args(argv)
    if args.columns < 1:
        ap.error("--columns must be >= 1")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [(last_grid(run), title) for run, title in args.run]
    cols = min(args.columns, len(paths))
    rows = math.ceil(len(paths) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 5.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (path, title) in zip(axes.flat, paths, strict=False):
        ax.imshow(plt.imread(path), interpolation="nearest")
        ax.set_title(title, fontsize=10)
    if args.title:
        fig.suptitle(args.title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97) if args.title else None)
    fig.savefig(args.out, dpi=100)
    print(args.out)
    return args.out


if __name__ == "__main__":
    main()

"""Draw cells from a trained generator without a server: `python -m training.sample` / `biogans-sample`.

    python -m training.sample --generator G.keras --n 64 --seed 1 --out s.ome.tif
    python -m training.sample --run_dir runs/my-run --n 16 --out s.tif --bits 16   # ImageJ hyperstack
    python -m training.sample --run_dir runs/my-run --n 16 --out grid.png          # the training viewer

`--out` decides the format: `*.ome.tif(f)` OME-TIFF, other `*.tif(f)` ImageJ hyperstack (both with
one channel per protein, Bgs4 first, 0.1 µm pixels; see `biogans_tf/tiff.py`), `*.png` a sample grid,
`*.npy` the float images in [-1, 1]. The latent codes are those of the exported `sample` signature
(`tf.random.stateless_normal([n, nz], seed=[seed, 0])`), so `--seed S` draws the same cells as
`serving.client sample --seed S` against the export of the same generator. The last stdout line is
a JSON summary.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

from absl import app, flags

from biogans_tf.cli import define_flags as define_option_flags
from biogans_tf.cli import from_flags
from biogans_tf.options import option

FORMATS = (".ome.tif", ".ome.tiff", ".tif", ".tiff", ".png", ".npy")


@dataclasses.dataclass
class SampleOptions:
    """Every option of `training.sample`: each field is the flag of the same name
    (`biogans_tf.cli.define_flags`); `sample_to_file` takes them as keywords (bits as an int)."""

    run_dir: str = option("", "run directory (its generator.keras; generator_ema.keras with --use_ema)")
    generator: str = option("", "a generator .keras file (overrides --run_dir's)")
    use_ema: bool = option(False, "with --run_dir: draw from the run's EMA generator (generator_ema.keras)")
    proteins: str = option("", "comma-separated protein names (default: the run's)")
    n: int = option(64, "cells to draw", lower_bound=1)
    seed: int = option(0, "latent seed (same as the served `sample` signature's)", lower_bound=0)
    out: str = option("samples.ome.tif", f"output file: {', '.join(FORMATS)}")
    bits: str = option("8", "TIFF bit depth", choices=("8", "16"))
    cols: int = option(8, "cells per row of a .png grid", lower_bound=1)
    palette: str = option(
        "red-green", "colours of a .png grid", choices=("red-green", "magenta-green", "gray")
    )
    batch: int = option(64, "cells per generator call", lower_bound=1)


def define_flags() -> None:
    """Define this command's flags. Called by `cli`, not at import: `training.evaluate` defines
    `--run_dir` / `--seed` too, and tests import both into one process."""
    define_option_flags(SampleOptions, __name__)


FLAGS = flags.FLAGS


def draw(run, n: int, seed: int, batch: int = 64):
    """Generator output for `n` codes of `seed`, float32 in [-1, 1], and the codes.

    Args:
        run: a `biogans_tf.runs.generator.GeneratorRun`.
        n: number of cells.
        seed: latent seed; z = `stateless_normal([n, nz], seed=[seed, 0])` as the served `sample`.
        batch: cells per generator call (memory bound only; the result does not depend on it).

    Returns:
        (images in the generator layout `[n, ...]`, z float32 `[n, nz]`).
    """
    import numpy as np
    import tensorflow as tf

    z = tf.random.stateless_normal([n, run.nz], seed=tf.constant([seed, 0], tf.int64))
    call = tf.function(lambda v: tf.cast(run.model(v, training=False), tf.float32), reduce_retracing=True)
    images = np.concatenate([call(z[s : s + batch]).numpy() for s in range(0, n, batch)], axis=0)
    return images, z.numpy()


def sample_to_file(
    out: str,
    *,
    run_dir: str = "",
    generator: str = "",
    use_ema: bool = False,
    proteins: str = "",
    n: int = 64,
    seed: int = 0,
    bits: int = 8,
    cols: int = 8,
    batch: int = 64,
    palette: str = "red-green",
) -> dict:
    """Load a generator, draw `n` cells from `seed` and write them to `out` (format by extension).

    Returns:
        JSON-ready summary: out, n, seed, arch, proteins, shape (+ channels, axes for TIFF).

    Raises:
        ValueError: (incl. `DataError`) naming the flag or file that is wrong.
    """
    low = out.lower()
    if not low.endswith(FORMATS):  # before loading TensorFlow: a typo fails fast
        raise ValueError(f"--out={out}: expected a file name ending in one of {', '.join(FORMATS)}")
    import numpy as np

    from biogans_tf import tiff, viz
    from biogans_tf.runs.generator import load_generator

    names = [p.strip() for p in proteins.split(",") if p.strip()] or None
    run = load_generator(run_dir, generator=generator or None, proteins=names, ema=use_ema)
    images, _ = draw(run, n, seed, batch)
    summary = {"out": out, "n": n, "seed": seed, "arch": run.arch, "proteins": list(run.proteins)}
    summary["shape"] = list(images.shape)
    if tiff.is_tiff(out):
        desc = f"biogans-tf {run.arch} samples, seed {seed}, generator {run.path}"
        written = tiff.write_cells(out, images, run.proteins, bits=bits, description=desc)
        summary.update(channels=written["channels"], axes=written["axes"], bits=bits)
    elif low.endswith(".png"):
        # Star/multichannel grids get the protein names over their columns, like the training samples.
        viz.save_png(out, viz.sample_figure(images, run.proteins, palette=palette, cols=cols))
    else:
        from biogans_tf.io_utils import atomic_path

        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, images)
    return summary


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    o = from_flags(SampleOptions, FLAGS)
    if not (o.run_dir or o.generator):
        print("error: give --run_dir (a training run) or --generator (a .keras file)", file=sys.stderr)
        return 2
    kwargs = dataclasses.asdict(o)
    try:
        summary = sample_to_file(kwargs.pop("out"), **{**kwargs, "bits": int(o.bits)})
    except (ValueError, OSError) as e:  # DataError is a ValueError: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


def cli() -> None:
    """Console-script entry point (`biogans-sample`): absl flags, help to stdout with exit 0."""
    from biogans_tf.cli import run as run_program

    define_flags()
    run_program(main, __doc__, __name__, renamed={"ema": "use_ema"})  # issue 23's renames


if __name__ == "__main__":
    cli()

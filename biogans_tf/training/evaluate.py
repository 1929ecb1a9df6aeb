"""Evaluate GANs on cell images: `python -m training.evaluate --task=TASK [flags]`.

Tasks (the paper's Sec. 5 plus the ground-truth multichannel test):
  c2st_real    Table 1: C2ST of protein A's training vs protein B's test images (no generator)
  c2st_fake    Table 2 row: C2ST of a generator's samples vs each protein's test images
  reconstruct  Table 3 + Figures 5/6: L-BFGS reconstruction of test cells, baselines
  interpolate  latent paths (linear, spherical) as GIF + strip, cell-length / septum check
  joint        star / multichannel samples vs the simulator's true multichannel cells

Every task writes its figures and `results.json` into `--out` and prints that JSON as the last
line of stdout. `--quick` shrinks every setting for smoke runs. The library function `evaluate`
takes the same options as a dict, for use from Python.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from absl import app, flags, logging

from biogans_tf.cli import define_flags, explicit_values, from_flags
from biogans_tf.cli import run as run_program
from biogans_tf.conventions import LBFGS_BUDGETS, PALETTES, RED_SHARING
from biogans_tf.options import option
from biogans_tf.registries import LOSSES

TASKS = ("c2st_real", "c2st_fake", "reconstruct", "interpolate", "joint")
ENDPOINTS = ("reconstruct", "random", "file")


# Flag help texts of EvalOptions fields longer than one line.
_N_FAKE_HELP = (
    "c2st_fake: 0 = fresh generator samples at every critic step (the paper's); N > 0 = "
    "a fixed set of N generated images per protein split 50/50 (the old protocol)"
)


@dataclasses.dataclass
class EvalOptions:
    """Every option of `training.evaluate`: each field is the flag of the same name
    (`biogans_tf.cli.define_flags`)."""

    task: str = option("c2st_fake", f"one of {', '.join(TASKS)}", choices=TASKS)
    run_dir: str = option("", "run directory with generator.keras and config.json")
    generator: str = option("", "a generator .keras file (overrides the run directory's)")
    data: str = option(
        "", "sim, sim:<n>, a LIN folder/zip, tfds:<name>, tiff:<folder> (default: the run's, else sim)"
    )
    proteins: str = option("", "comma-separated proteins (default: the run's; c2st_real: the paper's six)")
    image_size: str = option("", "HEIGHTxWIDTH for c2st_real (default 48x80; runs use their own)")
    # Own data (`--data own:DIR`): "" = the run's setting, else the own-data reader's default.
    channel_map: str = option(
        "", "own data: red/green channel indices, e.g. red=0,green=1 (default: the run's)"
    )
    percentiles: str = option(
        "", "own data: LOW,HIGH stretched to 0..255, or none (default: the run's, else 0.5,99.5)"
    )
    resize_policy: str = option("", "own data: pad_or_crop, fit, stretch or exact (default: the run's)")
    out: str = option("", "output folder (default runs/eval/<task>)")
    seed: int = option(0, "seed of splits, critics, latent draws and restarts")
    data_seed: int = option(-1, "simulator seed of the data (-1: the run's seed, else 0)")
    quick: bool = option(False, "shrink all settings for a smoke run")
    progress: bool = option(True, "show progress bars (stderr)")
    palette: str = option("red-green", "colours of cell figures", choices=PALETTES)
    # C2ST
    n_splits: int = option(10, "C2ST random 50/50 splits (one critic each)")
    c2st_steps: int = option(5000, "C2ST critic training steps")
    batch_size: int = option(64, "C2ST images per source per step")
    ndf: int = option(64, "C2ST critic width")
    lr: float = option(1e-4, "C2ST critic Adam learning rate (paper: 1e-4; raise it for short runs)")
    max_critics: int = option(0, "C2ST critics per stacked bank (0: all at once)")
    n_fake: int = option(0, _N_FAKE_HELP)
    c2st_critic: str = option(
        "wgan-gp", "C2ST critic's loss (wgan-gp: the paper's; its score includes the penalty)", choices=LOSSES
    )
    # reconstruction
    iterations: int = option(50, "reconstruction L-BFGS iterations (per phase)")
    lbfgs_budget: str = option("fast", "reconstruction L-BFGS", choices=LBFGS_BUDGETS)
    separable_red: str = option("per-restart", "separable reconstruction", choices=RED_SHARING)
    restarts: int = option(5, "reconstruction random restarts")
    max_per_protein: int = option(100, "reconstruction: test cells per protein (0: all)")
    modes: str = option("regular,separable", "reconstruction modes: regular, separable")
    # interpolation
    endpoints: str = option("reconstruct", f"interpolation endpoints: {', '.join(ENDPOINTS)}")
    z_file: str = option("", "interpolation: .npz with z0 and z1 (--endpoints=file)")
    protein: str = option(
        "", "interpolation: protein whose cells are reconstructed (default: the run's first)"
    )
    interp_steps: int = option(16, "interpolation: points per path")
    kinds: str = option("linear,spherical", "interpolation kinds: linear, spherical")
    # joint
    n_joint: int = option(500, "joint: true and generated multichannel cells")


def apply_quick(o: EvalOptions, explicit=()) -> EvalOptions:
    """Shrink every cost setting for a smoke run (and a plain `sim` to 16 cells per protein).

    Args:
        o: the options.
        explicit: names of the fields the user set; `--quick` never overrides those.
    """
    quick = dict(
        n_splits=min(o.n_splits, 3),
        c2st_steps=min(o.c2st_steps, 20),
        batch_size=min(o.batch_size, 16),
        ndf=min(o.ndf, 8),
        iterations=min(o.iterations, 3),
        restarts=min(o.restarts, 2),
        max_per_protein=min(o.max_per_protein, 4),
        interp_steps=min(o.interp_steps, 5),
        n_joint=min(o.n_joint, 24),
        data="sim:16" if o.data in ("", "sim") else o.data,
    )
    return dataclasses.replace(o, **{k: v for k, v in quick.items() if k not in set(explicit)})


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _settings(o: EvalOptions):
    from biogans_tf.eval.c2st import C2STSettings

    return C2STSettings(
        n_splits=o.n_splits, steps=o.c2st_steps, batch_size=o.batch_size, ndf=o.ndf, lr=o.lr, seed=o.seed,
        critic=o.c2st_critic,
    )  # fmt: skip


def _load_run(o: EvalOptions):
    from biogans_tf.runs.generator import load_generator

    return load_generator(o.run_dir, generator=o.generator or None, proteins=_split_list(o.proteins) or None)


def _data_of(o: EvalOptions, run=None) -> tuple[str, int]:
    data = o.data or (run.config.get("data") if run else None) or "sim"
    seed = o.data_seed if o.data_seed >= 0 else int(run.config.get("seed", 0)) if run else 0
    return data, seed


def _load(o: EvalOptions, split: str, proteins, image_size, run=None):
    from biogans_tf.data import sources

    data, seed = _data_of(o, run)
    return sources.load(
        data, split, proteins=list(proteins), image_size=image_size, seed=seed, **_own_options(o, run)
    )


def _own_options(o: EvalOptions, run=None) -> dict:
    """channel_map / percentiles / resize_policy: the flag, else the run's config, else the reader's."""
    from biogans_tf.data.errors import DataError

    config = run.config if run else {}
    channel_map = o.channel_map or config.get("channel_map") or "red=0,green=1"
    resize_policy = o.resize_policy or config.get("resize_policy") or "pad_or_crop"
    if o.percentiles:
        text = o.percentiles.strip().lower()
        try:
            percentiles = None if text == "none" else tuple(float(t) for t in text.split(","))
        except ValueError:
            raise DataError("--percentiles", f"{o.percentiles!r}: expected LOW,HIGH or none") from None
    else:
        percentiles = config.get("percentiles", (0.5, 99.5))
    return {"channel_map": channel_map, "percentiles": percentiles, "resize_policy": resize_policy}


def _write_text(out: str, name: str, text: str) -> str:
    from biogans_tf.io_utils import write_bytes

    write_bytes(os.path.join(out, name), (text + "\n").encode())
    return name


def task_c2st_real(o: EvalOptions) -> dict:
    from biogans_tf.conventions import DEFAULT_IMAGE_SIZE, PAPER_PROTEINS
    from biogans_tf.data.simulator import parse_image_size
    from biogans_tf.eval import c2st_tables

    proteins = _split_list(o.proteins) or list(PAPER_PROTEINS)
    size = parse_image_size(o.image_size) if o.image_size else DEFAULT_IMAGE_SIZE
    train, test = _load(o, "train", proteins, size), _load(o, "test", proteins, size)
    res = c2st_tables.real_vs_real(
        train, test, proteins, _settings(o), max_critics=o.max_critics or None, progress=o.progress
    )
    res["figures"] = {"table1": _write_text(o.out, "table1.md", c2st_tables.format_matrix(res))}
    c2st_tables.matrix_figure(os.path.join(o.out, "table1.png"), res)
    res["figures"]["heatmap"] = "table1.png"
    res["data"] = {"source": train.source, "n_train": train.counts(), "n_test": test.counts()}
    return res


def task_c2st_fake(o: EvalOptions) -> dict:
    from biogans_tf.eval import c2st_tables

    run = _load_run(o)
    test = _load(o, "test", run.proteins, run.image_size, run)
    res = c2st_tables.fake_vs_real(
        run, test, _settings(o), n_fake=o.n_fake or None, seed=o.seed, fresh=not o.n_fake,
        max_critics=o.max_critics or None, progress=o.progress,
    )  # fmt: skip
    name = os.path.basename(os.path.normpath(o.run_dir)) if o.run_dir else os.path.basename(o.generator)
    res["figures"] = {"table2": _write_text(o.out, "table2.md", c2st_tables.format_table2({name: res}))}
    res["data"] = {"source": test.source, "n_test": test.counts()}
    return res


def task_reconstruct(o: EvalOptions) -> dict:
    from biogans_tf.eval.reconstruction import evaluate_run

    run = _load_run(o)
    test = _load(o, "test", run.proteins, run.image_size, run)
    train = _load(o, "train", run.proteins, run.image_size, run)
    return evaluate_run(
        run, test, train, modes=_split_list(o.modes), iterations=o.iterations, restarts=o.restarts,
        seed=o.seed, max_per_protein=o.max_per_protein or None, out_dir=o.out, progress=o.progress,
        budget=o.lbfgs_budget, separable_red=o.separable_red, palette=o.palette,
    )  # fmt: skip


def task_interpolate(o: EvalOptions) -> dict:
    from biogans_tf.data.errors import DataError
    from biogans_tf.eval import endpoints, interpolation

    run = _load_run(o)
    info = {"endpoints": o.endpoints}
    if o.endpoints == "random":
        z = run.latents(2, o.seed, 30)
        z0, z1 = z[0], z[1]
    elif o.endpoints == "file":
        z0, z1 = endpoints.codes_from_file(o.z_file, run.nz)
    else:
        protein = o.protein or run.proteins[0]
        if protein not in run.proteins:
            raise DataError("--protein", f"{protein!r} is not one of the run's proteins {run.proteins}")
        data, seed = _data_of(o, run)
        cells, how = endpoints.endpoint_cells(
            data, protein, seed, run.image_size, lambda: _load(o, "test", [protein], run.image_size, run)
        )
        pi = 0 if run.family == "joint" else run.proteins.index(protein)
        z0, z1, l2 = interpolation.reconstructed_endpoints(
            run, cells, pi, iterations=o.iterations, restarts=o.restarts, seed=o.seed
        )
        info.update(protein=protein, chosen=how, reconstruction_l2=[float(v) for v in l2])
        info["real_endpoints"] = interpolation.biology(cells)
        figure = os.path.join(o.out, "interp_endpoints_real.png")
        endpoints.write_endpoint_figure(figure, cells, protein, o.palette)
    kinds = _split_list(o.kinds)
    res = interpolation.interpolation_study(
        run, z0, z1, steps=o.interp_steps, kinds=kinds, out_dir=o.out, palette=o.palette
    )
    interpolation.write_path_tiffs(run, z0, z1, o.interp_steps, kinds, o.out, res)
    return {"arch": run.arch, "proteins": list(run.proteins), "steps": o.interp_steps, **info, "paths": res}


def task_joint(o: EvalOptions) -> dict:
    from biogans_tf.eval.fakes import GeneratorFakes
    from biogans_tf.eval.joint import joint_evaluation, joint_truth

    run = _load_run(o)
    if not run.has_joint_output:
        raise ValueError(f"--task=joint needs a star or multichannel generator, got arch {run.arch!r}")
    data, seed = _data_of(o, run)
    truth, ref, source = joint_truth(data, run.proteins, o.n_joint, seed, run.image_size)
    generated = run.generate(run.joint_fn(), run.latents(len(truth), o.seed, 20))
    fresh = GeneratorFakes(run.joint_fn(), run.nz)  # C2ST on fresh samples; statistics on `generated`
    res = joint_evaluation(
        generated, truth, ref, run.proteins, settings=_settings(o), out_dir=o.out, progress=o.progress,
        fresh=fresh, palette=o.palette,
    )  # fmt: skip
    return {"arch": run.arch, "truth": source, **res}


_TASK_FNS = {
    "c2st_real": task_c2st_real,
    "c2st_fake": task_c2st_fake,
    "reconstruct": task_reconstruct,
    "interpolate": task_interpolate,
    "joint": task_joint,
}


def evaluate(options: EvalOptions | dict, explicit=None) -> dict:
    """Run one evaluation task; write `results.json` into `out`; return the results dict.

    Args:
        options: the options (a dict: its keys are the settings given; the rest keep their defaults).
        explicit: the names of the settings the user gave (default: a dict's keys, else none);
            `quick` shrinks only the others.
    """
    from biogans_tf.io_utils import write_json

    o = options if isinstance(options, EvalOptions) else EvalOptions(**options)
    if o.task not in TASKS:
        raise ValueError(f"--task: expected one of {TASKS}, got {o.task!r}")
    if o.endpoints not in ENDPOINTS:
        raise ValueError(f"--endpoints: expected one of {ENDPOINTS}, got {o.endpoints!r}")
    for flag, table in (
        ("c2st_critic", LOSSES),
        ("lbfgs_budget", LBFGS_BUDGETS),
        ("separable_red", RED_SHARING),
        ("palette", PALETTES),
    ):
        table.check(getattr(o, flag), flag)
    if o.task != "c2st_real" and not (o.run_dir or o.generator):
        raise ValueError(f"--task={o.task} needs --run_dir or --generator")
    if o.quick:
        given = explicit if explicit is not None else (set(options) if isinstance(options, dict) else ())
        o = apply_quick(o, given)
    if not o.out:
        o = dataclasses.replace(o, out=os.path.join("runs", "eval", o.task))
    os.makedirs(o.out, exist_ok=True)
    t0 = time.perf_counter()
    res = _TASK_FNS[o.task](o)
    out = {
        "task": o.task,
        "options": dataclasses.asdict(o),
        "seconds": round(time.perf_counter() - t0, 2),
        **res,
    }
    out = json.loads(json.dumps(out, default=_json_default))
    write_json(os.path.join(o.out, "results.json"), out)
    return out


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v)}")


FLAGS = flags.FLAGS


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    options = from_flags(EvalOptions, FLAGS)
    try:
        res = evaluate(options, explicit=set(explicit_values(EvalOptions, FLAGS)))
    except ValueError as e:  # DataError is a ValueError: a clear message, no traceback
        logging.error("%s", e)
        print(json.dumps({"task": options.task, "error": str(e)}))
        return 2
    sys.stdout.flush()
    print(json.dumps(res, sort_keys=True))
    return 0


def cli():
    """Console script `biogans-evaluate` (and `python -m training.evaluate`)."""
    # Flags are defined here, not at import: `training.run` defines `--data`, `--run_dir`, `--seed`
    # ... too, and a process that imports both (the test suite) would get a DuplicateFlagError.
    define_flags(EvalOptions, __name__)
    run_program(main, __doc__, __name__, renamed={"steps": "c2st_steps"})  # issue 23's renames


if __name__ == "__main__":
    cli()

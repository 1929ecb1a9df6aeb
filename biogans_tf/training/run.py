"""Train a GAN on cell images: `python -m training.run --arch=star [--preset=cpu-demo] ...`.

Flags -> `TrainConfig` (biogans_tf/trainer/config.py) -> `training.train.train` (setup, then the
training loop of `biogans_tf.trainer.training_loop`). The run folder (`--run_dir`, default
runs/<arch>-<gan>-<timestamp>; its layout: `biogans_tf.runs`) gets the config, TensorBoard logs,
checkpoints, sample grids, the generator files and results. The last stdout line is the results
JSON. `--resume` continues from the newest checkpoint of `--run_dir`, exactly (data and noise are
keyed by step).
"""

from __future__ import annotations

import json
import os
import signal
import sys

from absl import flags, logging

from biogans_tf.cli import define_flags, explicit_values
from biogans_tf.cli import run as run_program
from biogans_tf.data.errors import DataError
from biogans_tf.failure import error_summary, write_error_log
from biogans_tf.runs.folder import RunFolder, read_metadata
from biogans_tf.trainer.config import (
    ConfigError,
    TrainConfig,
    load_config,
    merge_for_resume,
    preset_values,
    resolve,
)
from biogans_tf.trainer.stop_signals import StopSignalError, StopSignals

# Every flag is a `TrainConfig` field of the same name (its type, default and help): one
# definition, in biogans_tf/trainer/config.py.
define_flags(TrainConfig, __name__)
FLAGS = flags.FLAGS


def explicit_flags(flag_values=FLAGS) -> dict:
    """Config fields given on the command line (parsed), by field name; `--preset` is applied apart."""
    return explicit_values(TrainConfig, flag_values, skip={"preset"})


def config_from_flags(flag_values=FLAGS) -> TrainConfig:
    """Resolve the config of this invocation, reading `RUN/config.json` with `--resume`."""
    explicit = explicit_flags(flag_values)
    preset = flag_values.preset
    if flag_values.resume:
        run_dir = explicit.get("run_dir", "")
        if not run_dir:
            raise ConfigError("--resume needs --run_dir=<the run directory to continue>")
        path = RunFolder(run_dir).config
        if os.path.exists(path):
            saved = load_config(path)
            if preset:
                # Preset values count as requests too: they must agree with the saved run.
                given = preset_values(preset, saved.arch)
                explicit = {**{k: v for k, v in given.items() if k not in explicit}, **explicit}
            return merge_for_resume(saved, explicit, path)
        # No config.json (lost, or killed before it was written): the run's protein order, which
        # names the towers its checkpoints hold, and its generator file's settings still decide. A
        # folder holding no run at all is refused by the run setup.
        explicit = _recorded_settings(run_dir, explicit)
    cfg = resolve(explicit, preset)
    cfg.resume = bool(flag_values.resume)
    return cfg


# Settings the final generator file records (`biogans_tf.runs.folder.read_metadata`) that config.json
# also holds; its "ema" means "this file is the EMA copy", not the run's --ema, so it is left out.
GENERATOR_RECORDS = ("arch", "gan", "nz", "ngf", "image_size")


def _recorded_settings(run_dir: str, explicit: dict) -> dict:
    """`explicit` completed from the run's other records, for a run folder without config.json.

    The protein order of `RUN/proteins.json` and the settings `RUN/generator.keras` records
    (`GENERATOR_RECORDS`) decide as config.json would have: a flag that differs is refused.

    Raises:
        ConfigError: a record cannot be read, or a flag differs from it (e.g. reordered --proteins
            would swap the towers the checkpoints hold).
    """
    recorded: dict[str, tuple] = {}  # field -> (value, the file that records it)
    folder = RunFolder(run_dir)
    generator = folder.generator()
    if os.path.isfile(generator):
        try:
            meta = read_metadata(generator)
        except ValueError as e:
            raise ConfigError(f"{e}; cannot read the run's settings") from None
        for field in GENERATOR_RECORDS:
            if field in meta:
                value = meta[field]
                recorded[field] = (tuple(value) if isinstance(value, list) else value, generator)
    try:
        proteins = folder.read_proteins()
    except DataError as e:
        raise ConfigError(f"{e}; cannot read the run's protein order") from None
    if proteins is not None:
        recorded["proteins"] = (tuple(proteins), folder.proteins)
    for field, (value, source) in recorded.items():
        given = explicit.get(field)
        if given is None or (tuple(given) if isinstance(given, list | tuple) else given) == value:
            continue
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        given = ",".join(map(str, given)) if isinstance(given, list | tuple) else given
        why = "; its checkpoints hold one tower per protein in that order" if field == "proteins" else ""
        raise ConfigError(f"--{field}={given} differs from the run being resumed ({source}: {shown}){why}")
    return {**explicit, **{field: value for field, (value, _) in recorded.items()}}


def _failure_line(e: Exception, cfg) -> str:
    """One line for a run that failed after its config was resolved; the traceback goes to a log.

    The line keeps the cause: for a TensorFlow op that failed inside the train step, the op and the
    kernel's own message (`biogans_tf.failure.error_summary`), not TensorFlow's "Graph execution
    error:" header; for a failed write (disk full, read-only mount) the file and the reason. The
    full traceback is appended to `RUN/error.log` (a temp file before the run folder exists), whose
    path the line gives. Checkpoints are written atomically, so the last good one stays resumable.
    """
    run_dir = getattr(cfg, "run_dir", None)
    log = write_error_log(e, run_dir, "biogans-train")
    where = f"{run_dir}: " if run_dir and not (isinstance(e, OSError) and e.filename) else ""
    line = f"error: {where}{error_summary(e)}"
    if log:
        line += f"; full traceback in {log}"
    if run_dir and os.path.isdir(RunFolder(run_dir).checkpoints):
        ckpts = RunFolder(run_dir).checkpoints
        line += f"; the last good checkpoint in {ckpts} stays resumable with --resume"
    return line


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF's checkpoint saver logs at INFO on every save
    cfg = None
    try:
        with StopSignals() as stop:  # from here on, SIGTERM / Ctrl-C end in one line
            cfg = config_from_flags()
            from biogans_tf.training.train import train  # imports TensorFlow; after the cheap flag checks

            results = train(cfg, stop)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StopSignalError as e:
        ckpts = cfg.folder.checkpoints if cfg is not None else ""
        kept = f"; the last good checkpoint in {ckpts} stays" if ckpts and os.path.isdir(ckpts) else ""
        print(f"error: {e}; nothing new to save{kept}", file=sys.stderr)
        return 128 + e.signum
    except Exception as e:
        print(_failure_line(e, cfg), file=sys.stderr)
        return 1
    print(json.dumps(results, sort_keys=True))
    if results.get("status") == "interrupted":
        print(
            f"error: interrupted by {results['signal']} at generator step {results['step']}: saved "
            f"{results['last_checkpoint']}; continue with --resume --run_dir={cfg.run_dir}",
            file=sys.stderr,
        )
        return 128 + getattr(signal, results["signal"])
    return 0 if results.get("status") == "ok" else 1


def cli():
    """Console script `biogans-train` (and `python -m training.run`)."""
    run_program(main, __doc__, __name__, renamed={"logdir": "run_dir"})  # issue 23's renames


if __name__ == "__main__":
    cli()

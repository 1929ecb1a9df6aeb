"""Train a GAN on cell images: `python -m training.run --arch=star [--preset=cpu-demo] ...`.

Flags -> `TrainConfig` (biogans_tf/trainer/config.py) -> `training.train.train` (setup, then the
training loop of `biogans_tf.trainer.training_loop`). The run directory (`--run_dir`, alias
`--logdir`; default runs/<arch>-<gan>-<timestamp>) gets config.json,
proteins.json, tb/ (TensorBoard), checkpoints/, samples/step_XXXXXXX.png, generator.keras
(+ generator_ema.keras), results.json. The last stdout line is the results JSON. `--resume`
continues from the newest checkpoint of `--run_dir`, exactly (data and noise are keyed by step).
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags, logging

from biogans_tf.cli import define_flags, explicit_values
from biogans_tf.cli import run as run_program
from biogans_tf.trainer.config import (
    ConfigError,
    TrainConfig,
    load_config,
    merge_for_resume,
    preset_values,
    resolve,
)

# Every flag comes from a `TrainConfig` field (its type, default and help; `--run_dir` is the field
# `logdir`, which stays an alias): one definition, in biogans_tf/trainer/config.py.
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
        logdir = explicit.get("logdir", "")
        if not logdir:
            raise ConfigError("--resume needs --run_dir=<the run directory to continue>")
        path = os.path.join(logdir, "config.json")
        if os.path.exists(path):
            saved = load_config(path)
            if preset:
                # Preset values count as requests too: they must agree with the saved run.
                given = preset_values(preset, saved.arch)
                explicit = {**{k: v for k, v in given.items() if k not in explicit}, **explicit}
            return merge_for_resume(saved, explicit, path)
        # Nothing to resume yet (killed before config.json was written): start it fresh.
    cfg = resolve(explicit, preset)
    cfg.resume = bool(flag_values.resume)
    return cfg


def _write_failure(e: Exception, cfg) -> str | None:
    """One line for a failed write into the run directory, or None for any other error.

    Writes outside the checkpoint writer (samples, TensorBoard events, generator.keras) fail with an
    OSError or, inside TensorFlow's file writers, a `tf.errors.OpError` when the disk fills up or the
    mount turns read-only. Checkpoints are written atomically, so the last good one stays resumable.
    """
    if cfg is None:
        return None
    if isinstance(e, OSError):
        where, why = e.filename or cfg.logdir, e.strerror or str(e)
    else:
        import tensorflow as tf  # already imported by the training run

        if not isinstance(e, tf.errors.OpError):
            return None
        where, why = cfg.logdir, (e.message or str(e)).splitlines()[0]
    ckpts = os.path.join(cfg.logdir, "checkpoints")
    return f"error: {where}: {why}; the last good checkpoint in {ckpts} stays resumable with --resume"


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF's checkpoint saver logs at INFO on every save
    cfg = None
    try:
        cfg = config_from_flags()
        from training.train import train  # imports TensorFlow; after the cheap flag checks

        results = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        line = _write_failure(e, cfg)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1
    print(json.dumps(results, sort_keys=True))
    return 0 if results.get("status") == "ok" else 1


def cli():
    """Console script `biogans-train` (and `python -m training.run`)."""
    run_program(main, __doc__, __name__)


run_main = cli  # the older name


if __name__ == "__main__":
    cli()

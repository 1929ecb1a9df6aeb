"""Train a GAN on cell images: `python -m training.run --arch=star [--preset=cpu-demo] ...`.

Flags -> `TrainConfig` (training/config.py) -> data, models, loss, `GanTrainer.fit`. The run
directory (`--run_dir`, alias `--logdir`; default runs/<arch>-<gan>-<timestamp>) gets config.json,
proteins.json, tb/ (TensorBoard), checkpoints/, samples/step_XXXXXXX.png, generator.keras
(+ generator_ema.keras), results.json. The last stdout line is the results JSON. `--resume`
continues from the newest checkpoint of `--run_dir`, exactly (data and noise are keyed by step).
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags, logging

import training.debug_flags  # noqa: F401  (test hooks --debug_*, kept out of --help)
from biogans_tf.cli import run as run_program
from training.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    load_config,
    merge_for_resume,
    parse_image_size,
    parse_percentiles,
    parse_proteins,
    preset_values,
    resolve,
)

_D = TrainConfig()
F = flags
F.DEFINE_string(
    "arch", _D.arch, "dcgan, dcgan-sep, multichannel, multichannel-sep, star, independent, independent-sep"
)
F.DEFINE_string("gan", _D.gan, "loss: gan, wgan or wgan-gp")
F.DEFINE_string("data", _D.data, "sim, sim:<n_per_protein>, a LIN folder/zip, tfds:<name>, tiff:<folder>")
F.DEFINE_string("proteins", ",".join(_D.proteins), "comma-separated protein names (order = channels); 'all'")
F.DEFINE_string("image_size", "48x80", "HEIGHTxWIDTH; both sides must halve evenly down to ~4")
F.DEFINE_string("channel_map", _D.channel_map, "own data: channel indices of red (reference) and green")
F.DEFINE_string("percentiles", "0.5,99.5", "own data: LOW,HIGH percentiles stretched to 0..255; none = keep")
F.DEFINE_enum(
    "resize_policy", _D.resize_policy, ["pad_or_crop", "fit", "stretch", "exact"], "own data: how crops fit"
)
F.DEFINE_integer("batch_size", _D.batch_size, "images per critic step (per protein for star/independent)")
F.DEFINE_integer("steps", _D.steps, "generator iterations (the reference's netG_iter)")
F.DEFINE_integer("nz", _D.nz, "latent size")
F.DEFINE_integer("ngf", _D.ngf, "generator base width")
F.DEFINE_integer("ndf", _D.ndf, "critic base width")
F.DEFINE_float("red_portion", _D.red_portion, "red share of separable/star layers")
F.DEFINE_bool("critic_batchnorm", None, "BatchNorm in the critic (default: per loss; off for wgan-gp)")
F.DEFINE_enum("optimizer", None, ["adam", "rmsprop"], "default: per loss (adam; rmsprop for wgan)")
F.DEFINE_float("lr_d", None, "critic learning rate (default: per loss)")
F.DEFINE_float("lr_g", None, "generator learning rate (default: per loss)")
F.DEFINE_float("beta1", None, "Adam beta1 (default: per loss)")
F.DEFINE_float("beta2", None, "Adam beta2 (default: per loss)")
F.DEFINE_integer("n_critic", None, "critic steps per generator step (default: per loss)")
F.DEFINE_integer(
    "n_critic_burst", None, "WGAN: critic steps in the first 25 and every 500th iteration; 0=off"
)
F.DEFINE_float("gp_lambda", None, "gradient-penalty weight (default: 10 for wgan-gp)")
F.DEFINE_float("clip", None, "critic weight clipping bound (default: 0.01 for wgan)")
F.DEFINE_integer("seed", _D.seed, "seed of init, noise and data order")
F.DEFINE_string("run_dir", "", "run directory (default runs/<arch>-<gan>-<timestamp>)")
F.DEFINE_alias("logdir", "run_dir")  # the name TensorBoard users expect; config.json keeps `logdir`
F.DEFINE_bool("resume", False, "continue the run in --run_dir from its newest checkpoint")
F.DEFINE_bool("ema", False, "keep an exponential moving average of the generator (samples + export)")
F.DEFINE_float("ema_decay", _D.ema_decay, "EMA decay")
F.DEFINE_string("preset", "", f"settings bundle: {', '.join(sorted(PRESETS))} (flags override it)")
F.DEFINE_integer("sample_every", _D.sample_every, "sample grid period (generator iterations)")
F.DEFINE_string("palette", _D.palette, "sample grids: red-green (paper), magenta-green, gray")
F.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "checkpoint period (generator iterations)")
F.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "checkpoints kept")
F.DEFINE_integer("log_every", _D.log_every, "progress line / TensorBoard scalar period")
F.DEFINE_integer("neighbours_k", _D.neighbours_k, "multichannel: neighbours mined per protein")
F.DEFINE_bool("flips", True, "random horizontal/vertical flips of real images")
F.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism (exact resume)")
F.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker"],
    "tf.distribute: default (one device), mirrored (all local GPUs / logical CPUs), multi_worker (TF_CONFIG)",
)
F.DEFINE_enum(
    "jit_compile", "auto", ["auto", "true", "false"], "XLA for the train step: auto = on with a GPU"
)
F.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bf16", "mixed_float16"],
    "bf16 = mixed_bfloat16 convs, float32 penalty",
)
FLAGS = flags.FLAGS

_PARSERS = {"image_size": parse_image_size, "proteins": parse_proteins, "percentiles": parse_percentiles}
_SKIP = {"preset"}
_FLAG_OF = {"logdir": "run_dir"}  # config field -> flag name, where they differ


def explicit_flags(flag_values=FLAGS) -> dict:
    """Config fields given on the command line (parsed), by field name."""
    out = {}
    for field in TrainConfig.__dataclass_fields__:
        name = _FLAG_OF.get(field, field)
        if field in _SKIP or name not in flag_values or not flag_values[name].present:
            continue
        value = flag_values[name].value
        out[field] = _PARSERS[field](value) if field in _PARSERS else value
    return out


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

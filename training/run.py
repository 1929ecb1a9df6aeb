"""Train a GAN on cell images: `python -m training.run --arch=star [--preset=cpu-demo] ...`.

Flags -> `TrainConfig` (training/config.py) -> data, models, loss, `GanTrainer.fit`. The run
directory (`--logdir`, default runs/<arch>-<gan>-<timestamp>) gets config.json, proteins.json,
tb/ (TensorBoard), checkpoints/, samples/step_XXXXXXX.png, generator.keras (+ generator_ema.keras),
results.json. The last stdout line is the results JSON. `--resume` continues from the newest
checkpoint of `--logdir`, exactly (data and noise are keyed by step).
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging

from training.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    load_config,
    merge_for_resume,
    parse_image_size,
    parse_proteins,
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
F.DEFINE_string("logdir", "", "run directory (default runs/<arch>-<gan>-<timestamp>)")
F.DEFINE_bool("resume", False, "continue the run in --logdir from its newest checkpoint")
F.DEFINE_bool("ema", False, "keep an exponential moving average of the generator (samples + export)")
F.DEFINE_float("ema_decay", _D.ema_decay, "EMA decay")
F.DEFINE_string("preset", "", f"settings bundle: {', '.join(sorted(PRESETS))} (flags override it)")
F.DEFINE_integer("sample_every", _D.sample_every, "sample grid period (generator iterations)")
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
F.DEFINE_integer("debug_nan_at", -1, "TEST HOOK: poison the real batch with NaN at this iteration")
F.DEFINE_float("debug_step_delay", 0.0, "TEST HOOK: sleep this many seconds per iteration")
FLAGS = flags.FLAGS

_PARSERS = {"image_size": parse_image_size, "proteins": parse_proteins}
_SKIP = {"preset"}


def explicit_flags(flag_values=FLAGS) -> dict:
    """Config fields given on the command line (parsed), by field name."""
    out = {}
    for field in TrainConfig.__dataclass_fields__:
        if field in _SKIP or field not in flag_values or not flag_values[field].present:
            continue
        value = flag_values[field].value
        out[field] = _PARSERS[field](value) if field in _PARSERS else value
    return out


def config_from_flags(flag_values=FLAGS) -> TrainConfig:
    """Resolve the config of this invocation, reading `RUN/config.json` with `--resume`."""
    explicit = explicit_flags(flag_values)
    preset = flag_values.preset
    if flag_values.resume:
        logdir = explicit.get("logdir", "")
        if not logdir:
            raise ConfigError("--resume needs --logdir=<the run directory to continue>")
        path = os.path.join(logdir, "config.json")
        if os.path.exists(path):
            saved = load_config(path)
            if preset:
                # Preset values count as requests too: they must agree with the saved run.
                explicit = {**{k: v for k, v in PRESETS[preset].items() if k not in explicit}, **explicit}
            return merge_for_resume(saved, explicit, path)
        # Nothing to resume yet (killed before config.json was written): start it fresh.
    cfg = resolve(explicit, preset)
    cfg.resume = bool(flag_values.resume)
    return cfg


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF's checkpoint saver logs at INFO on every save
    try:
        cfg = config_from_flags()
        from training.train import train  # imports TensorFlow; after the cheap flag checks

        results = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(results, sort_keys=True))
    return 0 if results.get("status") == "ok" else 1


def run_main():
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run_main()

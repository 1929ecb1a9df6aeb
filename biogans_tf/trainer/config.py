"""Training configuration: one dataclass (its fields generate the flags), resolution order and checks.

Resolution order (later wins): dataclass defaults < loss defaults (`--gan`, for the fields left
`None` here) < `--preset` (`biogans_tf.trainer.presets`) < flags given on the command line. The
resolved config is written to `RUN/config.json`; `--resume` reads it back and refuses changes to
fields that matter. Each field's `option(default, help, ...)` is also its flag of
`python -m training.run` (`biogans_tf.cli.define_flags`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os

from biogans_tf import conventions
from biogans_tf.conventions import (
    CRITIC_BANKS,
    CRITIC_NORMS,
    PALETTES,
    PAPER_PROTEINS,
    RESIZE_POLICIES,
    STRATEGIES,
)
from biogans_tf.named import UnknownNameError
from biogans_tf.options import option
from biogans_tf.registries import ARCHS, LOSSES, PENALTIES
from biogans_tf.runs.folder import CONFIG_FILE, RunFolder
from biogans_tf.trainer.errors import ConfigError
from biogans_tf.trainer.precision import PRECISIONS, resolve_precision
from biogans_tf.trainer.presets import FAMILY_PRESETS, PRESETS

# Names are checked against `biogans_tf.registries` / `conventions` (no TensorFlow); the loss
# classes and arch specs load when first needed, after the names are known to be good.

# Fields that default per loss when neither the preset nor a flag sets them: the objective's own
# (`biogans_tf.losses`; config field -> `GanLoss` field) and the reference's schedule for that loss
# (`biogans_tf.trainer.schedule.TrainingSchedule`, same names).
OBJECTIVE_FIELDS = {"clip": "clip", "gp_lambda": "gp_lambda", "penalty": "penalty_type"}
SCHEDULE_FIELDS = (
    "n_critic", "n_critic_burst", "critic_batchnorm", "optimizer", "lr_d", "lr_g", "beta1", "beta2",
)  # fmt: skip
LOSS_FIELDS = (*OBJECTIVE_FIELDS, *SCHEDULE_FIELDS)

# Fields that may change when a run is resumed (they do not alter what is being trained).
RESUMABLE_CHANGES = frozenset(
    "steps run_dir resume preset sample_every palette checkpoint_every keep_checkpoints log_every "
    "jit_compile strategy deterministic".split()
)


# Fields of older config.json files that no longer mean anything (the test hooks left the
# program; tests inject faults through the data instead): ignored when a run is resumed.
RETIRED_FIELDS = frozenset({"debug_nan_at", "debug_step_delay"})
# Fields of older config.json files under their old names (the flag names are the field names now).
RENAMED_FIELDS = {"logdir": "run_dir"}


def preset_values(preset: str, arch: str) -> dict:
    """The settings `--preset=preset` gives `--arch=arch`: `PRESETS` plus the family's overrides.

    Args:
        preset: a key of `PRESETS` or '' (no preset: empty dict).
        arch: an architecture name; an unknown one gets the preset's common settings only
            (`validate` reports it).

    Raises:
        ConfigError: unknown preset.
    """
    if preset and preset not in PRESETS:
        raise ConfigError(f"--preset={preset!r}: expected one of {sorted(PRESETS)}")
    values = dict(PRESETS.get(preset, {}))
    spec = ARCHS.get(arch)  # loads the spec (Keras) only for a registered name
    if spec is not None:
        values.update(FAMILY_PRESETS.get(preset, {}).get(spec.family, {}))
    return values


def parse_image_size(text) -> tuple[int, int]:
    """'48x80' (or '48,80', or a pair) -> (48, 80); ConfigError naming --image_size otherwise."""
    return conventions.parse_image_size(text, error=lambda field, problem: ConfigError(f"{field}: {problem}"))


def parse_percentiles(text) -> tuple[float, float] | None:
    """'0.5,99.5' -> (0.5, 99.5); 'none' -> None (own data keeps its values; see biogans_tf.data.own)."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("none", "")):
        return None
    parts = list(text) if isinstance(text, tuple | list) else str(text).split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"--percentiles={text!r}: expected LOW,HIGH (e.g. 0.5,99.5) or none") from None
    return lo, hi


def parse_proteins(text) -> tuple[str, ...] | None:
    """'Alp14,Arp3' -> ('Alp14', 'Arp3'); '' or 'all' -> None (every protein of the data)."""
    if text is None:
        return None
    if isinstance(text, tuple | list):
        items = [str(t).strip() for t in text]
    else:
        items = [t.strip() for t in str(text).split(",")]
    items = [t for t in items if t]
    if not items or items == ["all"]:
        return None
    if len(set(items)) != len(items):
        raise ConfigError(f"--proteins={text!r}: a protein is listed twice")
    return tuple(items)


_DATA_HELP = "sim, sim:<n_per_protein>, a LIN folder/zip, tfds:<name>, tiff:<folder>"
_STRATEGY_HELP = (
    "tf.distribute: default (one device), mirrored (all local GPUs / logical CPUs), multi_worker (TF_CONFIG)"
)
_PRECISION_HELP = "bf16 = bfloat16 convs, float32 weights and penalty; auto = bf16 where the CPU/GPU has it"


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (the content of `RUN/config.json`).

    `None` in a loss field means "the loss's default" until `resolve` fills it in. Each `option`
    field is a flag of `python -m training.run` with the same name (`run_dir` is `--run_dir`).
    """

    arch: str = option("star", "generator architecture", choices=ARCHS)
    gan: str = option("wgan-gp", "adversarial loss", choices=LOSSES)
    data: str = option("sim", _DATA_HELP)
    proteins: tuple[str, ...] | None = option(
        PAPER_PROTEINS, "comma-separated protein names (order = channels); 'all'", parse=parse_proteins,
        text=",".join(PAPER_PROTEINS),
    )  # fmt: skip
    image_size: tuple[int, int] = option(
        (48, 80),
        "HEIGHTxWIDTH; both sides must halve evenly down to ~4",
        parse=parse_image_size,
        text="48x80",
    )
    # Own data only (`--data own:DIR`, biogans_tf.data.own): which channel is red / green, the
    # per-image percentile stretch (None: keep the file's values), how crops reach image_size.
    channel_map: str = option("red=0,green=1", "own data: channel indices of red (reference) and green")
    percentiles: tuple[float, float] | None = option(
        (0.5, 99.5),
        "own data: LOW,HIGH percentiles stretched to 0..255; none = keep",
        parse=parse_percentiles,
        text="0.5,99.5",
    )
    resize_policy: str = option("pad_or_crop", "own data: how crops fit", choices=RESIZE_POLICIES)
    batch_size: int = option(64, "images per critic step (per protein for star/independent)")
    steps: int = option(50000, "generator iterations (the reference's netG_iter)")
    nz: int = option(100, "latent size")
    ngf: int = option(64, "generator base width")
    ndf: int = option(64, "critic base width")
    red_portion: float = option(0.5, "red share of separable/star layers")
    critic_batchnorm: bool | None = option(
        None, "BatchNorm in the critic (default: per loss; off for wgan-gp)"
    )
    critic_norm: str = option("none", "critic weights", choices=CRITIC_NORMS)
    critic_bank: str = option("loop", "how star/independent critics run", choices=CRITIC_BANKS)
    optimizer: str | None = option(
        None, "default: per loss (adam; rmsprop for wgan)", choices=("adam", "rmsprop")
    )
    lr_d: float | None = option(None, "critic learning rate (default: per loss)")
    lr_g: float | None = option(None, "generator learning rate (default: per loss)")
    beta1: float | None = option(None, "Adam beta1 (default: per loss)")
    beta2: float | None = option(None, "Adam beta2 (default: per loss)")
    n_critic: int | None = option(None, "critic steps per generator step (default: per loss)")
    n_critic_burst: int | None = option(
        None, "WGAN: critic steps in the first 25 and every 500th iteration; 0=off"
    )
    gp_lambda: float | None = option(None, "gradient-penalty weight (default: 10 for wgan-gp)")
    penalty: str | None = option(
        None, "critic penalty, weight --gp_lambda (default: per loss; gp for wgan-gp)", choices=PENALTIES
    )
    clip: float | None = option(None, "critic weight clipping bound (default: 0.01 for wgan)")
    seed: int = option(0, "seed of init, noise and data order")
    run_dir: str = option("", "run directory (default runs/<arch>-<gan>-<timestamp>)")
    resume: bool = option(False, "continue the run in --run_dir from its newest checkpoint")
    ema: bool = option(False, "keep an exponential moving average of the generator (samples + export)")
    ema_decay: float = option(0.999, "EMA decay")
    preset: str = option("", f"settings bundle: {', '.join(sorted(PRESETS))} (flags override it)")
    sample_every: int = option(500, "sample grid period (generator iterations)")
    palette: str = option("red-green", "colours of the sample grids", choices=PALETTES)
    checkpoint_every: int = option(1000, "checkpoint period (generator iterations)")
    keep_checkpoints: int = option(3, "checkpoints kept")
    log_every: int = option(50, "progress line / TensorBoard scalar period")
    neighbours_k: int = option(5, "multichannel: neighbours mined per protein")
    flips: bool = option(True, "random horizontal/vertical flips of real images")
    deterministic: bool = option(False, "tf.config.experimental.enable_op_determinism (exact resume)")
    strategy: str = option("default", _STRATEGY_HELP, choices=STRATEGIES)
    jit_compile: str = option(
        "auto", "XLA for the train step: auto = on with a GPU", choices=("auto", "true", "false")
    )
    precision: str = option("float32", _PRECISION_HELP, choices=PRECISIONS)

    @property
    def folder(self) -> RunFolder:
        """The run folder's paths (`biogans_tf.runs.folder`)."""
        return RunFolder(self.run_dir)

    def to_json(self) -> dict:
        """JSON-ready dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["proteins"] = list(self.proteins) if self.proteins is not None else None
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_json(cls, d: dict, path: str = CONFIG_FILE) -> TrainConfig:
        """Inverse of `to_json`; unknown keys are an error naming `path`."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {RENAMED_FIELDS.get(k, k): v for k, v in d.items() if k not in RETIRED_FIELDS}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}")
        d = dict(d)
        if d.get("proteins") is not None:
            d["proteins"] = tuple(d["proteins"])
        d["image_size"] = tuple(d.get("image_size", (48, 80)))
        if d.get("percentiles") is not None:
            d["percentiles"] = tuple(d["percentiles"])  # JSON list -> the tuple a flag gives
        return cls(**d)

    def loss(self):
        """The `GanLoss` (objective) with this config's (resolved) settings."""
        from biogans_tf.losses.registry import get_loss

        return get_loss(self.gan, **{field: getattr(self, k) for k, field in OBJECTIVE_FIELDS.items()})

    def schedule(self):
        """The `TrainingSchedule` (critic steps, optimiser, critic BatchNorm) of this config."""
        from biogans_tf.trainer.schedule import reference_schedule

        return reference_schedule(self.gan, **{k: getattr(self, k) for k in SCHEDULE_FIELDS})


def resolve(explicit: dict, preset: str = "") -> TrainConfig:
    """Build the config: defaults < loss defaults < preset < explicit flags.

    Args:
        explicit: flags given on the command line (field name -> value, already parsed).
        preset: a key of `PRESETS` or ''.
    """
    arch = explicit.get("arch", PRESETS.get(preset, {}).get("arch", TrainConfig.arch))
    check_names(explicit)  # a bad name fails here, before any model code loads
    values = preset_values(preset, arch)
    values.update(explicit)
    values["preset"] = preset
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown settings {unknown}")
    cfg = TrainConfig(**values)  # its names: the explicit ones checked above, a preset's are known
    from biogans_tf.trainer.schedule import REFERENCE_SCHEDULES  # TensorFlow: after the name checks

    objective, schedule = LOSSES[cfg.gan](), REFERENCE_SCHEDULES[cfg.gan]
    for k, field in OBJECTIVE_FIELDS.items():
        if getattr(cfg, k) is None:
            setattr(cfg, k, getattr(objective, field))
    for k in SCHEDULE_FIELDS:
        if getattr(cfg, k) is None:
            setattr(cfg, k, getattr(schedule, k))
    if not cfg.run_dir:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        cfg.run_dir = os.path.join("runs", f"{cfg.arch}-{cfg.gan}-{stamp}")
    validate(cfg)
    return cfg


def _positive(cfg, name, minimum=1):
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"--{name}={v!r}: expected an integer >= {minimum}")


def validate(cfg: TrainConfig) -> None:
    """Checks that need no data: names, ranges, and image-size/width compatibility.

    Raises:
        ConfigError: naming the flag and what was expected.
    """
    from biogans_tf.models.tower import check_image_size, tower_plan

    for field in dataclasses.fields(cfg):  # NaN slips through every range check below; inf some
        value = getattr(cfg, field.name)
        numbers = value if isinstance(value, tuple | list) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ConfigError(f"--{field.name}={value!r}: expected finite numbers")
    check_names(cfg)
    for name in ("batch_size", "steps", "nz", "ngf", "ndf", "sample_every", "checkpoint_every"):
        _positive(cfg, name)
    for name in ("keep_checkpoints", "log_every", "neighbours_k"):
        _positive(cfg, name)
    _positive(cfg, "seed", 0)
    if cfg.proteins is not None and len(cfg.proteins) < 1:
        raise ConfigError("--proteins: expected at least one protein name")
    if ARCHS[cfg.arch].family != "joint" and cfg.proteins is not None and len(cfg.proteins) < 2:
        raise ConfigError(
            f"--arch={cfg.arch} models several proteins jointly; --proteins={','.join(cfg.proteins)} "
            "lists fewer than 2 (use --arch=dcgan or dcgan-sep for one protein)"
        )
    try:
        size = check_image_size(cfg.image_size)
        tower_plan(size, cfg.ngf)
        tower_plan(size, cfg.ndf)
    except ValueError as e:
        raise ConfigError(
            f"--image_size={cfg.image_size[0]}x{cfg.image_size[1]} with --ngf={cfg.ngf}/--ndf={cfg.ndf}: {e}"
        ) from None
    if ARCHS[cfg.arch].separable and not 0.0 < cfg.red_portion < 1.0:
        raise ConfigError(f"--red_portion={cfg.red_portion}: expected a value in (0, 1)")
    if ARCHS[cfg.arch].separable and cfg.nz < 2:
        raise ConfigError(f"--nz={cfg.nz}: separable and star models need nz >= 2 (red and green halves)")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ConfigError(f"--ema_decay={cfg.ema_decay}: expected a value in [0, 1)")
    if cfg.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy={cfg.strategy!r}: expected one of {list(STRATEGIES)}")
    if cfg.critic_bank == "grouped" and cfg.critic_norm != "none":
        raise ConfigError(
            "--critic_bank=grouped needs --critic_norm=none (spectral norm needs each critic's own kernels)"
        )
    _validate_own_data(cfg)
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"--precision={cfg.precision!r}: expected one of {list(PRECISIONS)}")
    if str(cfg.jit_compile).lower() not in ("auto", "true", "false"):
        raise ConfigError(f"--jit_compile={cfg.jit_compile!r}: expected auto, true or false")
    for name in ("lr_d", "lr_g"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"--{name}={getattr(cfg, name)}: expected a positive learning rate")
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            raise ConfigError(f"--{name}={getattr(cfg, name)}: expected a value in [0, 1)")
    try:
        cfg.loss()
        cfg.schedule()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if cfg.penalty not in (None, "none") and not cfg.gp_lambda:
        raise ConfigError(f"--penalty={cfg.penalty} needs its weight: --gp_lambda > 0 (got {cfg.gp_lambda})")


# Fields whose value must be a registered name (`biogans_tf.registries`, `biogans_tf.conventions`).
NAMED_FIELDS = {
    "arch": ARCHS, "gan": LOSSES, "penalty": PENALTIES, "critic_norm": CRITIC_NORMS,
    "critic_bank": CRITIC_BANKS, "palette": PALETTES, "resize_policy": RESIZE_POLICIES,
}  # fmt: skip


def check_names(values) -> None:
    """Refuse a field of `values` (a `TrainConfig` or a dict) that is not a registered name.

    Reads only the name tables, so a bad `--arch` fails before Keras or TensorFlow is imported.

    Raises:
        ConfigError: `--field='value': expected one of ...`.
    """
    get = values.get if isinstance(values, dict) else lambda k, d=None: getattr(values, k, d)
    for field, table in NAMED_FIELDS.items():
        value = get(field)
        if value is None:
            continue
        try:
            table.check(value, field)
        except UnknownNameError as e:
            raise ConfigError(str(e)) from None


def _validate_own_data(cfg: TrainConfig) -> None:
    from biogans_tf.data.errors import DataError
    from biogans_tf.data.own import parse_channel_map

    if cfg.percentiles is not None and not 0.0 <= cfg.percentiles[0] < cfg.percentiles[1] <= 100.0:
        raise ConfigError(f"--percentiles={cfg.percentiles}: expected 0 <= LOW < HIGH <= 100")
    try:
        parse_channel_map(cfg.channel_map)
    except DataError as e:
        raise ConfigError(f"--{e}") from None


def merge_for_resume(saved: TrainConfig, explicit: dict, path: str) -> TrainConfig:
    """The saved config with the flags that may change on resume applied.

    Raises:
        ConfigError: an explicit flag differs from the saved run in a field that matters.
    """
    merged = dataclasses.replace(saved)
    for k, v in explicit.items():
        # config.json holds what `auto` chose when the run started: compare with what it picks here.
        wanted = resolve_precision(v)[0] if k == "precision" else v
        if k == "critic_bank" and v == "auto":
            continue  # auto takes the saved bank; the process setup checks that it can train here
        if k in RESUMABLE_CHANGES:
            setattr(merged, k, v)
        elif getattr(saved, k) != wanted:
            raise ConfigError(
                f"--{k}={v!r} differs from the run being resumed ({path}: {k}={getattr(saved, k)!r}); "
                f"resuming needs the same value (drop the flag or start a new --run_dir)"
            )
    merged.resume = True
    validate(merged)
    return merged


def load_config(path: str) -> TrainConfig:
    """Read a `config.json` written by `TrainConfig.to_json`."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the run's config ({e})") from None
    return TrainConfig.from_json(d, path)

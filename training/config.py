"""Training configuration: one dataclass, presets as data, resolution order and checks.

Resolution order (later wins): dataclass defaults < loss defaults (`--gan`, for the fields left
`None` here) < `--preset` < flags given on the command line. The resolved config is written to
`RUN/config.json`; `--resume` reads it back and refuses changes to fields that matter.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os

# The registries (biogans_tf.models / losses) import Keras and TensorFlow: the functions below import
# them when called, so `biogans-train --help` and flag parsing stay fast.

PAPER_PROTEINS = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")
PRECISIONS = ("float32", "bf16", "mixed_float16")
STRATEGIES = ("default", "mirrored", "multi_worker")  # = biogans_tf.trainer.distribute.STRATEGIES

# Fields taken from the loss (`biogans_tf.losses`) when neither the preset nor a flag sets them.
LOSS_FIELDS = (
    "n_critic",
    "n_critic_burst",
    "clip",
    "gp_lambda",
    "critic_batchnorm",
    "optimizer",
    "lr_d",
    "lr_g",
    "beta1",
    "beta2",
)

# Fields that may change when a run is resumed (they do not alter what is being trained).
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "logdir",
        "resume",
        "preset",
        "sample_every",
        "palette",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "jit_compile",
        "strategy",
        "deterministic",
        "debug_nan_at",
        "debug_step_delay",
    }
)

PRESETS: dict[str, dict] = {
    # The reference's settings (Osokin et al. 2017, aosokin/biogans experiment scripts).
    "paper": dict(image_size=(48, 80), batch_size=64, nz=100, ngf=64, ndf=64, red_portion=0.5, steps=50000),
    # A reduced model that shows recognisable cells in ~15 minutes on 2 CPU cores. The critic bank
    # (6 critics with a double-backward penalty) is what costs time, so the critic stays narrow
    # (ndf=16) while the generator gets the width the six protein patterns need (ngf=32 costs
    # about the same per step as 16). Three critic steps per generator step instead of five buy
    # more generator updates per second; the EMA generator (decay 0.99, short enough for 1500
    # iterations) gives visibly cleaner samples early. 1000 simulated cells per protein (~4 s to
    # render) keep the critic from memorising the training set.
    "cpu-demo": dict(
        data="sim:1000",
        image_size=(48, 80),
        batch_size=16,
        ngf=32,
        ndf=16,
        n_critic=3,
        lr_d=2e-4,
        lr_g=2e-4,
        ema=True,
        ema_decay=0.99,
        steps=1500,
        sample_every=100,
        checkpoint_every=250,
        log_every=25,
    ),
}


# Per-family settings a preset adds for an architecture family (`biogans_tf.models.registry`), on
# top of `PRESETS`. The reference's multichannel run scripts
# (experiments/models_6class_conditional/train_size-48-80_6class_wgangp-multichannel[-sep]-adam.sh)
# train a wider model with a larger latent and a 1/7 red share: one red channel of seven.
FAMILY_PRESETS: dict[str, dict[str, dict]] = {
    "paper": {"multichannel": dict(nz=350, ngf=224, ndf=224, red_portion=0.143)},
}


class ConfigError(ValueError):
    """An invalid or incompatible flag; the message names the flag and what was expected."""


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
    from biogans_tf.models.registry import ARCHS

    values = dict(PRESETS.get(preset, {}))
    spec = ARCHS.get(arch)
    if spec is not None:
        values.update(FAMILY_PRESETS.get(preset, {}).get(spec.family, {}))
    return values


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (the content of `RUN/config.json`).

    `None` in a loss field means "the loss's default" until `resolve` fills it in.
    """

    arch: str = "star"
    gan: str = "wgan-gp"
    data: str = "sim"
    proteins: tuple[str, ...] | None = PAPER_PROTEINS
    image_size: tuple[int, int] = (48, 80)
    # Own data only (`--data own:DIR`, biogans_tf.data.own): which channel is red / green, the
    # per-image percentile stretch (None: keep the file's values), how crops reach image_size.
    channel_map: str = "red=0,green=1"
    percentiles: tuple[float, float] | None = (0.5, 99.5)
    resize_policy: str = "pad_or_crop"
    batch_size: int = 64
    steps: int = 50000
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    red_portion: float = 0.5
    critic_batchnorm: bool | None = None
    optimizer: str | None = None
    lr_d: float | None = None
    lr_g: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    n_critic: int | None = None
    n_critic_burst: int | None = None
    gp_lambda: float | None = None
    clip: float | None = None
    seed: int = 0
    logdir: str = ""
    resume: bool = False
    ema: bool = False
    ema_decay: float = 0.999
    preset: str = ""
    sample_every: int = 500
    palette: str = "red-green"  # how sample grids show the channels (biogans_tf.viz.PALETTES)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    neighbours_k: int = 5
    flips: bool = True
    deterministic: bool = False
    strategy: str = "default"
    jit_compile: str = "auto"
    precision: str = "float32"
    debug_nan_at: int = -1
    debug_step_delay: float = 0.0

    def to_json(self) -> dict:
        """JSON-ready dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["proteins"] = list(self.proteins) if self.proteins is not None else None
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_json(cls, d: dict, path: str = "config.json") -> TrainConfig:
        """Inverse of `to_json`; unknown keys are an error naming `path`."""
        names = {f.name for f in dataclasses.fields(cls)}
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
        """The `GanLoss` with this config's (resolved) settings."""
        from biogans_tf.losses.registry import get_loss

        return get_loss(self.gan, **{k: getattr(self, k) for k in LOSS_FIELDS})


def parse_image_size(text) -> tuple[int, int]:
    """'48x80' (or '48,80', or a pair) -> (48, 80)."""
    if isinstance(text, tuple | list):
        parts = list(text)
    else:
        parts = str(text).lower().replace(",", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"--image_size={text!r}: expected HEIGHTxWIDTH, e.g. 48x80") from None
    return h, w


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


def resolve(explicit: dict, preset: str = "") -> TrainConfig:
    """Build the config: defaults < loss defaults < preset < explicit flags.

    Args:
        explicit: flags given on the command line (field name -> value, already parsed).
        preset: a key of `PRESETS` or ''.
    """
    arch = explicit.get("arch", PRESETS.get(preset, {}).get("arch", TrainConfig.arch))
    values = preset_values(preset, arch)
    values.update(explicit)
    values["preset"] = preset
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown settings {unknown}")
    cfg = TrainConfig(**values)
    from biogans_tf.losses.registry import LOSSES

    if cfg.gan not in LOSSES:
        raise ConfigError(f"--gan={cfg.gan!r}: expected one of {sorted(LOSSES)}")
    defaults = LOSSES[cfg.gan]()
    for k in LOSS_FIELDS:
        if getattr(cfg, k) is None:
            setattr(cfg, k, getattr(defaults, k))
    if not cfg.logdir:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        cfg.logdir = os.path.join("runs", f"{cfg.arch}-{cfg.gan}-{stamp}")
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
    from biogans_tf.losses.registry import LOSSES
    from biogans_tf.models.geometry import check_image_size, tower_plan
    from biogans_tf.models.registry import ARCHS
    from biogans_tf.viz import PALETTES

    if cfg.arch not in ARCHS:
        raise ConfigError(f"--arch={cfg.arch!r}: expected one of {sorted(ARCHS)}")
    if cfg.gan not in LOSSES:
        raise ConfigError(f"--gan={cfg.gan!r}: expected one of {sorted(LOSSES)}")
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
    _validate_own_data(cfg)
    if cfg.palette not in PALETTES:
        raise ConfigError(f"--palette={cfg.palette!r}: expected one of {', '.join(PALETTES)}")
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
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _validate_own_data(cfg: TrainConfig) -> None:
    from biogans_tf.data.errors import DataError
    from biogans_tf.data.own import RESIZE_POLICIES, parse_channel_map

    if cfg.resize_policy not in RESIZE_POLICIES:
        allowed = ", ".join(RESIZE_POLICIES)
        raise ConfigError(f"--resize_policy={cfg.resize_policy!r}: expected one of {allowed}")
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
        if k in RESUMABLE_CHANGES:
            setattr(merged, k, v)
        elif getattr(saved, k) != v:
            raise ConfigError(
                f"--{k}={v!r} differs from the run being resumed ({path}: {k}={getattr(saved, k)!r}); "
                f"resuming needs the same value (drop the flag or start a new --logdir)"
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

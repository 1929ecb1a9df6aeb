"""The one generator loader: `load_generator(path)`, a trained generator with its settings.

`path` is a run folder (`biogans_tf.runs`) or a `.keras` file. The settings (`arch`, `proteins`,
`nz`, `image_size`, ...) come from, highest first: the caller's overrides; the `biogans.json` entry
inside the file (it describes exactly that generator); a settings file (the run's config, a
`config.json` beside a bare file, or `FILE.json`); the model itself (`registry.arch_of`, its
config or input shape). Evaluation, sampling, export, the explorer and `biogans_tf.load_generator`
all load through it.

Evaluation looks at generator outputs through two views:
- `pair_fn(i)`: `z [B, nz] -> [B, H, W, 2]`, the red with protein i's green (what a LIN image of
  protein i looks like), for every layout;
- `joint_fn()`: `z -> [B, H, W, 1+C]`, all greens of one cell ("multichannel" layout only).
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.conventions import DEFAULT_IMAGE_SIZE, SIM_PROTEINS, parse_image_size, to_uint8
from biogans_tf.data.errors import DataError
from biogans_tf.models.registry import arch_of, build_generator, get_arch
from biogans_tf.runs.folder import CONFIG_FILE, METADATA_KEYS, RunFolder, read_json, read_metadata
from biogans_tf.trainer.checkpoint import (
    CheckpointError,
    CorruptCheckpointError,
    list_checkpoints,
    restore_generator,
)


@dataclasses.dataclass
class GeneratorRun:
    """A loaded generator and its settings.

    Attributes:
        model: the Keras generator; `model(z, training=False)`.
        arch: registry name (`biogans_tf.models.ARCHS`).
        family: "joint", "multichannel" or "conditional".
        proteins: protein names in the generator's green-channel order.
        nz: latent size.
        image_size: `(height, width)`.
        separable: whether `z[:, :nz//2]` alone draws the red.
        config: the run's config dict (may be empty).
        path: the generator file (or checkpoint prefix).
        guessed: the settings that no file recorded and were inferred (e.g. `("proteins",)`).
    """

    model: keras.Model
    arch: str
    family: str
    proteins: tuple[str, ...]
    nz: int
    image_size: tuple[int, int]
    separable: bool
    config: dict
    path: str
    guessed: tuple[str, ...] = ()

    @property
    def n_proteins(self) -> int:
        return len(self.proteins)

    @property
    def layout(self) -> str:
        """The generator output layout (`spec.LAYOUTS`): two_channel, multichannel or per_protein."""
        return get_arch(self.arch).layout

    @property
    def has_joint_output(self) -> bool:
        """True when one z gives all greens of one cell (`[B, H, W, 1+C]`)."""
        return self.layout == "multichannel"

    def latents(self, n: int, seed: int, purpose: int = 0) -> np.ndarray:
        """float32 `[n, nz]` N(0, I) draws from `SeedSequence([seed, purpose])`."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(purpose)]))
        return rng.standard_normal((int(n), self.nz)).astype(np.float32)

    @property
    def has_protein_path(self) -> bool:
        """True when the model can draw one protein without the others (`generate_protein`)."""
        return self.family == "conditional" and hasattr(self.model, "generate_protein")

    def pair(self, z, protein_index):
        """`[B, H, W, 2]` red + green of protein `protein_index`.

        With a Python int and a model that has `generate_protein` (star, independent), only the red
        tower and that protein's tower run (several times cheaper than the full output); with an
        int32 scalar tensor, the full output is drawn and the pair gathered.
        """
        if isinstance(protein_index, int) and self.has_protein_path:
            return self.model.generate_protein(z, protein_index, training=False)
        out = self.model(z, training=False)
        if self.layout == "two_channel":
            return out
        if self.layout == "per_protein":  # [B, C, H, W, 2]
            return tf.gather(out, protein_index, axis=1)
        return tf.gather(out, tf.stack([0, 1 + tf.convert_to_tensor(protein_index, tf.int32)]), axis=-1)

    def pair_fn(self, protein_index: int):
        """Callable `z float32 [B, nz] -> [B, H, W, 2]`: red + green of protein `protein_index`."""
        i = int(protein_index)
        if not 0 <= i < max(1, self.n_proteins):
            raise ValueError(f"protein index {i} out of range for proteins {self.proteins}")
        return lambda z: self.pair(z, i)

    def joint_fn(self):
        """Callable `z -> [B, H, W, 1+C]` (architectures with the multichannel layout only)."""
        if not self.has_joint_output:
            raise ValueError(f"arch {self.arch!r} has no multichannel output; use star or multichannel")
        model = self.model
        return lambda z: model(z, training=False)

    def generate(self, fn, z: np.ndarray, batch: int = 128) -> np.ndarray:
        """Run `fn` on `z` in batches; uint8 images (the stored-image convention)."""
        call = tf.function(fn, autograph=False, reduce_retracing=True)
        parts = [to_uint8(call(tf.constant(z[s : s + batch])).numpy()) for s in range(0, len(z), batch)]
        return np.concatenate(parts, axis=0)


def _parse_proteins(value, where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise DataError(where, f"proteins must be a list of names, got {value!r}")
    return tuple(value)


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise DataError(path, "generator file not found (expected a .keras file saved by training.run)")


def _load_keras(path: str) -> keras.Model:
    """The Keras model of a `.keras` file (the project's classes registered)."""
    import biogans_tf.models  # noqa: F401  (registers the generator classes for deserialisation)

    _check_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad file)
        raise DataError(path, f"could not load the generator: {e}") from None


def _file_settings(path: str, settings_file: str | None) -> tuple[dict, str]:
    """Settings of a bare `.keras` file from its settings file; `(settings, the file they came from)`."""
    candidates = [settings_file] if settings_file else [
        os.path.join(os.path.dirname(os.path.abspath(path)), CONFIG_FILE),
        os.path.splitext(path)[0] + ".json",
    ]  # fmt: skip
    for candidate in candidates:
        if settings_file or os.path.isfile(candidate):
            return read_json(candidate), candidate
    return {}, candidates[0]


def _with_embedded(settings: dict, keras_file: str) -> dict:
    """`settings` with the file's own metadata on top (it describes exactly that generator)."""
    try:
        embedded = read_metadata(keras_file)
    except ValueError as e:
        raise DataError(keras_file, str(e).split(": ", 1)[-1]) from None
    return {**settings, **{k: embedded[k] for k in METADATA_KEYS if k in embedded}}


def _checkpoint_prefix(run: RunFolder, checkpoint: str) -> str:
    """The path `restore_generator` takes for `checkpoint="latest"` or a prefix."""
    if checkpoint != "latest":
        if not tf.io.gfile.glob(checkpoint + ".index"):
            raise DataError(
                f"--checkpoint {checkpoint}", f"no checkpoint with that prefix (no {checkpoint}.index)"
            )
        return checkpoint
    # The folder itself: restore_generator lists its ckpt-<N> files, newest first, and falls back
    # from a corrupt one (naming it on stderr); the `checkpoint` state file may be lost.
    try:
        if not list_checkpoints(run.checkpoints):
            raise DataError(run.checkpoints, "no checkpoint found (--checkpoint latest)")
    except CheckpointError as e:
        raise DataError("--checkpoint latest", str(e)) from None
    return run.checkpoints


def _restore(run: RunFolder, config: dict, checkpoint: str, ema: bool):
    """Rebuild the run's generator from its config and load a training checkpoint's weights."""
    for key in ("arch", "nz"):
        if key not in config:
            raise DataError(run.config, f"missing field {key!r}")
    prefix = _checkpoint_prefix(run, checkpoint)
    generator = build_generator(
        config["arch"],
        image_size=parse_image_size(config.get("image_size", DEFAULT_IMAGE_SIZE), run.config, DataError),
        n_proteins=len(config.get("proteins", ())) or 1,
        nz=int(config["nz"]),
        ngf=int(config.get("ngf", 64)),
        red_portion=float(config.get("red_portion", 0.5)),
        seed=int(config.get("seed", 0)),
    )
    generator(tf.zeros([1, int(config["nz"])]), training=False)  # create the variables before restoring
    name = "generator_ema" if ema else "generator"
    try:
        restore_generator(generator, prefix, ema=ema)
    except CorruptCheckpointError as e:
        raise DataError(f"--checkpoint {checkpoint}", str(e)) from None
    except CheckpointError as e:
        raise DataError(prefix, f"checkpoint does not match the {name!r} model ({e})") from None
    return generator, prefix


def model_nz(model) -> int | None:
    """nz from the model's config (the project's models) or its functional input shape."""
    try:
        nz = model.get_config().get("nz")
    except (NotImplementedError, AttributeError):
        nz = None
    if nz is None:
        try:
            nz = model.input_shape[-1]
        except (AttributeError, ValueError):
            nz = None
    return int(nz) if nz else None


def _settings(model, config: dict, where: str):
    """`(spec, nz, image_size, proteins, guessed)` from the config, falling back on the model."""
    try:
        mcfg = model.get_config()
    except NotImplementedError:
        mcfg = {}
    guessed = []
    arch = config.get("arch")
    if not arch:
        try:
            arch = arch_of(model)
        except ValueError:
            raise DataError(
                type(model).__name__, "cannot tell the architecture; give arch (--arch) or a settings file"
            ) from None
        guessed.append("arch")
    try:
        spec = get_arch(arch)
    except ValueError as e:  # an unknown name: one line with the choices
        raise DataError(where, str(e)) from None
    nz = config.get("nz") or model_nz(model)
    if not nz:
        raise DataError(where, "cannot tell the latent size nz from the generator; give nz (--nz)")
    size = parse_image_size(
        config.get("image_size", mcfg.get("image_size", DEFAULT_IMAGE_SIZE)), where, DataError
    )
    names = config.get("proteins")
    if names is None:
        names = SIM_PROTEINS[: int(mcfg.get("n_proteins", 1))]
        guessed.append("proteins")
    names = _parse_proteins(names, where + ":proteins")
    if spec.family != "joint":
        expected = int(mcfg.get("n_proteins", mcfg.get("n_channels", 1 + len(names)) - 1))
        if len(names) != expected:
            raise DataError(where, f"{len(names)} proteins {names} but the generator draws {expected} greens")
    return spec, int(nz), size, names, tuple(guessed)


def load_generator(
    path: str,
    *,
    generator: str | None = None,
    checkpoint: str = "final",
    ema: bool = False,
    settings_file: str | None = None,
    **overrides,
) -> GeneratorRun:
    """Load a trained generator with its settings (the project's one generator loader).

    Example:
        >>> g = biogans_tf.load_generator("runs/my-run")          # or "G.keras"
        >>> images = g.model(g.latents(16, seed=0), training=False)  # [16, H, W, 1+C] for star
        >>> g.arch, g.proteins, g.nz, g.image_size

    Args:
        path: a run folder or a `.keras` file ("" or None with `generator`).
        generator: a `.keras` file that replaces the run folder's generator (its settings still
            come from the file's metadata first, then the run folder).
        checkpoint: "final" (the `.keras` file), "latest" (the newest intact checkpoint in
            `RUN/checkpoints`) or a checkpoint prefix (both need a run folder).
        ema: in a run folder, the EMA generator (`generator_ema.keras` / checkpoint key).
        settings_file: a JSON file of settings for a bare `.keras` file (default: a `config.json`
            beside it, else `FILE.json`, if present).
        **overrides: settings that win over every file: `arch`, `proteins` (list or comma string),
            `nz`, `image_size`; None values are ignored.

    Returns:
        A `GeneratorRun`: `.model`, `.arch`, `.family`, `.layout`, `.proteins` (green-channel
        order), `.nz`, `.image_size` `(height, width)`, `.path`, `.config`, `.guessed`.

    Raises:
        DataError: naming the missing file, checkpoint or bad field.
    """
    unknown = sorted(set(overrides) - {"arch", "proteins", "nz", "image_size"})
    if unknown:
        raise TypeError(f"load_generator: unknown settings {unknown}")
    if not path and not generator:
        raise DataError("--run_dir/--generator", "give a run directory or a generator .keras file")
    run = RunFolder(path) if path and os.path.isdir(path) else None
    keras_file = generator or (None if run else path)
    if run is not None:
        settings, where = run.settings(), run.config
    elif checkpoint != "final":
        raise DataError(f"--checkpoint {checkpoint}", "a checkpoint needs a run directory (--run_dir)")
    else:
        settings, where = _file_settings(keras_file, settings_file)
    if checkpoint == "final":
        keras_file = keras_file or run.generator(ema)
        _check_file(keras_file)
        settings = _with_embedded(settings, keras_file)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if checkpoint == "final":
        model, loaded = _load_keras(keras_file), keras_file
    else:
        model, loaded = _restore(run, settings, checkpoint, ema)
    spec, nz, size, names, guessed = _settings(model, settings, where)
    return GeneratorRun(
        model=model,
        arch=spec.name,
        family=spec.family,
        proteins=names,
        nz=nz,
        image_size=size,
        separable=spec.separable,
        config=settings,
        path=loaded,
        guessed=guessed,
    )

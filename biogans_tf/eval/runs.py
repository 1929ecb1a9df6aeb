"""The one run loader: a trained generator with what the rest of the code needs to know about it.

A run directory (see docs/DESIGN.md) holds `generator.keras` (+ `generator_ema.keras`),
`checkpoints/` and `config.json` (every training flag: `arch`, `proteins`, `image_size`, `nz`, ...).
A bare `.keras` file also works: its settings then come from the `biogans.json` entry inside it
(`biogans_tf.loader`), a `config.json` beside it, or the model itself (`registry.arch_of`).
`load_run` serves evaluation, sampling, export and `biogans_tf.load_generator` alike.

Evaluation looks at generator outputs through two views:
- `pair_fn(i)`: `z [B, nz] -> [B, H, W, 2]`, the red with protein i's green (what a LIN image of
  protein i looks like), for every layout;
- `joint_fn()`: `z -> [B, H, W, 1+C]`, all greens of one cell ("multichannel" layout only).
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.conventions import DEFAULT_IMAGE_SIZE, SIM_PROTEINS, parse_image_size, to_uint8
from biogans_tf.data.errors import DataError
from biogans_tf.loader import METADATA_KEYS, read_metadata


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

    @property
    def n_proteins(self) -> int:
        return len(self.proteins)

    @property
    def layout(self) -> str:
        """The generator output layout (`registry.LAYOUTS`): two_channel, multichannel or per_protein."""
        from biogans_tf.models.registry import get_arch

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


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, f"not valid JSON ({e})") from None


def _run_config(config_dir: str, run_dir: str | None, keras_file: str | None) -> dict:
    """The settings of a generator, as a dict with the keys of a run's `config.json`.

    `config_dir/config.json` (if any); a run directory's `proteins.json` when it names no proteins;
    the `.keras` file's own metadata on top (it describes exactly that generator, so it wins).
    """
    config_path = os.path.join(config_dir, "config.json")
    config = _read_json(config_path) if os.path.isfile(config_path) else {}
    proteins_path = os.path.join(run_dir or "", "proteins.json")
    if run_dir and "proteins" not in config and os.path.isfile(proteins_path):
        config["proteins"] = _read_json(proteins_path)
    if keras_file is not None:
        try:
            embedded = read_metadata(keras_file)
        except ValueError as e:
            raise DataError(keras_file, str(e).split(": ", 1)[-1]) from None
        config = {**config, **{k: embedded[k] for k in METADATA_KEYS if k in embedded}}
    return config


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise DataError(path, "generator file not found (expected a .keras file saved by training.run)")


def load_keras(path: str) -> keras.Model:
    """Load a `.keras` generator file (the project's classes registered), without its settings.

    Raises:
        DataError: the file is missing or Keras cannot load it.
    """
    import biogans_tf.models  # noqa: F401  (registers the generator classes for deserialisation)

    _check_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad file)
        raise DataError(path, f"could not load the generator: {e}") from None


def _checkpoint_prefix(run_dir: str, checkpoint: str) -> str:
    """The path `restore_generator` takes for `--checkpoint latest|PREFIX`."""
    from biogans_tf.trainer.checkpoint import CheckpointError, list_checkpoints

    if checkpoint != "latest":
        if not tf.io.gfile.glob(checkpoint + ".index"):
            raise DataError(
                f"--checkpoint {checkpoint}", f"no checkpoint with that prefix (no {checkpoint}.index)"
            )
        return checkpoint
    # The folder itself: restore_generator lists its ckpt-<N> files, newest first, and falls back
    # from a corrupt one (naming it on stderr); the `checkpoint` state file may be lost.
    prefix = os.path.join(run_dir, "checkpoints")
    try:
        if not list_checkpoints(prefix):
            raise DataError(prefix, "no checkpoint found (--checkpoint latest)")
    except CheckpointError as e:
        raise DataError("--checkpoint latest", str(e)) from None
    return prefix


def _restore(run_dir: str, config: dict, checkpoint: str, ema: bool):
    """Rebuild the run's generator from its config and load a training checkpoint's weights."""
    from biogans_tf.models.registry import build_generator
    from biogans_tf.trainer.checkpoint import CheckpointError, CorruptCheckpointError, restore_generator

    config_path = os.path.join(run_dir, "config.json")
    for key in ("arch", "nz"):
        if key not in config:
            raise DataError(config_path, f"missing field {key!r}")
    prefix = _checkpoint_prefix(run_dir, checkpoint)
    generator = build_generator(
        config["arch"],
        image_size=parse_image_size(config.get("image_size", DEFAULT_IMAGE_SIZE), config_path, DataError),
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


def _settings(model, config: dict, config_path: str, proteins):
    """`(arch, nz, image_size, proteins)` from the config, falling back on the model."""
    from biogans_tf.models.registry import arch_of, get_arch

    mcfg = model.get_config()
    arch = config.get("arch")
    if not arch:
        try:
            arch = arch_of(model)
        except ValueError:
            raise DataError(
                type(model).__name__,
                "cannot tell the architecture; put a config.json with 'arch' beside the generator",
            ) from None
    nz = int(config.get("nz", mcfg.get("nz", 100)))
    stored_size = config.get("image_size", mcfg.get("image_size", DEFAULT_IMAGE_SIZE))
    size = parse_image_size(stored_size, config_path, DataError)
    names = proteins if proteins is not None else config.get("proteins")
    if names is None:
        names = SIM_PROTEINS[: int(mcfg.get("n_proteins", 1))]
    names = _parse_proteins(names, config_path + ":proteins")
    if get_arch(arch).family != "joint":
        expected = int(mcfg.get("n_proteins", mcfg.get("n_channels", 1 + len(names)) - 1))
        if len(names) != expected:
            raise DataError(
                config_path, f"{len(names)} proteins {names} but the generator draws {expected} greens"
            )
    return arch, nz, size, names


def load_run(
    run_dir: str | None = None,
    generator: str | None = None,
    proteins=None,
    *,
    checkpoint: str = "final",
    ema: bool = False,
) -> GeneratorRun:
    """Load a trained generator with its settings.

    Args:
        run_dir: a run directory with `generator.keras` and `config.json`.
        generator: a `.keras` file (overrides the run directory's generator; its config is read from
            the file's metadata, then `run_dir`, else a `config.json` beside the file, else inferred
            from the model).
        proteins: override of the protein names (list or comma string).
        checkpoint: "final" (the `.keras` file), "latest" (the newest intact checkpoint in
            `run_dir/checkpoints`) or a checkpoint prefix path (both need `run_dir`).
        ema: in a run directory, the EMA generator (`generator_ema.keras` / checkpoint key).

    Raises:
        DataError: naming the missing file, checkpoint or bad field.
    """
    from biogans_tf.models.registry import get_arch

    if not run_dir and not generator:
        raise DataError("--run_dir/--generator", "give a run directory or a generator .keras file")
    config_dir = run_dir or os.path.dirname(os.path.abspath(generator))
    if checkpoint == "final":
        path = generator or os.path.join(run_dir, "generator_ema.keras" if ema else "generator.keras")
        _check_file(path)
        config = _run_config(config_dir, run_dir, path)
        model = load_keras(path)
    else:
        if not run_dir:
            raise DataError(f"--checkpoint {checkpoint}", "a checkpoint needs a run directory (--run_dir)")
        config = _run_config(run_dir, run_dir, None)
        model, path = _restore(run_dir, config, checkpoint, ema)
    config_path = os.path.join(config_dir, "config.json")
    arch, nz, size, names = _settings(model, config, config_path, proteins)
    return GeneratorRun(
        model=model,
        arch=arch,
        family=get_arch(arch).family,
        proteins=names,
        nz=nz,
        image_size=size,
        separable=get_arch(arch).separable,
        config=config,
        path=path,
    )

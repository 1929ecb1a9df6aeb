"""A trained generator with what evaluation needs to know about it: arch, proteins, nz, image size.

A run directory (see docs/DESIGN.md) holds `generator.keras` and `config.json` (every training
flag: `arch`, `proteins`, `image_size`, `nz`, ...). A bare `.keras` file also works: its config is
then read from a `config.json` beside it, or inferred from the model itself.

Evaluation looks at generator outputs through two views:
- `pair_fn(i)`: `z [B, nz] -> [B, H, W, 2]`, the red with protein i's green (what a LIN image of
  protein i looks like), for every family;
- `joint_fn()`: `z -> [B, H, W, 1+C]`, all greens of one cell (star and multichannel only).
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.data.errors import DataError
from biogans_tf.loader import METADATA_KEYS, read_metadata


@dataclasses.dataclass
class GeneratorRun:
    """A loaded generator and its settings.

    Attributes:
        model: the Keras generator; `model(z, training=False)`.
        arch: registry name (dcgan, dcgan-sep, multichannel(-sep), star, independent(-sep)).
        family: "joint", "multichannel" or "conditional".
        proteins: protein names in the generator's green-channel order.
        nz: latent size.
        image_size: `(height, width)`.
        separable: whether `z[:, :nz//2]` alone draws the red.
        config: the run's config dict (may be empty).
        path: the generator file.
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
    def has_joint_output(self) -> bool:
        """True when one z gives all greens of one cell (`[B, H, W, 1+C]`)."""
        return self.arch in ("star", "multichannel", "multichannel-sep")

    def latents(self, n: int, seed: int, purpose: int = 0) -> np.ndarray:
        """float32 `[n, nz]` N(0, I) draws from `SeedSequence([seed, purpose])`."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(purpose)]))
        return rng.standard_normal((int(n), self.nz)).astype(np.float32)

    @property
    def has_protein_path(self) -> bool:
        """True when the model can draw one protein without the others (star, independent)."""
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
        if self.family == "joint":
            return out
        if self.arch.startswith("independent"):
            return tf.gather(out, protein_index, axis=1)
        return tf.gather(out, tf.stack([0, 1 + tf.convert_to_tensor(protein_index, tf.int32)]), axis=-1)

    def pair_fn(self, protein_index: int):
        """Callable `z float32 [B, nz] -> [B, H, W, 2]`: red + green of protein `protein_index`."""
        i = int(protein_index)
        if not 0 <= i < max(1, self.n_proteins):
            raise ValueError(f"protein index {i} out of range for proteins {self.proteins}")
        return lambda z: self.pair(z, i)

    def joint_fn(self):
        """Callable `z -> [B, H, W, 1+C]` (star / multichannel runs only)."""
        if not self.has_joint_output:
            raise ValueError(f"arch {self.arch!r} has no multichannel output; use star or multichannel")
        model = self.model
        return lambda z: model(z, training=False)

    def generate(self, fn, z: np.ndarray, batch: int = 128) -> np.ndarray:
        """Run `fn` on `z` in batches; uint8 images (the stored-image convention)."""
        from biogans_tf.viz import to_uint8

        call = tf.function(fn, autograph=False, reduce_retracing=True)
        parts = [to_uint8(call(tf.constant(z[s : s + batch])).numpy()) for s in range(0, len(z), batch)]
        return np.concatenate(parts, axis=0)


def _parse_size(value, where) -> tuple[int, int]:
    if isinstance(value, str):
        parts = value.lower().split("x")
    else:
        parts = list(value)
    try:
        h, w = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise DataError(where, f"image_size must be HxW or [H, W], got {value!r}") from None
    return h, w


def _parse_proteins(value, where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise DataError(where, f"proteins must be a list of names, got {value!r}")
    return tuple(value)


def _infer_arch(model) -> str:
    cfg = model.get_config()
    name = type(model).__name__
    sep = "-sep" if cfg.get("separable") else ""
    if name == "StarGenerator":
        return "star"
    if name == "IndependentGenerator":
        return "independent" + sep
    if name == "DCGANGenerator":
        return ("dcgan" if int(cfg.get("n_channels", 2)) == 2 else "multichannel") + sep
    raise DataError(name, "cannot tell the architecture; put a config.json with 'arch' beside the generator")


def load_run(run_dir: str | None = None, generator: str | None = None, proteins=None) -> GeneratorRun:
    """Load a generator for evaluation.

    Args:
        run_dir: a run directory with `generator.keras` and `config.json`.
        generator: a `.keras` file (overrides the run directory's generator; its config is read from
            `run_dir`, else from a `config.json` beside the file, else inferred from the model).
        proteins: override of the protein names (list or comma string).

    Raises:
        DataError: naming the missing file or bad field.
    """
    import biogans_tf.models  # noqa: F401  (registers the generator classes for deserialisation)
    from biogans_tf.models.registry import family, get_arch

    if not run_dir and not generator:
        raise DataError("--run_dir/--generator", "give a run directory or a generator .keras file")
    path = generator or os.path.join(run_dir, "generator.keras")
    if not os.path.isfile(path):
        raise DataError(path, "generator file not found (expected a .keras file saved by training.run)")
    config_path = os.path.join(run_dir or os.path.dirname(os.path.abspath(path)), "config.json")
    config = {}
    if os.path.isfile(config_path):
        try:
            with open(config_path) as f:
                config = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(config_path, f"not valid JSON ({e})") from None
    try:
        embedded = read_metadata(path)
    except ValueError as e:
        raise DataError(path, str(e).split(": ", 1)[-1]) from None
    # The file's own metadata (biogans_tf.loader) describes exactly this generator: it wins.
    config = {**config, **{k: embedded[k] for k in METADATA_KEYS if k in embedded}}
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (Keras raises many types for a bad file)
        raise DataError(path, f"could not load the generator: {e}") from None
    mcfg = model.get_config()
    arch = config.get("arch") or _infer_arch(model)
    spec = get_arch(arch)
    nz = int(config.get("nz", mcfg.get("nz", 100)))
    size = _parse_size(config.get("image_size", mcfg.get("image_size", (48, 80))), config_path)
    names = proteins if proteins is not None else config.get("proteins")
    if names is None and os.path.isfile(os.path.join(run_dir or "", "proteins.json")):
        with open(os.path.join(run_dir, "proteins.json")) as f:
            names = json.load(f)
    if names is None:
        from biogans_tf.data.simulator import PROTEINS

        names = PROTEINS[: int(mcfg.get("n_proteins", 1))]
    names = _parse_proteins(names, config_path + ":proteins")
    if spec.family != "joint":
        expected = int(mcfg.get("n_proteins", mcfg.get("n_channels", 1 + len(names)) - 1))
        if len(names) != expected:
            raise DataError(
                config_path, f"{len(names)} proteins {names} but the generator draws {expected} greens"
            )
    return GeneratorRun(
        model=model,
        arch=arch,
        family=family(arch),
        proteins=names,
        nz=nz,
        image_size=size,
        separable=spec.separable,
        config=config,
        path=path,
    )

"""The project's shared conventions, each written once: names, image sizes, pixel ranges, seeds.

- Proteins: `PAPER_PROTEINS` (the six of the paper and the LIN data) and `SIM_PROTEINS` (the eight
  the simulator renders: the paper's six first). `REFERENCE_PROTEIN` names channel 0 (red, Bgs4).
- Families: `FAMILIES`, the three kinds of training batches an architecture learns from (its
  `ArchSpec.family`; `data.pipeline.make_batches(kind=...)`): `joint` (red + the cell's one green),
  `multichannel` (red + every green of one cell), `conditional` (per protein, red + that green).
- Strategies: `STRATEGIES`, the names `--strategy` takes.
- Image sizes: `(height, width)` tuples of ints; `parse_image_size` reads `48x80`, `48,80` or a pair.
- Pixels: stored images are uint8 in [0, 255], the models see float32 in [-1, 1]
  (`to_model_range` / `to_uint8`, numpy; `*_tf` for TensorFlow tensors).
- Model folders as TF Serving reads them: `parse_version`, `version_folders`, `WARMUP_FILE`.
- Seeds: `derive_seed` (model layers, keyed by a path of names) and `derive_key` (integer paths:
  data streams, C2ST splits); `stateless_seed` for TF stateless ops inside the train step.

This module imports only numpy and the standard library (TensorFlow only inside the `*_tf`
functions), so command lines can use it before TensorFlow is imported.
"""

from __future__ import annotations

import numbers
import os
import zlib
from collections.abc import Callable

import numpy as np

from biogans_tf.named import Named

PAPER_PROTEINS: tuple[str, ...] = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")
SIM_PROTEINS: tuple[str, ...] = (*PAPER_PROTEINS, "Fim1", "Tea4")
REFERENCE_PROTEIN = "Bgs4"

FAMILIES: tuple[str, ...] = ("joint", "multichannel", "conditional")
STRATEGIES: tuple[str, ...] = ("default", "mirrored", "multi_worker")

# Named choices that select a behaviour inside one module (no object to register; the objects that
# are registered by name, archs, losses and penalties, are in `biogans_tf.registries`).
# fmt: off
CRITIC_NORMS = Named("critic_norm", {
    "none": "plain convs, as the reference",
    "spectral": "keras.layers.SpectralNormalization around every conv",
})
CRITIC_BANKS = Named("critic_bank", {
    "loop": "one critic after another (fastest at ndf=64 on CPU)",
    "grouped": "one grouped conv per layer (needs oneDNN on CPU)",
    "auto": "grouped where a start-up probe trains it, else loop",
})
LBFGS_BUDGETS = Named("lbfgs_budget", {
    "fast": "tfp L-BFGS, --iterations per phase, line search",
    "reference": "torch.optim.LBFGS as the reference ran it: 50 steps x 20 iterations, step 0.05, "
                 "a batch's codes as one problem",
})
RED_SHARING = Named("separable_red", {
    "per-restart": "red then green within each restart (the reference)",
    "shared-best": "the best red of all restarts shared by every restart",
})
PALETTES = Named("palette", {
    "red-green": "the microscope's colours",
    "magenta-green": "colour-blind safe",
    "gray": "each channel in grey",
})
RESIZE_POLICIES = Named("resize_policy", {
    "pad_or_crop": "centre, pad with the background or crop",
    "fit": "scale to fit, keep the aspect ratio, pad",
    "stretch": "scale each side to the target",
    "exact": "refuse images of another size",
})
# fmt: on

DEFAULT_IMAGE_SIZE: tuple[int, int] = (48, 80)


def _value_error(field: str, problem: str) -> Exception:
    return ValueError(f"{field}: {problem}")


def parse_image_size(
    value, field: str = "--image_size", error: Callable[[str, str], Exception] = _value_error
) -> tuple[int, int]:
    """Read an image size: `"48x80"`, `"48,80"` or a `(height, width)` pair of ints -> `(48, 80)`.

    Args:
        value: the text of a flag, or a pair (a tuple, or a list from a JSON file).
        field: the flag or field named in the error message.
        error: builds the exception from `(field, problem)`; e.g. `DataError` for data tools.
            The default raises a `ValueError` whose message is `"<field>: <problem>"`.

    Returns:
        `(height, width)`, both positive ints. Whether a model or the simulator can use that
        size is checked where the size is used (`models.tower`, `data.simulator`).

    Raises:
        The exception `error` builds (a `ValueError` by default), one line naming `field`.
    """
    parts = value.lower().replace(",", "x").split("x") if isinstance(value, str) else value
    try:
        sizes = [_size_int(p) for p in parts]
    except (TypeError, ValueError):
        sizes = []
    if len(sizes) != 2 or min(sizes) < 1:
        raise error(field, f"{value!r}: expected HEIGHTxWIDTH, e.g. 48x80")
    return sizes[0], sizes[1]


def _size_int(part) -> int:
    """One side of an image size: a digit string or an integral number (not a bool or 48.5)."""
    if isinstance(part, str):
        if not part.strip().isdigit():
            raise ValueError(part)
        return int(part)
    if isinstance(part, bool) or int(part) != part:
        raise ValueError(part)
    return int(part)


# TF Serving's model folder layout: BASE/NAME/<version>/, the version an int64 parsed from the name.
MAX_VERSION = 2**63 - 1
# TF Serving's warm-up convention: a TFRecord of PredictionLogs replayed before a version is served.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def parse_version(name: str) -> int | None:
    """The version a sub-folder of a TF Serving model folder stands for (`"007"` -> 7), or None.

    As TF Serving's file-system source: only names of ASCII digits within int64 are versions;
    anything else (`latest`, `1.0`, a Unicode digit like `²`) is not, and is ignored.
    """
    if not (name.isascii() and name.isdigit()):
        return None
    version = int(name)
    return version if version <= MAX_VERSION else None


def version_folders(model_dir: str) -> tuple[dict[int, str], list[str]]:
    """The version folders of a TF Serving model folder, and the names that are not versions.

    Returns:
        ({version: folder name}, [ignored names, sorted]). Where two names mean one version
        (`7` and `007`), the plain one is the version and the other is ignored. A missing
        `model_dir` has neither.
    """
    if not os.path.isdir(model_dir):
        return {}, []
    versions: dict[int, str] = {}
    ignored = []
    for name in sorted(os.listdir(model_dir), key=lambda n: (len(n), n)):  # "7" before "007"
        version = parse_version(name)
        if version is None or version in versions or not os.path.isdir(os.path.join(model_dir, name)):
            if not name.startswith("."):  # our own temporary folders are hidden
                ignored.append(name)
            continue
        versions[version] = name
    return versions, sorted(ignored)


def is_int(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# uint8 <-> [-1, 1]. One formula, x / 255 * 2 - 1, the one the training data has always used; the
# other one once used by evaluation, x / 127.5 - 1, gives bit-identical float32 values for all 256
# inputs (tests/test_conventions.py checks it), so results computed with either are unchanged.
# The inverse rounds half to even (numpy and TF alike) after clipping to [-1, 1].


def to_model_range(images) -> np.ndarray:
    """uint8 images (any shape) -> float32 in [-1, 1] as `x / 255 * 2 - 1`; float input -> float32 as is."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        return x.astype(np.float32)
    return x.astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)


def to_uint8(images) -> np.ndarray:
    """float images in [-1, 1] (any shape) -> uint8, clipped and rounded; uint8 input is returned as is."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.round((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_model_range_tf(images):
    """TensorFlow `to_model_range`: uint8 tensor -> float32 `x / 255 * 2 - 1`; others cast to float32."""
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    if x.dtype != tf.uint8:
        return tf.cast(x, tf.float32)
    return tf.cast(x, tf.float32) / 255.0 * 2.0 - 1.0


def to_uint8_tf(images):
    """TensorFlow `to_uint8`: float tensor in [-1, 1] -> uint8 (clipped, rounded half to even)."""
    import tensorflow as tf

    x = (tf.clip_by_value(tf.cast(images, tf.float32), -1.0, 1.0) + 1.0) / 2.0 * 255.0
    return tf.cast(tf.round(x), tf.uint8)


# Seeds. Two integer derivations coexist on purpose: stored results depend on both (model weights
# on `derive_seed`; data order, flips and C2ST splits on `derive_key`), so neither is rewritten in
# terms of the other. Both are stable across processes and platforms (crc32 and SeedSequence, never
# Python's `hash`).


def derive_seed(seed: int, *path) -> int:
    """A 31-bit layer seed from a model seed and a path of names / indices (model initialisation).

    Args:
        seed: the model's seed, a non-negative int.
        *path: names / indices identifying the layer, e.g. `("green", 3, "conv")`; joined with "/"
            and hashed with crc32, so paths of strings work.

    Returns:
        A non-negative int below 2**31.

    Raises:
        ValueError: `seed` is not a non-negative int.
    """
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    key = zlib.crc32("/".join(str(p) for p in path).encode("utf-8"))
    state = np.random.SeedSequence([int(seed), key]).generate_state(1, dtype=np.uint32)[0]
    return int(state >> 1)


def derive_key(seed: int, *path: int) -> int:
    """A 31-bit key from a seed and a path of ints: `SeedSequence([seed, *path])`'s first word >> 1.

    Used for the data pipeline's random streams (`path = (purpose, stream)`) and C2ST's split keys
    (`path = (split,)`).
    """
    return int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(1, np.uint32)[0] >> 1)


# Separates the train step's TF streams from the data pipeline's (changing it changes every run).
TRAINER_SEED_SALT = 0x0B10_6A25


def stateless_seed(seed: int, *path):
    """A `[2]` int64 seed for `tf.random.stateless_*`, folded from `seed` and a path of ints/int tensors."""
    import tensorflow as tf

    s = tf.constant([int(seed), TRAINER_SEED_SALT], tf.int64)
    for p in path:
        s = tf.random.experimental.stateless_fold_in(s, tf.cast(p, tf.int64))
    return s

"""The run folder's layout (see `biogans_tf.runs`), its settings files and a generator file's metadata.

A `.keras` file saved by biogans-tf carries its own metadata: a `biogans.json` entry in the zip
archive (beside Keras' own entries, which Keras ignores extra entries next to) holding `arch`,
`proteins` (green-channel order; channel 0 is always the red, Bgs4), `nz`, `image_size` and, when
known, `gan`, `ngf` and `ema` (whether this file is the EMA copy). Files written before the entry
existed still load: their settings then come from the run's config and protein files, or from the
model itself (`biogans_tf.runs.generator`).

Standard library only: commands read a run's settings before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

from biogans_tf.data.errors import DataError

CONFIG_FILE = "config.json"
PROTEINS_FILE = "proteins.json"
GENERATOR_FILE = "generator.keras"
EMA_GENERATOR_FILE = "generator_ema.keras"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tb"
CACHE_DIR = "cache"
RESULTS_FILE = "results.json"


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder (`RunFolder("runs/my-run").config`), and reading its settings.

    Attributes:
        path: the run folder.
    """

    path: str

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def config(self) -> str:
        """`RUN/config.json`."""
        return self.file(CONFIG_FILE)

    @property
    def proteins(self) -> str:
        """`RUN/proteins.json`."""
        return self.file(PROTEINS_FILE)

    def generator(self, ema: bool = False) -> str:
        """`RUN/generator.keras`, or `RUN/generator_ema.keras` with `ema`."""
        return self.file(EMA_GENERATOR_FILE if ema else GENERATOR_FILE)

    @property
    def checkpoints(self) -> str:
        return self.file(CHECKPOINTS_DIR)

    @property
    def samples(self) -> str:
        return self.file(SAMPLES_DIR)

    @property
    def tensorboard(self) -> str:
        return self.file(TENSORBOARD_DIR)

    @property
    def cache(self) -> str:
        return self.file(CACHE_DIR)

    @property
    def results(self) -> str:
        return self.file(RESULTS_FILE)

    def run_records(self) -> list[str]:
        """What shows that a run started here: `config.json` and/or `checkpoints` (empty: none)."""
        return [name for name in (CONFIG_FILE, CHECKPOINTS_DIR) if os.path.exists(self.file(name))]

    def read_config(self) -> dict | None:
        """`RUN/config.json` as a dict; None when there is none.

        Raises:
            DataError: the file is not a JSON object (naming it).
        """
        return read_json(self.config) if os.path.isfile(self.config) else None

    def read_proteins(self) -> list | None:
        """The protein order of `RUN/proteins.json`; None when there is none."""
        return read_json(self.proteins, list) if os.path.isfile(self.proteins) else None

    def settings(self) -> dict:
        """The run's settings: its config, with the protein order of `proteins.json` if the config
        names none (a run killed before it wrote its config)."""
        config = dict(self.read_config() or {})
        if config.get("proteins") is None:
            proteins = self.read_proteins()
            if proteins is not None:
                config["proteins"] = proteins
        return config


def read_json(path: str, kind: type = dict):
    """A JSON file that must hold a `kind` (dict or list).

    Raises:
        DataError: unreadable, not JSON, or not a `kind` (naming the file).
    """
    try:
        with open(path) as f:
            value = json.load(f)
    except OSError as e:
        raise DataError(path, f"cannot read it ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(path, f"not valid JSON ({e})") from None
    if not isinstance(value, kind):
        raise DataError(path, f"expected a JSON {'object' if kind is dict else 'list'}")
    return value


METADATA_ENTRY = "biogans.json"
# The keys a generator file's metadata gives the run's settings (the names of the run's config). Not
# `ema`: in a file it says whether that file is the EMA copy, in the config whether the run kept one.
METADATA_KEYS = ("arch", "proteins", "nz", "image_size", "gan", "ngf")


def generator_metadata(arch: str, proteins, nz: int, image_size, **extra) -> dict:
    """The metadata dict stored in a generator file.

    Args:
        arch: registry name (`biogans_tf.models.ARCHS`).
        proteins: protein names in green-channel order (channel 1 + i is `proteins[i]`).
        nz: latent size; z is float32 `[B, nz]`.
        image_size: `(height, width)`.
        **extra: further JSON-able facts (`gan`, `ngf`, `ema`, ...).
    """
    meta = {
        "arch": str(arch),
        "proteins": [str(p) for p in proteins],
        "nz": int(nz),
        "image_size": [int(image_size[0]), int(image_size[1])],
    }
    meta.update(extra)
    return meta


def write_metadata(keras_path: str, metadata: dict) -> None:
    """Add (or replace) the metadata entry of a `.keras` file in place.

    Call it on the temporary file before it is moved into place (the caller's atomic write).
    """
    payload = json.dumps(metadata, sort_keys=True, indent=1)
    with zipfile.ZipFile(keras_path, "r") as z:
        has_entry = METADATA_ENTRY in z.namelist()
    if not has_entry:
        with zipfile.ZipFile(keras_path, "a", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr(METADATA_ENTRY, payload)
        return
    # zipfile cannot replace an entry: copy the others to a sibling and swap it in.
    tmp = keras_path + ".meta-tmp"
    with zipfile.ZipFile(keras_path, "r") as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != METADATA_ENTRY:
                dst.writestr(info, src.read(info.filename))
        dst.writestr(METADATA_ENTRY, payload)
    os.replace(tmp, keras_path)


def read_metadata(keras_path: str) -> dict:
    """The metadata stored in a `.keras` file; `{}` when it has none (older files).

    Raises:
        ValueError: the file is not a zip archive or the entry is not a JSON object (names the file).
    """
    try:
        with zipfile.ZipFile(keras_path, "r") as z:
            if METADATA_ENTRY not in z.namelist():
                return {}
            meta = json.loads(z.read(METADATA_ENTRY).decode("utf-8"))
    except zipfile.BadZipFile:
        raise ValueError(f"{keras_path}: not a .keras (zip) file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{keras_path}:{METADATA_ENTRY}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{keras_path}:{METADATA_ENTRY}: expected a JSON object")
    return meta

"""One call to load a trained generator with what it draws: `biogans_tf.load_generator(path)`.

A `.keras` file saved by biogans-tf carries its own metadata: a `biogans.json` entry in the zip
archive (beside Keras' own `config.json` / `metadata.json`, which Keras ignores extra entries
next to) holding `arch`, `proteins` (green-channel order; channel 0 is always the red, Bgs4),
`nz`, `image_size` and, when known, `gan`, `ngf` and `ema` (whether this file is the EMA copy).
Files written before the entry existed still load: their metadata then comes from the run's
`config.json` / `proteins.json`, or is inferred from the model (`biogans_tf.eval.runs.load_run`).

Reading metadata needs only the standard library; loading the model imports Keras/TensorFlow.
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile

METADATA_ENTRY = "biogans.json"
# The keys `load_run` takes as the run's settings (the same names as a run's config.json). Not
# `ema`: in a file it says whether that file is the EMA copy, in config.json whether the run kept one.
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


def resolve_generator_path(path_or_run_dir: str, ema: bool = False) -> tuple[str | None, str | None]:
    """`(run_dir, generator_file)` for a run directory or a `.keras` file.

    Args:
        path_or_run_dir: a run directory (holding `generator.keras`) or a `.keras` file.
        ema: in a run directory, take `generator_ema.keras` (the EMA generator of `--ema` runs).
    """
    if os.path.isdir(path_or_run_dir):
        name = "generator_ema.keras" if ema else "generator.keras"
        return path_or_run_dir, os.path.join(path_or_run_dir, name)
    return None, path_or_run_dir


def load_generator(path_or_run_dir: str, *, ema: bool = False, proteins=None):
    """Load a generator and its metadata in one call.

    Example:
        >>> g = biogans_tf.load_generator("runs/my-run")          # or "G.keras"
        >>> images = g.model(g.latents(16, seed=0), training=False)  # [16, H, W, 1+C] for star
        >>> g.arch, g.proteins, g.nz, g.image_size

    Args:
        path_or_run_dir: a `.keras` file or a run directory holding `generator.keras`.
        ema: in a run directory, load `generator_ema.keras` instead.
        proteins: override of the protein names (list or comma-separated string).

    Returns:
        A `biogans_tf.eval.runs.GeneratorRun` (from `load_run`, the one run loader): `.model`
        (Keras model), `.arch`, `.family`, `.layout`, `.proteins` (green-channel order), `.nz`,
        `.image_size` `(height, width)`, `.path`.

    Raises:
        biogans_tf.data.errors.DataError: naming the missing file or the bad field.
    """
    # Keras/TensorFlow load here, not when `import biogans_tf` imports this module (a relative name:
    # tools/gen_build.py would otherwise count TensorFlow in every test that imports biogans_tf).
    runs = importlib.import_module(".eval.runs", "biogans_tf")

    run_dir, path = resolve_generator_path(path_or_run_dir, ema=ema)
    return runs.load_run(run_dir, path, proteins)

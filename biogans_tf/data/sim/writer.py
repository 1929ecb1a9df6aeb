"""Writing a simulated dataset to disk in the LIN layout (format: see biogans_tf.data.simulator).

The whole dataset is built in a temporary folder beside `out_dir` and moved into place with one
`os.replace`, so a crash never leaves a half-written dataset. Output is byte-identical for
the same arguments: PNGs carry no timestamps, and the npz archive is written with fixed zip
entry dates.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile

import numpy as np
from PIL import Image

from biogans_tf.conventions import SIM_PROTEINS
from biogans_tf.data import simulator
from biogans_tf.data.errors import DataError
from biogans_tf.io_utils import atomic_path

RESULTS_FILE = "results.json"


def png_bytes(red: np.ndarray, green: np.ndarray) -> bytes:
    """Encode one cell as an 8-bit RGB PNG (R = red, G = green, B = 0), like LIN's files."""
    rgb = np.zeros(red.shape + (3,), np.uint8)
    rgb[..., 0], rgb[..., 1] = red, green
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _format(value) -> str:
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def write_csv(path: str, rows: list[dict], columns) -> None:
    """Write rows (dicts) as CSV with a header; floats with 6 decimals."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_format(r[c]) for c in columns])


def write_npz(path: str, arrays: dict) -> None:
    """An uncompressed-member npz (`np.load` reads it) with fixed entry dates, so bytes repeat."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue())


def _check_target(out_dir: str) -> None:
    """Refuse to replace a folder that is not empty and not a previous simulator dataset."""
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise DataError(out_dir, "exists and is not a folder; expected a new or dataset folder for --out")
        if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, RESULTS_FILE)):
            problem = (
                f"exists, is not empty and holds no {RESULTS_FILE}; refusing to replace it (pick a new --out)"
            )
            raise DataError(out_dir, problem)


def write(out_dir, n_train, n_test, seed, proteins, image_size, joint) -> dict:
    """Write the dataset (arguments already validated by `write_dataset`)."""
    import json

    from biogans_tf.progress import bar

    out_dir = os.fspath(out_dir)
    _check_target(out_dir)
    summary = {
        "format": "LIN layout: <split>/<Protein>/cell<N>.png (RGB, R=Bgs4, G=protein, B=0) + metadata.csv",
        "image_size": list(image_size),
        "joint": int(n_test) if joint else 0,
        "n_test": int(n_test),
        "n_train": int(n_train),
        "proteins": list(proteins),
        "seed": int(seed),
        "source": "biogans_tf.data.simulator",
    }
    with atomic_path(out_dir, is_dir=True) as tmp:
        # mkdtemp makes the folder private (0700); give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        total = len(proteins) * (n_train + n_test) + (n_test if joint else 0)
        progress = bar(total, "simulate", "cell")  # on stderr when it is a terminal
        for split, n in (("train", n_train), ("test", n_test)):
            rows = []
            for p in proteins:
                folder = os.path.join(tmp, split, p)
                os.makedirs(folder)
                images, meta = simulator.simulate(p, n, seed, split, image_size)
                for img, m in zip(images, meta, strict=False):
                    with open(os.path.join(folder, m["file"]), "wb") as f:
                        f.write(png_bytes(img[..., 0], img[..., 1]))
                    rows.append(dict(m, file=f"{p}/{m['file']}"))
                progress.update(n)
            os.makedirs(os.path.join(tmp, split), exist_ok=True)
            write_csv(os.path.join(tmp, split, "metadata.csv"), rows, simulator.METADATA_COLUMNS)
        if joint:
            images, meta = simulator.simulate_joint(proteins, n_test, seed, simulator.JOINT_SPLIT, image_size)
            folder = os.path.join(tmp, simulator.JOINT_SPLIT)
            os.makedirs(folder)
            arrays = {"images": images, "proteins": np.array(proteins, dtype=str)}
            for c in simulator.METADATA_COLUMNS:
                if c != "protein":
                    arrays[c] = np.array([m[c] for m in meta])
            write_npz(os.path.join(folder, "cells.npz"), arrays)
            write_csv(os.path.join(folder, "metadata.csv"), meta, simulator.METADATA_COLUMNS)
            progress.update(n_test)
        progress.close()
        with open(os.path.join(tmp, RESULTS_FILE), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
            f.write("\n")
    return summary


def write_dataset(
    out_dir,
    n_train: int,
    n_test: int,
    seed: int,
    proteins=SIM_PROTEINS,
    image_size=(48, 80),
    joint: bool = False,
) -> dict:
    """Write a LIN-layout dataset (see the module docstring) atomically; return its summary."""
    proteins = simulator.check_proteins(proteins)
    image_size = simulator.check_image_size(image_size)
    simulator.check_counts(seed, n_train)
    simulator.check_counts(seed, n_test)
    return write(out_dir, n_train, n_test, int(seed), proteins, image_size, joint)

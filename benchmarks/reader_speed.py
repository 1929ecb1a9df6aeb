"""LIN reader speed: load a simulated LIN-layout folder (and its zip) of ~27,000 PNGs.

    .venv/bin/python -m benchmarks.reader_speed [--n_per_protein 4500] [--threads 0] [--dir DIR] [--zip]

Writes the dataset once with the simulator (6 proteins x n_per_protein train cells, 48x80) into
`--dir` (default: a temporary folder, deleted at the end) and times `load_lin(dir, "train")`.
Prints images/s; the last line is `images_per_s=<float>` (the folder load).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import zipfile

from biogans_tf.conventions import PAPER_PROTEINS
from biogans_tf.data.lin import load_lin


def _zip(folder: str, zip_path: str) -> None:
    # Stored (not deflated), like PNG-in-zip archives usually are; the layout is the LIN one.
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as z:
        for dirpath, _, files in os.walk(folder):
            for f in files:
                full = os.path.join(dirpath, f)
                z.write(
                    full, "LIN_Normalized_WT_size-48-80/" + os.path.relpath(full, folder).replace(os.sep, "/")
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n_per_protein", type=int, default=4500)
    ap.add_argument("--threads", type=int, default=0, help="decoding threads (0 = reader default)")
    ap.add_argument("--dir", default=None, help="reuse/keep the dataset here")
    ap.add_argument("--zip", action="store_true", help="also time loading from a zip of the folder")
    args = ap.parse_args()
    from biogans_tf.data.sim import writer

    tmp = None
    root = args.dir or (tmp := tempfile.mkdtemp(prefix="reader_speed_"))
    data = os.path.join(root, f"lin_{args.n_per_protein}")
    try:
        if not os.path.isdir(data):
            t0 = time.perf_counter()
            writer.write_dataset(data, args.n_per_protein, 1, seed=0, proteins=PAPER_PROTEINS)
            print(f"wrote {6 * args.n_per_protein} train PNGs in {time.perf_counter() - t0:.1f} s")
        threads = args.threads or None
        t0 = time.perf_counter()
        cells = load_lin(data, "train", image_size=(48, 80), num_threads=threads)
        folder_s = time.perf_counter() - t0
        n = len(cells)
        print(f"folder: {n} images in {folder_s:.2f} s = {n / folder_s:.0f} images/s (cpus={os.cpu_count()})")
        if args.zip:
            zpath = data + ".zip"
            if not os.path.exists(zpath):
                _zip(data, zpath)
            t0 = time.perf_counter()
            zcells = load_lin(zpath, "train", image_size=(48, 80), num_threads=threads)
            zip_s = time.perf_counter() - t0
            print(f"zip:    {len(zcells)} images in {zip_s:.2f} s = {len(zcells) / zip_s:.0f} images/s")
        print(f"images_per_s={n / folder_s:.1f}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

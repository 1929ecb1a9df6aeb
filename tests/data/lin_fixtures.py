"""Tiny LIN-layout fixtures written with PIL / zipfile (shared by the data-reader tests)."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
from PIL import Image

REF = "LIN_Normalized_WT_size-{h}-{w}_{split}"


def random_rgb(rng, size=(48, 80)) -> np.ndarray:
    """A random LIN-like uint8 [H, W, 3] image with B = 0."""
    img = rng.integers(0, 256, size + (3,), dtype=np.uint8)
    img[..., 2] = 0
    return img


def make_lin(
    root,
    proteins=("Alp14", "Arp3"),
    cells=(1, 2, 10),
    splits=("train", "test"),
    naming="plain",
    size=(48, 80),
    seed=0,
) -> dict:
    """Write `<root>/<split>/<Protein>/cell<N>.png` (or the reference naming); return the arrays.

    Returns:
        {(split, protein, N): uint8 [H, W, 3]} of what was written.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for split in splits:
        sdir = split if naming == "plain" else REF.format(h=size[0], w=size[1], split=split)
        for protein in proteins:
            pdir = os.path.join(root, sdir, protein)
            os.makedirs(pdir, exist_ok=True)
            for n in cells:
                img = random_rgb(rng, size)
                Image.fromarray(img).save(os.path.join(pdir, f"cell{n}.png"))
                written[(split, protein, n)] = img
    return written


def zip_folder(folder, zip_path, top: str | None = None) -> str:
    """Zip `folder`'s contents (optionally under one top folder), as the LIN zip is."""
    with zipfile.ZipFile(zip_path, "w") as z:
        for dirpath, _, files in os.walk(folder):
            for f in sorted(files):
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                z.write(full, f"{top}/{rel}" if top else rel)
    return str(zip_path)


def png_bytes(arr: np.ndarray) -> bytes:
    """Encode an array as PNG bytes with PIL (mode from shape/dtype: L, LA, RGB, RGBA, I;16)."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def flip_member_byte(zpath, member):
    """Damage one byte in the middle of a stored zip member's data (its CRC no longer matches)."""
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo(member)
    raw = bytearray(open(zpath, "rb").read())
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0xFF
    open(zpath, "wb").write(bytes(raw))

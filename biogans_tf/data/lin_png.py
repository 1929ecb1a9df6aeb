"""Decoding LIN PNG cells (8-bit RGB -> uint8 red/green), one by one or many in a thread pool.

Pixel rules: RGB 8-bit is accepted; palette PNGs are expanded to RGB (optimisers such as optipng
produce them losslessly); RGBA is accepted only when alpha is 255 everywhere; grayscale, 16-bit,
and RGBA with transparency are errors. Channel B is dropped without being checked.
"""

from __future__ import annotations

import concurrent.futures
import io
import os

import numpy as np
from PIL import Image

from biogans_tf.data.errors import DataError
from biogans_tf.data.store import Store

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def png_header(data: bytes, where: str) -> tuple[int, int, int, int]:
    """(height, width, bit_depth, color_type) from a PNG's IHDR, without decoding pixels.

    Raises:
        DataError: not a PNG (bad signature) or truncated before the header.
    """
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise DataError(where, "not a PNG file (bad or missing PNG signature/header)")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return height, width, data[24], data[25]


def decode_lin_png(data: bytes, where: str, image_size: tuple[int, int] | None) -> np.ndarray:
    """Decode one LIN PNG to uint8 `[H, W, 2]` (channel 0 = red/Bgs4, 1 = green/protein).

    Args:
        data: the PNG file's bytes.
        where: the file's location, named in errors.
        image_size: expected (height, width), or None to accept any size.

    Raises:
        DataError: naming `where` for a corrupt/truncated PNG, a 16-bit PNG, a grayscale PNG,
            an RGBA PNG with transparent pixels, or a size other than `image_size`.
    """
    height, width, depth, ctype = png_header(data, where)
    kind = _PNG_COLOR_TYPES.get(ctype, f"color type {ctype}")
    if depth == 16:
        raise DataError(
            where,
            f"16-bit PNG ({kind}); LIN images are 8-bit RGB. For 16-bit data use 'own:<folder>', "
            "which normalises each channel by percentiles",
        )
    if image_size is not None and (height, width) != tuple(image_size):
        raise DataError(where, f"image size {height}x{width} (HxW), expected {image_size[0]}x{image_size[1]}")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... for bad files
        raise DataError(where, f"corrupt or truncated PNG ({e})") from None
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        arr = np.asarray(img)
        if arr[..., 3].min() != 255:
            raise DataError(where, "RGBA PNG with transparent pixels; expected RGB (R = Bgs4, G = protein)")
        return np.ascontiguousarray(arr[..., :2])
    if img.mode != "RGB":
        raise DataError(where, f"PNG mode {img.mode} ({kind}); expected RGB (R = Bgs4, G = protein, B = 0)")
    return np.ascontiguousarray(np.asarray(img)[..., :2])


def _default_threads() -> int:
    return max(1, min(8, (os.cpu_count() or 1) * 2))


def run_chunked(n: int, work, num_threads: int | None = None, start: int = 0, chunk: int = 256) -> None:
    """Call `work(lo, hi)` over `[start, n)` in chunks on a thread pool.

    Chunks are awaited in order, so the first error raised is the one for the earliest file;
    pending chunks are cancelled instead of decoding a whole dataset after a failure.
    """
    bounds = [(lo, min(lo + chunk, n)) for lo in range(start, n, chunk)]
    if not bounds:
        return
    pool = concurrent.futures.ThreadPoolExecutor(min(len(bounds), num_threads or _default_threads()))
    try:
        futures = [pool.submit(work, lo, hi) for lo, hi in bounds]
        for fut in futures:
            fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def decode_all(store: Store, rels: list[str], image_size, num_threads: int | None = None) -> np.ndarray:
    """Read and decode `rels` in a thread pool into uint8 `[N, H, W, 2]` (in `rels` order).

    PIL and zlib release the GIL while inflating, so threads overlap the decoding. The first
    image fixes the size when `image_size` is None.
    """
    if not rels:
        h, w = image_size or (0, 0)
        return np.zeros((0, h, w, 2), np.uint8)
    first = decode_lin_png(store.read(rels[0]), store.where(rels[0]), image_size)
    out = np.empty((len(rels),) + first.shape, np.uint8)
    out[0] = first
    size = first.shape[:2]

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            out[i] = decode_lin_png(store.read(rels[i]), store.where(rels[i]), size)

    run_chunked(len(rels), work, num_threads, start=1)
    return out

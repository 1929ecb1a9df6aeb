"""Every picture the project makes: red/green composites, grids, strips, GIFs.

Inputs are images in the project's convention: float in [-1, 1] (or uint8 in [0, 255]) with
channel 0 = red (Bgs4) and channels 1.. = greens. Composites are RGB uint8 with R = red,
G = one green, B = 0, exactly like LIN's PNGs.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from biogans_tf.io_utils import write_bytes


def to_uint8(images) -> np.ndarray:
    """Map float images in [-1, 1] to uint8 (uint8 input is returned unchanged)."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.round((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def composite(images, green_index: int = 1) -> np.ndarray:
    """RGB composites of red with one green.

    Args:
        images: `[..., H, W, c]` with c >= 2, float in [-1, 1] or uint8.
        green_index: which channel to show in green (1 = first green).

    Returns:
        uint8 `[..., H, W, 3]` (R = channel 0, G = channel `green_index`, B = 0).
    """
    x = to_uint8(images)
    rgb = np.zeros(x.shape[:-1] + (3,), np.uint8)
    rgb[..., 0] = x[..., 0]
    rgb[..., 1] = x[..., green_index]
    return rgb


def grid(tiles, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Lay out RGB tiles `[rows, cols, H, W, 3]` uint8 into one image with `pad` px gutters."""
    tiles = np.asarray(tiles)
    rows, cols, h, w, c = tiles.shape
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for r in range(rows):
        for q in range(cols):
            y, x = pad + r * (h + pad), pad + q * (w + pad)
            out[y : y + h, x : x + w] = tiles[r, q]
    return out


def sample_grid(images, cols: int = 8) -> np.ndarray:
    """Grid of two-channel or multi-channel samples.

    Args:
        images: `[B, H, W, 2]` -> tiles of red+green, `cols` per row; or `[B, H, W, 1+C]` with C > 1
            -> one row per sample, each column the same red with protein i's green (the star view);
            or `[B, C, H, W, 2]` (independent models) -> one row per sample, one column per protein.

    Returns:
        uint8 RGB image.
    """
    x = np.asarray(images)
    if x.ndim == 5:
        tiles = composite(x)  # [B, C, H, W, 3]
    elif x.shape[-1] == 2:
        rgb = composite(x)
        n = rgb.shape[0]
        rows = -(-n // cols)
        pad = rows * cols - n
        if pad:
            rgb = np.concatenate([rgb, np.zeros((pad,) + rgb.shape[1:], np.uint8)], 0)
        tiles = rgb.reshape((rows, cols) + rgb.shape[1:])
    else:
        c = x.shape[-1] - 1
        tiles = np.stack([composite(x, 1 + i) for i in range(c)], axis=1)
    return grid(tiles)


def png_bytes(rgb: np.ndarray, scale: int = 1) -> bytes:
    """Encode an RGB uint8 image as PNG bytes, optionally upscaled by nearest neighbour."""
    img = Image.fromarray(np.asarray(rgb, np.uint8))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str, rgb: np.ndarray, scale: int = 1) -> None:
    """Write an RGB uint8 image to `path` atomically."""
    write_bytes(path, png_bytes(rgb, scale))


def save_gif(path: str, frames, duration_ms: int = 120, scale: int = 2) -> None:
    """Write RGB uint8 frames `[T, H, W, 3]` as a looping animated GIF, atomically."""
    imgs = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    if scale != 1:
        imgs = [i.resize((i.width * scale, i.height * scale), Image.NEAREST) for i in imgs]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    write_bytes(path, buf.getvalue())

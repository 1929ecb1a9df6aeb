"""Reading the cells given to `reconstruct`: RGB PNGs, TIFFs (read like own data) and `.npy` arrays."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from biogans_tf.conventions import to_model_range


def _read_png(path: str, image_shape) -> np.ndarray:
    if len(image_shape) != 3 or image_shape[-1] != 2:
        raise ValueError(
            f"{path}: PNG/TIFF cells hold red + one green, but this model's cells are "
            f"{list(image_shape)}; pass .npy arrays of that shape instead"
        )
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:  # PIL: UnidentifiedImageError is an OSError
        raise ValueError(
            f"{path}: cannot read the image ({e}); expected an RGB PNG (R = red, G = green)"
        ) from None
    return rgb[None, :, :, :2]


def _read_tiff(path: str, image_shape, channel_map, percentiles, resize_policy) -> np.ndarray:
    """A TIFF cell exactly as the own-data reader (`biogans_tf.data.own`) would load it for training."""
    from biogans_tf.data import own

    if len(image_shape) != 3 or image_shape[-1] != 2:
        _read_png(path, image_shape)  # raises the shape message
    red, green = own.parse_channel_map(channel_map)
    if resize_policy not in own.RESIZE_POLICIES:
        raise ValueError(
            f"--resize_policy={resize_policy!r}: expected one of {', '.join(own.RESIZE_POLICIES)}"
        )
    with open(path, "rb") as f:
        raw = own.decode_image(f.read(), path, path)
    cell = own.to_cell(raw, red, green, tuple(image_shape[:2]), percentiles, resize_policy, path)
    return cell[None]


def read_cells(
    paths, image_shape, channel_map="red=0,green=1", percentiles=(0.5, 99.5), resize_policy="pad_or_crop"
) -> np.ndarray:
    """Read cells for `reconstruct`: RGB PNGs (R = red, G = green, like LIN), TIFFs or `.npy` arrays.

    Args:
        paths: PNG files (one cell each, LIN's 8-bit RGB, used as they are), TIFF files (one cell
            each, 8/16-bit, multi-channel or multi-page: read like `--data own:` in training, i.e.
            `channel_map` picks red and green, each stretched so its percentiles map to 0/255, then
            `resize_policy` brings it to the model size) and/or `.npy` files (`[H, W, c]` or
            `[N, H, W, c]`, float in [-1, 1] or uint8).
        image_shape: the model's per-cell shape, e.g. `(48, 80, 2)`.
        channel_map, percentiles, resize_policy: TIFF reading (`biogans_tf.data.own.load_own`).

    Returns:
        float32 `[N, *image_shape]` in [-1, 1].

    Raises:
        ValueError: naming the file that is missing, unreadable or of the wrong shape.
    """
    cells = []
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"{path}: file not found")
        low = path.lower()
        if low.endswith(".npy"):
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as e:
                raise ValueError(f"{path}: cannot read the .npy array ({e})") from None
            arr = arr[None] if arr.ndim == len(image_shape) else arr
        elif low.endswith((".tif", ".tiff")):
            arr = _read_tiff(path, image_shape, channel_map, percentiles, resize_policy)
        else:
            arr = _read_png(path, image_shape)
        if tuple(arr.shape[1:]) != tuple(image_shape):
            raise ValueError(
                f"{path}: expected cells of shape {list(image_shape)}, got {list(arr.shape[1:])}"
            )
        if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{path}: array dtype {arr.dtype}; expected uint8 or float in [-1, 1]")
        arr = to_model_range(arr)  # uint8 -> [-1, 1]; floats as they are
        cells.append(arr)
    if not cells:
        raise ValueError("--images: give at least one file")
    return np.concatenate(cells, axis=0)

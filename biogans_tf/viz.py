"""Every picture the project makes: composites, labelled grids, strips, GIFs.

Inputs are images in the project's convention: float in [-1, 1] (or uint8 in [0, 255]) with
channel 0 = red (Bgs4) and channels 1.. = greens. How the two channels of a cell are shown is
the *palette*:

- ``red-green`` (default, as the paper and LIN's PNGs): R = red, G = green, B = 0.
- ``magenta-green`` (colour-blind safe): the red channel is shown as magenta (R = B = red),
  G = green; overlap is white instead of yellow.
- ``gray``: every channel as its own grayscale panel (no colour at all).

Figures carry their labels inside the PNG (protein names over columns, step numbers over
interpolation frames), drawn with PIL and the DejaVu Sans font that matplotlib ships, so the
training loop can write them every few hundred steps without a plotting backend.
"""

from __future__ import annotations

import functools
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from biogans_tf.conventions import PALETTES, REFERENCE_PROTEIN, to_uint8
from biogans_tf.io_utils import write_bytes

DEFAULT_PALETTE = "red-green"
GRAY_SEAM = 1  # px of white between the red and green panels of a gray tile


def check_palette(palette: str) -> str:
    """Return `palette` if it is known, else raise ValueError naming the allowed values."""
    if palette not in PALETTES:
        raise ValueError(f"palette {palette!r}: expected one of {', '.join(PALETTES)}")
    return palette


def gray_panel(channel) -> np.ndarray:
    """One channel `[..., H, W]` (float in [-1, 1] or uint8) as a grayscale RGB `[..., H, W, 3]`."""
    return np.repeat(to_uint8(channel)[..., None], 3, axis=-1)


def composite(images, green_index: int = 1, palette: str = DEFAULT_PALETTE) -> np.ndarray:
    """RGB picture of red with one green.

    Args:
        images: `[..., H, W, c]` with c >= 2, float in [-1, 1] or uint8.
        green_index: which channel to show as the green (1 = first green).
        palette: one of `PALETTES`.

    Returns:
        uint8 `[..., H, W, 3]` for the colour palettes; for ``gray`` `[..., H, 2W+1, 3]`: the red
        channel's panel, a white seam, the green channel's panel.
    """
    check_palette(palette)
    x = to_uint8(images)
    if palette == "gray":
        seam = np.full(x.shape[:-1][:-1] + (GRAY_SEAM, 3), 255, np.uint8)
        return np.concatenate([gray_panel(x[..., 0]), seam, gray_panel(x[..., green_index])], axis=-2)
    rgb = np.zeros(x.shape[:-1] + (3,), np.uint8)
    rgb[..., 0] = x[..., 0]
    rgb[..., 1] = x[..., green_index]
    if palette == "magenta-green":
        rgb[..., 2] = x[..., 0]
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


def sample_tiles(
    images, cols: int = 8, palette: str = DEFAULT_PALETTE, proteins=None, reference: str = REFERENCE_PROTEIN
):
    """Tiles and column names of a sample grid.

    Args:
        images: `[B, H, W, 2]` -> red+green tiles, `cols` per row (no column names); `[B, H, W, 1+C]`
            with C > 1 -> one row per sample, one column per protein (the same red with protein i's
            green; with ``gray`` the red gets its own first column); `[B, C, H, W, 2]` (independent
            models) -> one row per sample, one column per protein.
        cols: tiles per row for two-channel images.
        palette: one of `PALETTES`.
        proteins: names of the C greens (None, or not C names: columns stay unnamed).
        reference: name of channel 0 (the ``gray`` palette's first column of multichannel grids).

    Returns:
        `(tiles [rows, columns, H, W', 3] uint8, column names or None)`.
    """
    check_palette(palette)
    x = np.asarray(images)
    c = x.shape[1] if x.ndim == 5 else x.shape[-1] - 1
    # Labels are cosmetic: a name list that does not fit the channels is dropped, never an error
    # (the training loop writes these grids).
    names = list(proteins) if proteins is not None and len(proteins) == c else None
    if x.ndim == 5:
        return composite(x, palette=palette), names
    if x.shape[-1] == 2:
        rgb = composite(x, palette=palette)
        n = rgb.shape[0]
        rows = -(-n // cols)
        pad = rows * cols - n
        if pad:
            rgb = np.concatenate([rgb, np.full((pad,) + rgb.shape[1:], 255, np.uint8)], 0)
        return rgb.reshape((rows, cols) + rgb.shape[1:]), None
    if palette == "gray":
        tiles = np.stack([gray_panel(x[..., k]) for k in range(1 + c)], axis=1)
        return tiles, ([reference] + names if names is not None else None)
    return np.stack([composite(x, 1 + i, palette) for i in range(c)], axis=1), names


def sample_grid(images, cols: int = 8, palette: str = DEFAULT_PALETTE) -> np.ndarray:
    """Unlabelled grid of samples (layouts as `sample_tiles`); uint8 RGB."""
    return grid(sample_tiles(images, cols, palette)[0])


def sample_figure(
    images,
    proteins=None,
    palette: str = DEFAULT_PALETTE,
    scale: int = 2,
    cols: int = 8,
    reference: str = REFERENCE_PROTEIN,
) -> np.ndarray:
    """Sample grid upscaled by `scale`, with the protein names over the columns.

    Args:
        images: as `sample_tiles`.
        proteins: the C protein names in channel order (None or a two-channel batch: no header).
        palette, cols, reference: as `sample_tiles`.
        scale: nearest-neighbour upscaling (labels are drawn at the final size, so they stay sharp).

    Returns:
        uint8 RGB `[H', W', 3]`.
    """
    tiles, names = sample_tiles(images, cols, palette, proteins, reference)
    return labelled_grid(tiles, col_names=names, scale=scale)


# ----------------------------------------------------------------------------- text labels


@functools.lru_cache(maxsize=16)
def _font(size: int):
    """DejaVu Sans at `size` px (matplotlib's bundled copy); PIL's default font otherwise."""
    try:
        import matplotlib  # only for the font file's location; never touches the backend

        path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
        return ImageFont.truetype(path, size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _fitting_font(texts, max_width: int, size: int, min_size: int = 7):
    """The largest font <= `size` px whose rendering of every text fits in `max_width` px."""
    while size > min_size:
        font = _font(size)
        if all(font.getlength(t) <= max_width for t in texts):
            return font
        size -= 1
    return _font(min_size)


def labelled_grid(
    tiles,
    col_names=None,
    row_names=None,
    scale: int = 1,
    pad: int = 2,
    title: str | None = None,
    font_size: int = 13,
) -> np.ndarray:
    """Grid of RGB tiles with a header band naming the columns (and a left band naming the rows).

    Args:
        tiles: uint8 `[rows, cols, H, W, 3]`.
        col_names: one label per column, drawn centred above it (None: no header band).
        row_names: one label per row, drawn right-aligned left of it (None: no left band).
        scale: nearest-neighbour upscaling of the grid before the labels are drawn.
        pad: gutter between tiles in px (before scaling).
        title: optional line above the column names.
        font_size: label size in px (shrunk until the longest column label fits its column).

    Returns:
        uint8 RGB image; black text on white bands.
    """
    tiles = np.asarray(tiles)
    rows, cols, h, w = tiles.shape[:4]
    if col_names is not None and len(col_names) != cols:
        raise ValueError(f"col_names: {len(col_names)} names for {cols} columns")
    if row_names is not None and len(row_names) != rows:
        raise ValueError(f"row_names: {len(row_names)} names for {rows} rows")
    body = grid(tiles, pad=pad)
    if scale != 1:
        body = np.repeat(np.repeat(body, scale, axis=0), scale, axis=1)
    if col_names is None and row_names is None and not title:
        return body
    step_x, step_y, p = (w + pad) * scale, (h + pad) * scale, pad * scale
    font = _font(font_size)
    col_font = _fitting_font([str(n) for n in col_names], step_x - 2, font_size) if col_names else font
    line = int(round(font_size * 1.5))
    top = (line if title else 0) + (line if col_names is not None else 0)
    left = 0
    if row_names is not None:
        left = int(max(font.getlength(str(n)) for n in row_names)) + 8
    out = Image.new("RGB", (body.shape[1] + left, body.shape[0] + top), (255, 255, 255))
    out.paste(Image.fromarray(body), (left, top))
    draw = ImageDraw.Draw(out)
    if title:
        draw.text((left + body.shape[1] / 2, line / 2), title, fill=(0, 0, 0), font=font, anchor="mm")
    if col_names is not None:
        y = top - line / 2
        for q, name in enumerate(col_names):
            x = left + p + q * step_x + w * scale / 2
            draw.text((x, y), str(name), fill=(0, 0, 0), font=col_font, anchor="mm")
    if row_names is not None:
        for r, name in enumerate(row_names):
            y = top + p + r * step_y + h * scale / 2
            draw.text((left - 4, y), str(name), fill=(0, 0, 0), font=font, anchor="rm")
    return np.asarray(out)


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

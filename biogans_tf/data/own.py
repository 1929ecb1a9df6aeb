"""Reader for your own microscopy crops: 8/16-bit PNG and multi-page / multi-channel TIFF.

Layout (a folder, or a zip read in memory): `<root>[/<split>]/<Class>/*.{png,tif,tiff}`; each
class folder is one protein (any name). If the root has neither a `train/` nor a `test/` folder,
the whole root is the train split and asking for `test` is an error. Hidden files, `__MACOSX/`,
`Thumbs.db` and `desktop.ini` are ignored; any other file type or a sub-folder inside a class
folder is a `DataError`. Files are in natural order (`cell2` < `cell10`).

Per image, in this order:
  1. Decode to `[h, w, C]` in the file's own dtype (8/16-bit, float TIFFs too).
     PNG: grayscale (C=1), grayscale+alpha (C=2: the "extra channel"), RGB (3), RGBA (4);
     16-bit colour PNGs are decoded with `tf.io.decode_png` because PIL truncates them to 8 bits.
     TIFF (tifffile, first series, singleton axes squeezed): the channel axis is the series'
     `C` axis, else its `S` (samples) axis; failing both, for a 3-D array, the first axis if it
     has at most 8 entries (pages of a multi-page file), else the last if it has at most 8.
     A Z or T axis of more than one plane (a Z stack or time series, as the file's ImageJ / OME
     metadata says) is an error, as is anything else left that is not 2-D.
     Float images must be finite: a NaN or Inf pixel in a mapped channel is an error.
  2. The channel map picks the reference ("red", Bgs4-like) and the "green" channel by index.
  3. Each of the two channels is normalised on its own: the `percentiles[0]` value maps to 0,
     the `percentiles[1]` value to 255, clipped (LIN-like contrast). A constant channel -> 0.
     `percentiles=None` keeps 8-bit values, maps 16-bit by x * 255 / 65535 and floats from [0, 1].
  4. Resize policy to the model's `image_size` (height, width):
       "pad_or_crop" (default): no scaling, so a pixel keeps its physical size; each side is
           centre-cropped if too long, centre-padded with 0 (background) if too short.
       "fit": scale (bilinear, antialiased) so the whole cell fits, keeping the aspect ratio,
           then centre-pad with 0.
       "stretch": scale each side to the target (aspect ratio not kept).
       "exact": the file must already have `image_size`; anything else is a `DataError`.
  5. Round to uint8.
"""

from __future__ import annotations

import io

import numpy as np
import tifffile
from PIL import Image

from biogans_tf.conventions import RESIZE_POLICIES
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.lin import SPLITS, label_files, select_proteins
from biogans_tf.data.lin_png import png_header, run_chunked
from biogans_tf.data.store import Store

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff")
MAX_CHANNEL_AXIS = 8
# TIFF axis letters (tifffile's, from ImageJ / OME metadata) that are never channels.
STACK_AXES = {"Z": "Z stack", "T": "time series"}


def parse_channel_map(channel_map) -> tuple[int, int]:
    """(red index, green index) from `"red=0,green=1"`, `{"red": 0, "green": 1}` or `(0, 1)`.

    Raises:
        DataError: naming `channel_map` when keys are not exactly red and green or an index is
            not a non-negative integer.
    """
    if channel_map is None:
        channel_map = "red=0,green=1"
    if isinstance(channel_map, tuple | list) and len(channel_map) == 2:
        channel_map = {"red": channel_map[0], "green": channel_map[1]}
    if isinstance(channel_map, str):
        parsed = {}
        for part in channel_map.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                raise DataError("channel_map", f"'{channel_map}': expected 'red=<index>,green=<index>'")
            parsed[key.strip().lower()] = value.strip()
        channel_map = parsed
    if not isinstance(channel_map, dict) or set(channel_map) != {"red", "green"}:
        raise DataError("channel_map", f"{channel_map!r}: expected exactly the keys red and green")
    out = []
    for key in ("red", "green"):
        value = channel_map[key]
        ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
            isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
        )
        if not ok:
            raise DataError("channel_map", f"{key}={value!r}: expected a channel index >= 0")
        out.append(int(value))
    return out[0], out[1]


def _check_percentiles(percentiles):
    if percentiles is None:
        return None
    try:
        lo, hi = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise DataError("percentiles", f"{percentiles!r}: expected two numbers (low, high)") from None
    if not 0.0 <= lo < hi <= 100.0:
        raise DataError("percentiles", f"({lo}, {hi}): expected 0 <= low < high <= 100")
    return lo, hi


# ----------------------------------------------------------------------------- decoding


def _decode_png(data: bytes, where: str) -> np.ndarray:
    _, _, depth, ctype = png_header(data, where)
    try:
        if depth == 16 and ctype in (2, 4, 6):
            import tensorflow as tf  # only here: PIL would keep just the high byte

            return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
        img = Image.open(io.BytesIO(data))
        img.load()
        if img.mode in ("P", "1"):
            img = img.convert("RGBA" if "transparency" in img.info else ("RGB" if img.mode == "P" else "L"))
        arr = np.asarray(img)
    except DataError:
        raise
    except Exception as e:
        raise DataError(where, f"corrupt or truncated PNG ({e})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _decode_tiff(data: bytes, where: str) -> np.ndarray:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            arr = series.asarray()
            axes = series.axes
    except Exception as e:
        raise DataError(where, f"cannot read TIFF ({e})") from None
    if len(axes) != arr.ndim:  # defensive: tifffile keeps them in step
        axes = "?" * arr.ndim
    keep = [i for i, n in enumerate(arr.shape) if n != 1]
    if len(keep) < 2:
        raise DataError(where, f"TIFF of shape {arr.shape} is not an image")
    # Squeeze singleton axes (e.g. T=1, Z=1 in ImageJ hyperstacks) before finding the channel axis.
    arr = arr.reshape([arr.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    for axis, meaning in STACK_AXES.items():
        if axis in axes:  # the file says what the axis is: planes in depth or time are not channels
            raise DataError(
                where,
                f"TIFF is a {meaning} ({arr.shape[axes.index(axis)]} planes along {axis}; shape "
                f"{arr.shape}, axes {axes}); expected one 2-D plane per channel (project or pick a "
                "plane first)",
            )
    if arr.ndim == 2:
        return arr[..., None]
    if "C" in axes:
        c = axes.index("C")
    elif "S" in axes:
        c = axes.index("S")
    elif arr.ndim == 3 and arr.shape[0] <= MAX_CHANNEL_AXIS:
        c = 0
    elif arr.ndim == 3 and arr.shape[-1] <= MAX_CHANNEL_AXIS:
        c = 2
    else:
        raise DataError(
            where,
            f"cannot find the channel axis in TIFF of shape {arr.shape} (axes {axes}); expected a 2-D "
            f"image with a C/S axis, or a first/last axis of at most {MAX_CHANNEL_AXIS} channels",
        )
    arr = np.moveaxis(arr, c, -1)
    if arr.ndim != 3:
        raise DataError(
            where,
            f"TIFF has extra axes: shape {arr.shape} (axes {axes}) after the channel axis; expected "
            "one 2-D plane per channel (project Z stacks / pick a time point first)",
        )
    return arr


def decode_image(data: bytes, name: str, where: str) -> np.ndarray:
    """Decode a PNG or TIFF to `[h, w, C]` in its own dtype (see the module docstring)."""
    if name.lower().endswith(".png"):
        return _decode_png(data, where)
    return _decode_tiff(data, where)


# ----------------------------------------------------------------------------- pixels


def normalise(channel: np.ndarray, percentiles) -> np.ndarray:
    """One channel `[h, w]` -> float32 in [0, 1]: percentile `lo` -> 0, percentile `hi` -> 1, clipped.

    With `percentiles=None`: uint8 / 255, uint16 / 65535, floats clipped to [0, 1].
    """
    x = channel.astype(np.float64)
    if percentiles is None:
        if channel.dtype == np.uint8:
            return (x / 255.0).astype(np.float32)
        if channel.dtype == np.uint16:
            return (x / 65535.0).astype(np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32)
    lo, hi = np.percentile(x, percentiles)
    if not hi > lo:
        return np.zeros(channel.shape, np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _resample(x: np.ndarray, height: int, width: int) -> np.ndarray:
    # PIL's "F" mode resize is antialiased when shrinking (its filter support scales with the factor).
    chans = [
        np.asarray(Image.fromarray(x[..., c]).resize((width, height), Image.BILINEAR))
        for c in range(x.shape[-1])
    ]
    return np.stack(chans, axis=-1)


def _centre(x: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = x.shape[:2]
    top, left = max(0, (h - height) // 2), max(0, (w - width) // 2)
    x = x[top : top + height, left : left + width]
    h, w = x.shape[:2]
    out = np.zeros((height, width) + x.shape[2:], x.dtype)
    top, left = (height - h) // 2, (width - w) // 2
    out[top : top + h, left : left + w] = x
    return out


def resize_to(
    x: np.ndarray, image_size: tuple[int, int], policy: str = "pad_or_crop", where: str = ""
) -> np.ndarray:
    """Bring float `[h, w, C]` to `[H, W, C]` with a resize policy (module docstring).

    Raises:
        DataError: unknown policy, or "exact" with a different size (naming `where`).
    """
    height, width = image_size
    h, w = x.shape[:2]
    if (h, w) == (height, width):
        return x
    if policy == "pad_or_crop":
        return _centre(x, height, width)
    if policy == "fit":
        scale = min(height / h, width / w)
        nh, nw = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
        return _centre(_resample(x, nh, nw), height, width)
    if policy == "stretch":
        return _resample(x, height, width)
    if policy == "exact":
        raise DataError(where, f"image size {h}x{w} (HxW), expected {height}x{width} (resize_policy='exact')")
    raise DataError("resize_policy", f"'{policy}': expected one of {', '.join(RESIZE_POLICIES)}")


def to_cell(
    raw: np.ndarray, red: int, green: int, image_size, percentiles, policy: str, where: str
) -> np.ndarray:
    """Decoded `[h, w, C]` -> uint8 `[H, W, 2]` (channel 0 = red/reference, 1 = green).

    Raises:
        DataError: naming `where` when the image has fewer channels than the map asks for.
    """
    n = raw.shape[-1]
    if max(red, green) >= n:
        raise DataError(
            where,
            f"{n} channel(s) found, but the channel map asks for red={red}, green={green} "
            f"(channel indices must be < {n})",
        )
    for name, index in (("red", red), ("green", green)):
        # One NaN makes every percentile NaN, which would turn the whole channel blank unseen.
        bad = int(np.count_nonzero(~np.isfinite(raw[..., index]))) if raw.dtype.kind == "f" else 0
        if bad:
            raise DataError(
                where,
                f"{bad} non-finite pixel(s) (NaN or Inf) in channel {index} ({name}); expected finite "
                "values (fix or drop the file)",
            )
    x = np.stack([normalise(raw[..., red], percentiles), normalise(raw[..., green], percentiles)], axis=-1)
    x = resize_to(x, image_size, policy, where)
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


# ----------------------------------------------------------------------------- layout


def class_root(store: Store, split: str | None) -> str:
    """Relative folder holding the class folders for `split` (see module docstring)."""
    if split is None:
        return ""
    if split not in SPLITS:
        raise DataError("split", f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
    top = store.children("")[0]
    if split in top:
        return split
    if split == "train" and not any(s in top for s in SPLITS):
        return ""
    raise DataError(
        store.where(split), f"no '{split}' folder; expected {store.path}/{split}/<Class>/*.png|*.tif"
    )


def list_classes(store: Store, root: str) -> dict[str, list[str]]:
    """Class name -> relative image paths (natural order) under `root`; validates file types."""
    classes = {}
    for cls in store.children(root)[0]:
        if root == "" and cls in SPLITS:
            continue
        cdir = f"{root}/{cls}" if root else cls
        subdirs, files = store.children(cdir)
        if subdirs:
            raise DataError(store.where(f"{cdir}/{subdirs[0]}"), "unexpected sub-folder in a class folder")
        for f in files:
            if not f.lower().endswith(IMAGE_EXTENSIONS):
                raise DataError(store.where(f"{cdir}/{f}"), "not an image; expected *.png, *.tif or *.tiff")
        classes[cls] = [f"{cdir}/{f}" for f in files]
    if not classes:
        raise DataError(store.where(root), "no class folders; expected <Class>/*.png|*.tif inside")
    return classes


def load_own(
    path: str,
    split: str | None = None,
    channel_map="red=0,green=1",
    proteins=None,
    image_size: tuple[int, int] = (48, 80),
    percentiles=(0.5, 99.5),
    resize_policy: str = "pad_or_crop",
    num_threads: int | None = None,
) -> CellSet:
    """Load your own PNG/TIFF crops into a LIN-like CellSet.

    Args:
        path: folder (or zip) laid out as `<root>[/<split>]/<Class>/*.{png,tif,tiff}`.
        split: "train", "test", or None for `<root>/<Class>/...`.
        channel_map: which channel index is "red" (reference) and which "green"; a string
            `"red=0,green=1"`, a dict, or a `(red, green)` pair.
        proteins: class names in the run's order (defines labels) or None for all, natural order.
        image_size: output (height, width).
        percentiles: (low, high) per-image per-channel normalisation, or None (module docstring).
        resize_policy: "pad_or_crop" (default), "fit", "stretch" or "exact".
        num_threads: decoding threads.

    Returns:
        CellSet, images uint8 `[N, H, W, 2]` (0 = red, 1 = green); files `[<split>/]<Class>/<file>`.

    Raises:
        DataError: naming the file/folder/flag for every bad input.
    """
    red, green = parse_channel_map(channel_map)
    percentiles = _check_percentiles(percentiles)
    if resize_policy not in RESIZE_POLICIES:
        raise DataError("resize_policy", f"'{resize_policy}': expected one of {', '.join(RESIZE_POLICIES)}")
    image_size = (int(image_size[0]), int(image_size[1]))
    store = Store(path)
    root = class_root(store, split)
    classes = list_classes(store, root)
    chosen = select_proteins(classes, proteins, store.where(root))
    prefix = f"{split}/" if split else ""
    empty = "empty class folder (expected *.png / *.tif images)"
    rels, labels, files = label_files(store, chosen, classes, root, prefix, empty)
    images = np.empty((len(rels),) + image_size + (2,), np.uint8)

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            where = store.where(rels[i])
            raw = decode_image(store.read(rels[i]), rels[i], where)
            images[i] = to_cell(raw, red, green, image_size, percentiles, resize_policy, where)

    run_chunked(len(rels), work, num_threads, chunk=64)
    return CellSet(images, labels, chosen, files, source=f"own:{store.path}[{split or 'all'}]")

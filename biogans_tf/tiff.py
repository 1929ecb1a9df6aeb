"""Multichannel TIFF for Fiji and napari: OME-TIFF or ImageJ hyperstacks with named channels.

Generated cells, reconstructions and interpolation paths are written with one channel per
fluorescence marker, named by protein (the reference "Bgs4" first), 8- or 16-bit, and the
physical pixel size of the LIN data (100 nm) in the metadata, so Fiji's Channels Tool and
napari's channel axis show real names and scale bars.

File kind follows the name: `*.ome.tif` / `*.ome.tiff` -> OME-TIFF (Bio-Formats, napari,
QuPath); any other `*.tif` / `*.tiff` -> ImageJ hyperstack (Fiji's native reader).

Axes of what is written (read back with `read_tiff` or `tifffile`):
    a set of cells (samples, reconstructions): OME `QCYX` (Q = "other", stored as
        ModuloAlongT so Bio-Formats shows a slider), ImageJ `TCYX`; one entry per cell.
    an interpolation path: `TCYX` in both; T = step along the path.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tifffile

from biogans_tf.conventions import REFERENCE_PROTEIN, to_uint8
from biogans_tf.io_utils import atomic_path

PIXEL_SIZE_UM = 0.1  # LIN crops: 100 nm per pixel
BITS = (8, 16)
TIFF_EXTENSIONS = (".tif", ".tiff")


def is_tiff(path: str) -> bool:
    """True for a `.tif` / `.tiff` name (any case, OME or not)."""
    return str(path).lower().endswith(TIFF_EXTENSIONS)


def is_ome(path: str) -> bool:
    """True for a `.ome.tif` / `.ome.tiff` name."""
    return str(path).lower().endswith((".ome.tif", ".ome.tiff"))


def channels_of(images, proteins) -> tuple[np.ndarray, list[str]]:
    """Bring any generator layout to `[N, C, H, W]` with one name per channel.

    Args:
        images: float in [-1, 1] or uint8, one of the generator layouts (docs/DESIGN.md):
            `[N, H, W, 1+C]` (star, multichannel; also a 2-channel pair), or `[N, C, H, W, 2]`
            (independent: each protein has its own red).
        proteins: protein names in the generator's green order.

    Returns:
        (`[N, C', H, W]` in the input dtype, channel names). `[N,H,W,1+C]` -> Bgs4, then the
        proteins; a pair whose protein is unknown (several proteins, one green) -> Bgs4, "green";
        independent -> "Bgs4 (P)", "P" for each protein P.

    Raises:
        ValueError: a layout or protein count that does not fit.
    """
    x = np.asarray(images)
    proteins = [str(p) for p in proteins]
    if x.ndim == 5 and x.shape[-1] == 2:
        if len(proteins) != x.shape[1]:
            raise ValueError(
                f"images {list(x.shape)} hold {x.shape[1]} proteins, but {len(proteins)} are named"
            )
        names = [n for p in proteins for n in (f"{REFERENCE_PROTEIN} ({p})", p)]
        # [N, C, H, W, 2] -> [N, C, 2, H, W] -> [N, 2C, H, W]: red then green of each protein.
        return np.moveaxis(x, -1, 2).reshape((x.shape[0], -1) + x.shape[2:4]), names
    if x.ndim != 4 or x.shape[-1] < 2:
        raise ValueError(f"images of shape {list(x.shape)}: expected [N, H, W, 1+C] or [N, C, H, W, 2]")
    greens = x.shape[-1] - 1
    if len(proteins) == greens:
        names = [REFERENCE_PROTEIN, *proteins]
    elif greens == 1:
        names = [REFERENCE_PROTEIN, "green"]
    else:
        raise ValueError(
            f"images {list(x.shape)} hold {greens} greens, but {len(proteins)} proteins are named"
        )
    return np.moveaxis(x, -1, 1), names


def quantise(x, bits: int = 8) -> np.ndarray:
    """float [-1, 1] (or uint8) -> uint8 or uint16 covering the full range of `bits`.

    Raises:
        ValueError: naming `bits` when it is not 8 or 16.
    """
    if bits not in BITS:
        raise ValueError(f"bits={bits!r}: expected 8 or 16")
    x = np.asarray(x)
    top = 255 if bits == 8 else 65535
    if x.dtype == np.uint8:
        # 0..255 -> 0..65535 exactly (x * 257) keeps 255 as full scale.
        return x if bits == 8 else x.astype(np.uint16) * 257
    y = np.round((np.clip(x.astype(np.float64), -1.0, 1.0) + 1.0) * (top / 2.0))
    return y.astype(np.uint8 if bits == 8 else np.uint16)


def write_tiff(
    path: str,
    stack,
    channel_names,
    *,
    time_axis: bool = False,
    bits: int = 8,
    pixel_size_um: float = PIXEL_SIZE_UM,
    description: str = "",
) -> str:
    """Write `[N, C, H, W]` cells as OME-TIFF or ImageJ hyperstack (by file name), atomically.

    Args:
        path: `*.ome.tif(f)` for OME-TIFF, other `*.tif(f)` for an ImageJ hyperstack.
        stack: `[N, C, H, W]` float in [-1, 1] or uint8.
        channel_names: C names (shown by Fiji / napari).
        time_axis: N is a time axis (interpolation steps) instead of a set of cells.
        bits: 8 or 16.
        pixel_size_um: physical pixel size (X and Y), micrometres.
        description: free text stored as the image description (OME) / info (ImageJ).

    Returns:
        The axes written (e.g. "QCYX").

    Raises:
        ValueError: naming the path, `bits` or the channel names when they do not fit.
    """
    if not is_tiff(path):
        raise ValueError(f"{path}: expected a .tif, .tiff, .ome.tif or .ome.tiff file name")
    stack = np.asarray(stack)
    if stack.ndim != 4:
        raise ValueError(f"{path}: expected cells [N, C, H, W], got shape {list(stack.shape)}")
    names = [str(n) for n in channel_names]
    if len(names) != stack.shape[1]:
        raise ValueError(f"{path}: {stack.shape[1]} channels but {len(names)} channel names {names}")
    if not pixel_size_um > 0:
        raise ValueError(f"pixel_size_um={pixel_size_um!r}: expected a positive size in micrometres")
    data = quantise(stack, bits)
    with atomic_path(path) as tmp:
        if is_ome(path):
            axes = "TCYX" if time_axis else "QCYX"
            meta = {
                "axes": axes,
                "Channel": {"Name": names},
                "PhysicalSizeX": float(pixel_size_um),
                "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": float(pixel_size_um),
                "PhysicalSizeYUnit": "µm",
            }
            if description:
                meta["Description"] = description
            tifffile.imwrite(tmp, data, ome=True, photometric="minisblack", metadata=meta)
        else:
            axes = "TCYX"
            # ImageJ shows slice labels as channel names; one label per (t, c) plane in TCYX order.
            meta = {"axes": axes, "unit": "micron", "Labels": names * stack.shape[0], "mode": "composite"}
            if description:
                meta["Info"] = description
            res = 1.0 / float(pixel_size_um)
            tifffile.imwrite(tmp, data, imagej=True, resolution=(res, res), metadata=meta)
    return axes


def write_cells(
    path: str, images, proteins, *, time_axis: bool = False, bits: int = 8, description: str = ""
) -> dict:
    """`channels_of` + `write_tiff`: generator output straight to a named-channel TIFF.

    Returns:
        `{"path", "axes", "channels", "shape", "bits"}` for a JSON summary.
    """
    stack, names = channels_of(images, proteins)
    axes = write_tiff(path, stack, names, time_axis=time_axis, bits=bits, description=description)
    return {"path": str(path), "axes": axes, "channels": names, "shape": list(stack.shape), "bits": bits}


@dataclasses.dataclass
class TiffContents:
    """What `read_tiff` found: pixels, axes, channel names, dtype and pixel size."""

    data: np.ndarray
    axes: str
    channels: list[str]
    dtype: np.dtype
    pixel_size_um: tuple[float | None, float | None]
    ome: bool


def _ome_channels_and_size(xml: str) -> tuple[list[str], tuple]:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)
    pixels = next(e for e in root.iter() if e.tag.endswith("Pixels"))
    names = [c.get("Name", "") for c in pixels if c.tag.endswith("Channel")]
    size = tuple(float(pixels.get(k)) if pixels.get(k) else None for k in ("PhysicalSizeX", "PhysicalSizeY"))
    for k in ("PhysicalSizeXUnit", "PhysicalSizeYUnit"):
        if pixels.get(k, "µm") not in ("µm", "um"):
            raise ValueError(f"{k}={pixels.get(k)!r}: expected µm")
    return names, size


def read_tiff(path: str) -> TiffContents:
    """Read a TIFF written by `write_tiff` (or any OME / ImageJ file with the same metadata).

    Raises:
        ValueError: naming the file when it cannot be read.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data, axes = series.asarray(), series.axes
            if tif.is_ome:
                names, size = _ome_channels_and_size(tif.ome_metadata)
                return TiffContents(data, axes, names, data.dtype, size, True)
            meta = tif.imagej_metadata or {}
            n_c = data.shape[axes.index("C")] if "C" in axes else 1
            names = list(meta.get("Labels", []))[:n_c]
            page = tif.pages[0]
            size = []
            for tag in ("XResolution", "YResolution"):
                num, den = page.tags[tag].value if tag in page.tags else (0, 1)
                size.append(den / num if num else None)
            return TiffContents(data, axes, names, data.dtype, tuple(size), False)
    except Exception as e:  # noqa: BLE001  (tifffile raises many types for a bad file)
        raise ValueError(f"{path}: cannot read TIFF ({e})") from None


def write_panels(path: str, panels: dict, *, bits: int = 8, description: str = "") -> dict:
    """Several red+green views of the same cells side by side as channels (e.g. a cell and its
    reconstructions): channel names "Bgs4 (<panel>)", "green (<panel>)".

    Args:
        path: `.ome.tif(f)` or `.tif(f)` (see `write_tiff`).
        panels: panel name -> `[N, H, W, 2]` (float in [-1, 1] or uint8), all of the same shape.
        bits, description: as `write_tiff`.

    Returns:
        `{"path", "axes", "channels", "shape", "bits"}`.
    """
    arrays = [np.moveaxis(np.asarray(v), -1, 1) for v in panels.values()]
    if any(a.dtype != arrays[0].dtype for a in arrays):  # mixed uint8 / float: bring all to uint8
        arrays = [to_uint8(a) for a in arrays]
    names = [f"{n} ({k})" for k in panels for n in (REFERENCE_PROTEIN, "green")]
    stack = np.concatenate(arrays, axis=1)
    axes = write_tiff(path, stack, names, bits=bits, description=description)
    return {"path": str(path), "axes": axes, "channels": names, "shape": list(stack.shape), "bits": bits}

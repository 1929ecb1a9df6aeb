"""Interpolation endpoints: a young cell and a dividing cell of one protein, and their codes.

The paper's cell-cycle interpolation (Sec. 5.3) walks from a short, undivided cell to a long,
septating one. One rule picks that pair everywhere (`choose_endpoints`): the shortest "young"
cell and the longest "dividing" cell, ties going to the lowest index. What counts as young and
dividing comes from the simulator's stage metadata when the cells are simulated (monopolar /
septating, `pick_endpoints`) and from the red-channel mask and septum measurement otherwise
(`measured_endpoints`, for LIN or own data).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from biogans_tf.eval import cell_stats

# Cells simulated per protein to choose from when the data is a plain `sim` (no count given).
SIM_CANDIDATES = 200


def choose_endpoints(lengths, young, dividing, error: str) -> tuple[int, int]:
    """Indices of the shortest young cell and the longest dividing cell (ties: the lowest index).

    Args:
        lengths: `[N]` cell lengths (px).
        young, dividing: bool `[N]` masks of the candidates for each end.
        error: the message of the `ValueError` raised when either mask is empty.

    Returns:
        `(i0, i1)`: the young and the dividing cell.
    """
    lengths, young, dividing = np.asarray(lengths), np.asarray(young, bool), np.asarray(dividing, bool)
    if not young.any() or not dividing.any():
        raise ValueError(error)
    # argmin / argmax return the first extreme, i.e. the lowest index among equal lengths.
    i0 = int(np.flatnonzero(young)[np.argmin(lengths[young])])
    i1 = int(np.flatnonzero(dividing)[np.argmax(lengths[dividing])])
    return i0, i1


def pick_endpoints(meta: list[dict]) -> tuple[int, int]:
    """Indices of the shortest monopolar cell and the longest septating cell in simulator metadata.

    Raises:
        ValueError: if no monopolar or no septating cell is present.
    """
    young = np.array([m["stage"] == "monopolar" for m in meta], bool)
    old = np.array([m["stage"] == "septating" for m in meta], bool)
    lengths = np.array([m["length_px"] for m in meta])
    error = f"pick_endpoints: need a monopolar and a septating cell, got {young.sum()} and {old.sum()}"
    return choose_endpoints(lengths, young, old, error)


def measured_endpoints(cells: np.ndarray, protein: str) -> tuple[int, int]:
    """The endpoints among real cells (uint8 `[N, H, W, 2]`) by their measured red mask and septum.

    Raises:
        ValueError: if all or none of the cells have a septum.
    """
    masks = cell_stats.cell_masks(cells[..., 0])
    lengths, sept = cell_stats.cell_lengths(masks), cell_stats.has_septum(cells[..., 0], masks)
    error = f"interpolate: need test cells with and without a septum for {protein}"
    return choose_endpoints(lengths, ~sept, sept, error)


def endpoint_cells(
    data: str, protein: str, seed: int, image_size, load_test: Callable
) -> tuple[np.ndarray, dict]:
    """Two real cells of `protein` (young, dividing) and how they were chosen.

    Args:
        data: the data source (`sim`, `sim:<n>`, or anything `biogans_tf.data.sources.load` reads).
        protein: the protein whose cells are wanted.
        seed: the simulator seed (simulated data only).
        image_size: `(height, width)`.
        load_test: `() -> CellSet` of `protein`'s test cells (called for non-simulated data only).

    Returns:
        `(cells uint8 [2, H, W, 2], how)`; `how` names the rule and the two chosen cells.
    """
    if data.startswith("sim"):
        from biogans_tf.data import simulator

        n = SIM_CANDIDATES if data == "sim" else max(int(data.partition(":")[2]), 8)
        cells, meta = simulator.simulate(protein, n, seed, "test", image_size)
        i0, i1 = pick_endpoints(meta)
        return cells[[i0, i1]], {"by": "simulator metadata", "young": meta[i0], "dividing": meta[i1]}
    test = load_test()
    i0, i1 = measured_endpoints(test.images, protein)
    how = {"by": "measured red mask / septum", "young": test.files[i0], "dividing": test.files[i1]}
    return test.images[[i0, i1]], how


def write_endpoint_figure(path: str, cells: np.ndarray, protein: str, palette: str = "red-green") -> None:
    """The two real endpoint cells side by side, titled "young (P)" and "dividing (P)"."""
    from biogans_tf.viz import composite, labelled_grid, save_png

    tiles = composite(cells, 1, palette)[None]
    names = [f"young ({protein})", f"dividing ({protein})"]
    save_png(path, labelled_grid(tiles, names, scale=3))


def codes_from_file(path: str, nz: int) -> tuple[np.ndarray, np.ndarray]:
    """Endpoint codes `(z0 [nz], z1 [nz])` float32 from an `.npz` with arrays `z0` and `z1`.

    Raises:
        DataError: the file is missing or unreadable, lacks an array, or has the wrong shapes.
    """
    from biogans_tf.data.errors import DataError

    try:
        with np.load(path) as f:
            z0, z1 = f["z0"].astype(np.float32), f["z1"].astype(np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(path or "--z_file", f"expected an .npz with arrays z0 and z1 ({e})") from None
    if z0.shape != (nz,) or z1.shape != (nz,):
        raise DataError(path, f"z0 and z1 must have shape ({nz},), got {z0.shape} and {z1.shape}")
    return z0, z1

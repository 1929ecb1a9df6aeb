r"""A procedural LIN-like fission-yeast simulator: the embedded default data source.

Renders two-channel cells like the LIN dataset (Dodgson et al. 2017): red = Bgs4 (growing tips,
septum), green = one of 8 polarity proteins, 48x80 (or 96x160) uint8, background exactly 0.
Every cell has a known cell-cycle phase and stage, and a "joint" split renders ALL green
proteins on the same cell, which real LIN data cannot provide.

Determinism: cell i of (seed, split, protein) draws all its randomness from its own generator
(see sim/params.py), so results are byte-identical for the same arguments and prefix-stable
(`simulate(p, 10, s)` equals the first 10 cells of `simulate(p, 1000, s)`). Splits use disjoint
streams. In the "joint" split the geometry (and red channel) of cell i is shared by all
proteins, so `simulate(p, n, s, split="joint")` equals the red + p channels of
`simulate_joint(proteins, n, s)`.

Dataset layout written by `sim.writer.write_dataset` (the LIN layout plus ground truth):

    out_dir/train/<Protein>/cell<N>.png   8-bit RGB, R = Bgs4, G = protein, B = 0; N from 0
    out_dir/train/metadata.csv            file (relative to the split folder, e.g.
                                          "Alp14/cell3.png"), protein, phase, stage,
                                          length_px, width_px, polarity, seed
    out_dir/test/...                      the same for the test split
    out_dir/joint/cells.npz               (joint=True) images uint8 [n_test, H, W, 1 + C]
                                          (red, then one green per protein in `proteins`
                                          order), proteins str [C], and one array per
                                          metadata column (file, phase, stage, length_px,
                                          width_px, polarity, seed)
    out_dir/joint/metadata.csv            (joint=True) one row per joint cell
    out_dir/results.json                  what was written (also printed by the CLI)

Metadata: phase in [0, 1) from the asynchronous-population density 2 ln2 * 2^(-a); stage
monopolar (a < 0.34) / bipolar (a < 0.75) / septating; length_px / width_px: extent of the
cell mask along x / y; polarity: "left"/"right" (the growing old end of a monopolar cell) or
"bipolar"; seed: the dataset seed.

Command line: `python -m training.data simulate` (biogans_tf/training/data_simulate.py).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os

import numpy as np

from biogans_tf import conventions
from biogans_tf.conventions import SIM_PROTEINS
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.sim import imaging, patterns
from biogans_tf.data.sim.geometry import STAGES, mask_extent, sample_geometry
from biogans_tf.data.sim.params import (
    GEOMETRY_DRAWS,
    GREEN_DRAWS,
    STREAM_GEOMETRY,
    STREAM_GREEN,
    Draws,
    cell_draws,
    gaussian_from_uniform,
)

METADATA_COLUMNS = ("file", "protein", "phase", "stage", "length_px", "width_px", "polarity", "seed")
JOINT_SPLIT = "joint"
_CHUNK = 64  # cells rendered together: small enough that the [chunk, H, W] fields stay in cache


def check_image_size(image_size, field: str = "image_size") -> tuple[int, int]:
    """Validate `(height, width)`; raise DataError naming `field` otherwise."""
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise DataError(field, f"expected (height, width) ints, got {image_size!r}") from None
    # The pixel noise pairs the two halves of each row (Box-Muller, sim/params.py): odd widths fail.
    if h < 24 or w < 40 or w % 2 or tuple(image_size) != (h, w):
        raise DataError(
            field,
            f"expected (height, width) with height >= 24 and an even width >= 40, got {image_size!r}",
        )
    return h, w


def check_proteins(proteins, field: str = "proteins") -> tuple[str, ...]:
    """Validate protein names against SIM_PROTEINS; raise DataError naming `field` otherwise."""
    if isinstance(proteins, str):
        proteins = (proteins,)
    proteins = tuple(proteins)
    unknown = [p for p in proteins if p not in SIM_PROTEINS]
    if unknown or not proteins:
        raise DataError(
            field, f"unknown protein(s) {unknown or '(none given)'}; expected some of {list(SIM_PROTEINS)}"
        )
    if len(set(proteins)) != len(proteins):
        raise DataError(field, f"duplicate protein names in {list(proteins)}")
    return proteins


def check_counts(seed: int, n: int, start: int = 0) -> None:
    for name, value in (("seed", seed), ("n", n), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise DataError(name, f"expected a non-negative int, got {value!r}")


def _render_chunk(proteins, geom_key, seed, split, image_size, idx):
    """Render one chunk of cells; returns uint8 `[k, H, W, 1 + C]` and the cells' metadata."""
    H, W = image_size
    uni, noise = cell_draws(seed, split, geom_key, STREAM_GEOMETRY, idx, GEOMETRY_DRAWS, (2, H, W))
    dr = Draws(uni)
    geom = sample_geometry(dr, (H, W), noise[:, 1])
    red_noise = gaussian_from_uniform(noise[:, 0])
    channels = [imaging.expose(patterns.red_bgs4(geom, dr), geom, imaging.RED, dr, red_noise)]
    for p in proteins:
        uni_p, noise_p = cell_draws(
            seed, split, 1 + SIM_PROTEINS.index(p), STREAM_GREEN, idx, GREEN_DRAWS, (H, W)
        )
        dr_p = Draws(uni_p)
        layers = patterns.GREEN[p](geom, dr_p)
        channels.append(imaging.expose(layers, geom, imaging.GREEN[p], dr_p, gaussian_from_uniform(noise_p)))
    length, width = mask_extent(geom.mask)
    meta = []
    for j, i in enumerate(idx):
        stage = int(geom.stage[j])
        meta.append(
            {
                "file": f"cell{i}.png",
                "phase": float(geom.phase[j]),
                "stage": STAGES[stage],
                "length_px": int(length[j]),
                "width_px": int(width[j]),
                "polarity": "bipolar" if stage > 0 else ("right" if geom.old_side[j] > 0 else "left"),
                "seed": int(seed),
            }
        )
    return np.stack(channels, axis=-1), meta


def _render(proteins, geom_key, seed, split, image_size, indices):
    """Render cells `indices` with the red channel and one green per protein.

    Chunks are independent (every cell has its own random stream), so they are rendered on a
    few threads (numpy/scipy release the GIL) and the result does not depend on the threading.

    Returns:
        uint8 `[n, H, W, 1 + len(proteins)]` and one metadata dict per cell.
    """
    H, W = image_size
    chunks = [indices[lo : lo + _CHUNK] for lo in range(0, len(indices), _CHUNK)]
    if not chunks:
        return np.zeros((0, H, W, 1 + len(proteins)), np.uint8), []
    work = functools.partial(_render_chunk, proteins, geom_key, seed, split, image_size)
    workers = min(len(chunks), _threads())
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(work, chunks))
    else:
        parts = [work(c) for c in chunks]
    return np.concatenate([p[0] for p in parts], axis=0), [m for p in parts for m in p[1]]


def _threads() -> int:
    """Worker threads: BIOGANS_SIM_THREADS if set, else the usable CPU count (at most 8)."""
    env = os.environ.get("BIOGANS_SIM_THREADS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def simulate(
    protein: str, n: int, seed: int, split: str = "train", image_size=(48, 80), start: int = 0
) -> tuple[np.ndarray, list[dict]]:
    """Simulate cells `start .. start + n - 1` of one protein.

    Args:
        protein: one of SIM_PROTEINS.
        n: number of cells; seed: dataset seed (non-negative int).
        split: split name ("train", "test", "joint" or any other name: its own stream).
        image_size: (height, width), e.g. (48, 80) or (96, 160).
        start: index of the first cell.

    Returns:
        uint8 `[n, H, W, 2]` (channel 0 = red/Bgs4, 1 = green/protein) and one metadata dict per
        cell with keys file ("cell17.png"), protein, phase, stage, length_px, width_px,
        polarity ("left"/"right"/"bipolar"), seed.
    """
    (protein,) = check_proteins((protein,), "protein")
    image_size = check_image_size(image_size)
    check_counts(seed, n, start)
    geom_key = 0 if split == JOINT_SPLIT else 1 + SIM_PROTEINS.index(protein)
    images, meta = _render((protein,), geom_key, int(seed), split, image_size, list(range(start, start + n)))
    for m in meta:
        m["protein"] = protein
    return images, [{k: m[k] for k in METADATA_COLUMNS} for m in meta]


def simulate_joint(
    proteins, n: int, seed: int, split: str = JOINT_SPLIT, image_size=(48, 80), start: int = 0
) -> tuple[np.ndarray, list[dict]]:
    """Simulate cells with every protein's green rendered on the same geometry and phase.

    Args:
        proteins: names from SIM_PROTEINS, in the output's channel order.
        n, seed, split, image_size, start: as in `simulate`.

    Returns:
        uint8 `[n, H, W, 1 + C]` (channel 0 = red/Bgs4, then one green per protein) and one
        metadata dict per cell (protein = the comma-joined protein list).
    """
    proteins = check_proteins(proteins)
    image_size = check_image_size(image_size)
    check_counts(seed, n, start)
    images, meta = _render(proteins, 0, int(seed), split, image_size, list(range(start, start + n)))
    for m in meta:
        m["protein"] = ",".join(proteins)
    return images, [{k: m[k] for k in METADATA_COLUMNS} for m in meta]


def simulate_cellset(
    proteins, n_per_protein: int, seed: int, split: str = "train", image_size=(48, 80)
) -> CellSet:
    """Simulate `n_per_protein` cells of each protein as a CellSet.

    Files are "<split>/<Protein>/cell<N>.png" (as in a written dataset); images are ordered by
    (protein order, cell index), which is the readers' natural file order, so a written and re-read
    dataset comes back in the same order. Labels index into `proteins`.
    """
    from biogans_tf.progress import bar

    proteins = check_proteins(proteins)
    images, labels, files = [], [], []
    progress = bar(len(proteins) * n_per_protein, f"simulate {split}", "cell")  # stderr, terminals only
    for k, p in enumerate(proteins):
        imgs, _ = simulate(p, n_per_protein, seed, split, image_size)
        progress.update(n_per_protein)
        images.append(imgs)
        labels.append(np.full(n_per_protein, k, np.int32))
        files.extend(f"{split}/{p}/cell{i}.png" for i in range(n_per_protein))
    progress.close()
    h, w = check_image_size(image_size)
    return CellSet(
        images=np.concatenate(images, axis=0) if images else np.zeros((0, h, w, 2), np.uint8),
        labels=np.concatenate(labels),
        proteins=proteins,
        files=tuple(files),
        source=f"simulator(seed={seed}, n={n_per_protein}, split={split}, image_size={h}x{w})",
    )


def parse_image_size(text: str) -> tuple[int, int]:
    """Parse "48x80" -> (48, 80) and check the simulator can render it; DataError naming --image_size."""
    return check_image_size(conventions.parse_image_size(text, error=DataError), "--image_size")

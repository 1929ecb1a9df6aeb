"""Reader for the LIN dataset (Dodgson et al. 2017) from an extracted folder or the zip itself.

LIN cells are 8-bit RGB PNGs (48x80 or 96x160), R = Bgs4 (reference), G = one polarity
protein, B = 0. Two layouts are recognised, in a folder or a zip (optionally under one top folder):

    <root>/<split>/<Protein>/cellN.png                                  (simulator / TFDS layout)
    <root>/LIN_Normalized_WT_size-48-80_<split>/<Protein>/cellN.png      (reference repo naming)

with split in {train, test}. Any folder name is accepted as a protein name.

File rules (the same for folders and zips):
  * Hidden entries (names starting with '.'), `__MACOSX/`, `Thumbs.db` and `desktop.ini` are
    ignored anywhere; loose files directly in the split folder (e.g. `metadata.csv`) are ignored.
  * Inside a protein folder every other entry must be a `.png` file; anything else (another file
    type, a sub-folder) is a `DataError` naming it.
  * Order: proteins in the caller's order (default: natural sort of the folder names); files in
    natural order within a protein, so `cell2.png` < `cell10.png`.

Pixel rules (`biogans_tf.data.lin_png`): RGB 8-bit is accepted; palette PNGs are expanded to RGB
(optimisers such as optipng produce them losslessly); RGBA is accepted only when alpha is 255
everywhere; grayscale, 16-bit, and RGBA with transparency are errors (use `own:` for 16-bit data,
which normalises by percentiles). Channel B is dropped without being checked.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.lin_png import decode_all
from biogans_tf.data.store import Store, natural_key

SPLITS = ("train", "test")
_REF_SPLIT_RE = re.compile(r"^LIN_Normalized_WT_size-(\d+)-(\d+)_(train|test)$")


@dataclasses.dataclass
class SplitListing:
    """The files of one split, found without decoding anything.

    Attributes:
        store: where the files live.
        split: "train" or "test".
        split_dir: relative path of the split folder inside the store.
        proteins: protein name -> relative file paths (natural order), for every protein folder.
        size_hint: (height, width) from the reference folder name, or None for `<split>/` folders.
    """

    store: Store
    split: str
    split_dir: str
    proteins: dict[str, list[str]]
    size_hint: tuple[int, int] | None


def _split_candidates(store: Store, split: str) -> list[tuple[str, tuple[int, int] | None]]:
    """Split folders for `split` at the root or under a single top folder."""

    def in_base(base: str):
        found = []
        for d in store.children(base)[0]:
            m = _REF_SPLIT_RE.match(d)
            if d == split:
                found.append((f"{base}/{d}" if base else d, None))
            elif m and m.group(3) == split:
                found.append((f"{base}/{d}" if base else d, (int(m.group(1)), int(m.group(2)))))
        return found

    found = in_base("")
    if not found:
        tops = store.children("")[0]
        if len(tops) == 1:
            found = in_base(tops[0])
    return found


def _expected_layout(split: str) -> str:
    return f"'{split}/<Protein>/*.png' or 'LIN_Normalized_WT_size-<H>-<W>_{split}/<Protein>/*.png'"


def find_splits(path_or_store) -> list[str]:
    """Splits ("train", "test") present in a LIN folder, zip or `Store`, in that order."""
    store = path_or_store if isinstance(path_or_store, Store) else Store(path_or_store)
    return [s for s in SPLITS if _split_candidates(store, s)]


def list_split(path_or_store, split: str, image_size: tuple[int, int] | None = None) -> SplitListing:
    """Locate one split of a LIN folder or zip and list its protein folders and PNG files.

    Args:
        path_or_store: a folder, a `.zip`, or a `Store`.
        split: "train" or "test".
        image_size: (height, width); picks among several reference-named split folders of
            different sizes (e.g. 48-80 and 96-160 side by side).

    Raises:
        DataError: unknown split; split folder missing (naming what was expected); ambiguous
            layout; a non-PNG file or a sub-folder inside a protein folder.
    """
    if split not in SPLITS:
        raise DataError("split", f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
    store = path_or_store if isinstance(path_or_store, Store) else Store(path_or_store)
    cands = _split_candidates(store, split)
    if image_size is not None and len(cands) > 1:
        cands = [c for c in cands if c[1] is None or c[1] == tuple(image_size)] or cands
    if not cands:
        tops = ", ".join(store.children("")[0][:10]) or "nothing"
        what = "zip" if store.is_zip else "folder"
        raise DataError(
            store.path,
            f"no '{split}' split in this {what}; expected {_expected_layout(split)} "
            f"(at the top or under one top folder); top-level folders found: {tops}",
        )
    if len(cands) > 1:
        raise DataError(
            store.path,
            f"several '{split}' split folders ({', '.join(c[0] for c in cands)}); "
            "pass image_size to choose one",
        )
    split_dir, size_hint = cands[0]
    proteins = {}
    for protein in store.children(split_dir)[0]:
        pdir = f"{split_dir}/{protein}"
        subdirs, files = store.children(pdir)
        if subdirs:
            raise DataError(store.where(f"{pdir}/{subdirs[0]}"), "unexpected sub-folder in a protein folder")
        for f in files:
            if not f.lower().endswith(".png"):
                hint = " (TIFF data: use 'own:<folder>')" if f.lower().endswith((".tif", ".tiff")) else ""
                raise DataError(
                    store.where(f"{pdir}/{f}"), f"not a PNG file; protein folders must hold only *.png{hint}"
                )
        proteins[protein] = [f"{pdir}/{f}" for f in files]
    if not proteins:
        raise DataError(store.where(split_dir), "split folder has no protein folders")
    return SplitListing(store, split, split_dir, proteins, size_hint)


def select_proteins(available, proteins, where: str) -> tuple[str, ...]:
    """Validate a protein selection: default all available; unknown or repeated names are errors.

    Args:
        available: names present in the data (any order).
        proteins: requested names in the run's order (that order defines labels), or None.
        where: the folder/zip/dataset to name in errors.
    """
    available = sorted(available, key=natural_key)
    if proteins is None:
        return tuple(available)
    if isinstance(proteins, str):
        proteins = [p.strip() for p in proteins.split(",") if p.strip()]
    proteins = tuple(proteins)
    if not proteins:
        raise DataError("proteins", "empty protein list")
    dup = sorted({p for p in proteins if proteins.count(p) > 1})
    if dup:
        raise DataError("proteins", f"repeated protein names: {', '.join(dup)}")
    unknown = [p for p in proteins if p not in available]
    if unknown:
        raise DataError(where, f"unknown protein(s) {', '.join(unknown)}; available: {', '.join(available)}")
    return proteins


def label_files(store: Store, chosen, groups: dict, folder: str, prefix: str, empty: str):
    """Flatten the chosen groups (proteins, classes) into one labelled file list.

    Args:
        store: where the files live (named in errors).
        chosen: group names in the run's order; label i is `chosen[i]`.
        groups: group name -> relative file paths in the store (in reading order).
        folder: the folder holding the group folders ("" for the store's root).
        prefix: put before `<group>/<file name>` in the returned ids (e.g. "train/").
        empty: the error message for a group without files.

    Returns:
        (relative paths `[N]`, int32 labels `[N]`, ids `<prefix><group>/<file name>` as a tuple).

    Raises:
        DataError: naming the first chosen group folder that holds no file.
    """
    rels, labels, files = [], [], []
    for label, name in enumerate(chosen):
        members = groups[name]
        if not members:
            raise DataError(store.where(f"{folder}/{name}" if folder else name), empty)
        rels += members
        labels += [label] * len(members)
        files += [f"{prefix}{name}/{r.rpartition('/')[2]}" for r in members]
    return rels, np.asarray(labels, np.int32), tuple(files)


def load_lin(
    path: str,
    split: str,
    proteins=None,
    image_size: tuple[int, int] | None = None,
    num_threads: int | None = None,
) -> CellSet:
    """Load one split of LIN from a folder or a zip (read in memory, never extracted).

    Args:
        path: a LIN folder or `.zip` (layouts in the module docstring).
        split: "train" or "test".
        proteins: names in the run's order (defines labels), a comma-separated string, or None
            for every protein folder in natural-sort order.
        image_size: expected (height, width); None = the first image's size, all must match.
        num_threads: decoding threads (default min(8, 2 x cores)).

    Returns:
        CellSet with images uint8 `[N, H, W, 2]` (red = Bgs4, green = protein), sorted by
        (protein order, natural file order); `files` are `<split>/<Protein>/<file>`.

    Raises:
        DataError: naming the file/folder for every bad-input case (module docstring).
    """
    listing = list_split(path, split, image_size)
    store = listing.store
    chosen = select_proteins(listing.proteins, proteins, store.where(listing.split_dir))
    empty = "empty protein folder (expected *.png cells)"
    rels, labels, files = label_files(store, chosen, listing.proteins, listing.split_dir, f"{split}/", empty)
    images = decode_all(store, rels, image_size, num_threads)
    return CellSet(images, labels, chosen, files, source=f"lin:{store.path}[{split}]")

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

Pixel rules (see `decode_lin_png`): RGB 8-bit is accepted; palette PNGs are expanded to RGB
(optimisers such as optipng produce them losslessly); RGBA is accepted only when alpha is 255
everywhere; grayscale, 16-bit, and RGBA with transparency are errors (use `own:` for 16-bit data,
which normalises by percentiles). Channel B is dropped without being checked.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import os
import re
import threading
import zipfile
import zlib

import numpy as np
from PIL import Image

from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError

SPLITS = ("train", "test")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_REF_SPLIT_RE = re.compile(r"^LIN_Normalized_WT_size-(\d+)-(\d+)_(train|test)$")
_IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_PNG_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs numerically: `cell2.png` < `cell10.png`.

    `re.split` with a capture group alternates text / digits, so positions never mix types.
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)) + (name,)


def is_ignored(name: str) -> bool:
    """True for hidden / OS-metadata names that readers skip silently."""
    return name.startswith(".") or name in _IGNORED_NAMES


# ----------------------------------------------------------------------------- storage


class Store:
    """A folder or a zip seen as a set of relative POSIX paths (files and directories).

    Args:
        path: a folder or a `.zip` file.

    Raises:
        DataError: the path does not exist or is not a readable zip.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.is_zip = os.path.isfile(self.path)
        self._lock = threading.Lock()
        self._kids = None
        self.files: set[str] = set()
        self.dirs: set[str] = {""}
        if self.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.path)
                names = self._zip.namelist()
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(self.path, f"not a readable zip file ({e})") from None
            for name in names:
                if name.endswith("/"):
                    self._add_dir(name.rstrip("/"))
                else:
                    self.files.add(name)
                    self._add_dir(name.rpartition("/")[0])
        elif os.path.isdir(self.path):
            self._walk()
        else:
            raise DataError(self.path, "no such file or folder")

    def _walk(self) -> None:
        """List the folder tree, following links to folders, refusing link loops.

        Why: with `followlinks=True`, a link back to a folder above it makes `os.walk` descend
        forever (memory grows until the machine gives out), so each folder's identity (device,
        inode) is compared with those of the folders on its own path from the root.
        """

        def fail(e: OSError):
            raise DataError(e.filename or self.path, f"cannot list this folder ({e.strerror or e})")

        above = {"": {_identity(self.path)}}  # rel -> identities of rel and its ancestors
        for dirpath, dirnames, filenames in os.walk(self.path, onerror=fail, followlinks=True):
            rel = os.path.relpath(dirpath, self.path).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            dirnames[:] = [d for d in dirnames if not is_ignored(d)]
            for d in dirnames:
                child = f"{rel}/{d}" if rel else d
                ident = _identity(os.path.join(dirpath, d))
                if ident in above[rel]:
                    raise DataError(
                        os.path.join(dirpath, d),
                        f"symbolic link loop: points back to {os.path.realpath(os.path.join(dirpath, d))}, "
                        "a folder that contains it",
                    )
                above[child] = above[rel] | {ident}
                self.dirs.add(child)
            for f in filenames:
                self.files.add(f"{rel}/{f}" if rel else f)

    def _add_dir(self, rel: str) -> None:
        while rel and rel not in self.dirs:
            self.dirs.add(rel)
            rel = rel.rpartition("/")[0]

    def _index(self) -> dict[str, tuple[list[str], list[str]]]:
        # Built once: parent -> (sub-folder names, file names), so listing is O(entries).
        if self._kids is None:
            kids: dict[str, tuple[list[str], list[str]]] = {}
            for d in self.dirs:
                if d:
                    parent, _, name = d.rpartition("/")
                    kids.setdefault(parent, ([], []))[0].append(name)
            for f in self.files:
                parent, _, name = f.rpartition("/")
                kids.setdefault(parent, ([], []))[1].append(name)
            self._kids = kids
        return self._kids

    def children(self, rel: str) -> tuple[list[str], list[str]]:
        """(sub-folder names, file names) directly inside `rel`, ignored names removed, sorted."""
        # Anything below an ignored folder (e.g. __MACOSX/) is ignored too.
        if any(is_ignored(part) for part in rel.split("/") if part):
            return [], []
        subdirs, files = self._index().get(rel, ([], []))

        def keep(names):
            return sorted((x for x in names if x and not is_ignored(x)), key=natural_key)

        return keep(subdirs), keep(files)

    def where(self, rel: str) -> str:
        """Human-readable location of an entry, for error messages (`<zip>/<member>` for zips)."""
        if not rel:
            return self.path
        return f"{self.path}/{rel}" if self.is_zip else os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str) -> bytes:
        """Bytes of one file (zip members are decompressed in memory, never extracted).

        Raises:
            DataError: naming the file (`<zip>/<member>` for zips) when it cannot be read: a zip
                member failing its CRC check or truncated, a broken link, no permission.
        """
        where = self.where(rel)
        try:
            if self.is_zip:
                with self._lock:
                    return self._zip.read(rel)
            with open(where, "rb") as f:
                return f.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            # zipfile reports a bad CRC as BadZipFile, damaged deflate data as zlib.error, a cut
            # member as EOFError and an unsupported compression method as NotImplementedError.
            raise DataError(where, f"damaged zip member ({type(e).__name__}: {e})") from None
        except OSError as e:
            if os.path.islink(where) and not os.path.exists(where):
                problem = f"broken symbolic link (points to {os.readlink(where)}, which does not exist)"
            else:
                problem = f"cannot read ({e.strerror or e})"
            raise DataError(where, problem) from None


def _identity(path: str) -> tuple[int, int]:
    """(device, inode) of the folder `path` resolves to."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


# ----------------------------------------------------------------------------- layout


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


# ----------------------------------------------------------------------------- decoding


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
    rels, labels, files = [], [], []
    for label, protein in enumerate(chosen):
        pfiles = listing.proteins[protein]
        if not pfiles:
            raise DataError(
                store.where(f"{listing.split_dir}/{protein}"), "empty protein folder (expected *.png cells)"
            )
        rels += pfiles
        labels += [label] * len(pfiles)
        files += [f"{split}/{protein}/{r.rpartition('/')[2]}" for r in pfiles]
    images = decode_all(store, rels, image_size, num_threads)
    return CellSet(
        images=images,
        labels=np.asarray(labels, np.int32),
        proteins=chosen,
        files=tuple(files),
        source=f"lin:{store.path}[{split}]",
    )

"""One entry point for every data source: `load(data, split, ...)` -> CellSet, `describe(data)`.

`data` forms:
    "sim"                 in-memory simulator, SIM_TRAIN_PER_PROTEIN / SIM_TEST_PER_PROTEIN cells
    "sim:<n>"             simulator with n cells per protein (for whichever split is asked)
    "<folder>" / "lin:<folder>"   LIN folder (`biogans_tf.data.lin`)
    "<file>.zip"          LIN zip, read in memory
    "tfds:<name>[/<config>]"      a TFDS dataset (`lin`, `lin_synthetic`, ...), built if needed;
                          `data_dir` kwarg or env TFDS_DATA_DIR; `manual_dir` kwarg or env
                          TFDS_MANUAL_DIR for `lin` (default `<data_dir>/downloads/manual`)
    "own:<folder>" / "tiff:<folder>"   your own PNG/TIFF crops (`biogans_tf.data.own`)

Proteins default to the paper's six for the simulator and to every protein found for real data.
"""

from __future__ import annotations

import os

import numpy as np

from biogans_tf.conventions import DEFAULT_IMAGE_SIZE, PAPER_PROTEINS
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.lin import SPLITS, find_splits, list_split, load_lin, select_proteins
from biogans_tf.data.lin_png import decode_lin_png
from biogans_tf.data.own import class_root, decode_image, list_classes, load_own, parse_channel_map
from biogans_tf.data.store import Store, natural_key

SIM_TRAIN_PER_PROTEIN = 1000
SIM_TEST_PER_PROTEIN = 200
_FORMS = (
    "'sim', 'sim:<n_per_protein>', a LIN folder, a LIN .zip, 'tfds:<name>[/<config>]', "
    "'own:<folder>' or 'tiff:<folder>'"
)


def _sim_count(data: str, split: str) -> int:
    if data == "sim":
        return SIM_TRAIN_PER_PROTEIN if split == "train" else SIM_TEST_PER_PROTEIN
    text = data.partition(":")[2]
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise DataError("data", f"'{data}': expected 'sim:<n_per_protein>' with n a positive integer")
    return int(text)


def _kind(data: str) -> tuple[str, str]:
    """(kind, argument) for a `data` string; kind in sim, lin-folder, lin-zip, tfds, own."""
    if not isinstance(data, str) or not data:
        raise DataError("data", f"{data!r}: expected {_FORMS}")
    if data == "sim" or data.startswith("sim:"):
        return "sim", data
    if data.startswith("tfds:"):
        name = data[5:]
        if not name:
            raise DataError("data", f"'{data}': expected 'tfds:<name>[/<config>]'")
        return "tfds", name
    for prefix in ("own:", "tiff:"):
        if data.startswith(prefix):
            path = data[len(prefix) :]
            if not os.path.exists(path):
                raise DataError(path or data, "no such file or folder (own data)")
            return "own", path
    path = data[4:] if data.startswith("lin:") else data
    if os.path.isdir(path):
        return "lin-folder", path
    if os.path.isfile(path):
        if path.lower().endswith(".zip"):
            return "lin-zip", path
        raise DataError(path, f"not a folder or a .zip; expected {_FORMS}")
    raise DataError(path, f"no such file or folder; expected {_FORMS}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError("split", f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")


# ----------------------------------------------------------------------------- simulator


def _load_sim(data, split, proteins, image_size, seed) -> CellSet:
    from biogans_tf.data import simulator

    n = _sim_count(data, split)
    chosen = select_proteins(simulator.SIM_PROTEINS, proteins or PAPER_PROTEINS, "sim")
    return simulator.simulate_cellset(chosen, n, seed, split=split, image_size=tuple(image_size))


# ----------------------------------------------------------------------------- TFDS


def _tfds_builder(name: str, image_size, data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:  # an optional dependency: pip install 'biogans-tf[tfds]'
        raise DataError(
            f"tfds:{name}", "needs tensorflow-datasets (pip install 'biogans-tf[tfds]')"
        ) from None

    import biogans_tf.data.tfds_builders  # noqa: F401  (registers lin, lin_synthetic)

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    if "/" not in name and image_size is not None:
        # Pick the size config when the name gives none (e.g. tfds:lin + image_size 96x160).
        try:
            cls = tfds.builder_cls(name)
            configs = {c.name for c in getattr(cls, "BUILDER_CONFIGS", [])}
        except Exception:
            configs = set()
        size_name = f"{image_size[0]}x{image_size[1]}"
        if size_name in configs:
            name = f"{name}/{size_name}"
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError, unknown config...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"tfds:{name}", f"cannot open TFDS dataset ({first})") from None


def _remove_empty_dirs(path: str, levels: int) -> None:
    """Remove `path` (if present) and up to `levels - 1` parents while they are empty."""
    for _ in range(levels):
        if os.path.isdir(path):
            if os.listdir(path):
                return
            os.rmdir(path)
        path = os.path.dirname(path)


def _load_tfds(name, split, proteins, image_size, data_dir, manual_dir) -> CellSet:
    builder = _tfds_builder(name, image_size, data_dir)  # first: a clear error without tfds
    import tensorflow_datasets as tfds

    where = f"tfds:{builder.info.full_name}"
    if not builder.is_prepared():
        manual_dir = manual_dir or os.environ.get("TFDS_MANUAL_DIR") or None
        version_dir = os.fspath(builder.data_dir)  # TFDS swaps data_dir during the build
        try:
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        except BaseException:
            # TFDS writes into an `incomplete.*` folder that it deletes on failure, but leaves the
            # (empty) version/config folders, which later trigger "no dataset_info.json" warnings.
            _remove_empty_dirs(version_dir, levels=2 if builder.builder_config else 1)
            raise
    if split not in builder.info.splits:
        raise DataError(where, f"no split '{split}'; available: {', '.join(builder.info.splits)}")
    shape = tuple(builder.info.features["image"].shape[:2])
    if image_size is not None and shape != tuple(image_size):
        raise DataError(
            where, f"images are {shape[0]}x{shape[1]} (HxW), expected {image_size[0]}x{image_size[1]}"
        )
    names = builder.info.features["label"].names
    chosen = select_proteins(names, proteins, where)
    remap = {names.index(p): i for i, p in enumerate(chosen)}
    # Batches, keeping only (R, G) of the selected proteins: peak memory ~ the result, not RGB of all.
    parts, labels, files = [], [], []
    ds = builder.as_dataset(split=split, batch_size=1024, shuffle_files=False)
    for batch in tfds.as_numpy(ds):
        sel = np.asarray([int(lab) in remap for lab in batch["label"]], bool)
        parts.append(batch["image"][sel][..., :2])
        labels += [remap[int(lab)] for lab in batch["label"][sel]]
        files += [f.decode() for f in batch["file"][sel]]
    order = sorted(range(len(files)), key=lambda i: (labels[i], natural_key(files[i])))
    images = np.concatenate(parts)[order] if files else np.zeros((0,) + shape + (2,), np.uint8)
    return CellSet(
        images=np.ascontiguousarray(images, dtype=np.uint8),
        labels=np.asarray([labels[i] for i in order], np.int32),
        proteins=chosen,
        files=tuple(files[i] for i in order),
        source=f"{where}[{split}]",
    )


# ----------------------------------------------------------------------------- public


def load(
    data: str,
    split: str,
    proteins=None,
    image_size=DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    channel_map=None,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    **own_kwargs,
) -> CellSet:
    """Load one split of any supported source as a CellSet.

    Args:
        data: source string (module docstring).
        split: "train" or "test".
        proteins: names in the run's order (defines labels) or a comma-separated string; None =
            the paper's six for "sim", every protein found for real data.
        image_size: (height, width). LIN and TFDS data must already have it (checked); own
            data is brought to it by `resize_policy`; the simulator renders at it.
        seed: simulator seed (ignored by file-based sources).
        channel_map: own data only, e.g. "red=0,green=1".
        data_dir: TFDS data dir (default env TFDS_DATA_DIR, then TFDS' default).
        manual_dir: TFDS manual dir for `tfds:lin` (default env TFDS_MANUAL_DIR).
        **own_kwargs: passed to `load_own` (percentiles, resize_policy, num_threads).

    Returns:
        CellSet with images uint8 `[N, H, W, 2]` (0 = red/Bgs4, 1 = green).

    Raises:
        DataError: naming the path/field and what was expected.
    """
    _check_split(split)
    kind, arg = _kind(data)
    if image_size is not None:
        image_size = (int(image_size[0]), int(image_size[1]))
    if kind == "sim":
        return _load_sim(arg, split, proteins, image_size or DEFAULT_IMAGE_SIZE, seed)
    if kind == "tfds":
        return _load_tfds(arg, split, proteins, image_size, data_dir, manual_dir)
    if kind == "own":
        return load_own(
            arg,
            split,
            channel_map=channel_map,
            proteins=proteins,
            image_size=image_size or DEFAULT_IMAGE_SIZE,
            **own_kwargs,
        )
    return load_lin(arg, split, proteins=proteins, image_size=image_size)


def _describe_lin(path: str, kind: str, image_size) -> dict:
    store = Store(path)
    splits, size, all_proteins = {}, None, []
    # A missing split is reported by its absence, not an error (unless both are missing).
    for split in find_splits(store):
        listing = list_split(store, split, image_size)
        counts = {}
        for protein, files in listing.proteins.items():
            pdir = store.where(f"{listing.split_dir}/{protein}")
            if not files:
                raise DataError(pdir, "empty protein folder (expected *.png cells)")
            # One image per folder: cheap, yet catches wrong size/mode/bit depth in most datasets.
            img = decode_lin_png(store.read(files[0]), store.where(files[0]), size)
            size = size or tuple(img.shape[:2])
            counts[protein] = len(files)
            if protein not in all_proteins:
                all_proteins.append(protein)
        splits[split] = {
            "folder": store.where(listing.split_dir),
            "total": sum(counts.values()),
            "proteins": counts,
        }
    if not splits:
        list_split(store, "train", image_size)  # raises the "no split" error naming what was expected
    return {
        "format": kind,
        "path": store.path,
        "splits": splits,
        "proteins": sorted(all_proteins, key=natural_key),
        "image_size": list(size),
        "dtype": "uint8",
        "channels": "RGB PNG: R = Bgs4 (red, reference), G = protein (green), B dropped",
    }


def _describe_own(path: str, channel_map) -> dict:
    store = Store(path)
    red, green = parse_channel_map(channel_map)
    top = store.children("")[0]
    split_names = [s for s in SPLITS if s in top] or ["train"]
    splits, sizes, dtypes, channels, all_proteins = {}, set(), set(), set(), []
    for split in split_names:
        root = class_root(store, split)
        counts = {}
        for cls, files in list_classes(store, root).items():
            cdir = store.where(f"{root}/{cls}" if root else cls)
            if not files:
                raise DataError(cdir, "empty class folder (expected *.png / *.tif images)")
            raw = decode_image(store.read(files[0]), files[0], store.where(files[0]))
            if max(red, green) >= raw.shape[-1]:
                raise DataError(
                    store.where(files[0]),
                    f"{raw.shape[-1]} channel(s) found, but the channel map asks for "
                    f"red={red}, green={green}",
                )
            sizes.add(tuple(raw.shape[:2]))
            dtypes.add(str(raw.dtype))
            channels.add(int(raw.shape[-1]))
            counts[cls] = len(files)
            if cls not in all_proteins:
                all_proteins.append(cls)
        splits[split] = {"folder": store.where(root), "total": sum(counts.values()), "proteins": counts}
    return {
        "format": "own",
        "path": store.path,
        "splits": splits,
        "proteins": sorted(all_proteins, key=natural_key),
        "image_size": [list(s) for s in sorted(sizes)][0]
        if len(sizes) == 1
        else [list(s) for s in sorted(sizes)],
        "dtype": ",".join(sorted(dtypes)),
        "channels": f"{','.join(map(str, sorted(channels)))} per file; "
        f"red = channel {red}, green = channel {green}",
    }


def _describe_tfds(name: str, image_size, data_dir) -> dict:
    builder = _tfds_builder(name, image_size, data_dir)
    info = builder.info
    out = {
        "format": "tfds",
        "path": os.fspath(builder.data_dir),
        "name": info.full_name,
        "prepared": bool(builder.is_prepared()),
        "image_size": list(info.features["image"].shape[:2]),
        "dtype": "uint8",
        "channels": "RGB PNG: R = red (reference), G = green, B dropped",
    }
    if out["prepared"]:
        out["splits"] = {s: {"total": int(info.splits[s].num_examples)} for s in info.splits}
        out["proteins"] = list(info.features["label"].names)
    else:
        out["splits"] = {}
        cfg = builder.builder_config
        if getattr(cfg, "proteins", None):
            out["proteins"] = list(cfg.proteins)
    return out


def describe(data: str, image_size=None, channel_map=None, data_dir: str | None = None) -> dict:
    """Cheap summary of a source without decoding everything (one image per protein folder).

    Returns:
        dict with `data`, `format` (sim, lin-folder, lin-zip, tfds, own), `path`, `splits`
        ({split: {"total": n, "proteins": {name: n}, "folder": ...}}), `proteins`, `image_size`
        [H, W], `dtype`, `channels`.

    Raises:
        DataError: for bad input found on the way (layout, first image of a folder).
    """
    kind, arg = _kind(data)
    if kind == "sim":
        from biogans_tf.data import simulator

        # The summary must not promise a size the simulator cannot render.
        size = list(simulator.check_image_size(image_size or DEFAULT_IMAGE_SIZE, "--image_size"))
        splits = {}
        for split in SPLITS:
            n = _sim_count(arg, split)
            splits[split] = {"total": n * len(PAPER_PROTEINS), "proteins": {p: n for p in PAPER_PROTEINS}}
        out = {
            "format": "sim",
            "path": None,
            "splits": splits,
            "proteins": list(PAPER_PROTEINS),
            "available_proteins": list(simulator.SIM_PROTEINS),
            "image_size": size,
            "dtype": "uint8",
            "channels": "red = Bgs4-like reference, green = protein",
        }
    elif kind == "tfds":
        out = _describe_tfds(arg, image_size, data_dir)
    elif kind == "own":
        out = _describe_own(arg, channel_map)
    else:
        out = _describe_lin(arg, kind, image_size)
    return {"data": data, **out}

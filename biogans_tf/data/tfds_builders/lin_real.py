"""TFDS builder `lin`: the real LIN dataset from a manually downloaded zip or extracted folders.

TFDS names a builder after its class (`Lin` -> `lin`), not its module (`lin_real`, so that it is
not confused with the LIN reader `biogans_tf.data.lin`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from biogans_tf.data.errors import DataError
from biogans_tf.data.lin import SPLITS, find_splits, list_split
from biogans_tf.data.lin_png import decode_lin_png
from biogans_tf.data.store import Store, natural_key

_CITATION = """\
@article{dodgson2017reconstructing,
  title={Reconstructing regulatory pathways by systematically mapping protein localization interdependency
         networks},
  author={Dodgson, James and Chessel, Anatole and Cox, Susan and Carazo Salas, Rafael E},
  journal={bioRxiv},
  year={2017}
}
"""

MANUAL_INSTRUCTIONS = """\
LIN cannot be downloaded automatically. Put ONE of these in the manual dir (TFDS default
`<data_dir>/downloads/manual`, or pass tfds.download.DownloadConfig(manual_dir=...)):
  * the zip itself, e.g. `LIN_Normalized_WT_size-48-80.zip` (or `..._size-96-160.zip` for the
    96x160 config); it is read in place, never extracted;
  * the extracted folders `LIN_Normalized_WT_size-48-80_train/` and `..._test/`
    (each holding `<Protein>/cellN.png`), or `train/` and `test/` in the same layout.
"""


@dataclasses.dataclass
class LinConfig(tfds.core.BuilderConfig):
    """LIN at one image size.

    Attributes:
        image_size: (height, width) of the PNGs; 48x80 and 96x160 exist.
    """

    image_size: tuple[int, int] = (48, 80)


def find_lin_source(manual_dir: str, image_size: tuple[int, int]) -> Store:
    """The folder or zip in `manual_dir` that holds both LIN splits at `image_size`.

    Order of preference: the manual dir itself (extracted folders), then
    `LIN_Normalized_WT_size-<H>-<W>.zip`, then any other zip holding both splits.

    Raises:
        DataError: naming `manual_dir` when nothing usable is there.
    """
    store = Store(manual_dir)
    if find_splits(store) == list(SPLITS):
        return store
    h, w = image_size
    zips = sorted(
        (f for f in os.listdir(manual_dir) if f.lower().endswith(".zip") and not f.startswith(".")),
        key=lambda f: (f != f"LIN_Normalized_WT_size-{h}-{w}.zip", natural_key(f)),
    )
    for name in zips:
        zstore = Store(os.path.join(manual_dir, name))
        if find_splits(zstore) == list(SPLITS):
            return zstore
    found = ", ".join(sorted(os.listdir(manual_dir))[:10]) or "nothing"
    raise DataError(manual_dir, f"no LIN data for {h}x{w} (found: {found}).\n{MANUAL_INSTRUCTIONS}")


class Lin(tfds.core.GeneratorBasedBuilder):
    """LIN fission-yeast cells: R = Bgs4, G = one polarity protein per class (41 classes)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: train/test splits, any protein folder names."}
    BUILDER_CONFIGS = [
        LinConfig(name="48x80", image_size=(48, 80), description="LIN_Normalized_WT_size-48-80"),
        LinConfig(name="96x160", image_size=(96, 160), description="LIN_Normalized_WT_size-96-160"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        h, w = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "LIN dataset (Dodgson et al. 2017) of fission-yeast cells as 8-bit RGB: R = Bgs4 "
                "(reference), G = one polarity protein, B = 0. Labels are the protein folders, "
                "natural-sorted (names are set when the dataset is built)."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(h, w, 3)),
                    # Names unknown until the manual data is read: set in _split_generators.
                    "label": tfds.features.ClassLabel(),
                    "protein": tfds.features.Text(),
                    "file": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/aosokin/biogans",
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        try:
            manual_dir = os.fspath(dl_manager.manual_dir)
        except (AssertionError, ValueError) as e:
            raise DataError("manual_dir", f"{str(e).splitlines()[0]}\n{MANUAL_INSTRUCTIONS}") from None
        size = tuple(self.builder_config.image_size)
        store = find_lin_source(manual_dir, size)
        listings = {s: list_split(store, s, size) for s in SPLITS}
        proteins = sorted(listings["train"].proteins, key=natural_key)
        extra = sorted(set(listings["test"].proteins) - set(proteins))
        if extra:
            raise DataError(
                store.where(listings["test"].split_dir), f"proteins absent from train: {', '.join(extra)}"
            )
        self.info.features["label"].names = proteins
        return {s: self._generate_examples(listings[s], size) for s in SPLITS}

    def _generate_examples(self, listing, size):
        store = listing.store
        for protein in sorted(listing.proteins, key=natural_key):
            files = listing.proteins[protein]
            if not files:
                raise DataError(
                    store.where(f"{listing.split_dir}/{protein}"),
                    "empty protein folder (expected *.png cells)",
                )
            for rel in files:
                rg = decode_lin_png(store.read(rel), store.where(rel), size)  # validates every image
                rgb = np.concatenate([rg, np.zeros_like(rg[..., :1])], axis=-1)
                key = f"{listing.split}/{protein}/{rel.rpartition('/')[2]}"
                yield key, {"image": rgb, "label": protein, "protein": protein, "file": key}

"""TFDS builder `lin_synthetic`: LIN-like cells from the offline simulator (no download)."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from biogans_tf.conventions import SIM_PROTEINS


@dataclasses.dataclass
class LinSyntheticConfig(tfds.core.BuilderConfig):
    """One simulated dataset.

    Attributes:
        image_size: (height, width) rendered.
        n_train: cells per protein in the train split.
        n_test: cells per protein in the test split.
        proteins: simulated proteins, in label order.
        seed: simulator seed (the same seed gives the same dataset).
    """

    image_size: tuple[int, int] = (48, 80)
    n_train: int = 1000
    n_test: int = 200
    proteins: tuple[str, ...] = SIM_PROTEINS
    seed: int = 0


class LinSynthetic(tfds.core.GeneratorBasedBuilder):
    """Simulated LIN-like cells: R = Bgs4-like reference, G = protein pattern, B = 0.

    Configs: `small` (48x80, 200 train / 50 test per protein), `48x80` (default, 1000 / 200),
    `96x160` (1000 / 200). Pass `config=LinSyntheticConfig(name=..., ...)` to `tfds.builder`
    for other sizes, counts or seeds. The data depend on the simulator's code: bump VERSION
    (or delete the prepared folder) when the simulator changes.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        LinSyntheticConfig(name="48x80", description="48x80, 1000 train / 200 test cells per protein"),
        LinSyntheticConfig(
            name="small", n_train=200, n_test=50, description="48x80, 200 train / 50 test cells per protein"
        ),
        LinSyntheticConfig(
            name="96x160", image_size=(96, 160), description="96x160, 1000 train / 200 test cells per protein"
        ),
    ]
    DEFAULT_CONFIG_NAME = "48x80"

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        h, w = cfg.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Simulated LIN-like fission-yeast cells (biogans_tf.data.simulator), RGB with "
                f"R = Bgs4-like reference, G = protein, B = 0; {cfg.n_train} train / {cfg.n_test} "
                f"test cells per protein, seed {cfg.seed}."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(h, w, 3)),
                    "label": tfds.features.ClassLabel(names=list(cfg.proteins)),
                    "protein": tfds.features.Text(),
                    "file": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/aosokin/biogans",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        cfg = self.builder_config
        return {
            "train": self._generate_examples("train", cfg.n_train),
            "test": self._generate_examples("test", cfg.n_test),
        }

    def _generate_examples(self, split: str, n: int):
        from biogans_tf.data import simulator

        cfg = self.builder_config
        for protein in cfg.proteins:
            images, _ = simulator.simulate(
                protein, n, cfg.seed, split=split, image_size=tuple(cfg.image_size)
            )
            blue = np.zeros(images.shape[:3] + (1,), np.uint8)
            rgb = np.concatenate([images, blue], axis=-1)
            for i in range(n):
                key = f"{split}/{protein}/cell{i}.png"
                yield key, {"image": rgb[i], "label": protein, "protein": protein, "file": key}

"""What the generators share: their common constructor fields, checks and `get_config`.

Every model and layer here stores each constructor argument under the argument's own name, and
lists those names in `CONFIG_FIELDS`; `get_config()` reads them back, so it always equals the
constructor's keyword arguments (the keras-hub convention) and no class repeats the list twice.
"""

from __future__ import annotations

import keras

from biogans_tf.models.tower import tower_plan


def field_config(obj, fields) -> dict:
    """`{name: obj.name}` for each name in `fields` (constructor arguments stored as attributes)."""
    return {k: getattr(obj, k) for k in fields}


def check_count(field: str, value) -> int:
    """`int(value)`, which must be >= 1; otherwise a ValueError naming `field`."""
    if int(value) < 1:
        raise ValueError(f"{field}: expected >= 1, got {value}")
    return int(value)


class GeneratorBase(keras.Model):
    """Base of the generators: the arguments every architecture takes, and `get_config`.

    Args:
      image_size: `(height, width)` of the output.
      nz: latent size.
      ngf: base width (the last hidden layer of a tower has ngf channels).
      red_portion: fraction of red channels in every separable / star layer.
      synchronized_bn: cross-replica BatchNorm statistics (MirroredStrategy).
      seed: init seed (reference init, per-layer seeds derived from it).
      **kwargs: `keras.Model` arguments (`name`, `dtype`).

    A subclass adds its own arguments to `CONFIG_FIELDS`; `get_config()` returns `name`,
    `image_size` (as a list) and every field in `CONFIG_FIELDS`.
    """

    CONFIG_FIELDS = ("nz", "ngf", "red_portion", "synchronized_bn", "seed")

    def __init__(
        self, image_size=(48, 80), nz=100, ngf=64, red_portion=0.5, synchronized_bn=False, seed=0, **kwargs
    ):
        super().__init__(**kwargs)
        self.plan = tower_plan(image_size, ngf)
        self.image_size, self.nz, self.ngf = self.plan.image_size, int(nz), int(ngf)
        self.red_portion = float(red_portion)
        self.synchronized_bn, self.seed = bool(synchronized_bn), int(seed)

    def check_protein(self, protein) -> int:
        """`int(protein)`, which must index one of the `n_proteins` proteins (ValueError otherwise)."""
        protein = int(protein)
        if not 0 <= protein < self.n_proteins:
            raise ValueError(f"protein: expected an index in [0, {self.n_proteins}), got {protein}")
        return protein

    def get_config(self):
        fields = field_config(self, self.CONFIG_FIELDS)
        return {"name": self.name, "image_size": list(self.image_size), **fields}

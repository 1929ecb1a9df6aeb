"""Independent generators: one (separable) DCGAN generator per protein, all fed the same z."""

from __future__ import annotations

import keras
from keras import ops

from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.init import derive_seed


@keras.saving.register_keras_serializable(package="biogans_tf")
class IndependentGenerator(keras.Model):
    """C separate two-channel generators (the paper's "independent" baseline).

    Args:
      image_size, nz, ngf, red_portion, synchronized_bn: as `DCGANGenerator`.
      n_proteins: number of generators C.
      separable: separable (green-on-red) generators.
      seed: init seed; generator i uses `derive_seed(seed, "protein", i)`.

    Call: `g(z, training=False)`, z `[B, nz]` -> `[B, C, H, W, 2]`; `g.generate_protein(z, i)`
    -> `[B, H, W, 2]`. `g.towers[i]` is protein i's `DCGANGenerator`.
    """

    def __init__(
        self,
        image_size=(48, 80),
        nz=100,
        ngf=64,
        n_proteins=6,
        separable=False,
        red_portion=0.5,
        synchronized_bn=False,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(n_proteins) < 1:
            raise ValueError(f"n_proteins: expected >= 1, got {n_proteins}")
        self.n_proteins, self.separable = int(n_proteins), bool(separable)
        self.nz, self.ngf, self.red_portion = int(nz), int(ngf), float(red_portion)
        self.synchronized_bn, self.seed = bool(synchronized_bn), int(seed)
        self.towers = [
            DCGANGenerator(
                image_size=image_size,
                nz=nz,
                ngf=ngf,
                n_channels=2,
                separable=separable,
                red_portion=red_portion,
                synchronized_bn=synchronized_bn,
                seed=derive_seed(self.seed, "protein", i),
                name=f"protein_{i}",
            )
            for i in range(self.n_proteins)
        ]
        self.image_size = self.towers[0].image_size

    def build(self, input_shape=None):
        for tower in self.towers:
            tower.build(input_shape)
        self.built = True

    def call(self, z, training=False):
        return ops.stack([tower(z, training=training) for tower in self.towers], axis=1)

    def generate_protein(self, z, protein, training=False):
        """One protein's generator: z `[B, nz]` -> `[B, H, W, 2]`."""
        protein = int(protein)
        if not 0 <= protein < self.n_proteins:
            raise ValueError(f"protein: expected an index in [0, {self.n_proteins}), got {protein}")
        return self.towers[protein](z, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_proteins) + tuple(self.image_size) + (2,)

    def get_config(self):
        return {
            "name": self.name,
            "image_size": list(self.image_size),
            "nz": self.nz,
            "ngf": self.ngf,
            "n_proteins": self.n_proteins,
            "separable": self.separable,
            "red_portion": self.red_portion,
            "synchronized_bn": self.synchronized_bn,
            "seed": self.seed,
        }

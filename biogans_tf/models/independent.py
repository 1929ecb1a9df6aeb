"""Independent generators: one (separable) DCGAN generator per protein, all fed the same z."""

from __future__ import annotations

import keras
from keras import ops

from biogans_tf.conventions import derive_seed
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.generator_base import GeneratorBase, check_count, field_config


@keras.saving.register_keras_serializable(package="biogans_tf")
class IndependentGenerator(GeneratorBase):
    """C separate two-channel generators (the paper's "independent" baseline).

    Args:
      image_size, nz, ngf, red_portion, synchronized_bn: as `GeneratorBase` (keywords).
      n_proteins: number of generators C.
      separable: separable (green-on-red) generators.
      seed: init seed; generator i uses `derive_seed(seed, "protein", i)`.

    Call: `g(z, training=False)`, z `[B, nz]` -> `[B, C, H, W, 2]`; `g.generate_protein(z, i)`
    -> `[B, H, W, 2]`. `g.towers[i]` is protein i's `DCGANGenerator`.
    """

    CONFIG_FIELDS = GeneratorBase.CONFIG_FIELDS + ("n_proteins", "separable")

    def __init__(self, n_proteins=6, separable=False, **kwargs):
        n_proteins = check_count("n_proteins", n_proteins)  # checked first, as before the base class
        super().__init__(**kwargs)
        self.n_proteins, self.separable = n_proteins, bool(separable)
        # Every tower takes this model's settings; only its seed and name are its own.
        shared = field_config(self, ("image_size", "nz", "ngf", "separable", "red_portion"))
        shared.update(n_channels=2, synchronized_bn=self.synchronized_bn)
        self.towers = [
            DCGANGenerator(seed=derive_seed(self.seed, "protein", i), name=f"protein_{i}", **shared)
            for i in range(self.n_proteins)
        ]

    def build(self, input_shape=None):
        for tower in self.towers:
            tower.build(input_shape)
        self.built = True

    def call(self, z, training=False):
        return ops.stack([tower(z, training=training) for tower in self.towers], axis=1)

    def generate_protein(self, z, protein, training=False):
        """One protein's generator: z `[B, nz]` -> `[B, H, W, 2]`."""
        return self.towers[self.check_protein(protein)](z, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_proteins) + tuple(self.image_size) + (2,)

"""Star-shaped generator: one red tower and one green tower per protein, sharing z."""

from __future__ import annotations

import keras
from keras import ops

from biogans_tf.conventions import derive_seed
from biogans_tf.models.dcgan import red_split
from biogans_tf.models.generator_base import GeneratorBase, check_count
from biogans_tf.models.layers import StarBlock


@keras.saving.register_keras_serializable(package="biogans_tf")
class StarGenerator(GeneratorBase):
    """The reference star-shaped generator (`DCGAN_G_starShaped`).

    `z[:, :int(nz * red_portion)]` feeds the red tower; `z[:, int(nz * red_portion):]` is the green
    input of every protein's tower. Each green layer of protein c reads concat(red features, its own
    green features) of the layer before; the red tower never sees green. Hidden layers: transposed
    conv, BN, ReLU; final layer: 1 red and 1 green channel per protein, no BN, tanh. The red tower
    (and its BatchNorm) runs once per forward pass, so all proteins share the same red channel.

    Args:
      image_size, nz, synchronized_bn, seed: as `GeneratorBase` (keywords).
      ngf: base width (red + green channels of one tower's last hidden layer).
      n_proteins: number of green towers C.
      red_portion: red fraction of every hidden layer (the final layer is always 1 red, 1 green).

    Call: `g(z, training=False)` with z `[B, nz]` -> `[B, H, W, 1 + C]` (red first, then the greens
    in protein order). `g(z, protein=i)` or `g.generate_protein(z, i)` -> `[B, H, W, 2]` (red,
    green of protein i), computing only the red tower and tower i.
    """

    CONFIG_FIELDS = GeneratorBase.CONFIG_FIELDS + ("n_proteins",)

    def __init__(self, n_proteins=6, **kwargs):
        super().__init__(**kwargs)
        self.n_proteins = check_count("n_proteins", n_proteins)
        if not 0.0 < self.red_portion < 1.0:
            raise ValueError(f"red_portion: expected a value in (0, 1), got {self.red_portion}")
        self.nz_red = red_split(self.nz, self.red_portion)
        chans = self.plan.channels
        ins = (self.nz,) + chans
        self.blocks = []
        for i, cin in enumerate(ins):
            last = i == len(chans)
            if last:
                out_red, out_green = 1, 1
            else:
                out_red = red_split(chans[i], self.red_portion)
                out_green = chans[i] - out_red
            first = i == 0
            self.blocks.append(
                StarBlock(
                    in_red=red_split(cin, self.red_portion),
                    in_channels=cin,
                    out_red=out_red,
                    out_green=out_green,
                    n_proteins=self.n_proteins,
                    kernel_size=self.plan.start if first else 4,
                    strides=1 if first else 2,
                    padding="valid" if first else "same",
                    batchnorm=not last,
                    activation="tanh" if last else "relu",
                    synchronized_bn=self.synchronized_bn,
                    seed=derive_seed(self.seed, "block", i),
                    name=f"block_{i}",
                )
            )

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build()
        self.built = True

    def _towers(self, z, training, protein):
        z = ops.reshape(z, (-1, 1, 1, self.nz))
        red, green = z[..., : self.nz_red], z[..., self.nz_red :]
        greens = green if protein is not None else [green] * self.n_proteins
        for block in self.blocks:
            red, greens = block(red, greens, training=training, protein=protein)
        return red, greens

    def call(self, z, training=False, protein=None):
        if protein is not None:
            return self.generate_protein(z, protein, training=training)
        red, greens = self._towers(z, training, None)
        return ops.concatenate([red] + list(greens), axis=-1)

    def generate_protein(self, z, protein, training=False):
        """Images of one protein only: z `[B, nz]` -> `[B, H, W, 2]` (red, green of `protein`)."""
        red, green = self._towers(z, training, self.check_protein(protein))
        return ops.concatenate([red, green], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.image_size) + (1 + self.n_proteins,)

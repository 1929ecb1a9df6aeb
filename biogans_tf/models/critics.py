"""Critics: the reference DCGAN critic and a bank of independent critics."""

from __future__ import annotations

import keras
from keras import ops

from biogans_tf.models.geometry import critic_channels
from biogans_tf.models.init import derive_seed
from biogans_tf.models.layers import BatchNorm, conv

LEAKY_SLOPE = 0.2


@keras.saving.register_keras_serializable(package="biogans_tf")
class DCGANCritic(keras.Model):
    """The reference DCGAN critic / discriminator (`DCGAN_D`).

    4x4 stride-2 convs (PyTorch padding=1) doubling the channels from `ndf` while both sides are
    > 4 (64@24x40 -> ... -> 512@3x5 at 48x80), each followed by BatchNorm (not after the first conv,
    and never when `batchnorm=False`, the WGAN-GP setting) and LeakyReLU(0.2); a final conv over the
    whole remaining map gives one logit. No biases.

    Args:
      image_size: `(height, width)` of the input images.
      n_channels: input channels (2 for (red, green); 1 + C for multichannel).
      ndf: width of the first conv.
      batchnorm: BatchNorm after the pyramid convs (GAN / WGAN); False for WGAN-GP.
      synchronized_bn: cross-replica BatchNorm statistics.
      seed: init seed.

    Call: `d(x, training=False)`, x `[B, H, W, n_channels]` in [-1, 1] -> logits `[B]`.
    """

    def __init__(
        self,
        image_size=(48, 80),
        n_channels=2,
        ndf=64,
        batchnorm=False,
        synchronized_bn=False,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        chans, final_map = critic_channels(image_size, ndf)
        self.image_size = tuple(int(s) for s in image_size)
        self.n_channels, self.ndf = int(n_channels), int(ndf)
        self.batchnorm, self.synchronized_bn, self.seed = bool(batchnorm), bool(synchronized_bn), int(seed)
        if self.n_channels < 1:
            raise ValueError(f"n_channels: expected >= 1, got {n_channels}")
        self.chans, self.final_map = chans, final_map
        self.convs = [
            conv(c, 4, 2, "same", derive_seed(self.seed, "conv", i), f"conv_{i}") for i, c in enumerate(chans)
        ]
        self.final = conv(1, final_map, 1, "valid", derive_seed(self.seed, "final"), "final")
        # The reference has no BatchNorm after the first conv.
        self.bns = []
        if self.batchnorm:
            self.bns = [
                BatchNorm(
                    synchronized=self.synchronized_bn, seed=derive_seed(self.seed, "bn", i), name=f"bn_{i}"
                )
                for i in range(1, len(chans))
            ]

    def build(self, input_shape=None):
        cin = self.n_channels
        for i, layer in enumerate(self.convs):
            layer.build((None, None, None, cin))
            cin = self.chans[i]
            if self.batchnorm and i > 0:
                self.bns[i - 1].build((None, None, None, cin))
        self.final.build((None, None, None, cin))
        self.built = True

    def call(self, x, training=False):
        for i, layer in enumerate(self.convs):
            x = layer(x)
            if self.batchnorm and i > 0:
                x = self.bns[i - 1](x, training=training)
            x = ops.leaky_relu(x, LEAKY_SLOPE)
        return ops.reshape(self.final(x), (-1,))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        return {
            "name": self.name,
            "image_size": list(self.image_size),
            "n_channels": self.n_channels,
            "ndf": self.ndf,
            "batchnorm": self.batchnorm,
            "synchronized_bn": self.synchronized_bn,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="biogans_tf")
class CriticBank(keras.Model):
    """`n_critics` independent DCGAN critics applied to `n_critics` stacked batches.

    Used as the per-protein critic of `star` and `independent` (n = C), and by C2ST (n = number of
    random splits). Critic i sees only `x[i]`; its weights are `bank.critics[i]`.

    Args:
      n_critics: number of critics n.
      image_size, n_channels, ndf, batchnorm, synchronized_bn: as `DCGANCritic`.
      seed: init seed; critic i uses `derive_seed(seed, "critic", i)`.

    Call: `bank(x, training=False)`, x `[n, B, H, W, n_channels]` -> logits `[n, B]`.
    """

    def __init__(
        self,
        n_critics=6,
        image_size=(48, 80),
        n_channels=2,
        ndf=64,
        batchnorm=False,
        synchronized_bn=False,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(n_critics) < 1:
            raise ValueError(f"n_critics: expected >= 1, got {n_critics}")
        self.n_critics, self.seed = int(n_critics), int(seed)
        self.critics = [
            DCGANCritic(
                image_size=image_size,
                n_channels=n_channels,
                ndf=ndf,
                batchnorm=batchnorm,
                synchronized_bn=synchronized_bn,
                seed=derive_seed(self.seed, "critic", i),
                name=f"critic_{i}",
            )
            for i in range(self.n_critics)
        ]
        first = self.critics[0]
        self.image_size, self.n_channels, self.ndf = first.image_size, first.n_channels, first.ndf
        self.batchnorm, self.synchronized_bn = first.batchnorm, first.synchronized_bn

    def build(self, input_shape=None):
        for critic in self.critics:
            critic.build()
        self.built = True

    def call(self, x, training=False):
        if x.shape[0] is not None and x.shape[0] != self.n_critics:
            raise ValueError(
                f"CriticBank: input has {x.shape[0]} stacked batches on axis 0, expected n_critics="
                f"{self.n_critics} (layout [n, B, H, W, c])"
            )
        return ops.stack([critic(x[i], training=training) for i, critic in enumerate(self.critics)], axis=0)

    def compute_output_shape(self, input_shape):
        return (self.n_critics, input_shape[1])

    def get_config(self):
        return {
            "name": self.name,
            "n_critics": self.n_critics,
            "image_size": list(self.image_size),
            "n_channels": self.n_channels,
            "ndf": self.ndf,
            "batchnorm": self.batchnorm,
            "synchronized_bn": self.synchronized_bn,
            "seed": self.seed,
        }

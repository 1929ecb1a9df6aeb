"""The reference DCGAN critic, its architecture arguments and its initial weights.

A bank of such critics (`star`, `independent`, C2ST) is `biogans_tf.models.critic_bank.CriticBank`.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from biogans_tf.conventions import CRITIC_NORMS, derive_seed
from biogans_tf.models.init import conv_initializer, gamma_initializer
from biogans_tf.models.layers import BatchNorm, conv
from biogans_tf.models.tower import critic_channels

LEAKY_SLOPE = 0.2


def normed(layer: keras.layers.Layer, norm: str) -> keras.layers.Layer:
    """`layer`, wrapped in `keras.layers.SpectralNormalization` when `norm == "spectral"`."""
    return keras.layers.SpectralNormalization(layer, name=f"sn_{layer.name}") if norm == "spectral" else layer


def seed_spectral_vectors(layers, seed: int) -> None:
    """Seed the power-iteration vectors `u` of built `SpectralNormalization` wrappers.

    Why: Keras draws `u` from an unseeded initializer, so two runs with the same `--seed` would
    differ; resuming restores `u` from the checkpoint like any other weight.
    """
    for i, layer in enumerate(layers):
        rng = np.random.default_rng(derive_seed(seed, "spectral_u", i))
        layer.vector_u.assign(rng.normal(0.0, 0.02, tuple(layer.vector_u.shape)).astype(np.float32))


@dataclasses.dataclass(frozen=True)
class CriticArch:
    """The architecture arguments of a DCGAN critic (one critic, or each critic of a bank).

    Attributes:
      image_size: `(height, width)` of the input images.
      n_channels: input channels (2 for (red, green); 1 + C for multichannel).
      ndf: width of the first conv.
      batchnorm: BatchNorm after the pyramid convs (GAN / WGAN); False for WGAN-GP.
      synchronized_bn: cross-replica BatchNorm statistics.
      norm: weight normalisation of every conv, one of `CRITIC_NORMS`: "none" (the reference) or
        "spectral" (`keras.layers.SpectralNormalization`, Miyato et al. 2018; `loop` banks only).
    """

    image_size: tuple = (48, 80)
    n_channels: int = 2
    ndf: int = 64
    batchnorm: bool = False
    synchronized_bn: bool = False
    norm: str = "none"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: normalise once)
        set_("image_size", tuple(int(s) for s in self.image_size))
        set_("n_channels", int(self.n_channels))
        set_("ndf", int(self.ndf))
        set_("batchnorm", bool(self.batchnorm))
        set_("synchronized_bn", bool(self.synchronized_bn))
        if self.n_channels < 1:
            raise ValueError(f"n_channels: expected >= 1, got {self.n_channels}")
        if self.norm not in CRITIC_NORMS:
            raise ValueError(f"norm: expected one of {'|'.join(CRITIC_NORMS)}, got {self.norm!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @property
    def channels(self) -> tuple[int, ...]:
        """Output widths of the stride-2 pyramid convs (`(64, 128, 256, 512)` at 48x80, ndf=64)."""
        return critic_channels(self.image_size, self.ndf)[0]

    def kernel_shapes(self) -> dict[str, tuple[int, ...]]:
        """Kernel shape `[kh, kw, in, out]` of every conv by name: `conv_<l>`, then `final`."""
        shapes, cin = {}, self.n_channels
        for i, c in enumerate(self.channels):
            shapes[f"conv_{i}"], cin = (4, 4, cin, c), c
        final_map = critic_channels(self.image_size, self.ndf)[1]
        shapes["final"] = (*final_map, cin, 1)
        return shapes

    def config(self) -> dict:
        """The fields as constructor keyword arguments (JSON-friendly)."""
        return {**dataclasses.asdict(self), "image_size": list(self.image_size)}


def critic_initializers(seed: int, arch: CriticArch) -> dict:
    """The initializers of `DCGANCritic(seed=seed)`'s layers: kernels by name, `bn_<l>` gammas."""
    out = {}
    for i in range(len(arch.channels)):
        out[f"conv_{i}"] = conv_initializer(derive_seed(seed, "conv", i), f"conv_{i}")
        if arch.batchnorm and i > 0:  # as `BatchNorm(seed=derive_seed(seed, "bn", i))` draws its gamma
            out[f"bn_{i}"] = gamma_initializer(derive_seed(seed, "bn", i), "gamma")
    out["final"] = conv_initializer(derive_seed(seed, "final"), "final")
    return out


@keras.saving.register_keras_serializable(package="biogans_tf")
class DCGANCritic(keras.Model):
    """The reference DCGAN critic / discriminator (`DCGAN_D`).

    4x4 stride-2 convs (PyTorch padding=1) doubling the channels from `ndf` while both sides are
    > 4 (64@24x40 -> ... -> 512@3x5 at 48x80), each followed by BatchNorm (not after the first conv,
    and never when `batchnorm=False`, the WGAN-GP setting) and LeakyReLU(0.2); a final conv over the
    whole remaining map gives one logit. No biases.

    Args:
      image_size, n_channels, ndf, batchnorm, synchronized_bn, norm: the architecture, as the
        fields of `CriticArch` (input `(height, width)`, input channels, first conv width,
        BatchNorm after the pyramid convs, cross-replica statistics, "none" | "spectral").
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
        norm="none",
        **kwargs,
    ):
        super().__init__(**kwargs)
        arch = CriticArch(image_size, n_channels, ndf, batchnorm, synchronized_bn, norm)
        self.norm = arch.norm
        self.image_size, self.n_channels, self.ndf = arch.image_size, arch.n_channels, arch.ndf
        self.batchnorm, self.synchronized_bn, self.seed = arch.batchnorm, arch.synchronized_bn, int(seed)
        chans, final_map = critic_channels(self.image_size, self.ndf)
        self.chans, self.final_map = chans, final_map
        self.convs = [
            normed(conv(c, 4, 2, "same", derive_seed(self.seed, "conv", i), f"conv_{i}"), self.norm)
            for i, c in enumerate(chans)
        ]
        self.final = normed(
            conv(1, final_map, 1, "valid", derive_seed(self.seed, "final"), "final"), self.norm
        )
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
        if self.norm == "spectral":
            seed_spectral_vectors([*self.convs, self.final], self.seed)
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

    def named_variables(self) -> dict:
        """Variables by name: `conv_<l>`, `final` kernels, `bn_<l>/<gamma|beta|moving_*>` (with BatchNorm)."""
        out = {f"conv_{i}": layer.kernel for i, layer in enumerate(self.convs)}
        out["final"] = self.final.kernel
        for i, bn in enumerate(self.bns, start=1):
            for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance):
                out[f"bn_{i}/{w.name}"] = w
        return out

    def get_config(self):
        arch = CriticArch(
            self.image_size, self.n_channels, self.ndf, self.batchnorm, self.synchronized_bn, self.norm
        )
        return {"name": self.name, **arch.config(), "seed": self.seed}

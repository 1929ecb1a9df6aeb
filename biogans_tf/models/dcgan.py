"""DCGAN generator (plain or separable), used by `dcgan`, `dcgan-sep` and `multichannel[-sep]`."""

from __future__ import annotations

import keras
from keras import ops

from biogans_tf.conventions import derive_seed
from biogans_tf.models.generator_base import GeneratorBase
from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, conv_transpose


def red_split(channels: int, red_portion: float) -> int:
    """Red channels of a separable layer with `channels` channels (the reference's `int(c * p)`)."""
    return int(channels * red_portion)


@keras.saving.register_keras_serializable(package="biogans_tf")
class DCGANGenerator(GeneratorBase):
    """The reference DCGAN generator; with `separable=True` the green-on-red one.

    z -> initial transposed conv to the start map (512@3x5 at 48x80, ngf=64) -> BN -> ReLU ->
    pyramid of 4x4 stride-2 transposed convs halving the channels (each BN, ReLU) -> final 4x4
    stride-2 transposed conv to `n_channels` -> tanh. No biases.

    Separable: every conv is a `SeparableConvTranspose` whose red half reads only the first
    `int(in * red_portion)` input channels; `z[:, :int(nz * red_portion)]` is therefore the red
    latent. BatchNorm acts on the concatenation (red, green), as the reference.

    Args:
      image_size, nz, ngf, red_portion, synchronized_bn, seed: as `GeneratorBase` (keywords).
      n_channels: output channels (2 for dcgan: red, green; 1 + C for multichannel).
      separable: use separable layers.
      final_red: red channels of the final separable layer; None = `int(n_channels * red_portion)`
        (the reference, and what the registry builds for every arch), at least 1. An explicit
        count is kept for models saved before `multichannel-sep` honoured `red_portion` (they set 1).

    Output channel layout of a separable multichannel generator (`n_channels = 1 + C`): as the
    reference's `CnvTranspose2d_separable`, the final layer concatenates its `r = final_red` red
    outputs (computed from the red features only) before its `1 + C - r` others (from all
    features), and the reference reads that tensor as (red, green of protein 0, ..., green of
    protein C-1). So the layout stays `[B, H, W, 1+C]` with channel 0 = red and 1+q = protein q,
    whatever `r` is; with `r > 1` (e.g. `red_portion` 0.5: r = int(7 * 0.5) = 3) the greens of
    proteins 0 .. r-2 are also drawn from red features only, exactly like the reference model.

    Call: `g(z, training=False)`, z float `[B, nz]` -> `[B, H, W, n_channels]` in [-1, 1]
    (channel 0 = red).
    """

    CONFIG_FIELDS = GeneratorBase.CONFIG_FIELDS + ("n_channels", "separable", "final_red")

    def __init__(self, n_channels=2, separable=False, final_red=None, **kwargs):
        super().__init__(**kwargs)
        self.n_channels, self.separable = int(n_channels), bool(separable)
        self.final_red = None if final_red is None else int(final_red)
        if self.nz < 1 or self.n_channels < 1:
            raise ValueError(f"nz and n_channels must be >= 1, got nz={self.nz}, n_channels={n_channels}")
        if self.separable and not 0.0 < self.red_portion < 1.0:
            raise ValueError(f"red_portion: expected a value in (0, 1), got {self.red_portion}")

        chans = self.plan.channels
        ins = (self.nz,) + chans
        outs = chans + (self.n_channels,)
        kernels = [self.plan.start] + [4] * (len(outs) - 1)
        self.convs = []
        for i, (cin, cout, k) in enumerate(zip(ins, outs, kernels, strict=True)):
            strides, padding = (1, "valid") if i == 0 else (2, "same")
            lseed = derive_seed(self.seed, "conv", i)
            name = f"conv_{i}"
            if self.separable:
                last = i == len(outs) - 1
                out_red = red_split(cout, self.red_portion)
                if last:
                    # At least one red output: with int(cout * red_portion) = 0 (e.g. 3 channels at
                    # 0.143) the reference's channel 0 would read green features, not separable.
                    out_red = max(1, out_red) if self.final_red is None else self.final_red
                layer = SeparableConvTranspose(
                    red_split(cin, self.red_portion),
                    out_red,
                    cout - out_red,
                    k,
                    strides,
                    padding,
                    lseed,
                    name=name,
                )
            else:
                layer = conv_transpose(cout, k, strides, padding, lseed, name)
            self.convs.append(layer)
        self.bns = [
            BatchNorm(synchronized=self.synchronized_bn, seed=derive_seed(self.seed, "bn", i), name=f"bn_{i}")
            for i in range(len(chans))
        ]

    def build(self, input_shape=None):
        x_ch = self.nz
        for i, layer in enumerate(self.convs):
            layer.build((None, None, None, x_ch))
            x_ch = (self.plan.channels + (self.n_channels,))[i]
            if i < len(self.bns):
                self.bns[i].build((None, None, None, x_ch))
        self.built = True

    def call(self, z, training=False):
        x = ops.reshape(z, (-1, 1, 1, self.nz))
        for i, layer in enumerate(self.convs):
            x = layer(x)
            if i < len(self.bns):
                x = ops.relu(self.bns[i](x, training=training))
        return ops.tanh(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.image_size) + (self.n_channels,)

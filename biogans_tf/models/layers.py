"""Building blocks with the reference's semantics: BatchNorm, (separable) transposed convs.

All layers are Keras 3 layers with `get_config()`, NHWC, no biases (as the reference), and keep
the Keras dtype policy: computations run in `compute_dtype`; only BatchNorm statistics are taken
in float32 (that is where mixed precision needs it).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from biogans_tf.conventions import derive_seed
from biogans_tf.models.generator_base import field_config
from biogans_tf.models.init import conv_initializer, gamma_initializer

_PKG = "biogans_tf"


@keras.saving.register_keras_serializable(package=_PKG)
class BatchNorm(keras.layers.Layer):
    """BatchNorm over the last axis with PyTorch `nn.BatchNorm2d` semantics.

    Train mode normalises with the batch mean and the *biased* batch variance, and updates
    `moving = momentum * moving + (1 - momentum) * batch` using the *unbiased* batch variance
    (`var * n / (n - 1)`, n = values per channel), as PyTorch does. Eval mode uses the moving
    statistics. Keras-convention momentum 0.9 equals PyTorch momentum 0.1.

    Args:
      momentum: weight of the old moving statistics (Keras convention).
      epsilon: added to the variance (PyTorch default 1e-5).
      synchronized: under a `tf.distribute` strategy with more than one replica, compute the batch
        statistics over all replicas (sums all-reduced), so that replicas stay identical.
      seed: seed of the N(1, 0.02) gamma initializer (beta starts at 0).

    Input/output: `[..., C]` (normally `[B, H, W, C]`), same dtype as the layer's compute dtype.
    """

    CONFIG_FIELDS = ("momentum", "epsilon", "synchronized", "seed")

    def __init__(self, momentum=0.9, epsilon=1e-5, synchronized=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.synchronized = bool(synchronized)
        self.seed = int(seed)

    def build(self, input_shape):
        c = int(input_shape[-1])
        # autocast=False: under mixed precision the statistics and affine parameters stay float32.
        kw = dict(shape=(c,), autocast=False)
        self.gamma = self.add_weight(initializer=gamma_initializer(self.seed, "gamma"), name="gamma", **kw)
        self.beta = self.add_weight(initializer="zeros", name="beta", **kw)
        # aggregation="mean": under tf.distribute each replica updates the statistics from replica
        # code; with synchronized statistics all replicas agree, so the mean is exact.
        stats = dict(kw, trainable=False, aggregation="mean")
        self.moving_mean = self.add_weight(initializer="zeros", name="moving_mean", **stats)
        self.moving_variance = self.add_weight(initializer="ones", name="moving_variance", **stats)

    def _batch_moments(self, x):
        """Mean, biased variance and count per channel, over all replicas when synchronized."""
        axes = list(range(len(x.shape) - 1))
        count = ops.cast(tf.reduce_prod(tf.shape(x)[:-1]), "float32")  # works with dynamic batch sizes
        ctx = tf.distribute.get_replica_context()
        if self.synchronized and ctx is not None and ctx.num_replicas_in_sync > 1:
            # Two passes (mean, then squared deviations), like the single-device formula, so that
            # a mirrored step matches the single-device step to rounding.
            total, count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [ops.sum(x, axes), count])
            mean = total / count
            var = ctx.all_reduce(tf.distribute.ReduceOp.SUM, ops.sum(ops.square(x - mean), axes)) / count
        else:
            mean = ops.mean(x, axes)
            var = ops.mean(ops.square(x - mean), axes)
        return mean, var, count

    def call(self, x, training=False):
        x32 = ops.cast(x, "float32")
        if training:
            mean, var, count = self._batch_moments(x32)
            unbiased = var * count / ops.maximum(count - 1.0, 1.0)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + unbiased * (1.0 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        scale = self.gamma * ops.rsqrt(var + self.epsilon)
        y = (x32 - mean) * scale + self.beta
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **field_config(self, self.CONFIG_FIELDS)}


def _reference_conv(layer_class, filters, kernel_size, strides, padding, seed, name):
    """A bias-free `layer_class` (Conv2D / Conv2DTranspose) with the reference N(0, 0.02) init."""
    init = conv_initializer(seed, name)
    kw = dict(strides=strides, padding=padding, use_bias=False, kernel_initializer=init, name=name)
    return layer_class(filters, kernel_size, **kw)


def conv_transpose(filters, kernel_size, strides, padding, seed, name):
    """A bias-free `Conv2DTranspose` with the reference N(0, 0.02) init.

    Kernel layout `[kh, kw, out, in]` (PyTorch ConvTranspose2d is `[in, out, kh, kw]`). For
    `kernel_size=4, strides=2, padding="same"` it equals PyTorch `padding=1` (output = 2 x input).
    """
    return _reference_conv(keras.layers.Conv2DTranspose, filters, kernel_size, strides, padding, seed, name)


def conv(filters, kernel_size, strides, padding, seed, name):
    """A bias-free `Conv2D` with the reference N(0, 0.02) init; kernel `[kh, kw, in, out]`."""
    return _reference_conv(keras.layers.Conv2D, filters, kernel_size, strides, padding, seed, name)


@keras.saving.register_keras_serializable(package=_PKG)
class SeparableConvTranspose(keras.layers.Layer):
    """Green-on-red transposed conv: red filters see only red features, green filters see all.

    The input's first `in_red` channels are the red features. Output =
    `concat([conv_half(x[..., :in_red]), conv_all(x)], -1)`: `out_red` red channels, then
    `out_green` green ones (one-way red -> green information flow, as the reference's
    `SeparableConvTranspose2d`).

    Args:
      in_red: number of red input channels (the reference uses `int(in_channels * red_portion)`).
      out_red: red output channels.
      out_green: green output channels.
      kernel_size, strides, padding: as `keras.layers.Conv2DTranspose`.
      seed: init seed (each half derives its own).

    Input `[B, h, w, in]` -> output `[B, h', w', out_red + out_green]`.
    """

    CONFIG_FIELDS = ("in_red", "out_red", "out_green", "kernel_size", "strides", "padding", "seed")

    def __init__(self, in_red, out_red, out_green, kernel_size, strides=1, padding="valid", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.in_red, self.out_red, self.out_green = int(in_red), int(out_red), int(out_green)
        if self.in_red < 1 or self.out_red < 1 or self.out_green < 1:
            raise ValueError(
                f"SeparableConvTranspose: red/green channel counts must be >= 1, got in_red={in_red}, "
                f"out_red={out_red}, out_green={out_green} (check red_portion and ngf)"
            )
        self.kernel_size = tuple(kernel_size) if not isinstance(kernel_size, int) else kernel_size
        self.strides, self.padding, self.seed = strides, padding, int(seed)
        self.conv_half = conv_transpose(self.out_red, kernel_size, strides, padding, seed, "conv_half")
        self.conv_all = conv_transpose(self.out_green, kernel_size, strides, padding, seed, "conv_all")

    def build(self, input_shape):
        half = list(input_shape)
        half[-1] = self.in_red
        self.conv_half.build(tuple(half))
        self.conv_all.build(tuple(input_shape))

    def call(self, x):
        red = self.conv_half(x[..., : self.in_red])
        green = self.conv_all(x)
        return ops.concatenate([red, green], axis=-1)

    def get_config(self):
        return {**super().get_config(), **field_config(self, self.CONFIG_FIELDS)}


@keras.saving.register_keras_serializable(package=_PKG)
class StarBlock(keras.layers.Layer):
    """One layer of the star-shaped generator: a shared red conv and one green conv per protein.

    `red_out = act(BN_red(conv_red(red_in)))` is computed once; for each protein c,
    `green_out[c] = act(BN_green[c](conv_green[c](concat(red_in, green_in[c]))))` (the order and
    structure of the reference's `StarConvTranspose2d`). The final block has no BatchNorm and tanh.

    Args:
      in_red: red input channels (`int(in_channels * red_portion)`); green inputs have
        `in_channels - in_red` channels, so each green conv sees `in_channels`.
      in_channels: total input channels of a green conv (red + its green).
      out_red, out_green: output channels of the red conv and of each green conv.
      n_proteins: number of green towers C.
      kernel_size, strides, padding: as `keras.layers.Conv2DTranspose`.
      batchnorm: BatchNorm after every conv (False for the final block).
      activation: "relu" or "tanh".
      synchronized_bn: cross-replica BatchNorm statistics.
      seed: init seed.

    Call: `block(red, greens, training=False, protein=None)`; `red` `[B, h, w, in_red]`; `greens`
    a list of C tensors `[B, h, w, in_channels - in_red]` (or one tensor when `protein` is an int);
    returns `(red_out, greens_out)` in the same form.
    """

    CONFIG_FIELDS = (
        "in_red", "in_channels", "out_red", "out_green", "n_proteins", "kernel_size",
        "strides", "padding", "batchnorm", "activation", "synchronized_bn", "seed",
    )  # fmt: skip

    def __init__(
        self,
        in_red,
        in_channels,
        out_red,
        out_green,
        n_proteins,
        kernel_size,
        strides=1,
        padding="valid",
        batchnorm=True,
        activation="relu",
        synchronized_bn=False,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if activation not in ("relu", "tanh"):
            raise ValueError(f"StarBlock activation: expected 'relu' or 'tanh', got {activation!r}")
        self.in_red, self.in_channels = int(in_red), int(in_channels)
        self.out_red, self.out_green, self.n_proteins = int(out_red), int(out_green), int(n_proteins)
        if (
            min(self.in_red, self.in_channels - self.in_red, self.out_red, self.out_green, self.n_proteins)
            < 1
        ):
            raise ValueError(
                f"StarBlock: channel counts must be >= 1 (in_red={in_red}, in_channels={in_channels}, "
                f"out_red={out_red}, out_green={out_green}, n_proteins={n_proteins}); check red_portion/ngf"
            )
        self.kernel_size = tuple(kernel_size) if not isinstance(kernel_size, int) else kernel_size
        self.strides, self.padding = strides, padding
        self.batchnorm, self.activation, self.synchronized_bn = (
            bool(batchnorm),
            activation,
            bool(synchronized_bn),
        )
        self.seed = int(seed)
        self.conv_red = conv_transpose(self.out_red, kernel_size, strides, padding, seed, "conv_red")
        self.conv_green = [
            conv_transpose(self.out_green, kernel_size, strides, padding, seed, f"conv_green_{c}")
            for c in range(self.n_proteins)
        ]
        if self.batchnorm:
            self.bn_red = BatchNorm(synchronized=synchronized_bn, seed=_sub(seed, "bn_red"), name="bn_red")
            self.bn_green = [
                BatchNorm(
                    synchronized=synchronized_bn, seed=_sub(seed, f"bn_green_{c}"), name=f"bn_green_{c}"
                )
                for c in range(self.n_proteins)
            ]

    def build(self, *args, **kwargs):
        # Shapes are known from the constructor: build everything so that weights exist before the
        # first call (needed for loading and conversion).
        self.conv_red.build((None, None, None, self.in_red))
        for layer in self.conv_green:
            layer.build((None, None, None, self.in_channels))
        if self.batchnorm:
            self.bn_red.build((None, None, None, self.out_red))
            for layer in self.bn_green:
                layer.build((None, None, None, self.out_green))
        self.built = True

    def _act(self, x):
        return ops.relu(x) if self.activation == "relu" else ops.tanh(x)

    def _green(self, c, red_in, green_in, training):
        y = self.conv_green[c](ops.concatenate([red_in, green_in], axis=-1))
        if self.batchnorm:
            y = self.bn_green[c](y, training=training)
        return self._act(y)

    def call(self, red, greens, training=False, protein=None):
        r = self.conv_red(red)
        if self.batchnorm:
            r = self.bn_red(r, training=training)
        r = self._act(r)
        if protein is None:
            return r, [self._green(c, red, g, training) for c, g in enumerate(greens)]
        return r, self._green(int(protein), red, greens, training)

    def get_config(self):
        return {**super().get_config(), **field_config(self, self.CONFIG_FIELDS)}


def _sub(seed, name):
    """Seed of a sub-layer derived from its parent's seed and its name."""
    return derive_seed(seed, name)

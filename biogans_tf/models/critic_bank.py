"""A bank of `n` independent DCGAN critics, run as a Python loop or as grouped convolutions.

One bank serves two uses: the per-protein critic of the `star` and `independent` families (n = C)
and the C2ST critics (n = number of splits x problems). Both executions compute the same
function (up to float summation order) from the same weights:

- `loop`: `n` `DCGANCritic` models called one after another (`bank.critics[i]`). This is the
  training families' layout (checkpoints, SavedModels and the PyTorch key map of
  `export/from_torch.py` name `critic_i/...`).
- `grouped`: one grouped convolution per layer over channel-stacked inputs `[B, H, W, n * c]`
  (`GroupedCritics`), kernels `[kh, kw, c_in, n * c_out]` stacked critic-major along the output
  axis; BatchNorm over the `n * c_out` channels is exactly `n` per-critic BatchNorms (statistics
  are per channel).

Exact mapping between the two: critic `i`'s variable `name` (`conv_<l>`, `final`, and with
BatchNorm `bn_<l>/gamma|beta|moving_mean|moving_variance`) is
`loop`: `bank.critics[i]`'s own variable; `grouped`: the slice `[..., i * c_out:(i + 1) * c_out]`
of the stacked one. `critic_weights(i)` / `set_critic_weights(weights)` read and write it in
either execution, and the same `seed` gives the same initial weights in both.

Speed (`benchmarks/critic_bank.py`, CPU, float32, one WGAN-GP critic step with its double
backward): `loop` is the faster on CPU for both uses, so both use it: `star` (6 critics,
ndf 64, batch 64) 51 s vs 87 s per step on a heavily loaded 2-core machine, 0.33 s vs 0.44 s at
ndf 16, batch 16; C2ST (10 critics, ndf 16, batch 16) 0.45 s vs 1.23 s. GPUs were not measured.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from biogans_tf.conventions import CRITIC_BANKS, derive_seed
from biogans_tf.failure import error_summary
from biogans_tf.models.critics import LEAKY_SLOPE, CriticArch, DCGANCritic, critic_initializers
from biogans_tf.models.layers import BatchNorm

# How a bank runs its critics: the `--critic_bank` names but `auto`, which the trainer resolves.
EXECUTIONS = tuple(name for name in CRITIC_BANKS if name != "auto")


def grouped_training_error(dtype="float32") -> str | None:
    """Why this process cannot train a grouped convolution in `dtype`, or None where it can.

    Grouped convolutions train only where TensorFlow runs its oneDNN kernels: Eigen's
    `Conv2DBackpropFilter` (the kernel set of CPUs where oneDNN is off, `biogans_tf.cpu`) rejects a
    filter with fewer input channels than the input ("filter_size does not have enough elements").
    The probe runs, traced as in training, one tiny two-group convolution forward, its input and
    filter gradients, and the gradient of the input gradient's norm (the penalty's double
    backward), in `dtype`.

    Returns:
        None, or the failing op's one-line message (`biogans_tf.failure.error_summary`).
    """
    x = tf.cast(tf.reshape(tf.range(2 * 8 * 8 * 4, dtype=tf.float32) % 7 - 3.0, [2, 8, 8, 4]), dtype)
    kernel = tf.cast(tf.reshape(tf.range(4 * 4 * 2 * 4, dtype=tf.float32) % 5 - 2.0, [4, 4, 2, 4]), dtype)

    @tf.function(autograph=False)
    def step(x, kernel):
        with tf.GradientTape() as outer:
            outer.watch(kernel)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.nn.conv2d(x, kernel, 2, "SAME")
                loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
            dx = inner.gradient(loss, x)
            norm = tf.reduce_sum(tf.cast(dx, tf.float32) ** 2)
        return outer.gradient(norm, kernel)

    try:
        step(x, kernel)
    except (tf.errors.OpError, ValueError) as e:
        return error_summary(e)
    return None


@keras.saving.register_keras_serializable(package="biogans_tf")
class GroupedCritics(keras.layers.Layer):
    """`n` DCGAN critics (the `DCGANCritic` layout) as one grouped convolution per layer.

    Args:
      critic_seeds: one init seed per critic; critic `i` starts from the weights of
        `DCGANCritic(seed=critic_seeds[i])`.
      arch: the critics' `CriticArch` (as a dict in configs).

    Call: `layer(x, training=False)`, x `[n, B, H, W, c]` -> logits `[n, B]` (critic `i` sees `x[i]`).
    """

    def __init__(self, critic_seeds=(0,), arch=None, **kwargs):
        super().__init__(**kwargs)
        self.critic_seeds = [int(s) for s in critic_seeds]
        self.arch = arch if isinstance(arch, CriticArch) else CriticArch(**(arch or {}))
        if self.arch.norm != "none":  # a stacked kernel's top singular value is not each critic's
            raise ValueError(f"GroupedCritics: norm={self.arch.norm!r} needs the `loop` execution")
        self.n_critics = len(self.critic_seeds)
        self.bns = []
        if self.arch.batchnorm:  # the reference has no BatchNorm after the first conv
            self.bns = [
                BatchNorm(synchronized=self.arch.synchronized_bn, name=f"bn_{i}")
                for i in range(1, len(self.arch.channels))
            ]

    def build(self, input_shape=None):
        # Weights are made eagerly, also when a traced call builds the layer (values come from numpy).
        with tf.init_scope():
            inits = [critic_initializers(s, self.arch) for s in self.critic_seeds]
            self.kernels = []
            for name, shape in self.arch.kernel_shapes().items():
                # Critic-major stacking: critic i's own kernel is the i-th block of output channels.
                value = np.concatenate([np.asarray(init[name](shape)) for init in inits], axis=-1)
                kernel = self.add_weight(shape=value.shape, initializer="zeros", name=f"{name}_kernel")
                kernel.assign(value)  # what each critic's own initializer draws
                self.kernels.append(kernel)
            for i, bn in enumerate(self.bns, start=1):
                bn.build((None, None, None, self.arch.channels[i] * self.n_critics))
                gamma = [np.asarray(init[f"bn_{i}"]((self.arch.channels[i],))) for init in inits]
                bn.gamma.assign(np.concatenate(gamma))
        self.built = True

    def call(self, x, training=False):
        shape = ops.shape(x)
        n, c = self.n_critics, self.arch.n_channels
        # [n, B, H, W, c] -> [B, H, W, n * c]: critic-major channel groups, as a grouped conv wants.
        h = ops.reshape(ops.transpose(x, [1, 2, 3, 0, 4]), [shape[1], shape[2], shape[3], n * c])
        for i, kernel in enumerate(self.kernels[:-1]):
            h = tf.nn.conv2d(h, ops.cast(kernel, h.dtype), 2, "SAME")
            if self.bns and i > 0:
                h = self.bns[i - 1](h, training=training)
            h = ops.leaky_relu(h, LEAKY_SLOPE)
        h = tf.nn.conv2d(h, ops.cast(self.kernels[-1], h.dtype), 1, "VALID")  # [B, 1, 1, n]
        return ops.transpose(ops.reshape(h, [shape[1], n]))

    def compute_output_shape(self, input_shape):
        return (self.n_critics, input_shape[1])

    def named_variables(self) -> dict:
        """Stacked variables by critic-variable name (see the module docstring), `[..., n * c_out]`."""
        out = dict(zip(self.arch.kernel_shapes(), self.kernels, strict=True))
        for i, bn in enumerate(self.bns, start=1):
            for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance):
                out[f"bn_{i}/{w.name}"] = w
        return out

    def get_config(self):
        return {**super().get_config(), "critic_seeds": self.critic_seeds, "arch": self.arch.config()}


@keras.saving.register_keras_serializable(package="biogans_tf")
class CriticBank(keras.Model):
    """`n_critics` independent DCGAN critics applied to `n_critics` stacked batches.

    Used as the per-protein critic of `star` and `independent` (n = C), and by C2ST (n = number of
    random splits). Critic i sees only `x[i]`.

    Args:
      n_critics: number of critics n.
      seed: init seed; critic i starts like `DCGANCritic(seed=derive_seed(seed, "critic", i))`.
      execution: `loop` (weights in `bank.critics[i]`; the training families' layout) or `grouped`
        (grouped convolutions; see the module docstring for the exact weight mapping).
      **kwargs: `CriticArch` fields (image_size, n_channels, ndf, batchnorm, synchronized_bn, as
        `DCGANCritic`) and Keras model arguments (name, ...).

    Call: `bank(x, training=False)`, x `[n, B, H, W, n_channels]` -> logits `[n, B]`.
    """

    def __init__(self, n_critics=6, seed=0, execution="loop", **kwargs):
        arch = CriticArch(**{k: kwargs.pop(k) for k in CriticArch.field_names() if k in kwargs})
        super().__init__(**kwargs)
        if int(n_critics) < 1:
            raise ValueError(f"n_critics: expected >= 1, got {n_critics}")
        if execution not in EXECUTIONS:
            raise ValueError(f"execution: expected one of {'|'.join(EXECUTIONS)}, got {execution!r}")
        self.n_critics, self.seed, self.execution = int(n_critics), int(seed), execution
        seeds = [derive_seed(self.seed, "critic", i) for i in range(self.n_critics)]
        if execution == "loop":
            args = arch.config()
            self.critics = [DCGANCritic(**args, seed=s, name=f"critic_{i}") for i, s in enumerate(seeds)]
        else:
            self.grouped = GroupedCritics(seeds, arch, name="grouped")
        self.image_size, self.n_channels, self.ndf = arch.image_size, arch.n_channels, arch.ndf
        self.batchnorm, self.synchronized_bn, self.norm = arch.batchnorm, arch.synchronized_bn, arch.norm

    def build(self, input_shape=None):
        for critic in self.critics if self.execution == "loop" else [self.grouped]:
            critic.build()
        self.built = True

    def call(self, x, training=False):
        if x.shape[0] is not None and x.shape[0] != self.n_critics:
            raise ValueError(
                f"CriticBank: input has {x.shape[0]} stacked batches on axis 0, expected n_critics="
                f"{self.n_critics} (layout [n, B, H, W, c])"
            )
        if self.execution == "grouped":
            return self.grouped(x, training=training)
        return ops.stack([critic(x[i], training=training) for i, critic in enumerate(self.critics)], axis=0)

    def compute_output_shape(self, input_shape):
        return (self.n_critics, input_shape[1])

    def critic_weights(self, i: int) -> dict[str, np.ndarray]:
        """Critic i's weights by name (`conv_<l>`, `final`, `bn_<l>/...`), in either execution."""
        if not 0 <= i < self.n_critics:
            raise IndexError(f"critic index {i} outside 0..{self.n_critics - 1}")
        if self.execution == "loop":
            return {k: np.asarray(v) for k, v in self.critics[i].named_variables().items()}
        out = {}
        for k, v in self.grouped.named_variables().items():
            w = int(v.shape[-1]) // self.n_critics
            out[k] = np.asarray(v)[..., i * w : (i + 1) * w]
        return out

    def set_critic_weights(self, weights) -> None:
        """Assign every critic's weights: `weights[i]` maps names (as `critic_weights`) to arrays.

        Each dict may hold a subset of the names (the same for every critic).
        """
        if len(weights) != self.n_critics:
            raise ValueError(
                f"set_critic_weights: got {len(weights)} critics' weights, expected {self.n_critics}"
            )
        if self.execution == "loop":
            for critic, values in zip(self.critics, weights, strict=True):
                named = critic.named_variables()
                for k, value in values.items():
                    named[k].assign(np.asarray(value, np.float32))
            return
        named = self.grouped.named_variables()
        for k in weights[0]:
            named[k].assign(np.concatenate([np.asarray(w[k], np.float32) for w in weights], axis=-1))

    def get_config(self):
        arch = CriticArch(
            self.image_size, self.n_channels, self.ndf, self.batchnorm, self.synchronized_bn, self.norm
        )
        config = {"name": self.name, "n_critics": self.n_critics, **arch.config(), "seed": self.seed}
        return {**config, "execution": self.execution}

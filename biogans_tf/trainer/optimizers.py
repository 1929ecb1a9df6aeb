"""Optimisers with the reference's (PyTorch) update rules."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


class _SlotTable:
    """Optimizer slots found by their model variable, also by a replica's copy of it.

    A plain (untracked) object: the slots themselves are tracked by the optimizer's `variables`,
    so checkpoint keys stay those of Keras' RMSprop. Under a `tf.distribute` strategy
    `update_step` receives each replica's component of a mirrored variable; every component is
    registered here (`Strategy.experimental_local_results`).
    """

    def __init__(self):
        self.by_ref = {}

    @staticmethod
    def _tf_variable(variable):
        return variable.value if isinstance(variable, keras.Variable) else variable

    def add(self, variable, slot) -> None:
        v = self._tf_variable(variable)
        for part in (v, *tf.distribute.get_strategy().experimental_local_results(v)):
            self.by_ref[part.ref()] = slot

    def __getitem__(self, variable):
        return self.by_ref[self._tf_variable(variable).ref()]


@keras.saving.register_keras_serializable(package="biogans_tf")
class TorchRMSprop(keras.optimizers.Optimizer):
    """RMSProp with PyTorch's epsilon placement: `w -= lr * g / (sqrt(v) + eps)`.

    `v = rho * v + (1 - rho) * g**2` per weight (the same `velocity` slots, in the same order, as
    Keras' RMSprop, so checkpoints are interchangeable). Keras' RMSprop adds epsilon inside the
    square root (`g / sqrt(v + eps)`), which with PyTorch's eps=1e-8 acts like a 1e-4 floor on the
    denominator and changes small updates. Defaults are PyTorch's: rho (alpha) 0.99, eps 1e-8.
    No momentum/centering (unused by the reference).
    """

    def __init__(self, learning_rate=5e-5, rho=0.99, epsilon=1e-8, name="torch_rmsprop", **kwargs):
        for unused in ("momentum", "centered"):  # Keras RMSprop's config keys; always off here
            if kwargs.pop(unused, 0):
                raise ValueError(f"TorchRMSprop does not support {unused}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon
        self.momentum = 0.0
        self.centered = False

    def build(self, var_list):
        """One zero-initialised `velocity` slot per variable."""
        if self.built:
            return
        super().build(var_list)
        self.velocity = _SlotTable()
        for variable, slot in zip(var_list, self.add_optimizer_variables(var_list, "velocity"), strict=True):
            self.velocity.add(variable, slot)

    def update_step(self, gradient, variable, learning_rate):
        """One update of `variable` (any shape) from `gradient` (same shape)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self.velocity[variable]
        self.assign(
            velocity, ops.add(ops.multiply(self.rho, velocity), (1 - self.rho) * ops.square(gradient))
        )
        self.assign_sub(
            variable, ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon))
        )

    def get_config(self):
        config = super().get_config()
        config.update(rho=self.rho, momentum=0.0, epsilon=self.epsilon, centered=False)
        return config


def make_optimizer(kind: str, learning_rate: float, beta1: float = 0.5, beta2: float = 0.999, name=None):
    """Build the critic's or generator's optimiser.

    Args:
        kind: `adam` (Keras Adam, eps 1e-8 added to sqrt(v) like PyTorch 0.2) or `rmsprop`
            (`TorchRMSprop`, PyTorch defaults).
        learning_rate: step size.
        beta1, beta2: Adam betas.
        name: optimiser name (keeps checkpoint keys readable).
    """
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta1, beta_2=beta2, epsilon=1e-8, name=name)
    if kind == "rmsprop":
        return TorchRMSprop(learning_rate, name=name or "torch_rmsprop")
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {kind!r}")

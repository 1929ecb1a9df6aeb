"""Optimisers with the reference's (PyTorch) update rules."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="biogans_tf")
class TorchRMSprop(keras.optimizers.RMSprop):
    """RMSProp with PyTorch's epsilon placement: `w -= lr * g / (sqrt(v) + eps)`.

    Keras' RMSprop adds epsilon inside the square root (`g / sqrt(v + eps)`), which with
    PyTorch's eps=1e-8 acts like a 1e-4 floor on the denominator and changes small updates.
    Defaults are PyTorch's: rho (alpha) 0.99, eps 1e-8. No momentum/centering (unused by the
    reference).
    """

    def __init__(self, learning_rate=5e-5, rho=0.99, epsilon=1e-8, name="torch_rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(
            velocity, ops.add(ops.multiply(self.rho, velocity), (1 - self.rho) * ops.square(gradient))
        )
        self.assign_sub(
            variable, ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon))
        )


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

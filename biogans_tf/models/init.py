"""Reference weight initialisation (the paper's `weights_init`), seeded deterministically.

The reference draws every conv / transposed-conv kernel from N(0, 0.02), every BatchNorm scale
(gamma) from N(1, 0.02) and sets every BatchNorm offset (beta) to 0; no layer has a bias.

Seeds: a model takes one integer `seed`; each layer derives its own seed from `(seed, layer path)`
with `derive_seed` (`biogans_tf.conventions`), so the same seed always gives identical weights,
two layers never share a stream, and adding a layer does not change the weights of the others.
"""

from __future__ import annotations

import keras
import numpy as np

from biogans_tf.conventions import derive_seed

CONV_STDDEV = 0.02
GAMMA_MEAN = 1.0
GAMMA_STDDEV = 0.02


def conv_initializer(seed: int, *path) -> keras.initializers.Initializer:
    """N(0, 0.02) kernel initializer seeded by `derive_seed(seed, *path)`."""
    return keras.initializers.RandomNormal(0.0, CONV_STDDEV, seed=derive_seed(seed, *path))


def gamma_initializer(seed: int, *path) -> keras.initializers.Initializer:
    """N(1, 0.02) BatchNorm-scale initializer seeded by `derive_seed(seed, *path)`."""
    return keras.initializers.RandomNormal(GAMMA_MEAN, GAMMA_STDDEV, seed=derive_seed(seed, *path))


def reference_init(model: keras.Model, seed: int) -> keras.Model:
    """Re-initialise a built model in place with the reference scheme (numpy RNG, seeded).

    Kernels get N(0, 0.02), `gamma` N(1, 0.02), `beta` 0, moving means 0 and moving variances 1.
    Each variable's stream is derived from `(seed, its index in model.weights, its name)`; the
    order of `model.weights` is fixed by the architecture, so this is deterministic.

    Args:
      model: a built Keras model made of this package's layers.
      seed: non-negative integer seed.

    Returns:
      The same model (for chaining).
    """
    if not model.built:
        raise ValueError("reference_init: build the model first (call it once or use the registry)")
    for i, v in enumerate(model.weights):
        name = v.name.split("/")[-1]
        shape = tuple(v.shape)
        if name in ("moving_mean", "beta"):
            value = np.zeros(shape)
        elif name == "moving_variance":
            value = np.ones(shape)
        else:
            rng = np.random.default_rng(derive_seed(seed, "reinit", i, name))
            mean, std = (GAMMA_MEAN, GAMMA_STDDEV) if name == "gamma" else (0.0, CONV_STDDEV)
            value = rng.normal(mean, std, size=shape)
        v.assign(value.astype(v.dtype))
    return model

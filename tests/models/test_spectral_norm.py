"""`--critic_norm=spectral`: `keras.layers.SpectralNormalization` around every critic conv."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.models import registry
from biogans_tf.models.critic_bank import CriticBank
from biogans_tf.models.critics import DCGANCritic

SIZE = (24, 40)


def _x(seed=1, lead=(4,)):
    return tf.random.stateless_normal([*lead, *SIZE, 2], seed=[seed, 2])


def test_every_conv_is_wrapped_seeded_and_starts_from_the_plain_weights():
    d = registry.build_critic("dcgan", image_size=SIZE, ndf=8, seed=3, norm="spectral")
    again = registry.build_critic("dcgan", image_size=SIZE, ndf=8, seed=3, norm="spectral")
    plain = registry.build_critic("dcgan", image_size=SIZE, ndf=8, seed=3)
    wrapped = [*d.convs, d.final]
    assert all(isinstance(layer, keras.layers.SpectralNormalization) for layer in wrapped)
    assert sum("vector_u" in w.path for w in d.weights) == len(wrapped)
    for a, b in zip(d.weights, again.weights, strict=True):  # `u` too: same seed, same run
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name, kernel in plain.named_variables().items():
        np.testing.assert_array_equal(kernel.numpy(), d.named_variables()[name].numpy())


def test_training_calls_normalise_kernels_and_inference_leaves_them():
    d = DCGANCritic(image_size=SIZE, ndf=8, seed=0, norm="spectral")
    d.build()
    before = [w.numpy().copy() for w in d.weights]
    d(_x(), training=False)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, d.weights, strict=True))
    for _ in range(30):  # power iterations converge: each kernel's top singular value -> 1
        d(_x(), training=True)
    kernel = d.convs[1].kernel.numpy()
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_config_round_trip_and_banks():
    d = DCGANCritic(image_size=SIZE, ndf=8, seed=0, norm="spectral")
    assert d.get_config()["norm"] == "spectral" and DCGANCritic.from_config(d.get_config()).norm == "spectral"
    assert DCGANCritic(image_size=SIZE, ndf=8).get_config()["norm"] == "none"
    bank = registry.build_critic("star", image_size=SIZE, n_proteins=2, ndf=8, seed=1, norm="spectral")
    assert isinstance(bank, CriticBank) and all(c.norm == "spectral" for c in bank.critics)
    assert bank(_x(lead=(2, 3)), training=True).shape == (2, 3)
    assert CriticBank.from_config(bank.get_config()).norm == "spectral"
    with pytest.raises(ValueError, match="loop"):
        CriticBank(n_critics=2, image_size=SIZE, ndf=8, norm="spectral", execution="grouped")
    with pytest.raises(ValueError, match="norm"):
        DCGANCritic(image_size=SIZE, ndf=8, norm="weight")

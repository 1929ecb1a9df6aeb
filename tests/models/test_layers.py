"""BatchNorm semantics (PyTorch-like), separable and star blocks."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, StarBlock
from tests.conftest import subprocess_env


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(1.5, 2.0, size=shape).astype("float32")


def test_batchnorm_train_step_matches_numpy():
    x = _x((4, 3, 5, 6))
    bn = BatchNorm()
    y = np.asarray(bn(x, training=True))
    mean = x.mean(axis=(0, 1, 2))
    var_biased = x.var(axis=(0, 1, 2))
    n = 4 * 3 * 5
    gamma, beta = np.asarray(bn.gamma), np.asarray(bn.beta)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var_biased + 1e-5) * gamma + beta, atol=1e-5)
    # Moving statistics: momentum 0.9 (Keras) == 0.1 (PyTorch), UNBIASED batch variance.
    np.testing.assert_allclose(np.asarray(bn.moving_mean), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(bn.moving_variance), 0.9 + 0.1 * var_biased * n / (n - 1), rtol=1e-5
    )
    # Eval mode uses the moving statistics.
    mm, mv = np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)
    np.testing.assert_allclose(
        np.asarray(bn(x, training=False)), (x - mm) / np.sqrt(mv + 1e-5) * gamma + beta, atol=1e-5
    )


def test_batchnorm_init_and_config():
    bn = BatchNorm(seed=3)
    bn.build((None, 256))
    g = np.asarray(bn.gamma)
    assert abs(g.mean() - 1.0) < 0.01 and 0.01 < g.std() < 0.03
    assert np.all(np.asarray(bn.beta) == 0)
    clone = BatchNorm.from_config(bn.get_config())
    clone.build((None, 256))
    np.testing.assert_array_equal(np.asarray(clone.gamma), g)
    assert clone.epsilon == 1e-5 and clone.momentum == 0.9


def test_batchnorm_mixed_precision_keeps_float32_statistics():
    bn = BatchNorm(dtype="mixed_float16")
    y = bn(_x((2, 4, 4, 3)), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert bn.moving_variance.dtype == "float32"


def test_separable_conv_red_ignores_green():
    layer = SeparableConvTranspose(in_red=3, out_red=2, out_green=4, kernel_size=4, strides=2, padding="same")
    x = _x((2, 5, 7, 6))
    y = np.asarray(layer(x))
    assert y.shape == (2, 10, 14, 6)
    x2 = x.copy()
    x2[..., 3:] += 1.0  # change green inputs only
    y2 = np.asarray(layer(x2))
    np.testing.assert_array_equal(y[..., :2], y2[..., :2])
    assert np.abs(y[..., 2:] - y2[..., 2:]).max() > 1e-3


def test_star_block_protein_path_equals_full_path():
    block = StarBlock(in_red=2, in_channels=4, out_red=3, out_green=3, n_proteins=3, kernel_size=4, strides=2,
                      padding="same")  # fmt: skip
    red = _x((2, 3, 5, 2), 1)
    greens = [_x((2, 3, 5, 2), 2 + c) for c in range(3)]
    r, gs = block(red, greens)
    r1, g1 = block(red, greens[1], protein=1)
    np.testing.assert_allclose(np.asarray(r), np.asarray(r1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gs[1]), np.asarray(g1), atol=1e-6)
    assert len(block.trainable_weights) == 1 + 3 + 2 * (1 + 3)


_SYNC_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    from biogans_tf.models.layers import BatchNorm
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 2, 2, 3)).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        bn = BatchNorm(synchronized=True)
        bn.build((None, 2, 2, 3))
    ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))
    @tf.function
    def step(batch):
        return strategy.run(lambda b: bn(b, training=True), args=(batch,))
    for batch in ds:
        step(batch)
    n = 8 * 2 * 2
    want_var = 0.9 + 0.1 * x.var(axis=(0, 1, 2)) * n / (n - 1)
    np.testing.assert_allclose(bn.moving_variance.numpy(), want_var, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    print("SYNC_OK", strategy.num_replicas_in_sync)
    """
)


@pytest.mark.slow
def test_synchronized_batchnorm_under_mirrored_strategy():
    env = subprocess_env()
    res = subprocess.run(
        [sys.executable, "-c", _SYNC_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert "SYNC_OK 2" in res.stdout, res.stderr[-3000:]

"""CriticBank: the `loop` and `grouped` executions are one function of one set of weights."""

import re

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.cpu import onednn_enabled
from biogans_tf.models import CriticBank
from biogans_tf.models.critic_bank import grouped_training_error

SIZE = (16, 32)


def _x(n=3, b=5, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, b, *SIZE, 2)).astype(np.float32)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_same_seed_same_weights_and_scores_in_both_strategies(batchnorm):
    kw = dict(n_critics=3, image_size=SIZE, ndf=4, batchnorm=batchnorm, seed=5)
    loop, grouped = CriticBank(**kw), CriticBank(**kw, execution="grouped")
    loop.build(), grouped.build()
    for i in range(3):
        a, b = loop.critic_weights(i), grouped.critic_weights(i)
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    x = _x()
    for training in (False, True):  # training=True: per-critic BatchNorm batch statistics
        np.testing.assert_allclose(
            loop(x, training=training).numpy(), grouped(x, training=training).numpy(), rtol=1e-5, atol=1e-6
        )
    if batchnorm:  # the moving statistics moved alike (two training calls each)
        np.testing.assert_allclose(
            loop.critic_weights(2)["bn_1/moving_mean"],
            grouped.critic_weights(2)["bn_1/moving_mean"],
            atol=1e-6,
        )


def test_weight_mapping_moves_critics_between_strategies():
    loop = CriticBank(n_critics=2, image_size=SIZE, ndf=4, seed=1)
    grouped = CriticBank(n_critics=2, image_size=SIZE, ndf=4, seed=99, execution="grouped")
    loop.build(), grouped.build()
    x = _x(n=2)
    assert not np.allclose(loop(x).numpy(), grouped(x).numpy())
    grouped.set_critic_weights([loop.critic_weights(i) for i in range(2)])
    np.testing.assert_allclose(loop(x).numpy(), grouped(x).numpy(), rtol=1e-5, atol=1e-6)
    # The stacked kernel holds critic i's kernel in output-channel block i (critic-major).
    kernel = {v.path.split("/")[-1]: v for v in grouped.weights}["conv_1_kernel"]
    np.testing.assert_array_equal(np.asarray(kernel)[..., 8:], loop.critic_weights(1)["conv_1"])


def test_loop_layout_config_and_errors():
    bank = CriticBank(n_critics=2, image_size=SIZE, ndf=4, name="critic")
    bank.build()
    # The training families' variable layout (checkpoints, SavedModels, the PyTorch key map).
    assert [v.path for v in bank.weights][:3] == [
        "critic/critic_0/conv_0/kernel",
        "critic/critic_0/conv_1/kernel",
        "critic/critic_0/final/kernel",
    ]
    for execution in ("loop", "grouped"):
        b = CriticBank(n_critics=2, image_size=SIZE, ndf=4, seed=3, execution=execution)
        again = CriticBank.from_config(b.get_config())
        assert again.get_config() == b.get_config() and again.execution == execution
        np.testing.assert_array_equal(again(_x(n=2)).numpy(), b(_x(n=2)).numpy())
    with pytest.raises(ValueError, match="execution: expected one of loop|grouped"):
        CriticBank(n_critics=2, execution="vmap")
    with pytest.raises(ValueError, match="expected n_critics=2"):
        CriticBank(n_critics=2, image_size=SIZE, ndf=4, execution="grouped")(_x(n=3))


@pytest.mark.cpu_kinds
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_grouped_training_probe_follows_tensorflows_cpu_kernels(dtype):
    # oneDNN trains grouped convolutions; Eigen's CPU kernels (TF_ENABLE_ONEDNN_OPTS=0, or an
    # AVX2-only CPU left to TensorFlow's default) reject their gradients.
    problem = grouped_training_error(dtype)
    if onednn_enabled():
        assert problem is None
    else:
        # Either gradient kernel may fail first (op scheduling); both name the op and complain.
        assert re.search(r"Conv2DBackprop(Input|Filter) failed", problem) and "\n" not in problem
        assert re.search(r"grouped convolutions are not supported|filter_size does not have enough", problem)


@pytest.mark.cpu_kinds
def test_where_the_probe_passes_grouped_gradients_equal_the_loops():
    if grouped_training_error() is not None:
        pytest.skip("grouped convolutions do not train with these kernels (the probe test covers it)")
    kw = dict(n_critics=3, image_size=SIZE, ndf=4, seed=2)
    x = tf.constant(_x(seed=3))
    grads = []
    for execution in ("loop", "grouped"):
        bank = CriticBank(**kw, execution=execution)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(bank(x, training=True) ** 2)
        grads.append(tape.gradient(score, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)

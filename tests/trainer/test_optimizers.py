"""The optimisers follow PyTorch's update rules."""

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.trainer.optimizers import TorchRMSprop, make_optimizer


def _torch_rmsprop(w, grads, lr, alpha=0.99, eps=1e-8):
    v = np.zeros_like(w)
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(v) + eps)
    return w


def test_torch_rmsprop_matches_pytorch_formula():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(5,)).astype(np.float32)
    grads = [rng.normal(scale=1e-3, size=(5,)).astype(np.float32) for _ in range(3)]
    var = tf.Variable(w0)
    opt = TorchRMSprop(learning_rate=5e-5)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(var.numpy(), _torch_rmsprop(w0.astype(np.float64), grads, 5e-5), rtol=1e-5)


def test_torch_rmsprop_equals_torch_when_available():
    torch = pytest.importorskip("torch")
    w0 = np.linspace(-1, 1, 6).astype(np.float32)
    grads = [np.full(6, 1e-4, np.float32), np.linspace(-1e-2, 1e-2, 6).astype(np.float32)]
    p = torch.nn.Parameter(torch.tensor(w0))
    topt = torch.optim.RMSprop([p], lr=1e-3)
    var, opt = tf.Variable(w0), make_optimizer("rmsprop", 1e-3)
    for g in grads:
        p.grad = torch.tensor(g)
        topt.step()
        opt.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(var.numpy(), p.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_make_optimizer_adam_settings_and_errors():
    adam = make_optimizer("adam", 1e-4, 0.0, 0.9)
    assert adam.epsilon == 1e-8 and adam.beta_1 == 0.0 and adam.beta_2 == 0.9
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("sgd", 1e-3)


def test_torch_rmsprop_keeps_keras_rmsprop_slots_and_checkpoint_keys(tmp_path):
    """Several Keras weights at once (one slot each, found by weight) and the checkpoint layout of
    Keras' RMSprop (so checkpoints written before the public-API rewrite still restore)."""
    import keras

    rng = np.random.default_rng(1)
    shapes = [(3, 4), (5,), (2, 2, 3)]
    w0 = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rng.normal(scale=10.0**-k, size=s).astype(np.float32) for s in shapes] for k in (1, 3, 5)]
    ours = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(w0)]
    opt = TorchRMSprop(learning_rate=1e-3, name="d_optimizer")
    for gs in grads:
        opt.apply_gradients(zip([tf.constant(g) for g in gs], ours, strict=True))
    for i, v in enumerate(ours):
        want = _torch_rmsprop(w0[i].astype(np.float64), [gs[i] for gs in grads], 1e-3)
        np.testing.assert_allclose(np.array(v), want, rtol=1e-5)

    def keys(optimizer):
        path = tf.train.Checkpoint(opt=optimizer).write(str(tmp_path / optimizer.__class__.__name__ / "c"))
        return sorted(k for k, _ in tf.train.list_variables(path))

    keras_opt = keras.optimizers.RMSprop(name="d_optimizer")
    keras_opt.build([keras.Variable(w) for w in w0])
    assert keys(opt) == keys(keras_opt)
    assert opt.get_config()["rho"] == 0.99 and opt.get_config()["epsilon"] == 1e-8

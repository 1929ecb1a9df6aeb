"""`biogans_tf.eval.lbfgs_reference` against `torch.optim.LBFGS` itself (issue 22 A1).

Same objective, same start, torch's optimiser with the reference's settings (lr 0.05, no line
search, history 100, 20 inner iterations per step): the iterates after 1, 5 and 50 steps agree, and
so do the counts of iterations and objective evaluations, which pins every stopping rule. In float64
on a Rosenbrock valley (curved, so the history and the stopping rules all matter) to 1e-8; in float32
on the reference's own reconstruction problem (the reference generator, converted, and its loss: the
mean squared error over a batch in [-1, 1] units) to float32 tolerance.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.eval import lbfgs_reference
from tests.conftest import ROOT

torch = pytest.importorskip("torch")

SHARED = os.environ.get("BIOGANS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
REFERENCE = os.path.join(SHARED, "reference", "torch_reference.py")
SETTINGS = dict(lr=0.05, max_iter=20, history_size=100, tolerance_grad=1e-7, tolerance_change=1e-9)


def _torch_lbfgs(loss_fn, x0: np.ndarray, steps: int):
    """torch's iterate after `steps` calls of `step`, and its iteration and evaluation counts."""
    x = torch.tensor(x0, requires_grad=True)
    opt = torch.optim.LBFGS([x], **SETTINGS)

    def closure():
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    state = opt.state[x]
    return x.detach().numpy(), state["n_iter"], state["func_evals"]


def _ours(loss_fn, x0: np.ndarray, steps: int):
    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return loss, tape.gradient(loss, x)

    run = tf.function(lambda x: lbfgs_reference.minimize(value_and_gradient, x, steps=steps), autograph=False)
    result = run(tf.constant(x0))
    return result.position.numpy(), int(result.iterations), int(result.evaluations)


class _TfOps:
    sum = staticmethod(tf.reduce_sum)


def _rosenbrock(x, ops):
    return ops.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("steps", [1, 5, 50])
def test_iterates_equal_torch_in_float64(steps):
    x0 = np.random.default_rng(0).normal(size=12)
    theirs, n_iter, evals = _torch_lbfgs(lambda x: _rosenbrock(x, torch), x0, steps)
    ours, our_iter, our_evals = _ours(lambda x: _rosenbrock(x, _TfOps), x0, steps)
    np.testing.assert_allclose(ours, theirs, atol=1e-8, rtol=0)
    assert (our_iter, our_evals) == (n_iter, evals)
    if steps == 50:  # the run stops early by the loss-change rule: the counts show it
        assert n_iter < 50 * 20


def test_history_is_capped_and_the_oldest_pair_dropped():
    """A small history makes the cap bind within a few steps: still torch's iterates."""
    x0 = np.random.default_rng(1).normal(size=8)
    x = torch.tensor(x0, requires_grad=True)
    opt = torch.optim.LBFGS([x], **{**SETTINGS, "history_size": 3})

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x, torch)
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)

    def value_and_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = _rosenbrock(v, _TfOps)
        return loss, tape.gradient(loss, v)

    ours = tf.function(lambda v: lbfgs_reference.minimize(value_and_gradient, v, steps=4, history=3))(
        tf.constant(x0)
    )
    np.testing.assert_allclose(ours.position.numpy(), x.detach().numpy(), atol=1e-8, rtol=0)


@pytest.mark.parametrize("steps", [1, 5, 50])
def test_reconstruction_iterates_equal_torch_on_the_reference_generator(steps):
    """float32 on a real reconstruction: L-BFGS amplifies rounding early (torch's own float32 and
    float64 runs differ by ~0.1 after one step, ~3e-5 after 50), so ours must lie within twice that
    spread of torch's float32 iterate: the rounding of TensorFlow's kernels (oneDNN or Eigen, by CPU)
    is of the same order as torch's own float32 rounding, not smaller."""
    if not os.path.isfile(REFERENCE):
        pytest.skip(f"reference not found at {REFERENCE} (set BIOGANS_SHARED)")
    import copy
    import importlib.util

    from biogans_tf.export.from_torch import convert_state_dict

    spec = importlib.util.spec_from_file_location("_biogans_torch_reference", REFERENCE)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    torch.manual_seed(0)
    size, nz, ngf, batch = (16, 32), 16, 8, 4
    g_torch, _ = ref.build_models("dcgan", isize=size, nz=nz, ngf=ngf)
    ref.reference_init(g_torch)
    with torch.no_grad():  # a generator whose output depends on z, as a trained one's does; at
        for name, p in g_torch.named_parameters():  # the init's N(0, 0.02) every gradient is below
            if "weight" in name and p.dim() == 4:  # torch's tolerance and LBFGS never moves
                p.mul_(10.0)
    g_torch.eval()
    state = {k: v.detach().numpy() for k, v in g_torch.state_dict().items()}
    g_keras = convert_state_dict("dcgan", state, image_size=size, nz=nz, ngf=ngf)
    g_torch64 = copy.deepcopy(g_torch).double()
    rng = np.random.default_rng(2)
    with torch.no_grad():  # targets the generator can draw: the problem has a minimum to approach
        target = g_torch(torch.tensor(rng.normal(size=(batch, nz, 1, 1)), dtype=torch.float32)).numpy()
    z0 = rng.normal(size=batch * nz).astype(np.float32)
    target_tf = tf.constant(np.transpose(target, (0, 2, 3, 1)))

    def torch_loss(g, target_t):  # the reference: mean over the batch and pixels, [-1, 1] units
        return lambda z: torch.mean((g(z.view(batch, nz, 1, 1)) - target_t) ** 2)

    def tf_loss(z):
        return tf.reduce_mean(tf.square(g_keras(tf.reshape(z, [batch, nz]), training=False) - target_tf))

    theirs, n_iter, evals = _torch_lbfgs(torch_loss(g_torch, torch.tensor(target)), z0, steps)
    theirs64, _, _ = _torch_lbfgs(
        torch_loss(g_torch64, torch.tensor(target, dtype=torch.float64)), z0.astype(np.float64), steps
    )
    ours, our_iter, our_evals = _ours(tf_loss, z0, steps)
    assert n_iter >= min(steps * 20, 100)  # it did move: the comparison is not of two starts
    spread = np.abs(theirs64 - theirs).max()
    assert np.abs(ours - theirs).max() <= 2 * max(spread, 1e-5), (np.abs(ours - theirs).max(), spread)
    if steps < 50:
        assert (our_iter, our_evals) == (n_iter, evals)
    else:  # rounding may move the late loss-change stop by an iteration or two, as in torch's float64
        assert abs(our_iter - n_iter) <= 3 and abs(our_evals - evals) <= 3

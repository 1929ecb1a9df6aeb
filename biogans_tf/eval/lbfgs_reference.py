"""The reference's L-BFGS in TensorFlow: `torch.optim.LBFGS` without line search, step by step.

The reference reconstructs cells with `torch.optim.LBFGS(lr=0.05)` over the latent codes of a batch
of images: a fixed step `lr` along the two-loop-recursion direction (Nocedal & Wright, Algorithm
7.4) with a history of 100 pairs, up to 20 inner iterations per `step()` and 50 steps, stopped by
torch's tolerances. tfp's L-BFGS (line search, per-row problems) reaches different codes, so the
reference's numbers (paper Table 3) need this algorithm. Written from the published algorithm and
torch's documented step rules; `tests/eval/test_lbfgs_reference.py` checks the iterates against
`torch.optim.LBFGS` after 1, 5 and 50 steps.

The rules that make it torch's, and not textbook, L-BFGS:
- The history and the last direction persist across `step()` calls; each call starts by evaluating
  the objective at the current point, and returns at once if max |grad| <= `tolerance_grad`.
- The very first iteration (of all steps) moves by `min(1, 1 / sum|grad|) * lr` along `-grad`;
  every later one by `lr` along the two-loop direction, scaled by `H = s'y / y'y` of the newest pair.
- A pair enters the history only when `s'y > 1e-10`; beyond `history` pairs the oldest is dropped.
- Inside a step, iteration `max_iter` moves without evaluating the objective; the loop also stops
  when the direction is not a descent direction (`g'd > -tolerance_change`, before moving), after
  `max_eval` evaluations, when max |grad| <= `tolerance_grad`, when max |t d| <= `tolerance_change`,
  or when the loss changed by less than `tolerance_change`.

Everything runs in one graph (nested `tf.while_loop`s), so it can run inside a SavedModel signature.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

# The reference's settings (`torch.optim.LBFGS(params, lr=0.05)`, torch's other defaults, 50 steps).
REFERENCE = dict(steps=50, max_iter=20, lr=0.05, history=100, tolerance_grad=1e-7, tolerance_change=1e-9)
_CURVATURE_EPS = 1e-10  # torch keeps a pair only when s'y exceeds this


class LbfgsResult(NamedTuple):
    """`position` `[n]`, `loss` (at the last evaluation), `iterations` and `evaluations` (counts)."""

    position: tf.Tensor
    loss: tf.Tensor
    iterations: tf.Tensor
    evaluations: tf.Tensor


def _direction(g, s_hist, y_hist, rho, k, h_diag):
    """The two-loop recursion: `-H g` from the `k` oldest-first pairs in `s_hist`, `y_hist` `[m, n]`."""
    m = tf.shape(rho)[0]

    def back(i, q, alpha):
        a = tf.tensordot(s_hist[i], q, 1) * rho[i]
        return i - 1, q - a * y_hist[i], tf.tensor_scatter_nd_update(alpha, [[i]], [a])

    _, q, alpha = tf.while_loop(
        lambda i, q, alpha: i >= 0, back, (k - 1, -g, tf.zeros([m], g.dtype)), parallel_iterations=1
    )

    def forward(i, r):
        b = tf.tensordot(y_hist[i], r, 1) * rho[i]
        return i + 1, r + (alpha[i] - b) * s_hist[i]

    _, r = tf.while_loop(lambda i, r: i < k, forward, (tf.constant(0), q * h_diag), parallel_iterations=1)
    return r


def _append(hist, row, k, m):
    """Add `row` after the `k` stored rows of `hist` (`[m, n]` or `[m]`), dropping the oldest when full."""
    return tf.cond(
        k < m,
        lambda: tf.tensor_scatter_nd_update(hist, [[k]], row[None]),
        lambda: tf.concat([hist[1:], row[None]], axis=0),
    )


def minimize(
    value_and_gradient,
    x0,
    *,
    steps: int = REFERENCE["steps"],
    max_iter: int = REFERENCE["max_iter"],
    lr: float = REFERENCE["lr"],
    history: int = REFERENCE["history"],
    tolerance_grad: float = REFERENCE["tolerance_grad"],
    tolerance_change: float = REFERENCE["tolerance_change"],
    max_eval: int | None = None,
) -> LbfgsResult:
    """Run `steps` calls of torch-style `LBFGS.step` (no line search) from `x0`.

    Args:
        value_and_gradient: `x [n] -> (loss scalar, gradient [n])`, same dtype as `x0`.
        x0: starting point, a float `[n]` vector (float32 or float64).
        steps: `step()` calls (the reference: 50).
        max_iter: inner iterations per step (torch's `max_iter`, 20).
        lr: the fixed step length (0.05 in the reference).
        history: most (s, y) pairs kept (torch's `history_size`, 100).
        tolerance_grad, tolerance_change: torch's tolerances (1e-7, 1e-9).
        max_eval: evaluations per step (default, as torch: `max_iter * 5 // 4`).

    Returns:
        `LbfgsResult`; `position` is `[n]`.
    """
    x0 = tf.convert_to_tensor(x0)
    dtype, n = x0.dtype, tf.size(x0)
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
    tol_grad, tol_change = tf.constant(tolerance_grad, dtype), tf.constant(tolerance_change, dtype)
    one = tf.constant(1.0, dtype)
    zero_hist = tf.zeros(tf.stack([history, n]), dtype)

    def inner(state, loss, g):
        """One `step()`'s loop, from the objective's value and gradient at `state["x"]`."""

        def body(local, evals, stop, loss, g, st):
            local, total = local + 1, st["total"] + 1

            def first():
                return -g, st["s"], st["y"], st["rho"], tf.constant(0), one

            def later():
                y = g - st["prev_g"]
                s = st["d"] * st["t"]
                ys = tf.tensordot(y, s, 1)
                keep = ys > _CURVATURE_EPS
                s_hist = tf.where(keep, _append(st["s"], s, st["k"], history), st["s"])
                y_hist = tf.where(keep, _append(st["y"], y, st["k"], history), st["y"])
                rho = tf.where(keep, _append(st["rho"], one / ys, st["k"], history), st["rho"])
                k = tf.where(keep, tf.minimum(st["k"] + 1, history), st["k"])
                h = tf.where(keep, ys / tf.tensordot(y, y, 1), st["h"])
                return _direction(g, s_hist, y_hist, rho, k, h), s_hist, y_hist, rho, k, h

            d, s_hist, y_hist, rho, k, h = tf.cond(total == 1, first, later)
            t = tf.where(
                total == 1, tf.minimum(one, one / tf.reduce_sum(tf.abs(g))) * lr, tf.constant(lr, dtype)
            )
            prev_loss = loss
            st = dict(st, total=total, d=d, t=t, s=s_hist, y=y_hist, rho=rho, k=k, h=h, prev_g=g)
            descent = tf.tensordot(g, d, 1) <= -tol_change
            x = tf.where(descent, st["x"] + t * d, st["x"])
            evaluate = descent & (local != max_iter)
            loss, g = tf.cond(evaluate, lambda: value_and_gradient(x), lambda: (loss, g))
            evals = evals + tf.cast(evaluate, tf.int32)
            st = dict(st, x=x, evaluations=st["evaluations"] + tf.cast(evaluate, tf.int32))
            stop = (
                ~descent
                | (local == max_iter)
                | (evals >= max_eval)
                | (tf.reduce_max(tf.abs(g)) <= tol_grad)
                | (tf.reduce_max(tf.abs(d * t)) <= tol_change)
                | (tf.abs(loss - prev_loss) < tol_change)
            )
            return local, evals, stop, loss, g, st

        converged = tf.reduce_max(tf.abs(g)) <= tol_grad
        _, _, _, loss, _, state = tf.while_loop(
            lambda local, evals, stop, *_: ~stop,
            body,
            (tf.constant(0), tf.constant(1), converged, loss, g, state),
            parallel_iterations=1,
        )
        return state, loss

    def outer(i, state, loss):
        loss, g = value_and_gradient(state["x"])
        state = dict(state, evaluations=state["evaluations"] + 1)
        state, loss = inner(state, loss, g)
        return i + 1, state, loss

    state = dict(
        x=x0, d=tf.zeros_like(x0), t=tf.constant(lr, dtype), s=zero_hist, y=zero_hist,
        rho=tf.zeros([history], dtype), k=tf.constant(0), h=one, prev_g=tf.zeros_like(x0),
        total=tf.constant(0), evaluations=tf.constant(0),
    )  # fmt: skip
    _, state, loss = tf.while_loop(
        lambda i, *_: i < steps,
        outer,
        (tf.constant(0), state, tf.constant(0.0, dtype)),
        parallel_iterations=1,
    )
    return LbfgsResult(state["x"], loss, state["total"], state["evaluations"])

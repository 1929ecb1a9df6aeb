"""WGAN with gradient penalty (Gulrajani et al. 2017), as the reference ran it."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from biogans_tf.losses.base import reduce_scores
from biogans_tf.losses.wgan import Wgan

# Name scopes of the penalty's own ops (the critic's ops between them run in its compute dtype).
INTERPOLATES_SCOPE = "gp_interpolates"
NORM_SCOPE = "gp_norm"


def interpolation_eps(seed: tf.Tensor, lead_shape, dtype=tf.float32) -> tf.Tensor:
    """eps ~ U[0, 1) of shape `lead_shape + [1, 1, 1]` (one per sample, broadcast over pixels).

    Args:
        seed: `[2]` stateless seed.
        lead_shape: `[B]` or `[C, B]` (a list or an int32 tensor).
        dtype: eps dtype (the critic input's).
    """
    shape = tf.concat([tf.cast(lead_shape, tf.int32), tf.ones([3], tf.int32)], axis=0)
    return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype)


def input_gradients(critic, x: tf.Tensor) -> tf.Tensor:
    """d(sum of critic scores)/dx in float32: every sample's own input gradient.

    Args:
        critic: callable `critic(x, training=True)` -> scores `[B]` or `[C, B]`.
        x: float32 critic inputs `[B, H, W, ch]` or a bank `[C, B, H, W, 2]` (the critic casts
            them to its compute dtype; the cast's gradient brings the result back to float32).

    Returns:
        float32, the shape of `x`. Recorded on the caller's tapes, so a penalty built from it
        can be differentiated again (double backward) for the critic update.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = critic(x, training=True)
        # Each score depends only on its own sample (no BatchNorm in penalised critics), so the
        # gradient of the sum gives every sample's own input gradient, as grad_outputs=ones does.
        total = tf.reduce_sum(tf.cast(scores, tf.float32))
    return tf.cast(tape.gradient(total, x), tf.float32)


def gradient_penalties(
    critic, real: tf.Tensor, fake: tf.Tensor, seed: tf.Tensor, eps: tf.Tensor | None = None
) -> tf.Tensor:
    """Per-sample penalties (||dD/dx||_2 - 1)^2 at random interpolates of real and fake.

    Args:
        critic: callable `critic(x, training=True)` -> scores `[B]` or `[C, B]`.
        real: real critic inputs, `[B, H, W, ch]` or a bank `[C, B, H, W, 2]`.
        fake: fake critic inputs with the same shape (gradient stopped by the caller).
        seed: int32/int64 `[2]` stateless seed for eps ~ U[0, 1): one eps per sample (per critic
            and sample for banks), broadcast over pixels and channels.
        eps: optional explicit eps `[B, 1, 1, 1]` / `[C, B, 1, 1, 1]` (then `seed` is unused); the
            trainer passes its replica's slice of the global draw under tf.distribute.

    Returns:
        float32 `[B]` or `[C, B]`. The gradient norm runs over all pixels and channels of a sample
        and is computed in float32 even when the critic runs in lower precision.
    """
    rank = real.shape.rank
    if rank not in (4, 5):
        raise ValueError(f"critic inputs must be rank 4 or 5, got shape {real.shape}")
    # Interpolates, their gradient and its norm stay float32 under mixed precision (the critic
    # casts its input to its compute dtype; the cast's gradient brings the result back to float32).
    # The name scopes let tests find these ops in a traced step and check their dtypes.
    with tf.name_scope(INTERPOLATES_SCOPE):
        real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
        if eps is None:
            eps = interpolation_eps(seed, tf.shape(real)[: rank - 3])  # lead: [B] or [C, B]
        eps = tf.cast(eps, tf.float32)
        interpolates = eps * real + (1.0 - eps) * fake
    grads = input_gradients(critic, interpolates)
    with tf.name_scope(NORM_SCOPE):
        # The tiny constant keeps the double-backward of sqrt finite if a gradient is exactly 0.
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[-3, -2, -1]) + 1e-12)
        return tf.square(norms - 1.0)


@dataclasses.dataclass(frozen=True)
class WganGp(Wgan):
    """`wgan-gp`: the WGAN loss plus `gp_lambda` * mean penalty (`penalty_type="gp"`), no clipping.

    lambda = 10, as the reference's `wgangp-*` runs.
    """

    name: str = "wgan-gp"
    clip: float = 0.0
    gp_lambda: float = 10.0
    penalty_type: str = "gp"


def gp_penalty(critic, real, fake, seed, eps=None) -> tf.Tensor:
    """The `gp` penalty: the mean of `gradient_penalties` (scalar float32)."""
    return reduce_scores(gradient_penalties(critic, real, fake, seed, eps=eps))

"""The R1 penalty on real images (Mescheder, Geiger, Nowozin 2018, "Which training methods for GANs
do actually converge?"): `--penalty=r1`, an option the paper predates.

With weight gamma (`--gp_lambda`) the critic loss gains gamma/2 * E||dD(x)/dx||^2 over real x.
Unlike WGAN-GP's penalty it needs no fakes and no interpolation noise.
"""

from __future__ import annotations

import tensorflow as tf

from biogans_tf.losses.base import reduce_scores
from biogans_tf.losses.wgan_gp import input_gradients


def r1_penalties(critic, real: tf.Tensor) -> tf.Tensor:
    """Per-sample squared input-gradient norms ||dD/dx||^2 at the real images.

    Args:
        critic: callable `critic(x, training=True)` -> scores `[B]` or `[C, B]`.
        real: real critic inputs, `[B, H, W, ch]` or a bank `[C, B, H, W, 2]`.

    Returns:
        float32 `[B]` or `[C, B]`, computed in float32 even when the critic runs in lower
        precision (as the WGAN-GP penalty).
    """
    grads = input_gradients(critic, tf.cast(real, tf.float32))
    return tf.reduce_sum(tf.square(grads), axis=[-3, -2, -1])


def r1_penalty(critic, real, fake, seed, eps=None) -> tf.Tensor:
    """The `r1` penalty: 1/2 * mean ||dD(real)/dx||^2 (scalar float32; the weight is gamma)."""
    del fake, seed, eps  # R1 looks at real images only
    return 0.5 * reduce_scores(r1_penalties(critic, real))

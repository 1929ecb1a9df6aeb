"""Losses and critic penalties by name (`--gan`, `--penalty`; the names are `biogans_tf.registries`)."""

from __future__ import annotations

from biogans_tf.losses.base import GanLoss
from biogans_tf.registries import LOSSES, PENALTIES


def get_loss(name: str, **overrides) -> GanLoss:
    """Build a loss by name with the reference defaults, overriding fields that are not None.

    Args:
        name: one of `LOSSES` (`gan`, `wgan`, `wgan-gp`).
        **overrides: `GanLoss` fields (clip, gp_lambda, penalty_type); `None` keeps the loss's
            default.

    Raises:
        ValueError: unknown name (the message lists the known ones) or an invalid field value.
    """
    loss = LOSSES[name]().replace(**overrides)
    PENALTIES.check(loss.penalty_type)
    return loss


def penalty(loss: GanLoss, critic, real, fake, seed, eps=None):
    """Scalar float32 penalty `loss.penalty_type` (before multiplying by `loss.gp_lambda`); 0 for none.

    `eps` optionally fixes the interpolation weights (see `wgan_gp.gradient_penalties`).
    """
    return PENALTIES[loss.penalty_type](critic, real, fake, seed, eps)

"""Name -> loss registry used by `--gan`."""

from __future__ import annotations

from collections.abc import Callable

from biogans_tf.losses.base import GanLoss, no_penalty
from biogans_tf.losses.gan import CrossEntropyGan
from biogans_tf.losses.r1 import r1_penalty
from biogans_tf.losses.wgan import Wgan
from biogans_tf.losses.wgan_gp import WganGp, gp_penalty

# One line per objective (`--gan`): a new one is one file in this package plus one entry here.
LOSSES: dict[str, type[GanLoss]] = {"gan": CrossEntropyGan, "wgan": Wgan, "wgan-gp": WganGp}

# One line per critic penalty (`--penalty`, weight `--gp_lambda`), the same way. Each entry is
# `fn(critic, real, fake, seed, eps=None) -> scalar float32`, computed in float32.
PENALTIES: dict[str, Callable] = {"none": no_penalty, "gp": gp_penalty, "r1": r1_penalty}


def get_loss(name: str, **overrides) -> GanLoss:
    """Build a loss by name with the reference defaults, overriding fields that are not None.

    Args:
        name: one of `LOSSES` (`gan`, `wgan`, `wgan-gp`).
        **overrides: `GanLoss` fields (n_critic, n_critic_burst, clip, gp_lambda, optimizer, lr_d,
            lr_g, beta1, beta2, critic_batchnorm, penalty_type); `None` keeps the loss's default.

    Raises:
        ValueError: unknown name (the message lists the known ones) or an invalid field value.
    """
    if name not in LOSSES:
        raise ValueError(f"--gan={name!r} is not a known loss; expected one of {sorted(LOSSES)}")
    return LOSSES[name]().replace(**overrides)

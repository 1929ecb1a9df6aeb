"""Adversarial losses (`--gan`): `gan`, `wgan`, `wgan-gp`. See `registry.get_loss`."""

from biogans_tf.losses.base import GanLoss, reduce_scores
from biogans_tf.losses.registry import LOSSES, get_loss
from biogans_tf.losses.wgan_gp import gradient_penalties

__all__ = ["GanLoss", "LOSSES", "get_loss", "gradient_penalties", "reduce_scores"]

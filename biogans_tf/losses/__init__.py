"""Adversarial losses (`--gan`: `gan`, `wgan`, `wgan-gp`) and critic penalties (`--penalty`: `none`,
`gp`, `r1`); the names are in `biogans_tf.registries`. See `registry.get_loss`."""

from biogans_tf.losses.base import GanLoss, reduce_scores
from biogans_tf.losses.registry import LOSSES, PENALTIES, get_loss
from biogans_tf.losses.wgan_gp import gradient_penalties

__all__ = ["GanLoss", "LOSSES", "PENALTIES", "get_loss", "gradient_penalties", "reduce_scores"]

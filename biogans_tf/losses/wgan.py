"""Wasserstein GAN with weight clipping (Arjovsky et al. 2017), as the reference ran it."""

from __future__ import annotations

import dataclasses

from biogans_tf.losses.base import GanLoss, reduce_scores


@dataclasses.dataclass(frozen=True)
class Wgan(GanLoss):
    """`wgan`: D minimises mean D(fake) - mean D(real); G minimises -mean D(fake).

    Every critic weight is clipped to [-clip, clip] after each critic update (0.01, the reference's).
    """

    name: str = "wgan"
    clip: float = 0.01

    def critic_loss(self, real_scores, fake_scores):
        return reduce_scores(fake_scores) - reduce_scores(real_scores)

    def generator_loss(self, fake_scores):
        return -reduce_scores(fake_scores)

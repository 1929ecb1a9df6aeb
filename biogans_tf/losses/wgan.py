"""Wasserstein GAN with weight clipping (Arjovsky et al. 2017), as the reference ran it."""

from __future__ import annotations

import dataclasses

from biogans_tf.losses.base import GanLoss, reduce_scores


@dataclasses.dataclass(frozen=True)
class Wgan(GanLoss):
    """`wgan`: D minimises mean D(fake) - mean D(real); G minimises -mean D(fake).

    Every critic weight is clipped to [-clip, clip] after each critic update. Defaults (reference
    `wgan-rmsprop` runs): RMSProp(5e-5) for both nets, 5 critic steps, but 100 critic steps for
    the first 25 generator iterations and every 500th; BatchNorm in the critic.
    """

    name: str = "wgan"
    n_critic: int = 5
    n_critic_burst: int = 100
    clip: float = 0.01
    optimizer: str = "rmsprop"
    lr_d: float = 5e-5
    lr_g: float = 5e-5

    def critic_loss(self, real_scores, fake_scores):
        return reduce_scores(fake_scores) - reduce_scores(real_scores)

    def generator_loss(self, fake_scores):
        return -reduce_scores(fake_scores)

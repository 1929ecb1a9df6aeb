"""The adversarial-loss interface shared by `gan`, `wgan` and `wgan-gp`.

Sign convention (all losses): the critic scores REAL images HIGH. The reference WGAN code uses
the opposite sign (its critic scores real images low); with the critic negated every loss value
is identical (d_loss = mean D_ref(real) - mean D_ref(fake) + lambda * gp, g_loss = mean D_ref(fake)),
so logs are comparable with the reference. Only a reference *critic* checkpoint would need its final
layer negated to be used here.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf


def no_penalty(critic, real, fake, seed, eps=None) -> tf.Tensor:
    """The `none` penalty: a float32 zero (the signature of every `registries.PENALTIES` entry)."""
    del critic, real, fake, seed, eps
    return tf.constant(0.0, tf.float32)


def reduce_scores(scores: tf.Tensor) -> tf.Tensor:
    """Mean of critic outputs as the reference reduces them, in float32.

    Args:
        scores: `[B]` (one critic) or `[C, B]` (a bank of C per-protein critics).

    Returns:
        Scalar: the mean over the batch per critic, then the mean over critics. All critics see
        the same batch size, so this equals the overall mean; written out to document intent.
    """
    scores = tf.cast(scores, tf.float32)
    if scores.shape.rank == 2:
        return tf.reduce_mean(tf.reduce_mean(scores, axis=1), axis=0)
    if scores.shape.rank != 1:
        raise ValueError(f"critic scores must be [B] or [C, B], got shape {scores.shape}")
    return tf.reduce_mean(scores)


@dataclasses.dataclass(frozen=True)
class GanLoss:
    """One adversarial objective and its own hyper-parameters.

    How often the critic steps and with which optimiser is the trainer's business
    (`biogans_tf.trainer.schedule`, where the reference's choice for each loss is kept).

    Attributes:
        name: registry name (`gan`, `wgan`, `wgan-gp`).
        clip: weight clipping bound applied to every critic weight after each critic update
            (0 = no clipping).
        gp_lambda: weight of the critic penalty (0 = no penalty).
        penalty_type: the critic penalty, a name in `biogans_tf.registries.PENALTIES` (`none`, `gp`,
            `r1`; checked by `registry.get_loss`); `gp_lambda` is its weight.
    """

    name: str
    clip: float = 0.0
    gp_lambda: float = 0.0
    penalty_type: str = "none"

    def __post_init__(self):
        if self.clip < 0:
            raise ValueError(f"--clip must be >= 0, got {self.clip}")
        if self.gp_lambda < 0:
            raise ValueError(f"--gp_lambda must be >= 0, got {self.gp_lambda}")

    # ------------------------------------------------------------------ objectives
    def critic_loss(self, real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
        """Critic loss without penalty (scalar float32). Scores are `[B]` or `[C, B]`."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: tf.Tensor) -> tf.Tensor:
        """Generator loss (scalar float32) from the critic's scores of fakes."""
        raise NotImplementedError

    def score_gap(self, real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
        """mean real score - mean fake score; for WGANs the Wasserstein-distance estimate."""
        return reduce_scores(real_scores) - reduce_scores(fake_scores)

    def replace(self, **changes) -> GanLoss:
        """A copy with some fields changed (validated again); `None` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

"""The original GAN objective: sigmoid cross-entropy on logits, non-saturating generator loss."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from biogans_tf.losses.base import GanLoss, reduce_scores


def _bce_with_logits(logits: tf.Tensor, label: float) -> tf.Tensor:
    logits = tf.cast(logits, tf.float32)
    labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


@dataclasses.dataclass(frozen=True)
class CrossEntropyGan(GanLoss):
    """`gan`: D minimises BCE(D(real), 1) + BCE(D(fake), 0); G minimises BCE(D(fake), 1).

    Scores are logits `[B]` or `[C, B]`; each BCE is a batch mean per critic, averaged over critics
    (star/independent banks), as the reference does.
    """

    name: str = "gan"

    def critic_loss(self, real_scores, fake_scores):
        return reduce_scores(_bce_with_logits(real_scores, 1.0)) + reduce_scores(
            _bce_with_logits(fake_scores, 0.0)
        )

    def generator_loss(self, fake_scores):
        return reduce_scores(_bce_with_logits(fake_scores, 1.0))

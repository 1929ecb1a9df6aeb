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
    """One adversarial objective with the training defaults the reference used with it.

    Attributes:
        name: registry name (`gan`, `wgan`, `wgan-gp`).
        n_critic: critic updates per generator update.
        n_critic_burst: critic updates in "burst" iterations (WGAN: 100 for the first
            `burst_first` generator iterations and every `burst_every`-th); 0 disables bursts.
        burst_first: number of initial generator iterations that use the burst.
        burst_every: every this-many-th generator iteration (0, burst_every, ...) uses the burst.
        clip: weight clipping bound applied to every critic weight after each critic update
            (0 = no clipping).
        gp_lambda: weight of the gradient penalty (0 = no penalty).
        critic_batchnorm: whether the critic uses BatchNorm by default with this loss.
        optimizer: `adam` or `rmsprop` (the reference's choice for this loss).
        lr_d, lr_g: learning rates of the critic and the generator.
        beta1, beta2: Adam betas (unused by RMSProp).
        penalty_type: the critic penalty, a name in `biogans_tf.registries.PENALTIES` (`none`, `gp`,
            `r1`; checked by `registry.get_loss`); `gp_lambda` is its weight.
    """

    name: str
    n_critic: int = 1
    n_critic_burst: int = 0
    burst_first: int = 25
    burst_every: int = 500
    clip: float = 0.0
    gp_lambda: float = 0.0
    critic_batchnorm: bool = True
    optimizer: str = "adam"
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    penalty_type: str = "none"

    def __post_init__(self):
        if self.n_critic < 1:
            raise ValueError(f"--n_critic must be >= 1, got {self.n_critic}")
        if self.n_critic_burst < 0 or self.burst_first < 0 or self.burst_every < 0:
            raise ValueError("--n_critic_burst and the burst schedule must be >= 0")
        if self.clip < 0:
            raise ValueError(f"--clip must be >= 0, got {self.clip}")
        if self.gp_lambda < 0:
            raise ValueError(f"--gp_lambda must be >= 0, got {self.gp_lambda}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")

    # ------------------------------------------------------------------ schedule
    def critic_steps(self, gen_step: int) -> int:
        """Critic updates before generator update number `gen_step` (0-based), in Python."""
        if self.n_critic_burst and (
            gen_step < self.burst_first or (self.burst_every and gen_step % self.burst_every == 0)
        ):
            return self.n_critic_burst
        return self.n_critic

    def critic_steps_tf(self, gen_step: tf.Tensor) -> tf.Tensor:
        """Same as `critic_steps` for an int64 tensor inside a graph."""
        n = tf.constant(self.n_critic, tf.int64)
        if not self.n_critic_burst:
            return n
        burst = gen_step < self.burst_first
        if self.burst_every:
            burst = tf.logical_or(burst, tf.math.floormod(gen_step, self.burst_every) == 0)
        return tf.where(burst, tf.constant(self.n_critic_burst, tf.int64), n)

    def total_critic_steps(self, start: int, stop: int) -> int:
        """Critic updates needed for generator iterations `start .. stop-1`."""
        return sum(self.critic_steps(g) for g in range(start, stop))

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

"""How the reference trained with each loss: critic steps per generator step, optimiser, critic BatchNorm.

A loss (`biogans_tf.losses`) holds only its objective's own hyper-parameters (clipping bound,
penalty and its weight). The schedule and optimiser the reference used with it live here, with the
trainer that runs them: `reference_schedule("wgan")` is RMSProp(5e-5) and 5 critic steps per
generator step, 100 in the first 25 iterations and every 500th.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

OPTIMIZERS = ("adam", "rmsprop")


@dataclasses.dataclass(frozen=True)
class TrainingSchedule:
    """Critic steps, optimiser and critic BatchNorm of a training run.

    Attributes:
        n_critic: critic updates per generator update.
        n_critic_burst: critic updates in "burst" iterations (WGAN: 100 for the first
            `burst_first` generator iterations and every `burst_every`-th); 0 disables bursts.
        burst_first: number of initial generator iterations that use the burst.
        burst_every: every this-many-th generator iteration (0, burst_every, ...) uses the burst.
        critic_batchnorm: BatchNorm in the critic.
        optimizer: `adam` or `rmsprop`, for both networks.
        lr_d, lr_g: learning rates of the critic and the generator.
        beta1, beta2: Adam betas (unused by RMSProp).
    """

    n_critic: int = 1
    n_critic_burst: int = 0
    burst_first: int = 25
    burst_every: int = 500
    critic_batchnorm: bool = True
    optimizer: str = "adam"
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def __post_init__(self):
        if self.n_critic < 1:
            raise ValueError(f"--n_critic must be >= 1, got {self.n_critic}")
        if self.n_critic_burst < 0 or self.burst_first < 0 or self.burst_every < 0:
            raise ValueError("--n_critic_burst and the burst schedule must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer: expected one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")

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

    def replace(self, **changes) -> TrainingSchedule:
        """A copy with some fields changed (validated again); `None` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# The reference's runs, by loss name (`biogans_tf.registries.LOSSES`).
REFERENCE_SCHEDULES = {
    # `gan-adam`: Adam(2e-4, 0.5, 0.999), one critic step, BatchNorm in the critic.
    "gan": TrainingSchedule(),
    # `wgan-rmsprop`: RMSProp(5e-5), 5 critic steps, 100 in the first 25 iterations and every 500th.
    "wgan": TrainingSchedule(n_critic=5, n_critic_burst=100, optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5),
    # `wgangp-*-adam`: Adam(1e-4, 0, 0.9), 5 critic steps, no bursts, no BatchNorm in the critic.
    "wgan-gp": TrainingSchedule(
        n_critic=5, critic_batchnorm=False, lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9
    ),
}


def reference_schedule(loss_name: str, **overrides) -> TrainingSchedule:
    """The reference's schedule for `loss_name`, with the fields of `overrides` that are not None.

    Raises:
        ValueError: an unknown loss name (listing the known ones) or an invalid field value.
    """
    if loss_name not in REFERENCE_SCHEDULES:
        raise ValueError(f"--gan={loss_name!r}: expected one of {', '.join(REFERENCE_SCHEDULES)}")
    return REFERENCE_SCHEDULES[loss_name].replace(**overrides)

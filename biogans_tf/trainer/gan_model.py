"""`GanTrainer`: a keras.Model whose `train_step` is one critic update (+ the generator update).

How one generator iteration runs (the reference's WGAN-GP semantics, kept for every loss):

* Each `fit` step is ONE critic update on one real batch from the data pipeline. The critic
  update draws fresh z (stateless RNG keyed by `(seed, critic_step)`), runs G in training mode
  (BatchNorm batch statistics; its moving statistics update at every critic step, as PyTorch's
  `train()` mode does), and the critic sees `stop_gradient(fake)`.
* When the critic has done its `n_critic` updates for the current generator iteration (100 in
  WGAN "burst" iterations), the same `fit` step also runs the generator update inside a
  `tf.cond`. It REUSES the fakes of this last critic step: G's forward pass was recorded on a
  tape that is resumed inside the branch, so there is no second G forward (and no extra
  BatchNorm statistics update). D(fake) is computed with the just-updated critic.
* Under a `tf.distribute` strategy the branch is chosen in Python instead (two traced step
  functions, see `biogans_tf.trainer.training_loop`), because MirroredStrategy cannot synchronise
  inside a `tf.cond`; the global batch is split over replicas and the result equals the
  one-device step. `fit` therefore trains on one device only; the training loop does both.
* Critics without BatchNorm (WGAN-GP) score real and fake in ONE call on their concatenation.
* So `fit` steps count critic updates and `step` counts generator iterations (the reference's
  `netG_iter`); `TrainingSchedule.total_critic_steps(a, b)` maps one to the other. The data pipeline is
  indexed by `critic_step`, which is therefore the data position to resume from.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from biogans_tf.conventions import stateless_seed
from biogans_tf.losses.base import GanLoss
from biogans_tf.losses.registry import get_loss, penalty
from biogans_tf.losses.wgan_gp import interpolation_eps
from biogans_tf.trainer import distribute
from biogans_tf.trainer.checkpoint import variable_bag
from biogans_tf.trainer.ema import GeneratorEma
from biogans_tf.trainer.schedule import TrainingSchedule, reference_schedule

# Purposes folded into the stateless seeds so the streams of one seed never coincide.
_PURPOSE_Z = 1
_PURPOSE_EPS = 2
_PURPOSE_FIXED = 3


def fixed_noise(seed: int, n: int, nz: int) -> tf.Tensor:
    """The fixed latent batch `[n, nz]` used for sample grids (same for a seed across resumes)."""
    return tf.random.stateless_normal([n, nz], seed=stateless_seed(seed, _PURPOSE_FIXED))


class GanTrainer(keras.Model):
    """Generator + critic + loss + two optimisers, trained by `training_loop.train_loop` (or `fit`).

    Args:
        generator: `G(z, training)`, z float32 `[B, nz]` -> images (layout by architecture).
        critic: `D(x, training)` -> scores `[B]` or `[C, B]` (critic bank).
        loss: a `GanLoss` (see `biogans_tf.losses`): the objective, its clipping and penalty.
        schedule: a `TrainingSchedule`: critic steps per generator step and the burst iterations
            (default: the reference's for `loss.name`, `biogans_tf.trainer.schedule`).
        nz: latent size.
        batch_size: B, the number of z drawn per critic step.
        seed: run seed; z, interpolation eps and fixed noise derive from it.
        view_fn: maps generator output to the critic's input layout (the registry's
            `critic_view`); identity by default.
        ema_generator: optional second generator kept as an EMA of `generator`.
        ema_decay: EMA decay.

    Data: training-loop (and `fit`) elements are the critic's real input, `[B, H, W, ch]` or
    `[C, B, H, W, 2]`, or a tuple whose first item is that (joint batches come as `(images, labels)`).
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        loss: GanLoss,
        schedule: TrainingSchedule | None = None,
        *,
        nz: int = 100,
        batch_size: int = 64,
        seed: int = 0,
        view_fn=None,
        ema_generator: keras.Model | None = None,
        ema_decay: float = 0.999,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.critic = critic
        self.gan_loss = loss
        self.schedule = schedule or reference_schedule(loss.name)
        self.nz = int(nz)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.view_fn = view_fn or (lambda x: x)
        self.ema_generator = ema_generator
        self.ema = GeneratorEma(generator, ema_generator, ema_decay) if ema_generator is not None else None
        # Counters (int64, checkpointed): generator iterations done, critic updates done (= data
        # position), critic updates done inside the current iteration.
        # Under a strategy every replica holds the same counters (first replica's update kept) and
        # last_g_loss is the mean of the replicas' losses (= the global batch's loss).
        first = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.step = tf.Variable(0, dtype=tf.int64, name="step", **first)
        self.critic_step = tf.Variable(0, dtype=tf.int64, name="critic_step", **first)
        self.critic_in_iter = tf.Variable(0, dtype=tf.int64, name="critic_in_iter", **first)
        self.last_g_loss = tf.Variable(
            0.0,
            dtype=tf.float32,
            trainable=False,
            name="last_g_loss",
            aggregation=tf.VariableAggregation.MEAN,
        )
        self.d_optimizer = None
        self.g_optimizer = None

    # ------------------------------------------------------------------ setup
    def compile(
        self, d_optimizer, g_optimizer, jit_compile: bool = False, fused_updates: bool = False, **kwargs
    ):
        """Attach the two optimisers and build their slots (so checkpoints restore into them).

        Keras' own optimizer slot stays empty (`super().compile(optimizer=None)`), otherwise it would
        silently create an unused RMSprop.

        Args:
            d_optimizer, g_optimizer: the critic's and the generator's optimiser.
            jit_compile: XLA-compile the whole train step.
            fused_updates: XLA-compile only the weight updates (the optimiser step, the WGAN
                clipping, the EMA), one device only. They are ~100 small elementwise ops per
                variable list; fused, a cpu-demo iteration is ~5 % faster on CPU with the same
                numbers to float32 rounding (benchmarks/RESULTS.md, issue 28).

        Sets `apply_critic_grads(grads)` and `apply_generator_grads(grads)`: one optimiser step
        on the critic's / generator's trainable variables (grads in their order), then the
        critic's clipping / the EMA step.
        """
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        d_optimizer.build(self.critic.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)
        if self.ema is not None:
            self.ema.reset()
        clip = float(self.gan_loss.clip or 0.0)
        self.apply_critic_grads = self._weight_update(d_optimizer, self.critic, clip, None, fused_updates)
        self.apply_generator_grads = self._weight_update(
            g_optimizer, self.generator, 0.0, self.ema, fused_updates
        )

    @staticmethod
    def _weight_update(optimizer, model, clip: float, ema, fused: bool):
        """`apply(grads)`: one optimiser step on `model`'s trainable variables, then clip / EMA."""
        variables = model.trainable_variables

        def apply(grads):
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            if clip:
                clipped = (lambda w: tf.clip_by_value(w, -clip, clip), ())
                distribute.assign_synced((v, *clipped) for v in variables)
            if ema is not None:
                ema.update()

        return tf.function(apply, jit_compile=True, autograph=False) if fused else apply

    def call(self, z, training=False):
        """Generator output for latent `z` `[B, nz]` (so the trainer is itself a usable model)."""
        return self.generator(z, training=training)

    def sample(self, z, use_ema: bool = True):
        """Inference-mode samples (EMA generator when available and `use_ema`)."""
        g = self.ema_generator if (use_ema and self.ema_generator is not None) else self.generator
        return g(z, training=False)

    # ------------------------------------------------------------------ training
    def _draw_z(self, critic_step):
        """This replica's share of the global z batch `[batch_size / replicas, nz]`."""
        z = tf.random.stateless_normal(
            [self.batch_size, self.nz], seed=stateless_seed(self.seed, critic_step, _PURPOSE_Z)
        )
        return distribute.replica_slice(z, 0)

    def _draw_eps(self, real, critic_step):
        """Interpolation eps for this replica's slice of the global batch, or None on one replica.

        With one replica the loss draws eps itself (same values). With R replicas the global
        `[B]` (or `[C, B]`) eps is drawn and sliced like the data, so the mirrored step equals
        the single-device step.
        """
        ctx = tf.distribute.get_replica_context()
        n = 1 if ctx is None else ctx.num_replicas_in_sync
        if n == 1 or not self.gan_loss.gp_lambda:
            return None
        axis = 0 if real.shape.rank == 4 else 1
        # Global lead shape: [B] or [C, B] with B = the global batch (the per-replica data may
        # not carry a static batch size, e.g. under MultiWorkerMirroredStrategy).
        lead = [
            self.batch_size if i == axis else (d if d is not None else tf.shape(real)[i])
            for i, d in enumerate(real.shape[: real.shape.rank - 3])
        ]
        seed = stateless_seed(self.seed, critic_step, _PURPOSE_EPS)
        eps = interpolation_eps(seed, tf.stack(lead), real.dtype)
        return distribute.replica_slice(eps, axis)

    def train_step(self, data):
        """Keras' one-device `fit` step: `run_step` with the generator update in a `tf.cond`."""
        return self.run_step(data, None)

    def run_step(self, data, generator_update=None):
        """One critic update, and the generator update when it is due.

        Runs in a replica context (inside `strategy.run`, or plainly on one device).

        Args:
            data: the critic's real batch (`[B, H, W, ch]` or `[C, B, H, W, 2]`, this replica's
                share), or a tuple whose first item is that.
            generator_update: None: decide in the graph (`tf.cond`, one device only); True/False:
                known in Python (the training loop's choice under a strategy).

        Returns:
            Scalar logs: d_loss, g_loss, gp, wdist, step (generator iterations done) and
            generator_updated (int32 0/1).
        """
        real = data[0] if isinstance(data, tuple | list) else data
        critic_step = self.critic_step.read_value()
        ctx = tf.distribute.get_replica_context()
        # Custom-step gradients are summed over replicas: scale each replica's loss by 1/R.
        inv_replicas = 1.0 / (1 if ctx is None else ctx.num_replicas_in_sync)

        # G forward, recorded so that the generator update can reuse it (see the module doc).
        z = self._draw_z(critic_step)
        with tf.GradientTape() as g_tape:
            fake = self.view_fn(self.generator(z, training=True))
        real = tf.cast(tf.convert_to_tensor(real), fake.dtype)
        d_loss, gp, wdist = self._update_critic(real, tf.stop_gradient(fake), critic_step, inv_replicas)
        self.critic_step.assign_add(1)
        self.critic_in_iter.assign_add(1)

        def update_generator():
            return self._update_generator(g_tape, fake, inv_replicas)

        if generator_update is None:
            do_g = self.critic_in_iter >= self.schedule.critic_steps_tf(self.step)
            g_loss = tf.cond(do_g, update_generator, lambda: self.last_g_loss.read_value())
        elif generator_update:
            do_g, g_loss = tf.constant(True), update_generator()
        else:
            do_g, g_loss = tf.constant(False), self.last_g_loss.read_value()
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "gp": gp,
            "wdist": wdist,
            "step": self.step.read_value(),
            "generator_updated": tf.cast(do_g, tf.int32),
        }

    def _update_critic(self, real, fake_sg, critic_step, inv_replicas):
        """One critic update on `real` vs the gradient-stopped `fake_sg`; returns (d_loss, gp, wdist)."""
        loss = self.gan_loss
        with tf.GradientTape() as d_tape:
            real_scores, fake_scores = self._critic_real_fake(real, fake_sg)
            d_core = loss.critic_loss(real_scores, fake_scores)
            if loss.gp_lambda:
                gp = penalty(
                    loss,
                    self.critic,
                    real,
                    fake_sg,
                    stateless_seed(self.seed, critic_step, _PURPOSE_EPS),
                    eps=self._draw_eps(real, critic_step),
                )
            else:
                gp = tf.constant(0.0, tf.float32)
            d_loss = d_core + loss.gp_lambda * gp
            d_scaled = self.d_optimizer.scale_loss(d_loss * inv_replicas)
        self.apply_critic_grads(d_tape.gradient(d_scaled, self.critic.trainable_variables))
        return d_loss, gp, loss.score_gap(real_scores, fake_scores)

    def _update_generator(self, g_tape, fake, inv_replicas):
        """The generator update on the fakes of the last critic step; returns g_loss."""
        with g_tape:  # resume recording on the tape that holds G's forward pass
            g_loss = self.gan_loss.generator_loss(self.critic(fake, training=True))
            g_scaled = self.g_optimizer.scale_loss(g_loss * inv_replicas)
        self.apply_generator_grads(g_tape.gradient(g_scaled, self.generator.trainable_variables))
        self.last_g_loss.assign(g_loss)
        self.step.assign_add(1)
        self.critic_in_iter.assign(0)
        return tf.identity(g_loss)

    def _critic_real_fake(self, real, fake):
        """Critic scores of the real and the (gradient-stopped) fake batch.

        A critic without BatchNorm scores each sample on its own, so both batches go through ONE
        call on their concatenation along the batch axis (larger convolutions, one backward
        instead of two); with BatchNorm they stay two calls (each batch its own statistics, as
        the reference).
        """
        if getattr(self.critic, "batchnorm", True):
            return self.critic(real, training=True), self.critic(fake, training=True)
        axis = 0 if real.shape.rank == 4 else 1  # [B, ...] or a bank's [C, B, ...]
        n = tf.shape(real)[axis]
        scores = self.critic(tf.concat([real, fake], axis=axis), training=True)
        return (scores[:n], scores[n:]) if axis == 0 else (scores[:, :n], scores[:, n:])

    # ------------------------------------------------------------------ bookkeeping
    def checkpoint(self) -> tf.train.Checkpoint:
        """The training state for `tf.train.Checkpoint` (names are a contract with export/).

        generator, critic (each a `variable_bag` of all its weights, BatchNorm statistics included),
        g_optimizer, d_optimizer, generator_ema (only with EMA), step (generator iterations),
        critic_step (data position), critic_in_iter, last_g_loss.
        """
        parts = dict(
            generator=variable_bag(self.generator),
            critic=variable_bag(self.critic),
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            step=self.step,
            critic_step=self.critic_step,
            critic_in_iter=self.critic_in_iter,
            last_g_loss=self.last_g_loss,
        )
        if self.ema_generator is not None:
            parts["generator_ema"] = variable_bag(self.ema_generator)
        return tf.train.Checkpoint(**parts)

    def weights_finite(self) -> bool:
        """True when every generator/critic (and EMA) weight is finite."""
        models = [self.generator, self.critic] + ([self.ema_generator] if self.ema_generator else [])
        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for m in models for v in m.weights)

    def get_config(self):
        return {
            "generator": keras.saving.serialize_keras_object(self.generator),
            "critic": keras.saving.serialize_keras_object(self.critic),
            "loss": dataclasses.asdict(self.gan_loss),
            "schedule": dataclasses.asdict(self.schedule),
            "nz": self.nz,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "ema_decay": self.ema.decay if self.ema is not None else 0.999,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        loss_fields = dict(config.pop("loss"))
        loss = get_loss(loss_fields.pop("name"), **loss_fields)
        schedule = TrainingSchedule(**config.pop("schedule"))
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        critic = keras.saving.deserialize_keras_object(config.pop("critic"))
        return cls(generator, critic, loss, schedule, **config)

"""Tiny models and data shared by the trainer tests."""

import functools

import keras

from biogans_tf.data import pipeline, sources
from biogans_tf.data.neighbours import mine_neighbours
from biogans_tf.losses import get_loss
from biogans_tf.models import registry
from biogans_tf.trainer.gan_model import GanTrainer
from biogans_tf.trainer.optimizers import make_optimizer
from biogans_tf.trainer.schedule import reference_schedule

SIZE = (24, 40)  # the simulator's smallest size; halves to 3x5
PROTEINS = ("Alp14", "Arp3")
BATCH = 4


@functools.cache
def cells():
    return sources.load("sim:8", "train", proteins=PROTEINS, image_size=SIZE, seed=0)


@functools.cache
def neighbours():
    return mine_neighbours(cells(), k=2)


def make_trainer(
    arch="dcgan", gan="wgan-gp", seed=0, ema=False, ema_decay=0.999, fused_updates=False, **settings
):
    """A compiled tiny trainer; `settings` are `GanLoss` or `TrainingSchedule` fields."""
    objective = {k: settings.pop(k) for k in ("clip", "gp_lambda", "penalty_type") if k in settings}
    loss, schedule = get_loss(gan, **objective), reference_schedule(gan, **settings)
    n = len(PROTEINS)
    gkw = dict(image_size=SIZE, n_proteins=n, nz=16, ngf=8, seed=seed)
    g = registry.build_generator(arch, **gkw)
    d = registry.build_critic(
        arch, image_size=SIZE, n_proteins=n, ndf=8, batchnorm=schedule.critic_batchnorm, seed=seed
    )
    t = GanTrainer(
        g,
        d,
        loss,
        schedule,
        nz=16,
        batch_size=BATCH,
        seed=seed,
        view_fn=lambda x: registry.critic_view(arch, x, n),
        ema_generator=registry.build_generator(arch, **gkw) if ema else None,
        ema_decay=ema_decay,
    )
    t.compile(
        d_optimizer=make_optimizer(schedule.optimizer, schedule.lr_d, schedule.beta1, schedule.beta2),
        g_optimizer=make_optimizer(schedule.optimizer, schedule.lr_g, schedule.beta1, schedule.beta2),
        fused_updates=fused_updates,
    )
    return t


def dataset(arch, seed=0, start_step=0):
    fam = registry.family(arch)
    return pipeline.make_batches(
        fam,
        cells(),
        BATCH,
        seed,
        start_step=start_step,
        neighbours=neighbours() if fam == "multichannel" else None,
    )


class Recorder(keras.callbacks.Callback):
    """Keeps every critic step's logs as floats."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in (logs or {}).items()})


def with_nan_at(ds, critic_step, start_step=0):
    """`ds` with every real image of the batch at `critic_step` set to NaN (a corrupt input).

    Elements are the batches of critic steps `start_step, start_step + 1, ...`; the first item of a
    tuple element (joint `(images, labels)`) is the one poisoned.
    """
    import tensorflow as tf

    def poison(i, element):
        images = element[0] if isinstance(element, tuple) else element
        images = tf.where(i == critic_step, tf.fill(tf.shape(images), float("nan")), images)
        return (images, *element[1:]) if isinstance(element, tuple) else images

    return ds.enumerate(start_step).map(poison)

"""GAN training: the `GanTrainer` keras.Model, its callbacks, checkpoints and EMA."""

from biogans_tf.trainer.checkpoint import (
    CheckpointError,
    TrainingCheckpoints,
    restore_generator,
    save_keras_model,
    variable_bag,
)
from biogans_tf.trainer.ema import GeneratorEma
from biogans_tf.trainer.gan_model import GanTrainer, fixed_noise, stateless_seed
from biogans_tf.trainer.optimizers import TorchRMSprop, make_optimizer

__all__ = [
    "CheckpointError",
    "GanTrainer",
    "GeneratorEma",
    "TorchRMSprop",
    "TrainingCheckpoints",
    "fixed_noise",
    "make_optimizer",
    "restore_generator",
    "save_keras_model",
    "stateless_seed",
    "variable_bag",
]

"""GAN training: the `GanTrainer` keras.Model, its callbacks, checkpoints and EMA."""

import importlib

# Lazy exports (PEP 562): `biogans_tf.trainer.config` (flags of `training.run`) must import without
# TensorFlow so that `--help` stays fast; the TensorFlow-heavy modules load on first attribute use.
# Add new exports to this table, not as imports.
_EXPORTS = {
    "CheckpointError": "errors",
    "TrainingCheckpoints": "checkpoint",
    "restore_generator": "checkpoint",
    "variable_bag": "checkpoint",
    "GeneratorEma": "ema",
    "GanTrainer": "gan_model",
    "fixed_noise": "gan_model",
    "stateless_seed": "gan_model",
    "TorchRMSprop": "optimizers",
    "make_optimizer": "optimizers",
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = [
    "CheckpointError",
    "GanTrainer",
    "GeneratorEma",
    "TorchRMSprop",
    "TrainingCheckpoints",
    "fixed_noise",
    "make_optimizer",
    "restore_generator",
    "stateless_seed",
    "variable_bag",
]

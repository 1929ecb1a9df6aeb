"""GAN training: the `GanTrainer` keras.Model (`gan_model`), its callbacks, checkpoints and EMA.

Import the modules themselves (`from biogans_tf.trainer.gan_model import GanTrainer`): this
package's `__init__` imports nothing, so `trainer.config` (the flags of `training.run`) loads
without TensorFlow.
"""

"""biogans-tf: GANs for multi-channel fluorescence-microscopy cell images in TensorFlow 2 / Keras 3.

Subpackages, in the order data flows through them:
  data     simulator, readers (LIN folder/zip, TIFF, TFDS), tf.data pipelines, neighbour mining
  models   generators and critics, registry of named architectures
  losses   GAN / WGAN / WGAN-GP objectives, registry of named losses
  trainer  the keras.Model with the GAN train step, callbacks, checkpoints
  eval     C2ST, reconstruction, interpolation, ground-truth multichannel evaluation
"""

__version__ = "0.1.0"

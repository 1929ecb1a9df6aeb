"""biogans-tf: GANs for multi-channel fluorescence-microscopy cell images in TensorFlow 2 / Keras 3.

Subpackages, in the order data flows through them:
  data     simulator, readers (LIN folder/zip, TIFF, TFDS), tf.data pipelines, neighbour mining
  models   generators and critics, registry of named architectures
  losses   GAN / WGAN / WGAN-GP objectives, registry of named losses
  trainer  the keras.Model with the GAN train step, callbacks, checkpoints
  eval     C2ST, reconstruction, interpolation, ground-truth multichannel evaluation

`import biogans_tf` is cheap (no TensorFlow) yet registers every custom Keras object as soon as
Keras is imported, so `keras.saving.load_model("G.keras")` works after it;
`biogans_tf.load_generator(path_or_run_dir)` loads a generator with its arch, proteins, nz and
image size.
"""

from biogans_tf import keras_registration
from biogans_tf.loader import load_generator, read_metadata

__version__ = "0.1.0"
__all__ = ["load_generator", "read_metadata"]

keras_registration.install()

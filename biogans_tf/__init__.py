"""biogans-tf: GANs for multi-channel fluorescence-microscopy cell images in TensorFlow 2 / Keras 3.

Subpackages, in the order data flows through them:
  data      simulator, readers (LIN folder/zip, TIFF, TFDS), tf.data pipelines, neighbour mining
  models    generators and critics, built by architecture name
  losses    GAN / WGAN / WGAN-GP objectives and critic penalties
  trainer   the keras.Model with the GAN train step, callbacks, checkpoints
  eval      C2ST, reconstruction, interpolation, ground-truth multichannel evaluation
  runs      a run folder's layout, and the one generator loader
  export    SavedModels for TF Serving, reference PyTorch checkpoints
  serving   the gRPC + REST server, its client and the model explorer page
  training  the command-line programs of training, evaluation, sampling and the data tools
The names that select things (`--arch`, `--gan`, ...) are in `registries` and `conventions`;
`cli` is the command-line layer the programs share.

`import biogans_tf` is cheap (no TensorFlow) yet registers every custom Keras object as soon as
Keras is imported, so `keras.saving.load_model("G.keras")` works after it.
"""

from biogans_tf import keras_registration
from biogans_tf.runs.folder import read_metadata

__version__ = "0.1.0"
__all__ = ["load_generator", "read_metadata"]

keras_registration.install()


def load_generator(path: str, **kwargs):
    """Load a generator with its arch, proteins, nz and image size (`biogans_tf.runs.generator`).

    Example:
        >>> g = biogans_tf.load_generator("runs/my-run")          # or "G.keras"
        >>> images = g.model(g.latents(16, seed=0), training=False)

    Keras and TensorFlow load at the first call, not at `import biogans_tf`.
    """
    from biogans_tf.runs.generator import load_generator as load

    return load(path, **kwargs)

"""TFDS builders for LIN: importing this package registers `lin` and `lin_synthetic`.

    import biogans_tf.data.tfds_builders  # noqa: F401
    ds = tfds.load("lin_synthetic/small", split="train", data_dir=...)
    ds = tfds.load("lin", split="train", data_dir=...,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir="/path/with/LIN zip or folders")})

Both store `image` as RGB PNG `(H, W, 3)` (R = Bgs4, G = protein, B = 0, exactly like LIN),
`label` (ClassLabel of protein names), `protein` and `file` (text). Both work fully offline.
"""

from biogans_tf.data.tfds_builders.lin_real import Lin, LinConfig
from biogans_tf.data.tfds_builders.lin_synthetic import LinSynthetic, LinSyntheticConfig

__all__ = ["Lin", "LinConfig", "LinSynthetic", "LinSyntheticConfig"]

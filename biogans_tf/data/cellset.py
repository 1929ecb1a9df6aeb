"""`CellSet`: the in-memory form every data source produces."""

from __future__ import annotations

import dataclasses

import numpy as np

from biogans_tf.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class CellSet:
    """Two-channel cell images with their protein labels.

    Attributes:
        images: uint8 `[N, H, W, 2]`; channel 0 = red (Bgs4, the reference channel), 1 = green.
        labels: int32 `[N]`, index into `proteins`.
        proteins: protein names in the run's order.
        files: one relative path (or synthetic id) per image; a stable identity for caching.
        source: human-readable description of where the images came from.
    """

    images: np.ndarray
    labels: np.ndarray
    proteins: tuple[str, ...]
    files: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 2:
            raise DataError(
                self.source or "CellSet",
                f"images must be uint8 [N, H, W, 2], got {self.images.dtype} {self.images.shape}",
            )
        n = self.images.shape[0]
        if self.labels.shape != (n,) or len(self.files) != n:
            raise DataError(
                self.source or "CellSet",
                f"{n} images but {self.labels.shape[0]} labels and {len(self.files)} files",
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.proteins)):
            raise DataError(self.source or "CellSet", "labels must index into proteins")

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the images."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def counts(self) -> dict[str, int]:
        """Number of images per protein, in protein order."""
        binc = np.bincount(self.labels, minlength=len(self.proteins))
        return {p: int(c) for p, c in zip(self.proteins, binc, strict=True)}

    def of_protein(self, protein: str) -> np.ndarray:
        """uint8 `[N_p, H, W, 2]` images of one protein."""
        return self.images[self.labels == self.proteins.index(protein)]

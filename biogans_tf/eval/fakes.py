"""A generator as an unlimited source of fake images for C2ST (fresh latents at every request)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class GeneratorFakes:
    """A generator as an unlimited fake source: every request draws new latents (paper Sec. 5.1).

    A critic trained on a fixed finite fake set can memorise it; the reference draws a new
    generator batch at every critic step and scores on fresh samples. `draw(keys, step, n)` returns
    `n` new samples per key, with z from `SeedSequence([key, step, 77])`, all keys in ONE generator
    call. Views (`view(select)`) share the draws of their parent, so the proteins of one star or
    independent generator cost one forward per step, not one per protein.

    Args:
        fn: `z float32 [B, nz] -> images [B, ...]` in [-1, 1], inference mode.
        nz: latent size.

    Attributes:
        calls: generator calls so far; `z_seeds`: every `(key, step)` latents were drawn for.
    """

    def __init__(self, fn, nz: int):
        self.fn = tf.function(fn, autograph=False, reduce_retracing=True)
        self.nz = int(nz)
        self.calls = 0
        self.z_seeds: list[tuple[int, int]] = []
        self._cache = (None, None)
        self.parent = self

    def _full(self, keys, step, n) -> np.ndarray:
        tag = (tuple(int(k) for k in keys), int(step), int(n))
        if self._cache[0] == tag:
            return self._cache[1]
        z = np.concatenate(
            [
                np.random.default_rng(np.random.SeedSequence([k, int(step), 77]))
                .standard_normal((int(n), self.nz))
                .astype(np.float32)
                for k in tag[0]
            ]
        )
        self.calls += 1
        self.z_seeds.extend((k, int(step)) for k in tag[0])
        x = np.clip(np.asarray(self.fn(tf.constant(z)), np.float32), -1.0, 1.0)
        out = x.reshape(len(tag[0]), int(n), *x.shape[1:])
        self._cache = (tag, out)
        return out

    def draw(self, keys, step: int, n: int) -> np.ndarray:
        """float32 `[len(keys), n, H, W, c]` fresh samples."""
        return self._full(keys, step, n)

    def image_shape(self) -> tuple[int, ...]:
        """`(H, W, c)` of one sample (an uncounted probe forward at z = 0)."""
        return tuple(np.asarray(self.fn(tf.zeros([1, self.nz]))).shape[1:])

    def view(self, select) -> _FakesView:
        """A source showing `select(images [K, n, ...]) -> [K, n, H, W, c]` of this one's draws."""
        return _FakesView(self, select)


class _FakesView:
    def __init__(self, parent: GeneratorFakes, select):
        self.parent, self.select = parent, select

    def draw(self, keys, step: int, n: int) -> np.ndarray:
        return np.asarray(self.select(self.parent._full(keys, step, n)), np.float32)

    def image_shape(self) -> tuple[int, ...]:
        x = np.asarray(self.parent.fn(tf.zeros([1, self.parent.nz])))[None]
        return tuple(np.asarray(self.select(x)).shape[2:])


def is_fake_source(x) -> bool:
    """Whether `x` is a `GeneratorFakes` source or a view of one (not an image array)."""
    return isinstance(x, GeneratorFakes | _FakesView)

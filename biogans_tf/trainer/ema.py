"""Exponential moving average (EMA) of generator weights."""

from __future__ import annotations

import keras
import tensorflow as tf

from biogans_tf.trainer.distribute import assign_synced


class GeneratorEma:
    """Keeps `ema_generator`'s weights an EMA of `generator`'s.

    Trainable weights follow `ema = decay * ema + (1 - decay) * w`; non-trainable ones (BatchNorm
    moving mean/variance) are copied, because averaging statistics of different networks does not
    give the statistics of the averaged network.

    Args:
        generator: the trained generator.
        ema_generator: a second instance of the same architecture (built, same weight order).
        decay: EMA decay in [0, 1), e.g. 0.999.
    """

    def __init__(self, generator: keras.Model, ema_generator: keras.Model, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"--ema_decay must be in [0, 1), got {decay}")
        src, dst = generator.weights, ema_generator.weights
        same = len(src) == len(dst) and all(
            tuple(a.shape) == tuple(b.shape) for a, b in zip(src, dst, strict=True)
        )
        if not same:
            raise ValueError("the EMA generator must have the same architecture as the generator")
        self.generator = generator
        self.ema_generator = ema_generator
        self.decay = float(decay)
        trainable = {id(v) for v in generator.trainable_weights}
        self._pairs = [(a, b, id(a) in trainable) for a, b in zip(src, dst, strict=True)]

    def reset(self) -> None:
        """Copy the generator's weights into the EMA generator (at the start of training)."""
        for src, dst, _ in self._pairs:
            dst.assign(src)

    def update(self) -> None:
        """One EMA step (graph-safe; call after each generator update, also under tf.distribute)."""
        d = self.decay

        def average(dst, src):
            return d * dst + (1.0 - d) * tf.cast(src, dst.dtype)

        def copy(dst, src):
            return tf.cast(src, dst.dtype)

        assign_synced(
            (dst, average if is_trainable else copy, (src,)) for src, dst, is_trainable in self._pairs
        )

"""C2ST critic training: `n` critics of one `CriticBank`, trained together on their own splits.

Every critic of a run is one critic of a `CriticBank` (`models/critic_bank.py`), trained by one
batched step with per-critic losses (summed, so each critic's gradient is its own loss's), the
project's WGAN-GP penalty (`losses/wgan_gp.py`, float32, per critic and sample) and the project's
optimiser (`trainer/optimizers.make_optimizer`: Adam, or PyTorch-style RMSProp then clipping for
`wgan`). Critic `i`'s trajectory depends only on its key, data and the settings: its initial
weights (`stacked_critic`), mini-batches, flips and penalty draws are all keyed by it
(`tf.random.stateless_uniform`).

Execution: `loop` (one convolution per critic inside the one compiled step). Measured on the 2-core
CPU (`benchmarks/critic_bank.py`, `benchmarks/c2st_stacked.py`) it is faster than `grouped` (one
grouped convolution per layer, whose backward pass is slow on CPU): 0.45 s vs 1.23 s per step for
10 critics at ndf 16, batch 16; 0.29 s vs 0.41 s at ndf 8. Both give the same scores (to float
round-off; bit-equal in those runs). GPUs were not measured.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from biogans_tf.conventions import to_model_range_tf
from biogans_tf.losses.wgan_gp import gradient_penalties
from biogans_tf.models.critic_bank import CriticBank, grouped_training_error
from biogans_tf.models.critics import CriticArch
from biogans_tf.models.init import CONV_STDDEV
from biogans_tf.trainer.optimizers import make_optimizer

C2ST_EXECUTION = "loop"  # the faster `CriticBank` execution for C2ST, measured (see above)


def stacked_critic(keys, image_size, channels: int, ndf: int, execution: str = C2ST_EXECUTION) -> CriticBank:
    """A `CriticBank` of `len(keys)` C2ST critics (no BatchNorm), critic `i` initialised from `keys[i]`.

    C2ST's own initial weights (the paper's N(0, 0.02)): kernel `l` of critic `i` (`conv_0`, ...,
    `final`) is drawn from `SeedSequence([keys[i], l])`, independent of the other critics and of how
    critics are grouped into banks.

    Call: `bank(x)`, x `[n, B, H, W, channels]` float32 -> scores `[n, B]`.

    Raises:
        ValueError: `execution="grouped"` where grouped convolutions cannot train (oneDNN off).
    """
    if execution == "grouped":
        problem = grouped_training_error()
        if problem is not None:
            raise ValueError(f"C2ST execution='grouped' cannot train in this process ({problem}); use 'loop'")
    bank = CriticBank(len(keys), image_size=image_size, n_channels=channels, ndf=ndf, execution=execution)
    bank.build()
    shapes = list(CriticArch(image_size, channels, ndf).kernel_shapes().items())

    def initial(key, layer, shape):
        rng = np.random.default_rng(np.random.SeedSequence([int(key), layer]))
        return rng.normal(0.0, CONV_STDDEV, shape)

    bank.set_critic_weights([{n: initial(k, i, shape) for i, (n, shape) in enumerate(shapes)} for k in keys])
    return bank


def _pad_table(rows: list[np.ndarray], multiple: int = 1, longest: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged index rows into `[n, L]` (L >= `longest`, rounded up to `multiple`, padded with 0)
    + lengths."""
    lengths = np.array([len(r) for r in rows], np.int32)
    width = int(-(-max(lengths.max(), longest) // multiple) * multiple)
    table = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table, lengths


# Stateless-draw purposes (counter = step * _PURPOSES + purpose).
_REAL, _FAKE, _EPS, _FLIP_REAL, _FLIP_FAKE = range(5)
_PURPOSES = 8
# Scoring draws use "steps" far beyond any training step.
_SCORE_STEP = 1 << 30


class C2STBank:
    """One stacked C2ST training run: the critics, their data tables and the compiled steps.

    Args:
        pool: every image of the run, `[N, H, W, c]` uint8 or float32 in [-1, 1].
        specs: one dict per critic: `key`, index arrays into `pool` (`real_train`, `real_test`,
            `fake_train`, `fake_test`) and `fresh` (a `GeneratorFakes` source or view, or None
            for a fixed fake set).
        settings: a `C2STSettings`.
        execution: the `CriticBank` execution (default: the faster one measured, see above).
    """

    def __init__(self, pool, specs, settings, execution: str = C2ST_EXECUTION):
        self.settings = settings
        self.specs = specs
        self.n = len(specs)
        self.pool = pool
        self.keys = tf.constant([s["key"] for s in specs], tf.int64)
        self.fresh = np.array([s["fresh"] is not None for s in specs])
        self.fresh_mask = tf.constant(self.fresh)
        self._zeros = {}
        # Per generator: the keys of its critics in this bank (one generator call serves them all).
        self.groups = {}
        for s in specs:
            if s["fresh"] is not None:
                keys = self.groups.setdefault(id(s["fresh"].parent), [])
                if s["key"] not in keys:  # problems sharing a generator share a split's latents
                    keys.append(s["key"])
        # Score chunks no longer than the longest test half (padding beyond it is wasted work).
        longest = max(max(len(s["real_test"]), len(s["fake_test"])) for s in specs)
        self.eval_chunk = e = min(settings.eval_batch, longest)
        self.real_train, self.real_train_len = map(tf.constant, _pad_table([s["real_train"] for s in specs]))
        self.fake_train, self.fake_train_len = map(tf.constant, _pad_table([s["fake_train"] for s in specs]))
        # Both test tables get the same width: scoring walks them in the same chunks.
        self.real_test, self.real_test_len = map(
            tf.constant, _pad_table([s["real_test"] for s in specs], e, longest)
        )
        self.fake_test, self.fake_test_len = map(
            tf.constant, _pad_table([s["fake_test"] for s in specs], e, longest)
        )
        keys = [s["key"] for s in specs]
        self.critic = stacked_critic(keys, pool.shape[1:3], pool.shape[3], settings.ndf, execution)
        if settings.critic == "wgan":  # RMSProp then clipping, as the reference's WGAN
            self.optimizer = make_optimizer("rmsprop", settings.lr)
        else:
            self.optimizer = make_optimizer("adam", settings.lr, settings.beta1, settings.beta2)
        self.optimizer.build(self.critic.trainable_variables)
        # Partials (no `__code__`): TF's frequent-retracing detector then keys on this bank's own
        # callable, so building many banks one after another (sequential mode) does not warn.
        self.train_step = tf.function(functools.partial(C2STBank._train_step, self), autograph=False)
        self.score_chunk = tf.function(functools.partial(C2STBank._score_chunk, self), autograph=False)

    def fresh_batch(self, step: int, n: int) -> tf.Tensor:
        """`[n_critics, n, H, W, c]` fresh fakes for the critics that have a generator, zeros elsewhere."""
        shape = (self.n, n, *self.pool.shape[1:])
        if not self.fresh.any():  # one zeros tensor per shape, not a new one every step
            if shape not in self._zeros:
                self._zeros[shape] = tf.zeros(shape, tf.float32)
            return self._zeros[shape]
        out = np.zeros(shape, np.float32)
        for i, s in enumerate(self.specs):
            if s["fresh"] is not None:
                keys = self.groups[id(s["fresh"].parent)]
                out[i] = s["fresh"].draw(keys, step, n)[keys.index(s["key"])]
        return tf.constant(out)

    def _images(self, idx):
        x = tf.gather(self.pool, idx)
        return to_model_range_tf(x)  # uint8 -> [-1, 1]; floats as they are

    def _uniform(self, step, purpose, shape):
        """Per-critic stateless U[0, 1) draws `[n, *shape]`, keyed by (critic key, step, purpose)."""
        counter = step * _PURPOSES + purpose
        return tf.stack(
            [
                tf.random.stateless_uniform(shape, seed=tf.stack([self.keys[i], counter]))
                for i in range(self.n)
            ]
        )

    def _flip(self, x, step, purpose):
        """Random horizontal and vertical flips (p=0.5 each, per image) of `[n, B, H, W, c]`."""
        if not self.settings.flips:
            return x
        u = self._uniform(step, purpose, [tf.shape(x)[1], 2])[:, :, None, None, None, :]  # [n, B, 1, 1, 1, 2]
        x = tf.where(u[..., 0] < 0.5, tf.reverse(x, axis=[3]), x)  # horizontal: the width axis
        return tf.where(u[..., 1] < 0.5, tf.reverse(x, axis=[2]), x)  # vertical: the height axis

    def _batch(self, table, lengths, step, purpose):
        bsz = self.settings.batch_size
        u = self._uniform(step, purpose, [bsz])
        n_avail = tf.cast(lengths, tf.float32)[:, None]
        pos = tf.minimum(tf.cast(tf.floor(u * n_avail), tf.int32), lengths[:, None] - 1)
        return self._images(tf.gather(table, pos, batch_dims=1))  # [n, B, H, W, c]

    def _penalty(self, real, fake, eps):
        """Per-(critic, sample) penalties `[n, B]` (float32) at the interpolates given by eps `[n, B]`."""
        return gradient_penalties(self.critic, real, fake, None, eps=eps[:, :, None, None, None])

    def _train_step(self, step, fresh):
        s = self.settings
        step = tf.cast(step, tf.int64)
        real = self._flip(self._batch(self.real_train, self.real_train_len, step, _REAL), step, _FLIP_REAL)
        fixed = self._flip(self._batch(self.fake_train, self.fake_train_len, step, _FAKE), step, _FLIP_FAKE)
        # Generated fakes are used as drawn (the reference flips only data-loader images).
        fake = tf.where(self.fresh_mask[:, None, None, None, None], fresh, fixed)
        weights = self.critic.trainable_variables
        with tf.GradientTape() as tape:
            d_real_all, d_fake_all = (tf.cast(self.critic(x), tf.float32) for x in (real, fake))  # [n, B]
            d_real = tf.reduce_mean(d_real_all, axis=1)  # [n]
            d_fake = tf.reduce_mean(d_fake_all, axis=1)
            if s.critic == "gan":
                # Cross-entropy with real = 1, fake = 0 (BCE with logits, as the reference's GAN).
                losses = tf.reduce_mean(tf.nn.softplus(-d_real_all), 1) + tf.reduce_mean(
                    tf.nn.softplus(d_fake_all), 1
                )
            else:
                losses = d_fake - d_real
            if s.critic == "wgan-gp":
                eps = self._uniform(step, _EPS, [s.batch_size])
                losses += s.gp_lambda * tf.reduce_mean(self._penalty(real, fake, eps), axis=1)
            # Summing keeps each critic's gradient equal to the gradient of its own loss.
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, weights)
        self.optimizer.apply_gradients(zip(grads, weights, strict=True))
        if s.critic == "wgan":
            for w in weights:
                w.assign(tf.clip_by_value(w, -s.clip, s.clip))
        return d_real - d_fake

    def _score_chunk(self, start, fresh):
        """Sums over one chunk of the test-test halves: D(real), D(fake), GP, BCE terms; each `[n]`."""
        e = self.eval_chunk
        step = tf.cast(_SCORE_STEP + start, tf.int64)
        ar = start + tf.range(e)[None, :]
        real = self._flip(self._images(self.real_test[:, start : start + e]), step, _FLIP_REAL)
        fixed = self._flip(self._images(self.fake_test[:, start : start + e]), step, _FLIP_FAKE)
        fake = tf.where(self.fresh_mask[:, None, None, None, None], fresh, fixed)
        v_real = tf.cast(ar < self.real_test_len[:, None], tf.float32)
        v_fake = tf.cast(ar < self.fake_test_len[:, None], tf.float32)
        d_real, d_fake = (tf.cast(self.critic(x), tf.float32) for x in (real, fake))  # bf16 policy: f32 sums
        # The penalty pairs real i with fake i (as the reference, which truncates to the shorter).
        gp = self._penalty(real, fake, self._uniform(step, _EPS, [e]))
        return (
            tf.reduce_sum(d_real * v_real, 1),
            tf.reduce_sum(d_fake * v_fake, 1),
            tf.reduce_sum(gp * v_real * v_fake, 1),
            tf.reduce_sum(tf.nn.softplus(-d_real) * v_real, 1),
            tf.reduce_sum(tf.nn.softplus(d_fake) * v_fake, 1),
        )

    def score_sums(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Per-critic sums over the test-test halves (D(real), D(fake), GP, BCE real, BCE fake; `[n]`
        float64 each) and the numbers of real and fake test images `[n]`."""
        sums = [np.zeros(self.n) for _ in range(5)]
        width = int(self.real_test.shape[1])
        for start in range(0, width, self.eval_chunk):
            fresh = self.fresh_batch(_SCORE_STEP + start, self.eval_chunk)
            parts = self.score_chunk(tf.constant(start, tf.int32), fresh)
            sums = [a + b.numpy() for a, b in zip(sums, parts, strict=True)]
        n_real = self.real_test_len.numpy().astype(np.float64)
        n_fake = self.fake_test_len.numpy().astype(np.float64)
        return sums, n_real, n_fake

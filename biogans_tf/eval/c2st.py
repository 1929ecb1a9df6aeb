"""Classifier two-sample test (C2ST) with WGAN-GP critics, every random split trained at once.

The paper's measure (Osokin et al. 2017, Sec. 5.1): to compare a "real" image set with a "fake"
one, split each set 50/50 at random into test-train and test-test halves, train a fresh WGAN-GP
critic (the DCGAN critic without BatchNorm; Adam(1e-4, 0, 0.9); lambda = 10; 5,000 steps) to
separate the two test-train halves, and report the negated critic objective (4) on the test-test
halves, penalty included: `score = -(E D(fake) - E D(real) + lambda * GP)`, with GP evaluated in
float32 on interpolates of held-out real and fake images (what the reference's
`compute_disc_score` returns on test data). The score is about 0 or negative when the sources are
the same (the penalty then dominates) and large when a critic can tell them apart. Repeat over 10
random splits and summarise by the median and the median absolute deviation (MAD, unscaled).

A generator is an unlimited fake source (`GeneratorFakes`): each critic step trains on a new
generator batch and the test-test side is fresh samples. Real images are flipped at random
(horizontal and vertical, p=0.5 each) in training and scoring, as the reference's data loader.
`C2STSettings.critic` also offers the supplementary's `wgan` (clipping) and `gan` (cross-entropy).

The reference ran every split (and every protein pair) as a separate job. Here all critics of a run
form one `StackedCritic`: `n` DCGAN critics whose convolutions are a single grouped convolution
over channel-stacked inputs `[n, B, H, W, c] -> [n, B]`, trained by one batched step with per-critic
losses, per-critic and per-sample gradient-penalty norms (float32) and an elementwise Adam. Critic
`i`'s trajectory depends only on its own key, data and the settings, so stacked training equals
training the critics one after another (`stacked=False`) up to float round-off (grouped and single
convolutions sum in different orders; training amplifies it: ~1e-9 after 12 steps at 16x32, a few
1e-3 on scores of ~0.5 after 100 steps at 48x80 on CPU).

Seeds: critic `(problem, split s)` gets the key `derive_key(seed, s)`; its initial weights, its 50/50
permutations of both sources, its per-step mini-batch, flip and penalty draws and its fresh latents
are all functions of that key (numpy `SeedSequence` and `tf.random.stateless_uniform`), so every
problem sees the same split design (a paired comparison) and results do not depend on how critics
are grouped.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from biogans_tf.models.geometry import critic_channels

LEAKY_SLOPE = 0.2
CRITICS = ("wgan-gp", "wgan", "gan")
CONV_STDDEV = 0.02


@dataclasses.dataclass(frozen=True)
class C2STSettings:
    """Hyper-parameters of one C2ST (defaults: the paper's).

    Attributes:
        n_splits: random 50/50 splits (one critic each).
        steps: critic training steps.
        batch_size: images per source per step.
        ndf: critic width (channels of its first conv; doubled per halving).
        lr, beta1, beta2: Adam settings (PyTorch-0.2 / Keras update rule, eps 1e-8); the `wgan`
            critic uses RMSProp(lr, rho 0.99) as the reference's WGAN and ignores the betas.
        gp_lambda: gradient-penalty weight (`wgan-gp`).
        seed: master seed for splits, initial weights, mini-batches, flips and fresh latents.
        eval_batch: images per chunk when scoring the test-test halves.
        critic: `wgan-gp` (the paper's; score = negated objective, penalty included), `wgan`
            (weight clipping, score = critic gap) or `gan` (cross-entropy, score = negated loss).
        clip: weight-clipping bound of the `wgan` critic.
        flips: random horizontal and vertical flips (p=0.5 each) of real images, as the
            reference's data loader does, in training and scoring.
    """

    n_splits: int = 10
    steps: int = 5000
    batch_size: int = 64
    ndf: int = 64
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    gp_lambda: float = 10.0
    seed: int = 0
    eval_batch: int = 256
    critic: str = "wgan-gp"
    clip: float = 0.01
    flips: bool = True

    def __post_init__(self):
        for name in ("n_splits", "steps", "batch_size", "ndf", "eval_batch"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"C2STSettings.{name}: expected a positive integer, got {value!r}")
        if self.critic not in CRITICS:
            raise ValueError(f"C2STSettings.critic: expected one of {'|'.join(CRITICS)}, got {self.critic!r}")


def derive_key(seed: int, *path: int) -> int:
    """A 31-bit key from integers (stable across processes: numpy SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(1, np.uint32)[0] >> 1)


def median_mad(values) -> tuple[float, float]:
    """Median and (unscaled) median absolute deviation of a 1-D sequence."""
    v = np.asarray(values, np.float64)
    med = float(np.median(v))
    return med, float(np.median(np.abs(v - med)))


class StackedCritic(tf.Module):
    """`n` independent DCGAN critics (no BatchNorm) evaluated as one grouped convolution.

    Layer `l` of critic `i` has the reference layout: stride-2 4x4 convs (`SAME` padding equals the
    reference's padding 1 at even sizes), LeakyReLU(0.2), and a final conv covering the remaining
    map (3x5 at 48x80) to one score. No biases. Weights are stored stacked along the output-channel
    axis (`[kh, kw, c_in, n * c_out]`, critic-major), which is what a grouped conv expects.

    Args:
        keys: one integer key per critic; critic `i`'s initial weights are N(0, 0.02) draws from
            `SeedSequence([keys[i], layer])`, independent of the other critics.
        image_size: `(height, width)` of the inputs.
        channels: input channels `c` (2 for red/green pairs, 1 + C for multichannel images).
        ndf: width of the first conv.
    """

    def __init__(self, keys: Sequence[int], image_size, channels: int, ndf: int, name=None):
        super().__init__(name=name)
        self.n = len(keys)
        self.image_size = tuple(int(s) for s in image_size)
        self.in_channels = int(channels)
        widths, final_map = critic_channels(self.image_size, ndf)
        shapes = []
        c_in = self.in_channels
        for width in widths:
            shapes.append((4, 4, c_in, width))
            c_in = width
        shapes.append((final_map[0], final_map[1], c_in, 1))
        self.kernels = []
        for layer, shape in enumerate(shapes):
            parts = [
                np.random.default_rng(np.random.SeedSequence([int(k), layer])).normal(0.0, CONV_STDDEV, shape)
                for k in keys
            ]
            self.kernels.append(
                tf.Variable(np.concatenate(parts, axis=-1).astype(np.float32), name=f"k{layer}")
            )

    def __call__(self, x):
        """Scores `[n, B]` for inputs `[n, B, H, W, c]` (float32, critic `i` sees `x[i]`)."""
        shape = tf.shape(x)
        b = shape[1]
        # [n, B, H, W, c] -> [B, H, W, n * c]: critic-major channel groups, as the grouped conv wants.
        h = tf.transpose(x, [1, 2, 3, 0, 4])
        h = tf.reshape(h, [b, self.image_size[0], self.image_size[1], self.n * self.in_channels])
        for kernel in self.kernels[:-1]:
            h = tf.nn.leaky_relu(tf.nn.conv2d(h, kernel, 2, "SAME"), LEAKY_SLOPE)
        h = tf.nn.conv2d(h, self.kernels[-1], 1, "VALID")  # [B, 1, 1, n]
        return tf.transpose(tf.reshape(h, [b, self.n]))


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


class _Bank:
    """One stacked training run: the critics, their data tables and the compiled steps."""

    def __init__(self, pool, specs, settings: C2STSettings):
        # specs: one dict per critic with key, real/fake train/test index arrays into `pool`, and
        # `fresh` (a GeneratorFakes source, or None for a fixed fake set).
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
        self.critic = StackedCritic([s["key"] for s in specs], pool.shape[1:3], pool.shape[3], settings.ndf)
        self.m = [tf.Variable(tf.zeros_like(k)) for k in self.critic.kernels]
        self.v = [tf.Variable(tf.zeros_like(k)) for k in self.critic.kernels]
        # Partials (no `__code__`): TF's frequent-retracing detector then keys on this bank's own
        # callable, so building many banks one after another (sequential mode) does not warn.
        self.train_step = tf.function(functools.partial(_Bank._train_step, self), autograph=False)
        self.score_chunk = tf.function(functools.partial(_Bank._score_chunk, self), autograph=False)

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
        if x.dtype == tf.uint8:
            return tf.cast(x, tf.float32) / 127.5 - 1.0
        return tf.cast(x, tf.float32)

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
        """Per-(critic, sample) squared deviation of the input-gradient norm from 1, float32 `[n, B]`."""
        mixed = eps[:, :, None, None, None] * real + (1.0 - eps[:, :, None, None, None]) * fake
        with tf.GradientTape() as inner:
            inner.watch(mixed)
            # Each score depends on its own sample and critic only: the gradient of the sum is
            # every (critic, sample)'s own input gradient.
            total_mixed = tf.reduce_sum(self.critic(mixed))
        g = inner.gradient(total_mixed, mixed)
        norms = tf.sqrt(tf.reduce_sum(tf.square(g), axis=[2, 3, 4]) + 1e-12)
        return tf.square(norms - 1.0)

    def _train_step(self, step, fresh):
        s = self.settings
        step = tf.cast(step, tf.int64)
        real = self._flip(self._batch(self.real_train, self.real_train_len, step, _REAL), step, _FLIP_REAL)
        fixed = self._flip(self._batch(self.fake_train, self.fake_train_len, step, _FAKE), step, _FLIP_FAKE)
        # Generated fakes are used as drawn (the reference flips only data-loader images).
        fake = tf.where(self.fresh_mask[:, None, None, None, None], fresh, fixed)
        weights = self.critic.kernels
        with tf.GradientTape() as tape:
            d_real_all, d_fake_all = self.critic(real), self.critic(fake)  # [n, B]
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
        t = tf.cast(step + 1, tf.float32)
        for w, m, v, grad in zip(weights, self.m, self.v, grads, strict=False):
            if s.critic == "wgan":
                # RMSProp (PyTorch's: alpha 0.99, eps 1e-8) then clipping, as the reference's WGAN.
                v.assign(0.99 * v + 0.01 * tf.square(grad))
                w.assign(tf.clip_by_value(w - s.lr * grad / (tf.sqrt(v) + 1e-8), -s.clip, s.clip))
                continue
            alpha = s.lr * tf.sqrt(1.0 - s.beta2**t) / (1.0 - s.beta1**t)
            m.assign(s.beta1 * m + (1.0 - s.beta1) * grad)
            v.assign(s.beta2 * v + (1.0 - s.beta2) * tf.square(grad))
            w.assign_sub(alpha * m / (tf.sqrt(v) + 1e-8))
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
        d_real, d_fake = self.critic(real), self.critic(fake)
        # The penalty pairs real i with fake i (as the reference, which truncates to the shorter).
        gp = self._penalty(real, fake, self._uniform(step, _EPS, [e]))
        return (
            tf.reduce_sum(d_real * v_real, 1),
            tf.reduce_sum(d_fake * v_fake, 1),
            tf.reduce_sum(gp * v_real * v_fake, 1),
            tf.reduce_sum(tf.nn.softplus(-d_real) * v_real, 1),
            tf.reduce_sum(tf.nn.softplus(d_fake) * v_fake, 1),
        )

    def score(self) -> dict[str, np.ndarray]:
        """Per-critic `score`, `gap` (mean D(real) - mean D(fake)) and `penalty` (lambda * GP), `[n]` each.

        `wgan-gp`: score = -(E D(fake) - E D(real) + lambda * GP), the negated objective (4) with the
        penalty evaluated on interpolates of held-out real and fake images (float32); `wgan`: the gap;
        `gan`: the negated cross-entropy loss.
        """
        s = self.settings
        sums = [np.zeros(self.n) for _ in range(5)]
        width = int(self.real_test.shape[1])
        for start in range(0, width, self.eval_chunk):
            fresh = self.fresh_batch(_SCORE_STEP + start, self.eval_chunk)
            parts = self.score_chunk(tf.constant(start, tf.int32), fresh)
            sums = [a + b.numpy() for a, b in zip(sums, parts, strict=True)]
        n_real = self.real_test_len.numpy().astype(np.float64)
        n_fake = self.fake_test_len.numpy().astype(np.float64)
        gap = sums[0] / n_real - sums[1] / n_fake
        penalty = s.gp_lambda * sums[2] / np.minimum(n_real, n_fake)
        if s.critic == "wgan-gp":
            score = gap - penalty
        elif s.critic == "wgan":
            score, penalty = gap, np.zeros(self.n)
        else:
            score, penalty = -(sums[3] / n_real + sums[4] / n_fake), np.zeros(self.n)
        return {"score": score, "gap": gap, "penalty": penalty}


def _halves(n: int, key: int, which: int) -> tuple[np.ndarray, np.ndarray]:
    """A random 50/50 split of `range(n)`: (test-train, test-test); the first half gets floor(n/2)."""
    perm = np.random.default_rng(np.random.SeedSequence([key, which])).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])


def _as_pool(arrays: list[np.ndarray]) -> tuple[tf.Tensor, list[int]]:
    """Concatenate distinct arrays (by identity) into one image pool; return it and each offset."""
    uint8 = all(a.dtype == np.uint8 for a in arrays)
    offsets, unique, seen, total = [], [], {}, 0
    for a in arrays:
        if id(a) not in seen:
            seen[id(a)] = total
            if uint8:
                unique.append(a)
            elif a.dtype == np.uint8:  # mixed inputs: bring uint8 images to [-1, 1] like the floats
                unique.append(a.astype(np.float32) / 127.5 - 1.0)
            else:
                unique.append(a.astype(np.float32))
            total += a.shape[0]
        offsets.append(seen[id(a)])
    return tf.constant(np.concatenate(unique, axis=0)), offsets


def _is_source(x) -> bool:
    return isinstance(x, GeneratorFakes | _FakesView)


def _check_problem(i: int, real: np.ndarray, fake, shape) -> None:
    if _is_source(fake):
        drawn = fake.image_shape()
        if drawn != tuple(shape):
            raise ValueError(f"c2st problem {i}: the generator draws images {drawn}, expected {shape}")
        arrays = (("real", real),)
    else:
        arrays = (("real", real), ("fake", fake))
    for name, a in arrays:
        if a.ndim != 4:
            raise ValueError(f"c2st problem {i}: {name} images must be [N, H, W, c], got shape {a.shape}")
        if a.shape[0] < 2:
            raise ValueError(f"c2st problem {i}: {name} needs at least 2 images to split, got {a.shape[0]}")
        if a.shape[1:] != shape:
            raise ValueError(
                f"c2st problem {i}: {name} images are {a.shape[1:]}, expected {shape} like the rest"
            )
        if a.dtype != np.uint8 and (np.nanmin(a) < -1.0001 or np.nanmax(a) > 1.0001):
            raise ValueError(f"c2st problem {i}: float {name} images must lie in [-1, 1]")


def run_c2st(
    problems: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: C2STSettings = C2STSettings(),
    *,
    stacked: bool = True,
    max_critics: int | None = None,
    progress: bool = False,
    desc: str = "c2st",
) -> list[dict]:
    """Run C2STs for several (real, fake) problems, training all their critics in stacked banks.

    Args:
        problems: `(real, fake)` pairs. `real`: image array `[N, H, W, c]`, uint8 in [0, 255] or
            float in [-1, 1]; channel 0 = red (Bgs4), then greens. `fake`: an array like `real`
            (split 50/50 like it), or a `GeneratorFakes` source (or a view of one): then every
            critic step trains on a new generator batch and the test-test side is as many fresh
            samples as the held-out real half. All problems share `H, W, c`.
        settings: hyper-parameters (`n_splits` critics per problem).
        stacked: train critics together (default) or one after another (for checks and benchmarks).
        max_critics: at most this many critics per bank (memory bound); default: all in one bank.
        progress: show a tqdm bar per bank.
        desc: label of the progress bar.

    Returns:
        One dict per problem: `scores`, `gaps` (mean D(real) - mean D(fake)) and `penalties`
        (lambda * GP, 0 for `wgan`/`gan`) per split on the test-test halves; `median`, `mad` (the
        headline), `mean`, `std` of the scores; `gap_median`, `penalty_median`; `critic`,
        `fresh_fakes`, `n_real`, `n_fake` (0 for a generator), `train_seconds` (wall time of the
        banks the problem's critics were in, shared between problems of one bank) and `timing`
        (the whole call: setup + first-step tracing, training, scoring).
    """
    if not problems:
        raise ValueError("run_c2st: no problems given")
    problems = [(np.asarray(r), f if _is_source(f) else np.asarray(f)) for r, f in problems]
    shape = problems[0][0].shape[1:]
    for i, (real, fake) in enumerate(problems):
        _check_problem(i, real, fake, shape)
    pool, offsets = _as_pool([a if not _is_source(a) else pair[0] for pair in problems for a in pair])
    specs = []
    for p, (real, fake) in enumerate(problems):
        fresh = fake if _is_source(fake) else None
        for s in range(settings.n_splits):
            key = derive_key(settings.seed, s)
            r_train, r_test = _halves(real.shape[0], key, 0)
            r0, f0 = offsets[2 * p], offsets[2 * p + 1]
            if fresh is None:
                f_train, f_test = _halves(fake.shape[0], key, 1)
            else:  # placeholders (never read): one row per held-out real, so fake_test_len = real's
                f_train, f_test = np.zeros(1, np.int64), np.zeros(len(r_test), np.int64)
            specs.append(
                dict(
                    problem=p,
                    key=key,
                    fresh=fresh,
                    real_train=r0 + r_train,
                    real_test=r0 + r_test,
                    fake_train=f0 + f_train,
                    fake_test=f0 + f_test,
                )
            )
    size = len(specs) if stacked else 1
    if stacked and max_critics:
        size = max(1, int(max_critics))
    out = {k: np.zeros(len(specs)) for k in ("score", "gap", "penalty")}
    bank_of = np.zeros(len(specs), np.int64)
    bank_seconds = []
    timing = {"setup_and_trace_s": 0.0, "train_s": 0.0, "score_s": 0.0}
    bsz = settings.batch_size
    for start in range(0, len(specs), size):
        chunk = specs[start : start + size]
        t0 = time.perf_counter()
        bank = _Bank(pool, chunk, settings)
        bank.train_step(tf.constant(0, tf.int64), bank.fresh_batch(0, bsz)).numpy()  # traces the step
        t1 = time.perf_counter()
        steps = range(1, settings.steps)
        if progress:
            from tqdm.auto import tqdm

            label = f"{desc} critics {start + 1}-{start + len(chunk)}/{len(specs)}"
            steps = tqdm(steps, desc=label, leave=False, mininterval=1.0)
        for step in steps:
            last = bank.train_step(tf.constant(step, tf.int64), bank.fresh_batch(step, bsz))
        if settings.steps > 1:
            last.numpy()
        t2 = time.perf_counter()
        for k, v in bank.score().items():
            out[k][start : start + len(chunk)] = v
        t3 = time.perf_counter()
        timing["setup_and_trace_s"] += t1 - t0
        timing["train_s"] += t2 - t1
        timing["score_s"] += t3 - t2
        bank_of[start : start + len(chunk)] = len(bank_seconds)
        bank_seconds.append(t3 - t0)
    results = []
    for p, (real, fake) in enumerate(problems):
        sel = [i for i, spec in enumerate(specs) if spec["problem"] == p]
        vals = out["score"][sel]
        med, mad = median_mad(vals)
        results.append(
            dict(
                scores=[float(v) for v in vals],
                gaps=[float(v) for v in out["gap"][sel]],
                penalties=[float(v) for v in out["penalty"][sel]],
                median=med,
                mad=mad,
                mean=float(vals.mean()),
                std=float(vals.std()),
                gap_median=median_mad(out["gap"][sel])[0],
                penalty_median=median_mad(out["penalty"][sel])[0],
                critic=settings.critic,
                fresh_fakes=_is_source(fake),
                n_real=int(real.shape[0]),
                n_fake=0 if _is_source(fake) else int(fake.shape[0]),
                train_seconds=float(sum(bank_seconds[b] for b in np.unique(bank_of[sel]))),
                timing={k: round(v, 3) for k, v in timing.items()},
            )
        )
    return results


def c2st(real, fake, settings: C2STSettings = C2STSettings(), **kwargs) -> dict:
    """One C2ST of `real` vs `fake` images (see `run_c2st` for arguments and the result dict)."""
    return run_c2st([(real, fake)], settings, **kwargs)[0]

"""Classifier two-sample test (C2ST) with WGAN-GP critics, every random split trained at once.

The paper's measure (Osokin et al. 2017, Sec. 5.1): to compare a "real" image set with a "fake"
one, split each set 50/50 at random into test-train and test-test halves, train a fresh WGAN-GP
critic (the DCGAN critic without BatchNorm; Adam(1e-4, 0, 0.9); lambda = 10; 5,000 steps) to
separate the two test-train halves, and report the negated critic objective on the test-test
halves, i.e. the Wasserstein estimate `mean D(real) - mean D(fake)` (about 0 when the sources are
the same, large when a critic can tell them apart). Repeat over 10 random splits and summarise by
the median and the median absolute deviation (MAD, unscaled).

The reference ran every split (and every protein pair) as a separate job. Here all critics of a run
form one `StackedCritic`: `n` DCGAN critics whose convolutions are a single grouped convolution
over channel-stacked inputs `[n, B, H, W, c] -> [n, B]`, trained by one batched step with per-critic
losses, per-critic and per-sample gradient-penalty norms (float32) and an elementwise Adam. Critic
`i`'s trajectory depends only on its own key, data and the settings, so stacked training equals
training the critics one after another (`stacked=False`) up to float round-off (grouped and single
convolutions sum in different orders; training amplifies it: ~1e-9 after 12 steps at 16x32, a few
1e-3 on scores of ~0.5 after 100 steps at 48x80 on CPU).

Seeds: critic `(problem, split s)` gets the key `derive_key(seed, s)`; its initial weights, its 50/50
permutations of both sources and its per-step mini-batch and penalty draws are all functions of
that key (numpy `SeedSequence` and `tf.random.stateless_uniform`), so every problem sees the same
split design (a paired comparison) and results do not depend on how critics are grouped.
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
CONV_STDDEV = 0.02


@dataclasses.dataclass(frozen=True)
class C2STSettings:
    """Hyper-parameters of one C2ST (defaults: the paper's).

    Attributes:
        n_splits: random 50/50 splits (one critic each).
        steps: critic training steps.
        batch_size: images per source per step.
        ndf: critic width (channels of its first conv; doubled per halving).
        lr, beta1, beta2: Adam settings (PyTorch-0.2 / Keras update rule, eps 1e-8).
        gp_lambda: gradient-penalty weight.
        seed: master seed for splits, initial weights and mini-batches.
        eval_batch: images per chunk when scoring the test-test halves.
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

    def __post_init__(self):
        for name in ("n_splits", "steps", "batch_size", "ndf", "eval_batch"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"C2STSettings.{name}: expected a positive integer, got {value!r}")


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


def _pad_table(rows: list[np.ndarray], multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged index rows into `[n, L]` (L rounded up to `multiple`, padded with 0) + lengths."""
    lengths = np.array([len(r) for r in rows], np.int32)
    width = int(-(-lengths.max() // multiple) * multiple)
    table = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table, lengths


class _Bank:
    """One stacked training run: the critics, their data tables and the compiled steps."""

    def __init__(self, pool, specs, settings: C2STSettings):
        # specs: one dict per critic with key, real/fake train/test index arrays into `pool`.
        self.settings = settings
        self.specs = specs
        self.n = len(specs)
        self.pool = pool
        self.keys = tf.constant([s["key"] for s in specs], tf.int64)
        # Score chunks no longer than the longest test half (padding beyond it is wasted work).
        longest = max(max(len(s["real_test"]), len(s["fake_test"])) for s in specs)
        self.eval_chunk = e = min(settings.eval_batch, longest)
        self.real_train, self.real_train_len = map(tf.constant, _pad_table([s["real_train"] for s in specs]))
        self.fake_train, self.fake_train_len = map(tf.constant, _pad_table([s["fake_train"] for s in specs]))
        self.real_test, self.real_test_len = map(tf.constant, _pad_table([s["real_test"] for s in specs], e))
        self.fake_test, self.fake_test_len = map(tf.constant, _pad_table([s["fake_test"] for s in specs], e))
        self.critic = StackedCritic([s["key"] for s in specs], pool.shape[1:3], pool.shape[3], settings.ndf)
        self.m = [tf.Variable(tf.zeros_like(k)) for k in self.critic.kernels]
        self.v = [tf.Variable(tf.zeros_like(k)) for k in self.critic.kernels]
        # Partials (no `__code__`): TF's frequent-retracing detector then keys on this bank's own
        # callable, so building many banks one after another (sequential mode) does not warn.
        self.train_step = tf.function(functools.partial(_Bank._train_step, self), autograph=False)
        self.score_chunk = tf.function(functools.partial(_Bank._score_chunk, self), autograph=False)

    def _images(self, idx):
        x = tf.gather(self.pool, idx)
        if x.dtype == tf.uint8:
            return tf.cast(x, tf.float32) / 127.5 - 1.0
        return tf.cast(x, tf.float32)

    def _uniform(self, step, purpose, shape):
        """Per-critic stateless U[0, 1) draws `[n, *shape]`, keyed by (critic key, step, purpose)."""
        counter = step * 4 + purpose
        return tf.stack(
            [
                tf.random.stateless_uniform(shape, seed=tf.stack([self.keys[i], counter]))
                for i in range(self.n)
            ]
        )

    def _batch(self, table, lengths, step, purpose):
        bsz = self.settings.batch_size
        u = self._uniform(step, purpose, [bsz])
        n_avail = tf.cast(lengths, tf.float32)[:, None]
        pos = tf.minimum(tf.cast(tf.floor(u * n_avail), tf.int32), lengths[:, None] - 1)
        return self._images(tf.gather(table, pos, batch_dims=1))  # [n, B, H, W, c]

    def _train_step(self, step):
        s = self.settings
        step = tf.cast(step, tf.int64)
        real = self._batch(self.real_train, self.real_train_len, step, 0)
        fake = self._batch(self.fake_train, self.fake_train_len, step, 1)
        eps = self._uniform(step, 2, [s.batch_size])[:, :, None, None, None]
        mixed = eps * real + (1.0 - eps) * fake
        weights = self.critic.kernels
        with tf.GradientTape() as tape:
            d_real = tf.reduce_mean(self.critic(real), axis=1)  # [n]
            d_fake = tf.reduce_mean(self.critic(fake), axis=1)
            with tf.GradientTape() as inner:
                inner.watch(mixed)
                d_mixed = self.critic(mixed)
                # Each score depends on its own sample and critic only: the gradient of the sum is
                # every (critic, sample)'s own input gradient.
                total_mixed = tf.reduce_sum(d_mixed)
            g = inner.gradient(total_mixed, mixed)
            norms = tf.sqrt(tf.reduce_sum(tf.square(g), axis=[2, 3, 4]) + 1e-12)  # [n, B]
            penalty = tf.reduce_mean(tf.square(norms - 1.0), axis=1)  # [n]
            losses = d_fake - d_real + s.gp_lambda * penalty  # [n], one objective per critic
            # Summing keeps each critic's gradient equal to the gradient of its own loss.
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, weights)
        t = tf.cast(step + 1, tf.float32)
        alpha = s.lr * tf.sqrt(1.0 - s.beta2**t) / (1.0 - s.beta1**t)
        for w, m, v, grad in zip(weights, self.m, self.v, grads, strict=False):
            m.assign(s.beta1 * m + (1.0 - s.beta1) * grad)
            v.assign(s.beta2 * v + (1.0 - s.beta2) * tf.square(grad))
            w.assign_sub(alpha * m / (tf.sqrt(v) + 1e-8))
        return d_real - d_fake

    def _score_chunk(self, table, lengths, start):
        e = self.eval_chunk
        idx = table[:, start : start + e]  # [n, E]
        valid = tf.cast(start + tf.range(e)[None, :] < lengths[:, None], tf.float32)
        return tf.reduce_sum(self.critic(self._images(idx)) * valid, axis=1)

    def score(self) -> np.ndarray:
        """Wasserstein estimates `mean D(real_test) - mean D(fake_test)` per critic, `[n]`."""
        means = []
        for table, lengths in ((self.real_test, self.real_test_len), (self.fake_test, self.fake_test_len)):
            total = tf.zeros([self.n])
            for start in range(0, int(table.shape[1]), self.eval_chunk):
                total += self.score_chunk(table, lengths, tf.constant(start, tf.int32))
            means.append(total.numpy() / lengths.numpy())
        return means[0] - means[1]


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


def _check_problem(i: int, real: np.ndarray, fake: np.ndarray, shape) -> None:
    for name, a in (("real", real), ("fake", fake)):
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
        problems: `(real, fake)` pairs of image arrays `[N, H, W, c]`, uint8 in [0, 255] or float in
            [-1, 1]; channel 0 = red (Bgs4), then greens. All problems share `H, W, c`.
        settings: hyper-parameters (`n_splits` critics per problem).
        stacked: train critics together (default) or one after another (for checks and benchmarks).
        max_critics: at most this many critics per bank (memory bound); default: all in one bank.
        progress: show a tqdm bar per bank.
        desc: label of the progress bar.

    Returns:
        One dict per problem: `scores` (per split, `mean D(real) - mean D(fake)` on the test-test
        halves), `median`, `mad`, `mean`, `std`, `n_real`, `n_fake`, `train_seconds` (wall time
        of the banks the problem's critics were in, shared between problems of one bank) and
        `timing` (the whole call: setup + first-step tracing, training, scoring).
    """
    if not problems:
        raise ValueError("run_c2st: no problems given")
    problems = [(np.asarray(r), np.asarray(f)) for r, f in problems]
    shape = problems[0][0].shape[1:]
    for i, (real, fake) in enumerate(problems):
        _check_problem(i, real, fake, shape)
    pool, offsets = _as_pool([a for pair in problems for a in pair])
    specs = []
    for p, (real, fake) in enumerate(problems):
        for s in range(settings.n_splits):
            key = derive_key(settings.seed, s)
            r_train, r_test = _halves(real.shape[0], key, 0)
            f_train, f_test = _halves(fake.shape[0], key, 1)
            r0, f0 = offsets[2 * p], offsets[2 * p + 1]
            specs.append(
                dict(
                    problem=p,
                    key=key,
                    real_train=r0 + r_train,
                    real_test=r0 + r_test,
                    fake_train=f0 + f_train,
                    fake_test=f0 + f_test,
                )
            )
    size = len(specs) if stacked else 1
    if stacked and max_critics:
        size = max(1, int(max_critics))
    scores = np.zeros(len(specs))
    bank_of = np.zeros(len(specs), np.int64)
    bank_seconds = []
    timing = {"setup_and_trace_s": 0.0, "train_s": 0.0, "score_s": 0.0}
    for start in range(0, len(specs), size):
        chunk = specs[start : start + size]
        t0 = time.perf_counter()
        bank = _Bank(pool, chunk, settings)
        bank.train_step(tf.constant(0, tf.int64)).numpy()  # the first call traces the step
        t1 = time.perf_counter()
        steps = range(1, settings.steps)
        if progress:
            from tqdm.auto import tqdm

            label = f"{desc} critics {start + 1}-{start + len(chunk)}/{len(specs)}"
            steps = tqdm(steps, desc=label, leave=False, mininterval=1.0)
        for step in steps:
            last = bank.train_step(tf.constant(step, tf.int64))
        if settings.steps > 1:
            last.numpy()
        t2 = time.perf_counter()
        scores[start : start + len(chunk)] = bank.score()
        t3 = time.perf_counter()
        timing["setup_and_trace_s"] += t1 - t0
        timing["train_s"] += t2 - t1
        timing["score_s"] += t3 - t2
        bank_of[start : start + len(chunk)] = len(bank_seconds)
        bank_seconds.append(t3 - t0)
    results = []
    for p, (real, fake) in enumerate(problems):
        sel = [i for i, spec in enumerate(specs) if spec["problem"] == p]
        vals = scores[sel]
        med, mad = median_mad(vals)
        results.append(
            dict(
                scores=[float(v) for v in vals],
                median=med,
                mad=mad,
                mean=float(vals.mean()),
                std=float(vals.std()),
                n_real=int(real.shape[0]),
                n_fake=int(fake.shape[0]),
                train_seconds=float(sum(bank_seconds[b] for b in np.unique(bank_of[sel]))),
                timing={k: round(v, 3) for k, v in timing.items()},
            )
        )
    return results


def c2st(real, fake, settings: C2STSettings = C2STSettings(), **kwargs) -> dict:
    """One C2ST of `real` vs `fake` images (see `run_c2st` for arguments and the result dict)."""
    return run_c2st([(real, fake)], settings, **kwargs)[0]

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
form one `CriticBank` (`models/critic_bank.py`, `[n, B, H, W, c] -> [n, B]`; its `loop` execution,
measured faster on CPU than grouped convolutions, see `c2st_bank.py`), trained by one batched step
(`eval/c2st_bank.py`: per-critic losses, the project's WGAN-GP penalty in float32 and optimiser).
This module holds the split design and the scoring. Critic `i`'s trajectory depends only on its
own key, data and the settings, so stacked training equals training the critics one after another
(`stacked=False`) up to float round-off (batched and single convolutions may sum in different orders;
training amplifies it: ~1e-9 after 12 steps at 16x32, a few 1e-3 on scores of ~0.5 after 100 steps
at 48x80 on CPU).

Seeds: critic `(problem, split s)` gets the key `derive_key(seed, s)`; its initial weights, its 50/50
permutations of both sources, its per-step mini-batch, flip and penalty draws and its fresh latents
are all functions of that key (numpy `SeedSequence` and `tf.random.stateless_uniform`), so every
problem sees the same split design (a paired comparison) and results do not depend on how critics
are grouped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from biogans_tf.conventions import derive_key, to_model_range
from biogans_tf.eval.c2st_bank import C2ST_EXECUTION, C2STBank
from biogans_tf.eval.fakes import is_fake_source
from biogans_tf.registries import LOSSES


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
        LOSSES.check(self.critic, "c2st_critic")  # a critic trained with one of the registered losses


def median_mad(values) -> tuple[float, float]:
    """Median and (unscaled) median absolute deviation of a 1-D sequence."""
    v = np.asarray(values, np.float64)
    med = float(np.median(v))
    return med, float(np.median(np.abs(v - med)))


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
                unique.append(to_model_range(a))
            else:
                unique.append(a.astype(np.float32))
            total += a.shape[0]
        offsets.append(seen[id(a)])
    return tf.constant(np.concatenate(unique, axis=0)), offsets


def _check_problem(i: int, real: np.ndarray, fake, shape) -> None:
    if is_fake_source(fake):
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


def _split_design(problems, offsets: list[int], settings: C2STSettings) -> list[dict]:
    """One spec per (problem, split): its key and index arrays into the pool (see `C2STBank`).

    Split `s` of every problem gets the key `derive_key(seed, s)` (a paired design across problems).
    """
    specs = []
    for p, (real, fake) in enumerate(problems):
        fresh = fake if is_fake_source(fake) else None
        r0, f0 = offsets[2 * p], offsets[2 * p + 1]
        for s in range(settings.n_splits):
            key = derive_key(settings.seed, s)
            r_train, r_test = _halves(real.shape[0], key, 0)
            if fresh is None:
                f_train, f_test = _halves(fake.shape[0], key, 1)
            else:  # placeholders (never read): one row per held-out real, so fake_test_len = real's
                f_train, f_test = np.zeros(1, np.int64), np.zeros(len(r_test), np.int64)
            specs.append(
                dict(problem=p, key=key, fresh=fresh, real_train=r0 + r_train, real_test=r0 + r_test,
                     fake_train=f0 + f_train, fake_test=f0 + f_test)
            )  # fmt: skip
    return specs


def _scores(sums, n_real, n_fake, settings: C2STSettings) -> dict[str, np.ndarray]:
    """Per-critic `score`, `gap` (mean D(real) - mean D(fake)) and `penalty` (lambda * GP), `[n]` each.

    `wgan-gp`: score = -(E D(fake) - E D(real) + lambda * GP), the negated objective (4) with the
    penalty evaluated on interpolates of held-out real and fake images (float32); `wgan`: the gap;
    `gan`: the negated cross-entropy loss. `sums`, `n_real`, `n_fake`: `C2STBank.score_sums()`.
    """
    gap = sums[0] / n_real - sums[1] / n_fake
    penalty = settings.gp_lambda * sums[2] / np.minimum(n_real, n_fake)
    if settings.critic == "wgan-gp":
        return {"score": gap - penalty, "gap": gap, "penalty": penalty}
    if settings.critic == "wgan":
        return {"score": gap, "gap": gap, "penalty": np.zeros_like(gap)}
    return {"score": -(sums[3] / n_real + sums[4] / n_fake), "gap": gap, "penalty": np.zeros_like(gap)}


def _train(bank: C2STBank, settings: C2STSettings, label: str | None) -> float:
    """Train `bank` for `settings.steps` steps (step 0 traces); return the seconds of tracing + step 0."""
    t0 = time.perf_counter()
    bsz = settings.batch_size
    bank.train_step(tf.constant(0, tf.int64), bank.fresh_batch(0, bsz)).numpy()  # traces the step
    t_trace = time.perf_counter() - t0
    steps = range(1, settings.steps)
    if label is not None:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=label, leave=False, mininterval=1.0)
    for step in steps:
        last = bank.train_step(tf.constant(step, tf.int64), bank.fresh_batch(step, bsz))
    if settings.steps > 1:
        last.numpy()
    return t_trace


def _run_banks(pool, specs, settings: C2STSettings, size: int, progress: bool, desc: str, execution: str):
    """Train and score `specs` in banks of `size` critics.

    Returns `(out, bank_of, bank_seconds, timing)`: per-critic `score`/`gap`/`penalty` arrays, each
    critic's bank index, each bank's wall time, and the run's timing split.
    """
    out = {k: np.zeros(len(specs)) for k in ("score", "gap", "penalty")}
    bank_of = np.zeros(len(specs), np.int64)
    bank_seconds = []
    timing = {"setup_and_trace_s": 0.0, "train_s": 0.0, "score_s": 0.0}
    for start in range(0, len(specs), size):
        chunk = specs[start : start + size]
        t0 = time.perf_counter()
        bank = C2STBank(pool, chunk, settings, execution)
        t1 = time.perf_counter()
        label = f"{desc} critics {start + 1}-{start + len(chunk)}/{len(specs)}" if progress else None
        t_trace = _train(bank, settings, label)
        t2 = time.perf_counter()
        for k, v in _scores(*bank.score_sums(), settings).items():
            out[k][start : start + len(chunk)] = v
        t3 = time.perf_counter()
        timing["setup_and_trace_s"] += t1 - t0 + t_trace
        timing["train_s"] += t2 - t1 - t_trace
        timing["score_s"] += t3 - t2
        bank_of[start : start + len(chunk)] = len(bank_seconds)
        bank_seconds.append(t3 - t0)
    return out, bank_of, bank_seconds, timing


def _summary(out, sel, real, fake, settings: C2STSettings) -> dict:
    """The result dict of one problem from its critics' rows `sel` of `out` (see `run_c2st`)."""
    vals = out["score"][sel]
    med, mad = median_mad(vals)
    return dict(
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
        fresh_fakes=is_fake_source(fake),
        n_real=int(real.shape[0]),
        n_fake=0 if is_fake_source(fake) else int(fake.shape[0]),
    )


def run_c2st(
    problems: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: C2STSettings = C2STSettings(),
    *,
    stacked: bool = True,
    max_critics: int | None = None,
    progress: bool = False,
    desc: str = "c2st",
    execution: str = C2ST_EXECUTION,
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
        execution: the `CriticBank` execution (`loop`: measured faster on CPU; or `grouped`).

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
    problems = [(np.asarray(r), f if is_fake_source(f) else np.asarray(f)) for r, f in problems]
    shape = problems[0][0].shape[1:]
    for i, (real, fake) in enumerate(problems):
        _check_problem(i, real, fake, shape)
    pool, offsets = _as_pool([a if not is_fake_source(a) else pair[0] for pair in problems for a in pair])
    specs = _split_design(problems, offsets, settings)
    size = len(specs) if stacked else 1
    if stacked and max_critics:
        size = max(1, int(max_critics))
    out, bank_of, bank_seconds, timing = _run_banks(pool, specs, settings, size, progress, desc, execution)
    results = []
    for p, (real, fake) in enumerate(problems):
        sel = [i for i, spec in enumerate(specs) if spec["problem"] == p]
        results.append(_summary(out, sel, real, fake, settings))
        results[-1]["train_seconds"] = float(sum(bank_seconds[b] for b in np.unique(bank_of[sel])))
        results[-1]["timing"] = {k: round(v, 3) for k, v in timing.items()}
    return results


def c2st(real, fake, settings: C2STSettings = C2STSettings(), **kwargs) -> dict:
    """One C2ST of `real` vs `fake` images (see `run_c2st` for arguments and the result dict)."""
    return run_c2st([(real, fake)], settings, **kwargs)[0]

"""Benchmark: C2ST with all splits' critics stacked in one batched computation vs one after another.

    python -m benchmarks.c2st_stacked [--n_splits 10] [--steps 100] [--ndf 16] [--batch_size 64]
                                      [--image_size 48x80] [--seed 0]

Both runs train the same critics (same keys, data, mini-batches and penalty draws) for the same
number of steps on simulator cells (Alp14 training cells vs Tea1 test cells); the stacked run uses
one critic bank (`CriticBank`, C2ST's execution `loop`), the sequential run one bank of size 1 per
split (what the reference did, minus its process start-up). Prints both wall times (tracing
included, as a user pays it), the per-step times after the first step, the speed-up, the largest
difference between the two runs' scores (should be float round-off), and the per-step time of the
same bank with `CriticBank(execution='grouped')` (one grouped convolution per layer). Last line:
key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from biogans_tf.conventions import derive_key  # noqa: E402
from biogans_tf.data.simulator import parse_image_size, simulate  # noqa: E402
from biogans_tf.eval.c2st import C2STSettings, run_c2st  # noqa: E402
from biogans_tf.eval.c2st_bank import C2STBank  # noqa: E402


def _bank_step_time(real, fake, settings, n_critics, steps=5, execution="loop") -> float:
    """Seconds per training step of a warm bank of `n_critics` critics (tracing excluded)."""
    pool = tf.constant(np.concatenate([real, fake]))
    n_r = len(real)
    specs = [
        dict(
            key=derive_key(settings.seed, s),
            real_train=np.arange(n_r // 2),
            real_test=np.arange(n_r // 2, n_r),
            fake_train=n_r + np.arange(len(fake) // 2),
            fake_test=n_r + np.arange(len(fake) // 2, len(fake)),
        )
        for s in range(n_critics)
    ]
    bank = C2STBank(pool, [dict(s, fresh=None) for s in specs], settings, execution=execution)
    fresh = bank.fresh_batch(0, settings.batch_size)  # zeros: every critic has a fixed fake set
    bank.train_step(tf.constant(0, tf.int64), fresh)  # trace
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        out = bank.train_step(tf.constant(s, tf.int64), fresh)
    out.numpy()
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n_splits", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--ndf", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--image_size", default="48x80")
    p.add_argument("--n_cells", type=int, default=200, help="cells per source")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    size = parse_image_size(a.image_size)
    real, _ = simulate("Tea1", a.n_cells, a.seed, "test", size)
    fake, _ = simulate("Alp14", a.n_cells, a.seed, "train", size)
    settings = C2STSettings(
        n_splits=a.n_splits, steps=a.steps, batch_size=a.batch_size, ndf=a.ndf, seed=a.seed
    )
    print(f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}, threads: default")
    print(f"settings: {settings}")

    t0 = time.perf_counter()
    stacked = run_c2st([(real, fake)], settings, stacked=True)[0]
    t_stacked = time.perf_counter() - t0
    t0 = time.perf_counter()
    sequential = run_c2st([(real, fake)], settings, stacked=False)[0]
    t_seq = time.perf_counter() - t0
    diff = float(np.max(np.abs(np.array(stacked["scores"]) - np.array(sequential["scores"]))))
    step_stacked = _bank_step_time(real, fake, settings, a.n_splits)
    step_single = _bank_step_time(real, fake, settings, 1)
    step_grouped = _bank_step_time(real, fake, settings, a.n_splits, execution="grouped")

    print(f"stacked timing   : {stacked['timing']}")
    print(f"sequential timing: {sequential['timing']}")
    print(
        f"stacked    : {t_stacked:8.2f} s total, {step_stacked * 1e3:8.1f} ms/step for {a.n_splits} critics"
    )
    print(f"sequential : {t_seq:8.2f} s total, {step_single * 1e3:8.1f} ms/step for 1 critic")
    print(f"grouped    : {step_grouped * 1e3:8.1f} ms/step for {a.n_splits} critics (execution='grouped')")
    print(
        f"speed-up   : {t_seq / t_stacked:.2f}x end to end, "
        f"{step_single * a.n_splits / step_stacked:.2f}x per step"
    )
    print(
        f"C2ST median: stacked {stacked['median']:.4f} ± {stacked['mad']:.4f}, "
        f"sequential {sequential['median']:.4f}"
    )
    print(f"max |score difference| stacked vs sequential: {diff:.2e}")
    print(
        f"n_splits={a.n_splits} steps={a.steps} ndf={a.ndf} batch_size={a.batch_size} "
        f"image_size={a.image_size} "
        f"stacked_s={t_stacked:.2f} sequential_s={t_seq:.2f} speedup={t_seq / t_stacked:.2f} "
        f"step_speedup={step_single * a.n_splits / step_stacked:.2f} max_score_diff={diff:.2e} "
        f"loop_vs_grouped_step_speedup={step_grouped / step_stacked:.2f}"
    )


if __name__ == "__main__":
    main()

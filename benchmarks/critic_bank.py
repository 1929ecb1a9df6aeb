"""Benchmark: the two executions of `CriticBank` (`loop` vs `grouped`) on one critic step.

    python -m benchmarks.critic_bank [--uses star,c2st] [--repeats 5] [--image_size 48x80]

One step is what both users run: scores of a real and a fake batch, the WGAN-GP penalty (double
backward, `losses/wgan_gp.py`) and the gradient with respect to every critic weight. Uses:
- `star`: the per-protein critic of `star` / `independent` training, n = 6 critics (C proteins),
  batch 64, ndf 64 (the paper's settings; `--preset cpu-demo` uses ndf 16, batch 16).
- `c2st`: one C2ST bank, n = 10 critics (splits), batch 64, ndf 64 (the paper's settings).
Both executions start from the same weights (same seed); the printout gives ms/step (median of
`--repeats` alternating steps after one traced warm-up step), the speed-up and the largest score
difference.
Last line: key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from biogans_tf.conventions import parse_image_size  # noqa: E402
from biogans_tf.losses.wgan_gp import gradient_penalties  # noqa: E402
from biogans_tf.models import CriticBank  # noqa: E402

USES = {"star": dict(n=6, batch=64, ndf=64), "c2st": dict(n=10, batch=64, ndf=64)}
CPU_DEMO = {"star": dict(n=6, batch=16, ndf=16), "c2st": dict(n=10, batch=16, ndf=16)}


def _step_fn(bank: CriticBank):
    @tf.function(autograph=False)
    def step(real, fake, eps):
        with tf.GradientTape() as tape:
            gap = tf.reduce_mean(bank(fake, training=True)) - tf.reduce_mean(bank(real, training=True))
            loss = gap + 10.0 * tf.reduce_mean(gradient_penalties(bank, real, fake, None, eps=eps))
        return loss, tape.gradient(loss, bank.trainable_variables)

    return step


def time_strategies(n: int, batch: int, ndf: int, size, repeats: int) -> dict:
    """Per execution: median seconds per step (after a traced warm-up step) and the real batch's scores.

    The executions' steps alternate, so that a busy machine slows both alike.
    """
    rng = np.random.default_rng(0)
    real, fake = (tf.constant(rng.uniform(-1, 1, (n, batch, *size, 2)), tf.float32) for _ in range(2))
    eps = tf.constant(rng.uniform(0, 1, (n, batch, 1, 1, 1)), tf.float32)
    banks = {s: CriticBank(n, image_size=size, ndf=ndf, seed=0, execution=s) for s in ("loop", "grouped")}
    steps = {s: _step_fn(bank) for s, bank in banks.items()}
    times = {s: [] for s in banks}
    for step in steps.values():
        step(real, fake, eps)[0].numpy()  # trace + first run
    for _ in range(repeats):
        for s, step in steps.items():
            t0 = time.perf_counter()
            step(real, fake, eps)[0].numpy()
            times[s].append(time.perf_counter() - t0)
    return {s: (float(np.median(times[s])), banks[s](real).numpy()) for s in banks}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uses", default="star,c2st", help="comma-separated: star, c2st")
    p.add_argument("--preset", default="paper", choices=("paper", "cpu-demo"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--image_size", default="48x80")
    a = p.parse_args(argv)
    size = parse_image_size(a.image_size)
    table = USES if a.preset == "paper" else CPU_DEMO
    print(f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}, image size {size}")
    summary = []
    for use in a.uses.split(","):
        cfg = table[use]
        res = time_strategies(**cfg, size=size, repeats=a.repeats)
        (t_loop, s_loop), (t_grouped, s_grouped) = res["loop"], res["grouped"]
        diff = float(np.abs(s_loop - s_grouped).max())
        print(
            f"{use:5s} n={cfg['n']} batch={cfg['batch']} ndf={cfg['ndf']}: loop {t_loop * 1e3:8.1f} ms/step, "
            f"grouped {t_grouped * 1e3:8.1f} ms/step, grouped speed-up {t_loop / t_grouped:.2f}x, "
            f"max |score diff| {diff:.1e}"
        )
        summary.append(f"{use}_loop_ms={t_loop * 1e3:.1f} {use}_grouped_ms={t_grouped * 1e3:.1f}")
    print(" ".join(summary))


if __name__ == "__main__":
    main()

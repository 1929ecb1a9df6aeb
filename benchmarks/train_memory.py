"""Resident memory of a CPU training run: peak, and growth over many generator iterations.

    python -m benchmarks.train_memory --arch dcgan-sep --iters 3                # paper-size peak
    python -m benchmarks.train_memory --arch star --iters 1000 --width 8 --every 50   # growth

The trainer's own training loop (WGAN-GP, 5 critic steps + 1 generator step per iteration) on
synthetic real batches at 48x80, batch 64 (per protein for star), ngf = ndf = `--width` (64 = the
paper). RSS is sampled every `--every` generator iterations from a callback (psutil when
installed, else /proc/self/status); the peak is the kernel's high-water mark (VmHWM, i.e.
ru_maxrss). Growth = least-squares slope of RSS over the second half of the samples (after
warm-up, allocator pools and tracing have settled), in MiB per 1,000 iterations (None with fewer
than 4 samples there).
The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def rss_mib() -> float:
    """Current resident set size of this process in MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """Peak resident set size (high-water mark) of this process in MiB."""
    try:
        return _status_kib("VmHWM") / 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _status_kib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    raise KeyError(key)


def slope_per_1000(xs, ys) -> float:
    """Least-squares slope of ys over xs, times 1000 (0 with fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 1000.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def build(arch: str, batch_size: int, width: int):
    """A compiled `GanTrainer` (WGAN-GP) and an endless synthetic dataset at 48x80."""
    from benchmarks.train_throughput import build as build_paper_size
    from benchmarks.train_throughput import paper_proteins

    return build_paper_size(arch, batch_size, paper_proteins(arch), width)


def measure(arch: str, batch_size: int, width: int, iters: int, every: int) -> dict:
    """Train `iters` generator iterations, sampling RSS every `every` of them."""
    import keras

    from biogans_tf.trainer.training_loop import train_loop

    before = rss_mib()
    trainer, ds = build(arch, batch_size, width)
    samples: list[tuple[int, float]] = []

    class Sampler(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(logs["generator_updated"]) == 1:
                step = int(trainer.step.numpy())
                if step % every == 0 or step == iters:
                    samples.append((step, rss_mib()))

    t0 = time.perf_counter()
    n = trainer.schedule.total_critic_steps(0, iters)
    train_loop(trainer, ds, n, [Sampler()])
    seconds = time.perf_counter() - t0
    half = samples[len(samples) // 2 :]
    return dict(
        arch=arch,
        batch_size=batch_size,
        width=width,
        iters=iters,
        seconds=round(seconds, 1),
        rss_before_build_mib=round(before, 1),
        peak_rss_mib=round(peak_rss_mib(), 1),
        rss_samples=[(s, round(m, 1)) for s, m in samples],
        # A slope needs enough samples after warm-up; None for short (peak-only) runs.
        growth_mib_per_1000_iters=(
            round(slope_per_1000([s for s, _ in half], [m for _, m in half]), 2) if len(half) >= 4 else None
        ),
        loadavg=os.getloadavg(),
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["dcgan", "dcgan-sep", "star"], default="dcgan-sep")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--width", type=int, default=64, help="ngf = ndf (64 = paper size)")
    ap.add_argument("--iters", type=int, default=3, help="generator iterations")
    ap.add_argument("--every", type=int, default=1, help="RSS sampling period (generator iterations)")
    args = ap.parse_args(argv)
    if min(args.batch_size, args.width, args.iters, args.every) < 1:
        ap.error("--batch_size, --width, --iters and --every must be >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = measure(args.arch, args.batch_size, args.width, args.iters, args.every)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

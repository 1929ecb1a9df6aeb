"""Benchmark: C2ST with all splits' critics stacked in one batched computation vs one after another.

    python -m benchmarks.c2st_stacked [--n_splits 10] [--steps 100] [--ndf 16] [--batch_size 64]
                                      [--image_size 48x80] [--seed 0] [--precision float32|bf16]
                                      [--sequential_precision float32|bf16]

Both runs train the same critics (same keys, data, mini-batches and penalty draws) for the same
number of steps on simulator cells (Alp14 training cells vs Tea1 test cells); the stacked run uses
one critic bank (`CriticBank`, C2ST's execution `loop`), the sequential run one bank of size 1 per
split (what the reference did, minus its process start-up). Prints both wall times (tracing
included, as a user pays it), the per-step times after the first step, the speed-up, the largest
difference between the two runs' scores (should be float round-off), and the per-step time of the
same bank with `CriticBank(execution='grouped')` (one grouped convolution per layer).

Precision: the stacked banks are built under `--precision`, the sequential ones under
`--sequential_precision` (default float32, what the reference does), so "stacked bf16" can be
compared with "sequential float32" (bf16 = Keras' `mixed_bfloat16` policy; the penalty stays
float32, `losses/wgan_gp.py`). With different precisions the score difference is bf16 round-off.

Achieved GFLOP/s of the per-step times: the critic's convolution FLOPs per training step, counted
analytically from its layer shapes with the reference's accounting (`torch_reference.py flops`:
conv MACs x2; D(real) and D(fake) forward + input-grad (not the first layer) + weight-grad; the
penalty forward, input-grad, double backward (2x) and the zero-valued backward through its forward
graph (2x)), against this CPU's peak measured in the same run
(`benchmarks.train_throughput.measure_peak`). Last line: key=value pairs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.train_throughput import measure_peak  # noqa: E402
from biogans_tf.conventions import derive_key  # noqa: E402
from biogans_tf.cpu import cpu_model  # noqa: E402
from biogans_tf.data.simulator import parse_image_size, simulate  # noqa: E402
from biogans_tf.eval.c2st import C2STSettings, run_c2st  # noqa: E402
from biogans_tf.eval.c2st_bank import C2STBank  # noqa: E402
from biogans_tf.models.critics import CriticArch  # noqa: E402

_POLICY = {"float32": "float32", "bf16": "mixed_bfloat16"}


@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras global policy for `precision` while banks are built (they keep it); float32 after."""
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(_POLICY[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def critic_step_flops(image_size, channels: int, ndf: int, batch_size: int) -> float:
    """Convolution FLOPs of one C2ST critic's training step (batch_size real + batch_size fake).

    Per image, forward `fd` = sum over convs of 2 * out_h * out_w * kh * kw * c_in * c_out (the
    stride-2 convs halve the map, the final conv gives 1x1). Per step, the reference's accounting
    (`torch_reference.py analytic_flops`): D(real), D(fake): forward + input-grad (no first layer)
    + weight-grad = 2 (3 fd - first); penalty on batch_size interpolates: 6 fd.
    """
    h, w = image_size
    shapes = CriticArch(image_size, channels, ndf).kernel_shapes()
    fd = first = 0.0
    for i, (name, (kh, kw, cin, cout)) in enumerate(shapes.items()):
        # "SAME" stride-2 convs: ceil(h / 2^(i+1)) x ceil(w / 2^(i+1)); the final conv gives 1x1.
        out_hw = 1 if name == "final" else -(-h // 2 ** (i + 1)) * -(-w // 2 ** (i + 1))
        f = 2.0 * out_hw * kh * kw * cin * cout
        fd += f
        first = first or f
    return batch_size * (2 * (3 * fd - first) + 6 * fd)


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


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n_splits", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--ndf", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--image_size", default="48x80")
    p.add_argument("--n_cells", type=int, default=200, help="cells per source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=sorted(_POLICY), default="float32", help="stacked banks")
    p.add_argument("--sequential_precision", choices=sorted(_POLICY), default="float32", help="sequential")
    return p.parse_args(argv)


def _timed_c2st(real, fake, settings, stacked: bool, precision: str) -> tuple[dict, float]:
    """One `run_c2st` (banks built under `precision`) and its wall time."""
    t0 = time.perf_counter()
    with precision_policy(precision):
        out = run_c2st([(real, fake)], settings, stacked=stacked)[0]
    return out, time.perf_counter() - t0


def _throughput(a, steps: dict, precisions: dict) -> dict:
    """Achieved GFLOP/s per run ("stacked", "sequential") and its fraction of the measured peak."""
    size = parse_image_size(a.image_size)
    per_critic = critic_step_flops(size, 2, a.ndf, a.batch_size)
    peaks = {p: measure_peak(p)["peak"] for p in sorted(set(precisions.values()))}
    n_critics = {"stacked": a.n_splits, "sequential": 1}
    out = {}
    for run, step_s in steps.items():
        gflops = n_critics[run] * per_critic / step_s / 1e9
        out[run] = (gflops, gflops / peaks[precisions[run]], precisions[run])
    print(f"critic conv FLOPs per training step: {per_critic / 1e9:.3f} GFLOP per critic")
    for p, peak in peaks.items():
        print(f"measured peak {p}: {peak:.0f} GFLOP/s")
    for run, (gflops, frac, p) in out.items():
        print(f"{run:11s}: {gflops:8.1f} GFLOP/s ({p}) = {100 * frac:.0f}% of the {p} peak")
    return out


def main(argv=None) -> None:
    a = _args(argv)
    size = parse_image_size(a.image_size)
    real, _ = simulate("Tea1", a.n_cells, a.seed, "test", size)
    fake, _ = simulate("Alp14", a.n_cells, a.seed, "train", size)
    settings = C2STSettings(
        n_splits=a.n_splits, steps=a.steps, batch_size=a.batch_size, ndf=a.ndf, seed=a.seed
    )
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}, threads: default")
    print(f"cpu={cpu_model()!r} cores={os.cpu_count()} load={load}")
    print(f"settings: {settings}")
    print(f"precision: stacked {a.precision}, sequential {a.sequential_precision}")

    stacked, t_stacked = _timed_c2st(real, fake, settings, True, a.precision)
    sequential, t_seq = _timed_c2st(real, fake, settings, False, a.sequential_precision)
    finite = bool(np.all(np.isfinite(stacked["scores"])) and np.all(np.isfinite(sequential["scores"])))
    diff = float(np.max(np.abs(np.array(stacked["scores"]) - np.array(sequential["scores"]))))
    with precision_policy(a.precision):
        step_stacked = _bank_step_time(real, fake, settings, a.n_splits)
        step_grouped = _bank_step_time(real, fake, settings, a.n_splits, execution="grouped")
    with precision_policy(a.sequential_precision):
        step_single = _bank_step_time(real, fake, settings, 1)

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
    print(f"max |score difference| stacked vs sequential: {diff:.2e}; all scores finite: {finite}")
    thr = _throughput(
        a,
        {"stacked": step_stacked, "sequential": step_single},
        {"stacked": a.precision, "sequential": a.sequential_precision},
    )
    print(
        f"n_splits={a.n_splits} steps={a.steps} ndf={a.ndf} batch_size={a.batch_size} "
        f"image_size={a.image_size} "
        f"stacked_s={t_stacked:.2f} sequential_s={t_seq:.2f} speedup={t_seq / t_stacked:.2f} "
        f"step_speedup={step_single * a.n_splits / step_stacked:.2f} max_score_diff={diff:.2e} "
        f"loop_vs_grouped_step_speedup={step_grouped / step_stacked:.2f} "
        f"precision={a.precision} sequential_precision={a.sequential_precision} finite={finite} "
        f"stacked_gflops={thr['stacked'][0]:.1f} sequential_gflops={thr['sequential'][0]:.1f} "
        f"stacked_peak_fraction={thr['stacked'][1]:.3f} sequential_peak_fraction={thr['sequential'][1]:.3f}"
    )


if __name__ == "__main__":
    main()

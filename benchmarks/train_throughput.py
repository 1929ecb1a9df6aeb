"""Training throughput: WGAN-GP iterations/s in float32 and bfloat16 against the PyTorch reference.

    python -m benchmarks.train_throughput --arch {dcgan,dcgan-sep,star} [--precision float32|bf16]
        [--batch_size 64] [--iters 3] [--rounds 3]

Paper-size models (48x80, nz=100, ngf=ndf=64, batch 64; 6 proteins for star) built like a
training run (`biogans_tf.trainer.setup.build_trainer`), timed through the trainer's own step
function (the training loop) on synthetic real batches (as the reference bench). One iteration =
5 critic steps + 1 generator step.

In the same process and run, in this order:
1. the machine: CPU model, bfloat16 features (`biogans_tf.trainer.precision`), load average;
2. the measured peak of this CPU per precision: the best of a large GEMM (4096^2) and a 4x4
   stride-2 convolution forward+backward at the critic's widest layer shape;
3. `--rounds` alternating rounds: ours in each precision, then the reference's own bench
   (`torch_reference.py bench`, a subprocess, float32, `--threads`), so that load from other
   jobs hits all alike;
4. a summary per precision: median it/s over the rounds, the ratio of medians to the reference
   (and the per-round ratios), the achieved GFLOP/s and its fraction of the measured peak.
   FLOPs per iteration are the reference's analytic convolution count (`torch_reference.py
   flops`: the same architecture, conv MACs x2; elementwise work not counted), so GFLOP/s is
   useful model work per second, comparable between the frameworks.

The last stdout line is `iters_per_s=<float>`: the best precision's median.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

from biogans_tf.cpu import cpu_model, kernel_set

_REF_ARCH = {"dcgan": "dcgan", "dcgan-sep": "sep", "star": "star"}
_PRECISIONS = ("float32", "bf16")


def paper_proteins(arch: str) -> int:
    """Proteins of the paper's setting for `arch`: one for the joint family, six otherwise."""
    from biogans_tf.models import registry

    return 1 if registry.family(arch) == "joint" else 6


def _reference_script() -> str | None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shared = os.environ.get("BIOGANS_SHARED") or os.path.join(os.path.dirname(root), "shared")
    path = os.path.join(shared, "reference", "torch_reference.py")
    if not os.path.isfile(path):
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    return path


def build(arch: str, batch_size: int, n_proteins: int, width: int = 64, precision: str = "float32"):
    """A paper-size WGAN-GP `GanTrainer` (ngf = ndf = `width`) and an endless synthetic dataset.

    The trainer comes from the training program's builder (`setup.build_trainer`), so the
    benchmarks time exactly what `training.run` trains (XLA when there is a GPU). Its layers keep
    the `precision` they were built with; the global Keras policy is restored afterwards.
    """
    import keras
    import tensorflow as tf

    from biogans_tf.models import registry
    from biogans_tf.trainer.config import resolve
    from biogans_tf.trainer.precision import POLICIES
    from biogans_tf.trainer.setup import build_trainer

    cfg = resolve(
        dict(arch=arch, gan="wgan-gp", image_size=(48, 80), nz=100, ngf=width, ndf=width,
             batch_size=batch_size, run_dir="unused", precision=precision),
    )  # fmt: skip
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        trainer = build_trainer(cfg, n_proteins)
    finally:
        keras.mixed_precision.set_global_policy(before)
    lead = [n_proteins, batch_size] if registry.family(arch) == "conditional" else [batch_size]
    real = tf.random.stateless_uniform(lead + [48, 80, 2], seed=[12, 34], minval=-1.0, maxval=1.0)
    return trainer, tf.data.Dataset.from_tensors(real).repeat()


def _time_iterations(trainer, ds, iters: int, functions) -> list[float]:
    """Seconds of each of `iters` generator iterations, measured with a callback."""
    import keras

    from biogans_tf.trainer.training_loop import train_loop

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.marks = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            if int(logs["generator_updated"]) == 1:
                self.marks.append(time.perf_counter())

    clock = Clock()
    n = trainer.schedule.total_critic_steps(0, iters)
    train_loop(trainer, ds, n, [clock], functions=functions)
    return [b - a for a, b in zip(clock.marks, clock.marks[1:], strict=False)]


def _run_reference(script: str, args: list[str]) -> str:
    return subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True).stdout


def _last_float(pattern: str, text: str) -> float:
    found = re.findall(pattern, text, flags=re.M)
    if not found:
        raise RuntimeError(f"no match for {pattern!r} in the reference output:\n{text[-2000:]}")
    return float(found[-1])


def reference_flops(script: str | None, arch: str, batch: int, width: int) -> float | None:
    """Convolution FLOPs of one WGAN-GP iteration (the reference's analytic count), or None."""
    if script is None or width != 64:  # the reference script counts its paper-size models only
        return None
    out = _run_reference(script, ["flops", "--batch", str(batch)])
    tflop = _last_float(rf"^\[{_REF_ARCH[arch]}\] .*iteration @batch {batch} = ([0-9.]+) TFLOP$", out)
    return tflop * 1e12


def measure_peak(precision: str, seconds: float = 1.5) -> dict:
    """GFLOP/s of a 4096^2 GEMM and of a conv forward+backward in `precision` on this machine.

    The conv is the critic's widest 4x4 stride-2 layer at paper size (batch 64, 12x20x128 ->
    6x10x256), forward plus input and filter gradients (3x the forward FLOPs).
    """
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    a = tf.cast(tf.random.stateless_normal([4096, 4096], seed=[1, 2]), dtype)
    x = tf.cast(tf.random.stateless_normal([64, 12, 20, 128], seed=[3, 4]), dtype)
    w = tf.cast(tf.random.stateless_normal([4, 4, 128, 256], seed=[5, 6]), dtype)

    @tf.function
    def gemm():
        return tf.reduce_sum(tf.cast(tf.linalg.matmul(a, a), tf.float32))

    @tf.function
    def conv():
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = tf.nn.conv2d(x, w, 2, "SAME")
            total = tf.reduce_sum(tf.cast(y, tf.float32))
        gx, gw = tape.gradient(total, [x, w])
        return tf.reduce_sum(tf.cast(gx, tf.float32)) + tf.reduce_sum(tf.cast(gw, tf.float32))

    flops = {"gemm": 2 * 4096**3, "conv": 3 * 2 * 64 * 6 * 10 * 256 * 128 * 16}
    out = {}
    for name, fn in (("gemm", gemm), ("conv", conv)):
        fn().numpy()  # trace and warm up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            fn().numpy()
            n += 1
        out[name] = n * flops[name] / (time.perf_counter() - t0) / 1e9
    out["peak"] = max(out["gemm"], out["conv"])
    return out


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(_REF_ARCH), default="dcgan-sep")
    ap.add_argument("--precision", choices=_PRECISIONS, help="only this precision (default: both)")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--width", type=int, default=64, help="ngf = ndf (GFLOP/s needs the paper's 64)")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (ours, then the reference)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the reference")
    ap.add_argument("--no_reference", action="store_true", help="skip the PyTorch reference")
    args = ap.parse_args(argv)
    if min(args.iters, args.batch_size, args.rounds, args.width) < 1:
        ap.error("--iters, --batch_size, --rounds and --width must be >= 1")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from biogans_tf.trainer.precision import bf16_hardware
    from biogans_tf.trainer.training_loop import StepFunctions

    precisions = [args.precision] if args.precision else list(_PRECISIONS)
    script = None if args.no_reference else _reference_script()
    print(
        f"cpu={cpu_model()!r} cores={os.cpu_count()} kernels={kernel_set()!r} "
        f"bf16_hardware={bf16_hardware()!r} load={_load()}"
    )
    peaks = {p: measure_peak(p) for p in precisions}
    for p, pk in peaks.items():
        print(f"peak {p}: gemm {pk['gemm']:.0f} GFLOP/s, conv fwd+bwd {pk['conv']:.0f} GFLOP/s", flush=True)
    flops = reference_flops(script, args.arch, args.batch_size, args.width)

    runs = {}
    for p in precisions:
        trainer, ds = build(args.arch, args.batch_size, paper_proteins(args.arch), args.width, p)
        functions = StepFunctions(trainer)  # traced once, reused by every round
        t0 = time.perf_counter()
        _time_iterations(trainer, ds, 1, functions)  # warm-up: traces the step function
        warmup = time.perf_counter() - t0
        print(f"arch={args.arch} batch={args.batch_size} {p} warmup_s={warmup:.2f}", flush=True)
        runs[p] = (trainer, ds, functions)

    ours = {p: [] for p in precisions}
    refs = []
    ref_args = ["bench", "--arch", _REF_ARCH[args.arch], "--batch", str(args.batch_size)]
    ref_args += ["--iters", str(args.iters), "--threads", str(args.threads)]
    for r in range(args.rounds):
        for p in precisions:
            times = _time_iterations(*runs[p][:2], args.iters, runs[p][2])
            ours[p].append(len(times) / sum(times))
            print(f"round {r}: ours {p} s/iter={[round(t, 3) for t in times]} iters_per_s={ours[p][-1]:.5f} "
                  f"load={_load()}", flush=True)  # fmt: skip
        if script:
            refs.append(_last_float(r"^iters_per_s=([0-9.eE+-]+)$", _run_reference(script, ref_args)))
            print(f"round {r}: reference float32 iters_per_s={refs[-1]:.5f} load={_load()}", flush=True)
    if not script and not args.no_reference:
        print("reference: skipped (torch_reference.py or torch not available)")

    print("summary (median over rounds):")
    best = {}
    for p in precisions:
        best[p] = statistics.median(ours[p])
        line = f"  {p}: iters_per_s={best[p]:.5f}"
        if refs:
            per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(ours[p], refs, strict=True))
            line += f" ratio_to_reference={best[p] / statistics.median(refs):.3f} (rounds: {per_round})"
        if flops:
            gflops = best[p] * flops / 1e9
            line += f" GFLOP/s={gflops:.0f} ({100 * gflops / peaks[p]['peak']:.0f}% of the {p} peak)"
        print(line)
    if refs:
        ref_line = f"  reference float32: iters_per_s={statistics.median(refs):.5f}"
        if flops:
            gflops = statistics.median(refs) * flops / 1e9
            peak = (peaks.get("float32") or measure_peak("float32"))["peak"]
            ref_line += f" GFLOP/s={gflops:.0f} ({100 * gflops / peak:.0f}% of the float32 peak)"
        print(ref_line)
    top = max(best.values())
    print(f"iters_per_s={top:.6f}")
    return top


if __name__ == "__main__":
    main()

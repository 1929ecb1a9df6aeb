"""Where the demo's oneDNN time goes, primitive by primitive (ONEDNN_VERBOSE).

    python -m benchmarks.onednn_ops [--preset cpu-demo] [--arch star] [--precision float32]
        [--iters 5] [--top 15] [--set ndf=12 ...]

Builds the run as `python -m training.run --arch=ARCH --preset=PRESET` does
(`benchmarks.demo_profile.build`), warms the training loop up, then runs `--iters` iterations in a
child process with `ONEDNN_VERBOSE=1` and sums the execution times oneDNN reports per primitive:
convolution forward / backward-data / backward-weights, reorders (layout changes TensorFlow's
oneDNN ops make around each call), by implementation and by shape. Times are oneDNN's own per call
(ms per training iteration); with two inter-op threads calls overlap, so their sum exceeds the wall
time, which is printed beside it. The transposed convolutions of a generator are oneDNN
backward-data primitives (their input gradients are forward ones). Needs TensorFlow's oneDNN
kernels (`TF_ENABLE_ONEDNN_OPTS=1`, the default where `biogans_tf.cpu` turns them on).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

from benchmarks.demo_profile import parse_setting
from biogans_tf.cpu import cpu_model, kernel_set

MARK = "=====onednn_ops: measured iterations start====="


def child(args) -> None:
    """Run the loop; everything oneDNN prints after MARK belongs to the measured iterations."""
    from benchmarks.demo_profile import build
    from biogans_tf.trainer.training_loop import StepFunctions, train_loop

    cfg, trainer, ds = build(args.preset, args.arch, args.precision, "", dict(args.set))
    functions = StepFunctions(trainer)
    train_loop(trainer, ds, trainer.schedule.total_critic_steps(0, 2), [], functions=functions)
    print(MARK, flush=True)
    t0 = time.perf_counter()
    train_loop(trainer, ds, trainer.schedule.total_critic_steps(0, args.iters), [], functions=functions)
    print(json.dumps({"wall_ms_per_iter": (time.perf_counter() - t0) / args.iters * 1e3}), flush=True)


def summarise(stdout: str, iters: int) -> dict:
    """Per-(primitive, implementation, direction) and per-shape ms per iteration from verbose lines."""
    tail = stdout.split(MARK, 1)[1]
    by_kind, by_shape = collections.Counter(), collections.Counter()
    for line in tail.splitlines():
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields:
            continue
        i = fields.index("exec")
        kind, impl, prop = fields[i + 2], fields[i + 3], fields[i + 4]
        ms = float(fields[-1])
        by_kind[f"{kind} {prop} ({impl})"] += ms / iters
        by_shape[f"{kind} {prop} {fields[-2]}"] += ms / iters
    wall = json.loads(tail.strip().splitlines()[-1])["wall_ms_per_iter"]
    return {"wall_ms_per_iter": wall, "by_kind": dict(by_kind), "by_shape": dict(by_shape)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-demo")
    ap.add_argument("--arch", default="star")
    ap.add_argument("--precision", default="float32")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--top", type=int, default=15, help="shapes to list")
    ap.add_argument("--set", action="append", type=parse_setting, default=[], help="a TrainConfig NAME=VALUE")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.iters < 1:
        ap.error("--iters must be >= 1")
    if args.child:
        return child(args)
    env = dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
    given = sys.argv[1:] if argv is None else list(argv)
    cmd = [sys.executable, "-m", "benchmarks.onednn_ops", "--child", *given]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0 or MARK not in p.stdout:
        sys.exit(f"onednn_ops: the measured run failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    out = summarise(p.stdout, args.iters)
    total = sum(out["by_kind"].values())
    print(f"cpu={cpu_model()!r} kernels={kernel_set()!r} {args.arch} --preset={args.preset} "
          f"precision={args.precision} {dict(args.set)}")  # fmt: skip
    wall = out["wall_ms_per_iter"]
    print(f"oneDNN time {total:.1f} ms per iteration (summed over calls); wall {wall:.1f} ms")
    for name, ms in sorted(out["by_kind"].items(), key=lambda kv: -kv[1]):
        print(f"  {100 * ms / total:5.1f} %  {ms:7.1f} ms  {name}")
    print(f"the {args.top} costliest shapes:")
    for name, ms in sorted(out["by_shape"].items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {ms:7.1f} ms  {name}")
    out["total_ms_per_iter"] = total
    print(json.dumps({k: v for k, v in out.items() if k != "by_shape"}))
    return out


if __name__ == "__main__":
    main()

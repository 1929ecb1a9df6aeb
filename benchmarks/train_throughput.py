"""Training throughput: WGAN-GP iterations per second (5 critic steps + 1 generator step).

    python -m benchmarks.train_throughput --arch {dcgan,dcgan-sep,star} --batch_size 64 --iters N

Paper-size models (48x80, nz=100, ngf=ndf=64; 6 proteins for star) built like a training run
(`biogans_tf.trainer.setup.build_trainer`), the trainer's own step function (the training loop),
synthetic real batches (as the reference bench). After a warm-up
iteration (tracing), times `--iters` iterations. When the PyTorch reference
(`torch_reference.py` under $BIOGANS_SHARED/reference or ../shared/reference) and torch are
available, its `bench` runs as a subprocess alternately with ours and the ratio is printed.
The last stdout line is `iters_per_s=<float>` (ours, best round).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

_REF_ARCH = {"dcgan": "dcgan", "dcgan-sep": "sep", "star": "star"}


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


def build(arch: str, batch_size: int, n_proteins: int, width: int = 64):
    """A paper-size WGAN-GP `GanTrainer` (ngf = ndf = `width`) and an endless synthetic dataset.

    The trainer comes from the training program's builder (`setup.build_trainer`), so the
    benchmarks time exactly what `training.run` trains (XLA when there is a GPU).
    """
    import tensorflow as tf

    from biogans_tf.models import registry
    from biogans_tf.trainer.config import resolve
    from biogans_tf.trainer.setup import build_trainer

    cfg = resolve(
        dict(arch=arch, gan="wgan-gp", image_size=(48, 80), nz=100, ngf=width, ndf=width,
             batch_size=batch_size, logdir="unused"),
    )  # fmt: skip
    trainer = build_trainer(cfg, n_proteins)
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
    n = trainer.gan_loss.total_critic_steps(0, iters)
    train_loop(trainer, ds, n, [clock], functions=functions)
    return [b - a for a, b in zip(clock.marks, clock.marks[1:], strict=False)]


def _run_reference(script: str, arch: str, batch: int, iters: int, threads: int) -> float:
    cmd = [sys.executable, script, "bench", "--arch", _REF_ARCH[arch], "--batch", str(batch)]
    cmd += ["--iters", str(iters), "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    match = re.findall(r"^iters_per_s=([0-9.eE+-]+)$", out, flags=re.M)
    if not match:
        raise RuntimeError(f"no iters_per_s in the reference output:\n{out[-2000:]}")
    return float(match[-1])


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(_REF_ARCH), default="dcgan")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per round")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (ours, then the reference)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the reference")
    ap.add_argument("--no_reference", action="store_true", help="skip the PyTorch reference")
    args = ap.parse_args(argv)
    if args.iters < 1 or args.batch_size < 1 or args.rounds < 1:
        ap.error("--iters, --batch_size and --rounds must be >= 1")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    n_proteins = paper_proteins(args.arch)
    from biogans_tf.trainer.training_loop import StepFunctions

    trainer, ds = build(args.arch, args.batch_size, n_proteins)
    functions = StepFunctions(trainer)  # traced once, reused by every round
    t0 = time.perf_counter()
    _time_iterations(trainer, ds, 1, functions)  # warm-up: traces the step function
    print(f"arch={args.arch} batch={args.batch_size} warmup_s={time.perf_counter() - t0:.2f}", flush=True)

    script = None if args.no_reference else _reference_script()
    ours, refs = [], []
    for r in range(args.rounds):
        times = _time_iterations(trainer, ds, args.iters, functions)
        ours.append(len(times) / sum(times))
        print(f"round {r}: ours s/iter={[round(t, 3) for t in times]} iters_per_s={ours[-1]:.5f}", flush=True)
        if script:
            refs.append(_run_reference(script, args.arch, args.batch_size, args.iters, args.threads))
            print(f"round {r}: reference iters_per_s={refs[-1]:.5f}", flush=True)
    if refs:
        print(f"ratio_ours_over_reference={max(ours) / max(refs):.3f} (best rounds)")
    elif not args.no_reference:
        print("reference: skipped (torch_reference.py or torch not available)")
    print(f"iters_per_s={max(ours):.6f}")
    return max(ours)


if __name__ == "__main__":
    main()

"""Where the README's main command spends its time: the cpu-demo preset's iteration, part by part.

    python -m benchmarks.demo_profile [--preset cpu-demo] [--arch star] [--precision float32]
        [--critic_bank auto] [--repeats 20] [--loop_iters 60]

Builds the run exactly as `python -m training.run --arch=star --preset=cpu-demo` does
(`biogans_tf.trainer.setup`: config, process settings, the simulator's training cells, the
trainer, the tf.data pipeline) and times, each as its own compiled function (median of
`--repeats` after a warm-up):

* `input_batch`: pulling one batch from the training pipeline alone;
* `g_forward`: G(z) in training mode (every critic step runs it);
* `d_forward`: the critic bank on the real+fake concatenation (what a critic step scores);
* `gp_forward_backward`: the penalty's critic forward at the interpolates, input gradient, norm;
* `d_update` / `g_update_and_ema`: the trainer's weight updates alone (`apply_critic_grads`: one
  Adam step of the critic; `apply_generator_grads`: one of the generator, then its EMA step), as
  the run applies them (XLA-fused on one device, `GanTrainer.compile`);
* `critic_step`: the trainer's whole critic update (everything above for the critic, plus the
  double backward through the penalty);
* `critic_and_generator_step`: a critic update followed by the generator update (+ EMA).

An iteration's compiled work is `(n_critic - 1) * critic_step + critic_and_generator_step`. Then
`--loop_iters` iterations of the real training loop (`train_loop`, warmed up, no callbacks) give
the wall time per iteration; the difference to the compiled work is the Python and dispatch
overhead. The run's callbacks are timed per event (a sample grid, a checkpoint, a progress line
with TensorBoard scalars) and divided by the preset's periods, as a 1,200-iteration run pays them.

FLOPs: every convolution in the traced critic-only and critic+generator step graphs (Conv2D,
Conv2DBackpropInput for forward transposed convs and input gradients, Conv2DBackpropFilter),
counted as 2 x MACs from the ops' static shapes; elementwise work is not counted. The fraction of
peak divides the achieved conv GFLOP/s by the best of a GEMM and a conv probe in the same process
(`benchmarks.train_throughput.measure_peak`). Prints one line per part, then a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from benchmarks.profile_step import median_seconds
from biogans_tf.cpu import cpu_model, kernel_set

CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "_FusedConv2D")


def conv_flops(graph) -> float:
    """2 x multiply-accumulates of every 2-D convolution op in `graph` (static shapes)."""
    total = 0.0
    for op in graph.get_operations():
        if op.type not in CONV_OPS:
            continue
        if op.type == "Conv2DBackpropFilter":
            grad_out, kernel = op.inputs[2].shape, op.outputs[0].shape
        elif op.type == "Conv2DBackpropInput":
            grad_out, kernel = op.inputs[2].shape, op.inputs[1].shape
        else:
            grad_out, kernel = op.outputs[0].shape, op.inputs[1].shape
        if not (grad_out.is_fully_defined() and kernel.is_fully_defined()):
            raise ValueError(f"{op.name}: shapes not static ({grad_out}, {kernel})")
        n, h, w, c_out = grad_out.as_list()
        kh, kw, c_in_per_group, _ = kernel.as_list()
        total += 2.0 * n * h * w * c_out * kh * kw * c_in_per_group
    return total


def build(preset: str, arch: str, precision: str, critic_bank: str, settings: dict | None = None):
    """(cfg, trainer, training dataset) of `training.run --arch=ARCH --preset=PRESET` (resolved).

    `settings`: further `TrainConfig` fields, as flags would give them (e.g. `{"ndf": 12}`).
    """
    from biogans_tf.trainer import setup
    from biogans_tf.trainer.config import resolve

    run_dir = tempfile.mkdtemp(prefix="demo-profile-")
    explicit = dict(settings or {}, arch=arch, run_dir=run_dir)
    if precision:
        explicit["precision"] = precision
    if critic_bank:
        explicit["critic_bank"] = critic_bank
    cfg = resolve(explicit, preset)
    strategy = setup.configure_process(cfg)
    cells = setup.load_cells(cfg)
    cfg.proteins = tuple(cells.proteins)
    trainer = setup.build_trainer(cfg, len(cells.proteins), strategy)
    return cfg, trainer, setup.training_dataset(cfg, cells, strategy)


def parse_setting(text: str) -> tuple[str, object]:
    """`--set NAME=VALUE` -> (name, value); the value as JSON where it parses (12, 0.5, true)."""
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected NAME=VALUE, e.g. ndf=12")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def profile(cfg, trainer, ds, repeats: int) -> tuple[dict, dict]:
    """Median seconds per part (module doc) and conv FLOPs of the two step graphs."""
    import tensorflow as tf

    from biogans_tf.losses.wgan_gp import gradient_penalties
    from biogans_tf.trainer.training_loop import step_function

    g, d, view = trainer.generator, trainer.critic, trainer.view_fn
    it = iter(ds.repeat())
    real = next(it)
    z = tf.random.stateless_normal([cfg.batch_size, trainer.nz], seed=[1, 2])
    seed = tf.constant([3, 4], tf.int64)
    fake = tf.function(lambda: tf.cast(view(g(z, training=True)), tf.float32))()
    real = tf.cast(real, fake.dtype)
    d_vars, g_vars = d.trainable_variables, g.trainable_variables
    d_zero = [tf.zeros_like(v) for v in d_vars]
    g_zero = [tf.zeros_like(v) for v in g_vars]

    @tf.function
    def g_forward():
        return tf.reduce_sum(tf.cast(view(g(z, training=True)), tf.float32))

    @tf.function
    def d_forward():
        return tf.reduce_sum(tf.cast(d(tf.concat([real, fake], axis=1), training=True), tf.float32))

    @tf.function
    def gp_forward_backward():
        return tf.reduce_mean(gradient_penalties(d, real, fake, seed))

    @tf.function
    def d_update():
        trainer.apply_critic_grads(d_zero)
        return trainer.d_optimizer.iterations

    @tf.function
    def g_update():
        trainer.apply_generator_grads(g_zero)
        return trainer.g_optimizer.iterations

    strategy = tf.distribute.get_strategy()
    critic_only = step_function(trainer, strategy, generator_update=False)
    both = step_function(trainer, strategy, generator_update=True)

    @tf.function
    def input_batch():
        return tf.reduce_sum(next(it))

    parts = {
        "input_batch": input_batch,
        "g_forward": g_forward,
        "d_forward": d_forward,
        "gp_forward_backward": gp_forward_backward,
        "d_update": d_update,
        "g_update_and_ema": g_update,
        "critic_step": lambda: critic_only(it)["d_loss"],
        "critic_and_generator_step": lambda: both(it)["g_loss"],
    }
    seconds = {}
    for name, fn in parts.items():
        seconds[name] = median_seconds(fn, repeats)
        print(f"  {name:28s} {seconds[name] * 1e3:8.2f} ms", flush=True)

    spec = ds.element_spec

    def graph_of(flag):
        return tf.function(lambda x: trainer.run_step(x, flag)).get_concrete_function(spec).graph

    flops = {
        "critic_step": conv_flops(graph_of(False)),
        "critic_and_generator_step": conv_flops(graph_of(True)),
    }
    return seconds, flops


def loop_seconds(trainer, ds, iters: int, functions) -> float:
    """Wall seconds per generator iteration of the real training loop (no callbacks), `iters` long.

    `functions` (`StepFunctions`) are warmed up first, so the timing holds no tracing.
    """
    from biogans_tf.trainer.training_loop import train_loop

    train_loop(trainer, ds, trainer.schedule.total_critic_steps(0, 2), [], functions=functions)
    t0 = time.perf_counter()
    train_loop(trainer, ds, trainer.schedule.total_critic_steps(0, iters), [], functions=functions)
    return (time.perf_counter() - t0) / iters


def callback_seconds(cfg, trainer, repeats: int = 3) -> dict:
    """Seconds per generator iteration of each of the run's callbacks, at the preset's periods.

    Each event (a sample grid + its TensorBoard image, a checkpoint, a progress line + TensorBoard
    scalars) is timed `repeats` times (median) and divided by its period (`--sample_every`,
    `--checkpoint_every`, `--log_every`), as a 1,200-iteration run pays them.
    """
    import statistics

    import tensorflow as tf

    from biogans_tf.trainer import callbacks as cb
    from biogans_tf.trainer.checkpoint import TrainingCheckpoints
    from biogans_tf.trainer.gan_model import fixed_noise

    writer = tf.summary.create_file_writer(os.path.join(cfg.run_dir, "tb"))
    ckpts = TrainingCheckpoints(trainer, os.path.join(cfg.run_dir, "checkpoints"), cfg.keep_checkpoints)
    samples = cb.SampleWriter(
        os.path.join(cfg.run_dir, "samples"), fixed_noise(cfg.seed, 8, cfg.nz), cfg.sample_every, writer,
        proteins=cfg.proteins, palette=cfg.palette,
    )  # fmt: skip
    samples.set_model(trainer)
    loggers = [cb.ProgressLogger(cfg.steps, cfg.log_every, cfg.batch_size, stream=open(os.devnull, "w"))]
    loggers.append(cb.TensorBoardLogger(writer, cfg.log_every, cfg.batch_size))
    logs = {"d_loss": 1.0, "g_loss": 1.0, "gp": 1.0, "wdist": 1.0, "step": 1.0, "generator_updated": 1}
    for logger in loggers:
        logger.set_model(trainer)
        logger.on_train_begin()

    def log_event(step=cfg.log_every):
        for logger in loggers:
            logger.on_iteration_end(step, logs)
        writer.flush()

    def median(fn):
        fn()  # warm-up (tracing the sampler, opening files)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return {
        "sample grid": median(lambda: samples.write(cfg.sample_every)) / cfg.sample_every,
        "checkpoint": median(ckpts.save) / cfg.checkpoint_every,
        "progress + TensorBoard scalars": median(log_event) / cfg.log_every,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-demo")
    ap.add_argument("--arch", default="star")
    ap.add_argument("--precision", default="", help="default: the preset's (auto)")
    ap.add_argument("--critic_bank", default="", help="default: the preset's (auto)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--loop_iters", type=int, default=60)
    ap.add_argument("--set", action="append", type=parse_setting, default=[], help="a TrainConfig NAME=VALUE")
    args = ap.parse_args(argv)
    if min(args.repeats, args.loop_iters) < 1:
        ap.error("--repeats and --loop_iters must be >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from benchmarks.train_throughput import measure_peak

    print(
        f"cpu={cpu_model()!r} cores={os.cpu_count()} kernels={kernel_set()!r} load={os.getloadavg()[0]:.2f}"
    )
    cfg, trainer, ds = build(args.preset, args.arch, args.precision, args.critic_bank, dict(args.set))
    print(f"{args.arch} --preset={args.preset}: precision={cfg.precision} critic_bank={cfg.critic_bank} "
          f"batch={cfg.batch_size} ngf={cfg.ngf} ndf={cfg.ndf} n_critic={cfg.n_critic}")  # fmt: skip
    seconds, flops = profile(cfg, trainer, ds, args.repeats)
    k = cfg.n_critic
    compiled = (k - 1) * seconds["critic_step"] + seconds["critic_and_generator_step"]
    from biogans_tf.trainer.training_loop import StepFunctions

    functions = StepFunctions(trainer)
    bare = loop_seconds(trainer, ds, args.loop_iters, functions)
    per_callback = callback_seconds(cfg, trainer)
    full = bare + sum(per_callback.values())
    iter_flops = (k - 1) * flops["critic_step"] + flops["critic_and_generator_step"]
    peak = measure_peak("bf16" if cfg.precision == "bf16" else "float32")
    best_peak = max(peak["gemm"], peak["conv"])
    shares = {
        "critic steps (G fwd + critic fwd + penalty double backward + Adam)": k * seconds["critic_step"],
        "generator update (+ EMA)": seconds["critic_and_generator_step"] - seconds["critic_step"],
        "Python / dispatch overhead of the loop": bare - compiled,
    }
    shares.update({f"callback: {name} (at the preset's period)": sec for name, sec in per_callback.items()})
    print(f"iteration: compiled work {compiled * 1e3:.1f} ms, loop {bare * 1e3:.1f} ms, "
          f"+ callbacks {full * 1e3:.1f} ms = {1 / full:.2f} it/s")  # fmt: skip
    for name, sec in shares.items():
        print(f"  {100 * sec / full:5.1f} %  {sec * 1e3:7.1f} ms  {name}")
    inside = {n: seconds[n] for n in ("g_forward", "d_forward", "gp_forward_backward", "d_update")}
    for name, sec in inside.items():  # parts of one critic step, as separate functions
        print(f"    {100 * sec / seconds['critic_step']:5.1f} % of a critic step: {name}")
    gflops = iter_flops / full / 1e9
    print(f"conv FLOPs per iteration {iter_flops / 1e9:.2f} GFLOP; achieved {gflops:.1f} GFLOP/s = "
          f"{100 * gflops / best_peak:.1f} % of the measured peak ({best_peak:.0f} GFLOP/s; gemm "
          f"{peak['gemm']:.0f}, conv {peak['conv']:.0f})")  # fmt: skip
    summary = dict(
        cpu=cpu_model(), kernels=kernel_set(), preset=args.preset, arch=args.arch, precision=cfg.precision,
        critic_bank=cfg.critic_bank, seconds=seconds, compiled_iteration_s=compiled, loop_iteration_s=bare,
        full_iteration_s=full, shares_s=shares, iteration_gflop=iter_flops / 1e9, gflops=gflops,
        peak=peak, fraction_of_peak=gflops / best_peak,
    )  # fmt: skip
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

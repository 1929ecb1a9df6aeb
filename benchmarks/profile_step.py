"""Where a WGAN-GP training step spends its time: each part timed as its own compiled function.

    python -m benchmarks.profile_step --arch {dcgan,dcgan-sep,star} [--batch_size 64] [--repeats 3]

Paper-size models (48x80, nz=100, ngf=ndf=64; 6 proteins for star), batch 64, float32, no XLA
on CPU. Parts (each a `tf.function`, warmed up once, then the median of `--repeats` runs):

* `g_forward`: G(z) in training mode (BatchNorm batch statistics), as every critic step runs it;
* `d_forward_real_fake`: critic scores of the real and the fake batch (two calls);
* `d_forward_concat`: the same as one call on their concatenation (what the trainer does for
  critics without BatchNorm);
* `gp_forward_backward`: the penalty's critic forward at the interpolates + input gradient + norm;
* `critic_step`: the whole critic update of the trainer (everything above + the double backward
  through the penalty + Adam), i.e. one training-loop step without the generator update;
* `generator_step`: D(fake) + backward through D and G + Adam (once per 5 critic steps).

An iteration costs about `5 * critic_step + generator_step - g_forward` (the generator step
reuses the last critic step's G forward). Prints one line per part and, last, a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        # Results are tensors; reading one forces the step to finish.
        _ = [float(x.numpy().ravel()[0]) for x in (out if isinstance(out, tuple | list) else [out])]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def profile(arch: str, batch_size: int, repeats: int) -> dict:
    """Median seconds of each part (see the module doc) for `arch` at paper size."""
    import tensorflow as tf

    from benchmarks.train_throughput import build, paper_proteins
    from biogans_tf.losses.wgan_gp import gradient_penalties
    from biogans_tf.trainer.training_loop import step_function

    n_proteins = paper_proteins(arch)
    trainer, ds = build(arch, batch_size, n_proteins)
    real = next(iter(ds))
    g, d, view = trainer.generator, trainer.critic, trainer.view_fn
    z = tf.random.stateless_normal([batch_size, trainer.nz], seed=[1, 2])
    seed = tf.constant([3, 4], tf.int64)
    fake = tf.function(lambda: view(g(z, training=True)))()

    @tf.function
    def g_forward():
        return tf.reduce_sum(view(g(z, training=True)))

    @tf.function
    def d_forward_real_fake():
        return tf.reduce_sum(d(real, training=True)) + tf.reduce_sum(d(fake, training=True))

    @tf.function
    def d_forward_concat():
        axis = 0 if real.shape.rank == 4 else 1
        return tf.reduce_sum(d(tf.concat([real, fake], axis=axis), training=True))

    @tf.function
    def gp_forward_backward():
        return tf.reduce_mean(gradient_penalties(d, real, fake, seed))

    strategy = tf.distribute.get_strategy()
    critic_only = step_function(trainer, strategy, generator_update=False)
    both = step_function(trainer, strategy, generator_update=True)
    it = iter(ds.repeat())

    def critic_step():
        return critic_only(it)["d_loss"]

    def critic_and_generator_step():
        return both(it)["g_loss"]

    parts = {
        "g_forward": median_seconds(g_forward, repeats),
        "d_forward_real_fake": median_seconds(d_forward_real_fake, repeats),
        "d_forward_concat": median_seconds(d_forward_concat, repeats),
        "gp_forward_backward": median_seconds(gp_forward_backward, repeats),
        "critic_step": median_seconds(critic_step, repeats),
        "critic_and_generator_step": median_seconds(critic_and_generator_step, repeats),
    }
    parts["generator_step"] = parts["critic_and_generator_step"] - parts["critic_step"]
    parts["iteration_estimate"] = 4 * parts["critic_step"] + parts["critic_and_generator_step"]
    return parts


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["dcgan", "dcgan-sep", "star"], default="dcgan-sep")
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1:
        ap.error("--batch_size and --repeats must be >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parts = profile(args.arch, args.batch_size, args.repeats)
    total = parts["iteration_estimate"]
    for name, sec in parts.items():
        print(f"{name:28s} {sec:8.3f} s  {100 * sec / total:5.1f} % of an iteration", flush=True)
    summary = dict(arch=args.arch, batch_size=args.batch_size, loadavg=os.getloadavg(), seconds=parts)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

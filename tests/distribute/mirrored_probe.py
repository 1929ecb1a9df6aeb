"""Subprocess body of the MirroredStrategy tests (logical CPU devices must exist before TF starts).

    python -m tests.distribute.mirrored_probe OUT.json STEPS ARCH:GAN [ARCH:GAN ...]

Trains the same tiny GAN for STEPS fit steps twice from the same seeds: on one device and under
`MirroredStrategy` over 2 logical CPU devices (global batch split 2 x 2), through the real
`biogans_tf.trainer.setup` builder and training loop (synchronized BatchNorm, per-replica data
pieces, sliced z/eps). Writes
for each ARCH:GAN the largest absolute weight difference per model, the logged losses of both runs
and the counters.
"""

import functools
import json
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from biogans_tf.data import pipeline  # noqa: E402
from biogans_tf.models import registry  # noqa: E402
from biogans_tf.trainer import distribute  # noqa: E402
from biogans_tf.trainer.config import resolve  # noqa: E402
from biogans_tf.trainer.setup import build_trainer  # noqa: E402
from biogans_tf.trainer.training_loop import train_loop  # noqa: E402
from tests.trainer.util import PROTEINS, SIZE, Recorder, cells  # noqa: E402


@functools.cache
def _strategy(name):
    # One strategy object per process: two MirroredStrategy instances reuse collective instance keys.
    return distribute.make_strategy(name)


def run(arch, gan, steps, strategy_name):
    tiny = dict(image_size=SIZE, proteins=PROTEINS, nz=16, ngf=8, ndf=8, batch_size=4, run_dir="unused")
    schedule = dict(n_critic=2, n_critic_burst=0, ema=True, ema_decay=0.5)
    cfg = resolve(dict(tiny, **schedule, arch=arch, gan=gan, strategy=strategy_name))
    strategy = _strategy(strategy_name)
    trainer = build_trainer(cfg, len(PROTEINS), strategy)
    family = registry.family(arch)

    def make_dataset():
        return pipeline.make_batches(family, cells(), cfg.batch_size, cfg.seed)

    ds = distribute.replica_datasets(
        strategy, make_dataset, distribute.batch_axes(make_dataset().element_spec)
    )
    rec = Recorder()
    train_loop(trainer, ds, steps, [rec], strategy)
    weights = {
        name: [np.array(v) for v in m.weights]
        for name, m in (
            ("generator", trainer.generator),
            ("critic", trainer.critic),
            ("ema", trainer.ema_generator),
        )
    }
    counters = [
        int(trainer.step.numpy()),
        int(trainer.critic_step.numpy()),
        int(trainer.critic_in_iter.numpy()),
    ]
    return weights, rec.logs, counters, strategy.num_replicas_in_sync


def compare(arch, gan, steps):
    w1, logs1, c1, r1 = run(arch, gan, steps, "default")
    w2, logs2, c2, r2 = run(arch, gan, steps, "mirrored")
    diff = {k: max(float(np.max(np.abs(a - b))) for a, b in zip(w1[k], w2[k], strict=True)) for k in w1}
    return dict(replicas=[r1, r2], max_abs_diff=diff, logs=[logs1, logs2], counters=[c1, c2])


def main(out, steps, *specs):
    results = {spec: compare(*spec.split(":"), int(steps)) for spec in specs}
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""`train(cfg)`: one training run from a resolved `TrainConfig` (called by `training.run`)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.data import pipeline, sources
from biogans_tf.data.errors import DataError
from biogans_tf.data.neighbours import mine_neighbours
from biogans_tf.io_utils import write_json
from biogans_tf.loader import generator_metadata
from biogans_tf.models import registry
from biogans_tf.trainer import callbacks as cb
from biogans_tf.trainer import distribute
from biogans_tf.trainer.checkpoint import CheckpointError, TrainingCheckpoints, save_keras_model
from biogans_tf.trainer.gan_model import GanTrainer, fixed_noise
from biogans_tf.trainer.optimizers import make_optimizer
from training.config import ConfigError, TrainConfig, validate

_POLICIES = {"float32": "float32", "bf16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}


def _jit(cfg: TrainConfig) -> bool:
    value = str(cfg.jit_compile).lower()
    if value == "auto":
        # XLA pays off on GPUs; on CPUs it is ~10x slower for the double-backward penalty.
        return bool(tf.config.list_physical_devices("GPU"))
    return value == "true"


def _check_logdir(logdir: str) -> None:
    """Create `logdir` and prove it writable, so a bad --logdir fails in one line before any work.

    Raises:
        ConfigError: naming the path and the cause (a file, under a file, read-only, full disk).
    """
    path = os.path.abspath(logdir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"--logdir={logdir}: is a file, not a folder")
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent) and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise ConfigError(f"--logdir={logdir}: lies under {parent}, which is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ConfigError(
            f"--logdir={logdir}: cannot write to {e.filename or path} ({e.strerror or e})"
        ) from None


def _prepare_run_dir(cfg: TrainConfig) -> None:
    """Check that --logdir is a writable folder; refuse to train over another run unless resuming."""
    _check_logdir(cfg.logdir)
    if cfg.resume:
        return
    for name in ("config.json", "checkpoints"):
        if os.path.exists(os.path.join(cfg.logdir, name)):
            raise ConfigError(
                f"--logdir={cfg.logdir} already holds a run ({name}); pass --resume to continue it "
                "or choose another --logdir"
            )


def load_cells(cfg: TrainConfig):
    """Training CellSet plus the data checks that need it (labels, counts vs batch size)."""
    try:
        cells = sources.load(
            cfg.data, "train", proteins=cfg.proteins, image_size=cfg.image_size, seed=cfg.seed,
            channel_map=cfg.channel_map, percentiles=cfg.percentiles, resize_policy=cfg.resize_policy,
        )  # fmt: skip
    except DataError as e:
        raise ConfigError(f"--data={cfg.data}: {e}") from None
    family = registry.family(cfg.arch)
    if cells.image_size != tuple(cfg.image_size):
        raise ConfigError(
            f"--image_size={cfg.image_size[0]}x{cfg.image_size[1]} but --data={cfg.data} has "
            f"{cells.image_size[0]}x{cells.image_size[1]} images"
        )
    if family != "joint" and len(cells.proteins) < 2:
        raise ConfigError(
            f"--arch={cfg.arch} needs labelled data with >= 2 proteins; --data={cfg.data} has "
            f"{len(cells.proteins)} ({', '.join(cells.proteins)}); use --arch=dcgan or dcgan-sep"
        )
    counts = cells.counts()
    if family == "joint":
        if len(cells) < cfg.batch_size:
            raise ConfigError(
                f"--batch_size={cfg.batch_size} is larger than the {len(cells)} training images"
            )
    else:
        smallest = min(counts, key=counts.get)
        if counts[smallest] < cfg.batch_size:
            raise ConfigError(
                f"--batch_size={cfg.batch_size} is larger than the {counts[smallest]} training images of "
                f"protein {smallest!r} (--arch={cfg.arch} draws a batch of every protein)"
            )
    return cells


def build_trainer(cfg: TrainConfig, n_proteins: int, strategy=None) -> GanTrainer:
    """Models, loss and optimisers of `cfg`, wrapped in a compiled `GanTrainer`.

    Under a `tf.distribute` strategy everything is created in its scope and BatchNorm is
    synchronized across replicas (statistics of the global batch, as on one device).
    """
    if strategy is not None and strategy is not tf.distribute.get_strategy():
        with strategy.scope():
            return build_trainer(cfg, n_proteins, strategy)
    synced = cfg.strategy != "default"
    loss = cfg.loss()
    common = dict(image_size=tuple(cfg.image_size), n_proteins=n_proteins, synchronized_bn=synced)
    gkw = dict(common, nz=cfg.nz, ngf=cfg.ngf, red_portion=cfg.red_portion, seed=cfg.seed)
    generator = registry.build_generator(cfg.arch, **gkw)
    critic = registry.build_critic(
        cfg.arch, **common, ndf=cfg.ndf, batchnorm=cfg.critic_batchnorm, seed=cfg.seed
    )
    ema = registry.build_generator(cfg.arch, **gkw) if cfg.ema else None
    trainer = GanTrainer(
        generator,
        critic,
        loss,
        nz=cfg.nz,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        view_fn=lambda x: registry.critic_view(cfg.arch, x, n_proteins),
        ema_generator=ema,
        ema_decay=cfg.ema_decay,
        debug_nan_at=cfg.debug_nan_at,
    )
    d_opt = make_optimizer(loss.optimizer, loss.lr_d, loss.beta1, loss.beta2, name="d_optimizer")
    g_opt = make_optimizer(loss.optimizer, loss.lr_g, loss.beta1, loss.beta2, name="g_optimizer")
    if cfg.precision == "mixed_float16":
        d_opt = keras.optimizers.LossScaleOptimizer(d_opt, name="d_loss_scale")
        g_opt = keras.optimizers.LossScaleOptimizer(g_opt, name="g_loss_scale")
    trainer.compile(d_optimizer=d_opt, g_optimizer=g_opt, jit_compile=_jit(cfg))
    return trainer


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) training; returns the results dict also written to `RUN/results.json`.

    Raises:
        ConfigError: a flag that does not fit the data or the run directory.
    """
    validate(cfg)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
        # Op determinism alone was not enough here: with several inter-op threads, runs of the
        # same config occasionally differed (Adam amplifies the last-bit differences), so
        # independent ops run one at a time; each op still uses all cores (intra-op threads).
        try:
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TF already initialised in this process (e.g. a second run in tests)
            if tf.config.threading.get_inter_op_parallelism_threads() != 1:
                print("warning: --deterministic could not limit inter-op threads", file=sys.stderr)
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    try:
        strategy = distribute.make_strategy(cfg.strategy)
        distribute.check_batch_split(cfg.batch_size, strategy)
    except distribute.StrategyError as e:
        raise ConfigError(str(e)) from None
    chief = distribute.is_chief(strategy)
    keras.mixed_precision.set_global_policy(_POLICIES[cfg.precision])
    t_start = time.perf_counter()
    cells = load_cells(cfg)
    if chief:  # the other workers share (or do not see) the chief's run directory
        _prepare_run_dir(cfg)  # after the data checks, so bad data leaves no run folder behind
    cfg.proteins = tuple(cells.proteins)  # the order the data gave ('all' resolved)
    family = registry.family(cfg.arch)
    neighbours = None
    if family == "multichannel":
        neighbours = mine_neighbours(cells, k=cfg.neighbours_k, cache_dir=os.path.join(cfg.logdir, "cache"))

    trainer = build_trainer(cfg, len(cells.proteins), strategy)
    loss = trainer.gan_loss
    ckpts = TrainingCheckpoints(
        trainer,
        os.path.join(cfg.logdir, "checkpoints"),
        cfg.keep_checkpoints,
        chief=chief,
        worker=distribute.worker_index(strategy)[1],
    )
    start = 0
    if cfg.resume:
        try:
            start = ckpts.restore_latest() or 0
        except CheckpointError as e:
            raise ConfigError(f"--resume: {e}") from None
        if ckpts.restored_from:
            print(
                f"resuming {cfg.logdir} from {ckpts.restored_from} (generator step {start})",
                file=sys.stderr,
                flush=True,
            )
    if chief:
        write_json(os.path.join(cfg.logdir, "config.json"), cfg.to_json())
        write_json(os.path.join(cfg.logdir, "proteins.json"), list(cells.proteins))

    critic_start = int(trainer.critic_step.numpy())
    remaining = loss.total_critic_steps(start, cfg.steps) - int(trainer.critic_in_iter.numpy())
    per_step = cfg.batch_size * (len(cells.proteins) if family == "conditional" else 1)
    # Only the chief writes TensorBoard events, samples and the final model.
    writer = tf.summary.create_file_writer(os.path.join(cfg.logdir, "tb")) if chief else None
    n_samples = 32 if family == "joint" else 8
    guard = cb.NanGuard()
    ckpt_cb = cb.CheckpointWriter(ckpts, cfg.checkpoint_every)
    samples = cb.SampleWriter(
        os.path.join(cfg.logdir, "samples"),
        fixed_noise(cfg.seed, n_samples, cfg.nz),
        cfg.sample_every,
        writer,
        proteins=cells.proteins,
        palette=cfg.palette,
    )
    callbacks = [guard, ckpt_cb]
    if chief:
        callbacks += [
            cb.ProgressLogger(cfg.steps, cfg.log_every, per_step),
            cb.TensorBoardLogger(writer, cfg.log_every, per_step),
            samples,
        ]
    if cfg.debug_step_delay > 0:
        callbacks.append(cb.StepDelay(cfg.debug_step_delay))

    t_fit = time.perf_counter()
    history = {}
    if remaining > 0:

        def make_dataset():
            return pipeline.make_batches(
                family,
                cells,
                cfg.batch_size,
                cfg.seed,
                start_step=critic_start,
                neighbours=neighbours,
                flips=cfg.flips,
            )

        ds = distribute.replica_datasets(strategy, make_dataset, _batch_axes(make_dataset().element_spec))
        h = trainer.fit(
            ds, steps_per_epoch=remaining, epochs=1, verbose=0, shuffle=False, callbacks=callbacks
        )
        history = {k: float(v[-1]) for k, v in h.history.items() if k in cb.METRICS}
    fit_s = time.perf_counter() - t_fit
    if writer is not None:
        writer.flush()

    step = int(trainer.step.numpy())
    failure = guard.failure or ckpt_cb.failure
    results = dict(
        status="ok" if failure is None else "failed",
        run_dir=cfg.logdir,
        arch=cfg.arch,
        gan=cfg.gan,
        start_step=start,
        step=step,
        steps=cfg.steps,
        critic_steps=int(trainer.critic_step.numpy()),
        fit_seconds=round(fit_s, 3),
        wall_seconds=round(time.perf_counter() - t_start, 3),
        iters_per_s=round((step - start) / fit_s, 4) if fit_s > 0 and step > start else None,
        last_checkpoint=ckpts.latest,
        last_sample=samples.last_path,
        metrics=history,
        strategy=cfg.strategy,
        replicas=strategy.num_replicas_in_sync,
        chief=chief,
        weights_sha256=weights_digest(trainer),
    )
    if failure is not None:
        results["error"] = failure + f"; the last good checkpoint is {ckpts.latest}"
        print(f"error: {results['error']}", file=sys.stderr, flush=True)
    elif chief:
        if samples.last_path is None:
            samples.set_model(trainer)
            samples.last_path = samples.write(step)
            results["last_sample"] = samples.last_path
        meta = generator_metadata(
            cfg.arch, cfg.proteins, cfg.nz, cfg.image_size, gan=cfg.gan, ngf=cfg.ngf, ema=False
        )
        save_keras_model(trainer.generator, os.path.join(cfg.logdir, "generator.keras"), meta)
        results["generator"] = os.path.join(cfg.logdir, "generator.keras")
        if trainer.ema_generator is not None:
            save_keras_model(
                trainer.ema_generator,
                os.path.join(cfg.logdir, "generator_ema.keras"),
                {**meta, "ema": True},
            )
            results["generator_ema"] = os.path.join(cfg.logdir, "generator_ema.keras")
    if chief:
        try:
            write_json(os.path.join(cfg.logdir, "results.json"), json.loads(json.dumps(results)))
        except OSError as e:  # e.g. the disk filled up; after a failure its line already said why
            if failure is None:
                raise ConfigError(
                    f"--logdir={cfg.logdir}: cannot write {e.filename or 'results.json'} "
                    f"({e.strerror or e}); the last good checkpoint is {ckpts.latest}"
                ) from None
    return results


def _batch_axes(spec):
    """Batch axis of each item of a training element: 1 for `[C, B, H, W, 2]`, else 0."""
    items = spec if isinstance(spec, tuple) else (spec,)
    axes = tuple(1 if s.shape.rank == 5 else 0 for s in items)
    return axes if isinstance(spec, tuple) else axes[0]


def weights_digest(trainer: GanTrainer) -> str:
    """SHA-256 of every generator and critic weight (bytes, in weight order): equal iff identical."""
    h = hashlib.sha256()
    for model in (trainer.generator, trainer.critic):
        for v in model.weights:
            h.update(np.ascontiguousarray(np.asarray(v)).tobytes())
    return h.hexdigest()

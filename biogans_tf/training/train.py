"""`train(cfg)`: one training run from a resolved `TrainConfig` (called by `training.run`).

The program's part of a run: the order of the steps, the run directory's files and the results
dict. Building (data, models, optimisers, strategy) is `biogans_tf.trainer.setup`; the loop is
`biogans_tf.trainer.training_loop`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time

import tensorflow as tf

from biogans_tf.data.neighbours import mine_neighbours
from biogans_tf.io_utils import write_json, write_keras
from biogans_tf.models import registry
from biogans_tf.runs.folder import generator_metadata
from biogans_tf.trainer import callbacks as cb
from biogans_tf.trainer import distribute, setup
from biogans_tf.trainer.checkpoint import CheckpointError, TrainingCheckpoints
from biogans_tf.trainer.config import ConfigError, TrainConfig, validate
from biogans_tf.trainer.gan_model import fixed_noise
from biogans_tf.trainer.stop_signals import StopSignals
from biogans_tf.trainer.training_loop import train_loop


def train(cfg: TrainConfig, stop: StopSignals | None = None) -> dict:
    """Run (or resume) training; returns the results dict also written to `RUN/results.json`.

    A SIGTERM or SIGINT during the training loop ends it at the next iteration with a checkpoint
    and `status="interrupted"` (`biogans_tf.trainer.stop_signals`).

    Raises:
        ConfigError: a flag that does not fit the data or the run directory.
        StopSignalError: a stop signal before the training loop (nothing new to save) or a second one.
    """
    with contextlib.ExitStack() as held:  # releases the run folder's lock however training ends
        if stop is None:  # else the program installed the handlers already (from its start)
            stop = held.enter_context(StopSignals())
        return _train(cfg, stop, held)


def _train(cfg: TrainConfig, stop: StopSignals, held: contextlib.ExitStack) -> dict:
    validate(cfg)
    strategy = setup.configure_process(cfg)
    chief = distribute.is_chief(strategy)
    t_start = time.perf_counter()
    cells = setup.load_cells(cfg)
    if chief:  # the other workers share (or do not see) the chief's run directory
        # After the data checks, so bad data leaves no run folder behind; held until train returns.
        held.callback(setup.prepare_run_dir(cfg).release)
    cfg.proteins = tuple(cells.proteins)  # the order the data gave ('all' resolved)
    family = registry.family(cfg.arch)
    neighbours = None
    if family == "multichannel":
        neighbours = mine_neighbours(cells, k=cfg.neighbours_k, cache_dir=cfg.folder.cache)

    trainer = setup.build_trainer(cfg, len(cells.proteins), strategy)
    ckpts = TrainingCheckpoints(
        trainer,
        cfg.folder.checkpoints,
        cfg.keep_checkpoints,
        chief=chief,
        worker=distribute.worker_index(strategy)[1],
    )
    start = _resume(cfg, ckpts)
    if chief:
        write_json(cfg.folder.config, cfg.to_json())
        write_json(cfg.folder.proteins, list(cells.proteins))

    critic_start = int(trainer.critic_step.numpy())
    remaining = trainer.schedule.total_critic_steps(start, cfg.steps) - int(trainer.critic_in_iter.numpy())
    # Only the chief writes TensorBoard events, samples and the final model.
    writer = tf.summary.create_file_writer(cfg.folder.tensorboard) if chief else None
    run_callbacks = RunCallbacks(cfg, cells.proteins, ckpts, writer, chief, stop.requested)
    t_fit = time.perf_counter()
    history = {}
    if remaining > 0:
        ds = setup.training_dataset(cfg, cells, strategy, critic_start, neighbours)
        stop.loop_running = True
        try:
            logs = train_loop(trainer, ds, remaining, run_callbacks.callbacks, strategy)
        finally:
            stop.loop_running = False
        history = {k: v for k, v in logs.items() if k in cb.METRICS}
    fit_s = time.perf_counter() - t_fit
    if writer is not None:
        writer.flush()

    step = int(trainer.step.numpy())
    status = "ok" if run_callbacks.failure is None else "failed"
    if status == "ok" and run_callbacks.checkpoints.stopped_at is not None:
        status = "interrupted"
    results = dict(
        status=status,
        run_dir=cfg.run_dir, arch=cfg.arch, gan=cfg.gan, start_step=start, step=step, steps=cfg.steps,
        critic_steps=int(trainer.critic_step.numpy()),
        fit_seconds=round(fit_s, 3),
        wall_seconds=round(time.perf_counter() - t_start, 3),
        iters_per_s=round((step - start) / fit_s, 4) if fit_s > 0 and step > start else None,
        last_checkpoint=ckpts.latest, last_sample=run_callbacks.samples.last_path, metrics=history,
        strategy=cfg.strategy, replicas=strategy.num_replicas_in_sync, chief=chief,
        weights_sha256=setup.weights_digest(trainer),
    )  # fmt: skip
    if status == "interrupted":
        results["signal"] = signal.Signals(stop.received).name
        if chief:  # resumable; the final sample and generators are for a finished run
            write_json(cfg.folder.results, json.loads(json.dumps(results)))
    else:
        _finish(cfg, trainer, results, run_callbacks, chief)
    return results


def _resume(cfg: TrainConfig, ckpts: TrainingCheckpoints) -> int:
    """With --resume, restore the newest intact checkpoint; the generator step to start from."""
    if not cfg.resume:
        return 0
    try:
        start = ckpts.restore_latest() or 0
    except CheckpointError as e:
        raise ConfigError(f"--resume: {e}") from None
    if start > cfg.steps:
        # Training nothing and recording the smaller --steps would make config.json lie about the run.
        raise ConfigError(
            f"--steps={cfg.steps}: the run in {cfg.run_dir} already reached generator step {start}; "
            f"pass --steps above {start} to train on (its records are left as they are)"
        )
    if ckpts.restored_from:
        print(
            f"resuming {cfg.run_dir} from {ckpts.restored_from} (generator step {start})",
            file=sys.stderr,
            flush=True,
        )
    return start


class RunCallbacks:
    """The callbacks of a run, in order: NaN guard first, checkpoints, then the chief's outputs.

    Args:
        cfg: the run's config.
        proteins: the run's proteins (sample grid columns).
        ckpts: the run's `TrainingCheckpoints`.
        writer: the chief's TensorBoard writer, None on other workers.
        chief: whether this process writes progress, TensorBoard and samples.
        stop: `StopSignals.requested`: a stop signal arrived (checkpoint this iteration, then stop).
    """

    def __init__(
        self, cfg: TrainConfig, proteins, ckpts: TrainingCheckpoints, writer, chief: bool, stop=None
    ):
        family = registry.family(cfg.arch)
        per_step = cfg.batch_size * (len(proteins) if family == "conditional" else 1)
        self.guard = cb.NanGuard()
        self.checkpoints = cb.CheckpointWriter(ckpts, cfg.checkpoint_every, stop_requested=stop)
        self.samples = cb.SampleWriter(
            cfg.folder.samples,
            fixed_noise(cfg.seed, 32 if family == "joint" else 8, cfg.nz),
            cfg.sample_every,
            writer,
            proteins=proteins,
            palette=cfg.palette,
        )
        self.callbacks = [self.guard, self.checkpoints]
        if chief:
            self.callbacks += [
                cb.ProgressLogger(cfg.steps, cfg.log_every, per_step),
                cb.TensorBoardLogger(writer, cfg.log_every, per_step),
                self.samples,
            ]

    @property
    def failure(self) -> str | None:
        """Why training stopped early (NaN, a checkpoint that could not be written), else None."""
        return self.guard.failure or self.checkpoints.failure


def _finish(cfg: TrainConfig, trainer, results: dict, run_callbacks: RunCallbacks, chief: bool) -> None:
    """Report a failure, or (chief) write the last sample and the generators; write results.json."""
    failure, samples, latest = run_callbacks.failure, run_callbacks.samples, results["last_checkpoint"]
    if failure is not None:
        results["error"] = failure + f"; the last good checkpoint is {latest}"
        print(f"error: {results['error']}", file=sys.stderr, flush=True)
    elif chief:
        if samples.last_path is None:
            samples.set_model(trainer)
            samples.last_path = samples.write(results["step"])
            results["last_sample"] = samples.last_path
        meta = generator_metadata(
            cfg.arch, cfg.proteins, cfg.nz, cfg.image_size, gan=cfg.gan, ngf=cfg.ngf, ema=False
        )
        n_proteins = len(cfg.proteins)
        write_keras(
            setup.float32_generator(cfg, n_proteins, trainer.generator),
            cfg.folder.generator(),
            meta,
        )
        results["generator"] = cfg.folder.generator()
        if trainer.ema_generator is not None:
            write_keras(
                setup.float32_generator(cfg, n_proteins, trainer.ema_generator),
                cfg.folder.generator(ema=True),
                {**meta, "ema": True},
            )
            results["generator_ema"] = cfg.folder.generator(ema=True)
    if chief:
        try:
            write_json(cfg.folder.results, json.loads(json.dumps(results)))
        except OSError as e:  # e.g. the disk filled up; after a failure its line already said why
            if failure is None:
                raise ConfigError(
                    f"--run_dir={cfg.run_dir}: cannot write {e.filename or 'results.json'} "
                    f"({e.strerror or e}); the last good checkpoint is {latest}"
                ) from None

"""Training callbacks: NaN guard, progress, TensorBoard, sample grids, checkpoints.

They run in the training loop (`biogans_tf.trainer.training_loop`) and in `GanTrainer.fit`.

Loop steps are critic updates; these callbacks act on GENERATOR iterations (the trainer's
`step`), which they detect from the `generator_updated` entry of the step logs.
"""

from __future__ import annotations

import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from biogans_tf import progress, viz
from biogans_tf.trainer.checkpoint import CheckpointError, TrainingCheckpoints

METRICS = ("d_loss", "g_loss", "gp", "wdist")


def _value(logs, key) -> float:
    v = logs.get(key)
    return float(np.asarray(v)) if v is not None else float("nan")


class IterationCallback(keras.callbacks.Callback):
    """Base class: calls `on_iteration_end(step, logs)` after each generator update."""

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if int(_value(logs, "generator_updated")) == 1:
            self.on_iteration_end(int(_value(logs, "step")), logs)

    def on_iteration_end(self, step: int, logs) -> None:  # pragma: no cover - interface
        pass


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where.

    After `fit` returns, `failure` is None or a message naming the generator iteration, the
    critic step and the metric. Put it FIRST in the callback list so that later callbacks (the
    checkpoint writer) can see `model.stop_training` and skip saving.
    """

    def __init__(self):
        super().__init__()
        self.failure: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        if self.failure is not None:
            return
        logs = logs or {}
        for key in METRICS:
            v = _value(logs, key)
            if not math.isfinite(v):
                trainer = self.model
                # 1-based iteration in progress (= the step its checkpoint would carry).
                iteration = int(trainer.step.numpy()) + (0 if int(_value(logs, "generator_updated")) else 1)
                self.failure = (
                    f"non-finite {key}={v} in generator iteration {iteration} "
                    f"(critic update {int(trainer.critic_step.numpy())}); training stopped"
                )
                trainer.stop_training = True
                return


class ProgressLogger(IterationCallback):
    """Training progress: a tqdm bar on a terminal, else one line every `every` iterations.

    The bar (on stderr) shows step/total, it/s, ETA and the latest losses. Without a terminal
    (logs, CI, a parent process reading the output) it prints the log lines instead:
    `step S/T d_loss=.. g_loss=.. gp=.. wdist=.. X it/s Y img/s ETA Zs`.

    Args:
        total_steps: the run's `--steps` (generator iterations).
        every: print period in generator iterations (log-line mode).
        images_per_critic_step: real images the critic sees per critic update (B, or C*B).
        stream: where log lines go (stdout by default).
        bar: True: tqdm bar on stderr; False: log lines; None: a bar exactly when stderr is a tty.
    """

    def __init__(self, total_steps: int, every: int, images_per_critic_step: int, stream=None, bar=None):
        super().__init__()
        self.total_steps = int(total_steps)
        self.every = max(1, int(every))
        self.images_per_critic_step = int(images_per_critic_step)
        self.stream = stream or sys.stdout
        self.bar = progress.stderr_is_tty() if bar is None else bool(bar)
        self._mark = None
        self._tqdm = None

    def on_train_begin(self, logs=None):
        self._mark = (time.perf_counter(), int(self.model.step.numpy()), int(self.model.critic_step.numpy()))
        if self.bar:
            self._tqdm = progress.bar(self.total_steps, "train", "it", initial=self._mark[1], enabled=True)

    def on_iteration_end(self, step, logs):
        if self._tqdm is not None:
            self._tqdm.update(step - self._tqdm.n)
            self._tqdm.set_postfix({k: f"{_value(logs, k):.3f}" for k in METRICS}, refresh=False)
            return
        if step % self.every and step != self.total_steps:
            return
        now, critic = time.perf_counter(), int(self.model.critic_step.numpy())
        t0, s0, c0 = self._mark
        dt = max(now - t0, 1e-9)
        its = (step - s0) / dt
        ips = (critic - c0) * self.images_per_critic_step / dt
        eta = (self.total_steps - step) / its if its > 0 else float("nan")
        parts = " ".join(f"{k}={_value(logs, k):.4f}" for k in METRICS)
        print(
            f"step {step}/{self.total_steps} {parts} {its:.3f} it/s {ips:.0f} img/s ETA {eta:.0f}s",
            file=self.stream,
            flush=True,
        )
        self._mark = (now, step, critic)

    def on_train_end(self, logs=None):
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


class TensorBoardLogger(IterationCallback):
    """Writes scalars (d_loss, g_loss, gp, wdist, steps_per_s, images_per_s) to `run_dir`.

    Every `every` generator iterations, at step = generator iteration. Summaries are tensor events
    (read them with EventAccumulator's `Tensors`).
    """

    def __init__(self, writer, every: int, images_per_critic_step: int):
        super().__init__()
        self.writer = writer
        self.every = max(1, int(every))
        self.images_per_critic_step = int(images_per_critic_step)
        self._mark = None

    def on_train_begin(self, logs=None):
        self._mark = (time.perf_counter(), int(self.model.step.numpy()), int(self.model.critic_step.numpy()))

    def on_iteration_end(self, step, logs):
        if step % self.every:
            return
        now, critic = time.perf_counter(), int(self.model.critic_step.numpy())
        t0, s0, c0 = self._mark
        dt = max(now - t0, 1e-9)
        with self.writer.as_default(step=step):
            for k in METRICS:
                tf.summary.scalar(k, _value(logs, k))
            tf.summary.scalar("steps_per_s", (step - s0) / dt)
            tf.summary.scalar("images_per_s", (critic - c0) * self.images_per_critic_step / dt)
        self._mark = (now, step, critic)

    def on_train_end(self, logs=None):
        self.writer.flush()


class SampleWriter(IterationCallback):
    """Sample grids from fixed noise: `samples/step_XXXXXXX.png` and a TensorBoard image.

    Uses `trainer.sample` (the EMA generator when there is one) in inference mode. Grids come from
    `viz.sample_figure` (for multi-protein outputs: one row per z, one column per protein, the
    protein names in a header band over the columns).

    Args:
        sample_dir: `RUN/samples`.
        z: fixed latent batch `[n, nz]`.
        every: period in generator iterations (also written at the end of training).
        writer: optional tf.summary writer for the `samples` image.
        scale: PNG upscaling factor (nearest neighbour; labels are drawn at the final size).
        proteins: names of the greens in channel order (column labels); None: unlabelled.
        palette: one of `viz.PALETTES`.
    """

    def __init__(
        self,
        sample_dir: str,
        z,
        every: int,
        writer=None,
        scale: int = 2,
        proteins=None,
        palette: str = viz.DEFAULT_PALETTE,
    ):
        super().__init__()
        self.sample_dir = sample_dir
        self.z = z
        self.every = max(1, int(every))
        self.writer = writer
        self.scale = scale
        self.proteins = tuple(proteins) if proteins is not None else None
        self.palette = viz.check_palette(palette)
        self.last_path: str | None = None

    def write(self, step: int) -> str:
        """Render and save the grid for the current weights; returns the PNG path."""
        images = np.asarray(self.model.sample(self.z))
        rgb = viz.sample_figure(images, self.proteins, palette=self.palette, scale=self.scale)
        path = os.path.join(self.sample_dir, f"step_{step:07d}.png")
        viz.save_png(path, rgb)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples", rgb[None], max_outputs=1)
        self.last_path = path
        return path

    def on_iteration_end(self, step, logs):
        if step % self.every == 0:
            self.write(step)

    def on_train_end(self, logs=None):
        step = int(self.model.step.numpy())
        if not self.model.stop_training and step % self.every:
            self.write(step)


class CheckpointWriter(IterationCallback):
    """Saves `ckpt-<step>` every `every` generator iterations, at the end, and when asked to stop.

    Skips saving once training was stopped (NaN guard), so the last good checkpoint stays the
    newest; weights with NaN/Inf are never saved (training stops instead and `failure` says why).
    `saved` lists the paths written.
    """

    def __init__(self, checkpoints: TrainingCheckpoints, every: int, stop_requested=None):
        super().__init__()
        self.checkpoints = checkpoints
        self.every = max(1, int(every))
        self.saved: list[str] = []
        self.failure: str | None = None
        # A stop signal (`stop_signals.StopSignals.requested`): save this iteration, then stop.
        self.stop_requested = stop_requested or (lambda: False)
        self.stopped_at: int | None = None

    def _save(self):
        if self.model.stop_training:
            return
        try:
            self.saved.append(self.checkpoints.save())
        except CheckpointError as e:
            self.failure = str(e)
            self.model.stop_training = True

    def on_iteration_end(self, step, logs):
        stop = self.stop_requested()
        if step % self.every == 0 or stop:
            self._save()
        if stop and not self.model.stop_training:
            self.stopped_at = step
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        step = int(self.model.step.numpy())
        if step % self.every:
            self._save()

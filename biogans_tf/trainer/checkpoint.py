"""Training checkpoints (resume) and the final generator snapshot.

Why a kill never leaves a checkpoint that restores wrongly: `tf.train.CheckpointManager.save`
first writes the data and index files of `ckpt-<step>` (TF writes to temporary names and renames
them into place, the index last), and only then rewrites the small `checkpoint` state file
atomically. Restoring goes through that state file, so a save cut short is simply invisible;
a stray, half-written `ckpt-<step>.*` is overwritten by the next save of that step.
"""

from __future__ import annotations

import os
import re
import shutil

import keras
import tensorflow as tf


class CheckpointError(RuntimeError):
    """A checkpoint could not be saved or does not fit the run it is restored into."""


def variable_bag(model: keras.Model) -> tf.train.Checkpoint:
    """A trackable holding every weight of `model` (trainable and not), keyed by its path.

    Why: `tf.train.Checkpoint(generator=model)` on a Keras 3 model only reaches the variables
    that TF's attribute tracking happens to see (layers kept in Python lists are missed, and
    so were BatchNorm moving statistics), so checkpoints go through this explicit bag instead.
    Keys are the variable paths without the model name, "/" -> "." (e.g. `bn_0.moving_mean`),
    so a generator and its EMA copy share the same keys.
    """
    bag = {}
    for i, v in enumerate(model.weights):
        key = v.path.split("/", 1)[-1].replace("/", ".")
        if key in bag:  # defensive: keep keys unique even if two paths coincide
            key = f"{key}.{i}"
        bag[key] = v
    return tf.train.Checkpoint(**bag)


def restore_generator(generator: keras.Model, path: str, ema: bool = False) -> int:
    """Load a generator's weights (or its EMA copy's) from a training checkpoint.

    Args:
        generator: a built generator of the run's architecture (rebuild it from config.json with
            `biogans_tf.models.registry.build_generator`).
        path: a checkpoint prefix (`RUN/checkpoints/ckpt-500`) or the `RUN/checkpoints` folder
            (its newest checkpoint is used).
        ema: restore the EMA weights (`generator_ema`; the run must have used --ema).

    Returns:
        The generator iteration the checkpoint holds.

    Raises:
        CheckpointError: no checkpoint, or the weights do not fit `generator`.
    """
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: no checkpoint in this folder")
        path = latest
    step = tf.Variable(0, dtype=tf.int64)
    name = "generator_ema" if ema else "generator"
    ckpt = tf.train.Checkpoint(**{name: variable_bag(generator)}, step=step)
    try:
        ckpt.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise CheckpointError(
            f"{path}: cannot restore {name} ({type(e).__name__}: {str(e).splitlines()[0][:300]})"
        ) from e
    return int(step.numpy())


class TrainingCheckpoints:
    """Keep-N checkpoints of a `GanTrainer`'s full state under `directory` (`ckpt-<step>`).

    Args:
        trainer: the `GanTrainer` (compiled, so optimiser slots exist before a restore).
        directory: `RUN/checkpoints` (under multi-worker training, on storage every worker sees).
        max_to_keep: how many recent checkpoints to keep (older ones are deleted).
        chief: False on non-chief workers: their saves are written to a scratch folder and deleted.
        worker: this worker's index (names the scratch folder).
    """

    def __init__(self, trainer, directory: str, max_to_keep: int = 3, chief: bool = True, worker: int = 0):
        if max_to_keep < 1:
            raise ValueError(f"--keep_checkpoints must be >= 1, got {max_to_keep}")
        self.trainer = trainer
        self.directory = directory
        self.chief = bool(chief)
        self.checkpoint = trainer.checkpoint()
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name="ckpt"
        )
        # Multi-worker: every worker takes part in a save (TF's rule, as saving distributed
        # variables may need collectives), but only the chief's copy is kept; the others write to
        # a private scratch folder that is deleted at once. All workers restore the chief's.
        self._scratch = os.path.join(directory, f".worker-{int(worker)}-scratch")

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint, or None."""
        return self.manager.latest_checkpoint

    def save(self) -> str:
        """Save the current state as `ckpt-<step>`; refuses non-finite weights.

        Raises:
            CheckpointError: a generator/critic weight is NaN or Inf (the previous checkpoint is kept).
        """
        step = int(self.trainer.step.numpy())
        if not self.trainer.weights_finite():
            raise CheckpointError(f"not saving step {step}: the weights contain NaN or Inf")
        if self.chief:
            return self.manager.save(checkpoint_number=step)
        try:
            self.checkpoint.write(os.path.join(self._scratch, f"ckpt-{step}"))
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)
        return self.manager.latest_checkpoint or ""

    def restore_latest(self) -> int | None:
        """Restore the newest checkpoint into the trainer; return its step (None if there is none).

        Raises:
            CheckpointError: the checkpoint does not match the models/optimisers (e.g. another
                architecture or width), or its stored step disagrees with its file name.
        """
        path = self.latest
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise CheckpointError(
                f"{path}: does not match this run's models/optimisers ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:300]})"
            ) from e
        step = int(self.trainer.step.numpy())
        m = re.search(r"ckpt-(\d+)$", path)
        if m and int(m.group(1)) != step:
            raise CheckpointError(f"{path}: holds step {step}, but its name says {m.group(1)}")
        return step


def save_keras_model(model: keras.Model, path: str) -> None:
    """Save `model` as a `.keras` file atomically (Keras insists on the `.keras` suffix)."""
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a Keras model file must end with .keras")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)[:-6]}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

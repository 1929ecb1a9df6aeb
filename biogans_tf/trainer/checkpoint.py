"""Training checkpoints (resume) and the final generator snapshot.

Why a kill never leaves a checkpoint that restores wrongly: `tf.train.CheckpointManager.save`
first writes the data and index files of `ckpt-<step>` (TF writes to temporary names and renames
them into place, the index last), and only then rewrites the small `checkpoint` state file
atomically. A save cut short (a kill, a full disk) therefore leaves at most a stray, partly written
`ckpt-<step>.*`.

Why resuming lists the files instead of trusting the state file: that file can be lost or damaged
on its own (a copy without hidden-looking files, a full disk, a hand edit), and a truncated
`.index`/`.data` can still sit beside good older checkpoints. `restore_newest` therefore takes
every `ckpt-<N>.index` in the folder, newest first, reads each candidate completely (TF checks
every tensor's CRC32C) and restores the first that is intact; corrupt ones are named, never
silently skipped, and resuming sets them aside (`corrupt-ckpt-<N>.*`) instead of deleting them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import keras
import tensorflow as tf

from biogans_tf.trainer.errors import CheckpointError, CorruptCheckpointError

_CKPT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
CORRUPT_PREFIX = "corrupt-"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200]}" if text else type(e).__name__


def list_checkpoints(directory: str) -> list[str]:
    """Prefixes of every `ckpt-<N>` in `directory`, found by listing `ckpt-<N>.index`; highest N first.

    Raises:
        CheckpointError: `directory` exists but cannot be listed (not a folder, no permission).
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CheckpointError(f"{directory}: cannot list checkpoints ({e.strerror or e})") from None
    steps = sorted((int(m.group(1)) for m in map(_CKPT_INDEX.match, names) if m), reverse=True)
    return [os.path.join(directory, f"ckpt-{n}") for n in steps]


def check_readable(prefix: str) -> None:
    """Read every tensor of checkpoint `prefix` once, so TF verifies each one's checksum.

    Raises:
        CorruptCheckpointError: naming the `.index` or `.data` file that is missing, truncated
            or damaged.
    """
    # TF's bundle reader reports damage in several exception types (a truncated .data file
    # raises IndexError, a truncated .index an OpError "not an sstable"), hence `Exception`.
    try:
        reader = tf.train.load_checkpoint(prefix)
        keys = list(reader.get_variable_to_shape_map())
    except Exception as e:
        raise CorruptCheckpointError(
            f"{prefix}.index: missing, truncated or corrupt ({_first_line(e)})"
        ) from None
    try:
        for key in keys:
            reader.get_tensor(key)
    except Exception as e:
        data = ", ".join(sorted(tf.io.gfile.glob(prefix + ".data-*"))) or prefix + ".data-*"
        raise CorruptCheckpointError(f"{data}: missing, truncated or corrupt ({_first_line(e)})") from None


def restore_newest(directory: str, restore_one, warn=None):
    """Restore the newest intact checkpoint of `directory`, falling back to older ones.

    Args:
        directory: a checkpoint folder (`RUN/checkpoints`).
        restore_one: `fn(prefix) -> value` that restores one checkpoint (raising `CheckpointError`
            when it does not fit the models: that is not corruption and ends the search).
        warn: `fn(line)` told about each corrupt checkpoint skipped (default: print to stderr).

    Returns:
        `(prefix, restore_one(prefix), corrupt)` with `corrupt` the prefixes of the newer,
        corrupt checkpoints that were skipped; None when the folder holds no checkpoint.

    Raises:
        CorruptCheckpointError: checkpoints exist but none is intact (naming a corrupt file).
        CheckpointError: the newest intact checkpoint does not fit (from `restore_one`).
    """
    warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
    corrupt, reasons = [], []
    for prefix in list_checkpoints(directory):
        try:
            check_readable(prefix)
        except CorruptCheckpointError as e:
            corrupt.append(prefix)
            reasons.append(str(e))
            warn(f"warning: {e}; trying an older checkpoint")
            continue
        return prefix, restore_one(prefix), corrupt
    if corrupt:
        raise CorruptCheckpointError(
            f"{directory}: none of the {len(corrupt)} checkpoints restores; {reasons[0]}"
            + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else "")
        )
    return None


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
            (its newest intact checkpoint is used; corrupt newer ones are reported on stderr).
        ema: restore the EMA weights (`generator_ema`; the run must have used --ema).

    Returns:
        The generator iteration the checkpoint holds.

    Raises:
        CorruptCheckpointError: the checkpoint (every checkpoint of the folder) is damaged.
        CheckpointError: no checkpoint, or the weights do not fit `generator`.
    """
    if os.path.isdir(path):
        found = restore_newest(path, lambda prefix: restore_generator(generator, prefix, ema))
        if found is None:
            raise CheckpointError(f"{path}: no checkpoint in this folder")
        return found[1]
    if os.path.exists(path + ".index"):
        check_readable(path)  # damage is named as such, not as a mismatch
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
        self.max_to_keep = int(max_to_keep)
        self.restored_from: str | None = None
        self.checkpoint = trainer.checkpoint()
        try:
            self.manager = self._new_manager()
        except ValueError:
            # TF refuses an empty `checkpoint` state file ("Invalid checkpoint state"): keep it
            # aside for inspection; restore_latest finds the checkpoints by listing the files.
            state = os.path.join(directory, "checkpoint")
            try:
                os.replace(state, state + ".unreadable")
            except FileNotFoundError:  # another worker moved it first
                pass
            self.manager = self._new_manager()
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
            CheckpointError: a generator/critic weight is NaN or Inf, or the files cannot be
                written (full disk, read-only folder); the previous checkpoint is kept either way.
        """
        step = int(self.trainer.step.numpy())
        if not self.trainer.weights_finite():
            raise CheckpointError(f"not saving step {step}: the weights contain NaN or Inf")
        try:
            if self.chief:
                return self.manager.save(checkpoint_number=step)
            try:
                self.checkpoint.write(os.path.join(self._scratch, f"ckpt-{step}"))
            finally:
                shutil.rmtree(self._scratch, ignore_errors=True)
        except (tf.errors.OpError, OSError) as e:
            # TF leaves its half-written shards in `ckpt-<step>_temp/`: free the space they hold.
            shutil.rmtree(os.path.join(self.directory, f"ckpt-{step}_temp"), ignore_errors=True)
            if isinstance(e, tf.errors.ResourceExhaustedError):  # how TF reports ENOSPC on save
                cause = "No space left on device (ResourceExhaustedError)"
            elif isinstance(e, OSError):
                cause = e.strerror or str(e)
            else:  # drop TF's `{{function_node ...}}` prefix, keep the reason
                reason = re.sub(r"\{\{[^}]*\}\}", "", e.message).strip()
                cause = f"{type(e).__name__}: {reason.splitlines()[0][:200] if reason else ''}"
            raise CheckpointError(
                f"{self.directory}: cannot write checkpoint ckpt-{step} ({cause})"
            ) from None
        return self.manager.latest_checkpoint or ""

    def restore_latest(self, log=None) -> int | None:
        """Restore the newest intact checkpoint into the trainer; return its step (None if there is none).

        The candidates are the `ckpt-<N>.index` files of the folder (the `checkpoint` state file
        may be missing or damaged), newest first; corrupt ones are reported through `log` and, on
        the chief, set aside as `corrupt-ckpt-<N>.*`. The state file is then rewritten to list
        the older checkpoints only, so keep-N pruning never deletes anything newer than the one
        resumed from. `restored_from` holds the prefix used.

        Args:
            log: `fn(line)` for the warnings (default: print to stderr).

        Raises:
            CorruptCheckpointError: checkpoints exist but none is intact (naming a corrupt file).
            CheckpointError: the newest intact checkpoint does not match the models/optimisers
                (e.g. another architecture or width), or its stored step disagrees with its name.
        """
        found = restore_newest(self.directory, self._restore, log)
        if found is None:
            return None
        prefix, step, corrupt = found
        self.restored_from = prefix
        if self.chief:
            self._adopt(prefix, corrupt)
        return step

    def _restore(self, path: str) -> int:
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

    def _adopt(self, prefix: str, corrupt: list[str]) -> None:
        """Make `prefix` the manager's newest checkpoint; set the corrupt newer ones aside."""
        for bad in corrupt:
            for path in tf.io.gfile.glob(bad + ".*"):
                head, name = os.path.split(path)
                os.replace(path, os.path.join(head, CORRUPT_PREFIX + name))
        older = [p for p in reversed(list_checkpoints(self.directory)) if _step_of(p) <= _step_of(prefix)]
        # Relative names, as CheckpointManager writes them, so the run folder can be moved. The
        # manager only ever prunes checkpoints stamped later than `last_preserved_timestamp`.
        stamps = [os.path.getmtime(p + ".index") for p in older]
        tf.compat.v1.train.update_checkpoint_state(
            self.directory,
            os.path.basename(prefix),
            [os.path.basename(p) for p in older],
            all_model_checkpoint_timestamps=stamps,
            last_preserved_timestamp=min(stamps) - 1.0,
        )
        self.manager = self._new_manager()

    def _new_manager(self) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=self.max_to_keep, checkpoint_name="ckpt"
        )


def _step_of(prefix: str) -> int:
    return int(prefix.rsplit("-", 1)[1])

"""tf.distribute for GAN training: strategies, the chief, exact per-replica data, synced assigns.

How a distributed step stays equal to the single-device step on the same global batch:

* The data pipeline still yields GLOBAL batches (a pure function of `(seed, step)`); every worker
  builds the same pipeline and `replica_datasets` cuts each global batch into
  `num_replicas_in_sync` equal pieces along the batch axis, replica r taking piece r.
* The trainer draws z and the interpolation eps for the global batch from the same stateless seeds
  and keeps the replica's slice (`replica_slice`), so the replicas together see exactly the
  single-device draws.
* Per-replica losses are means over the local batch; custom-step gradients are SUMMED across
  replicas by the optimiser, so each replica divides its loss by `num_replicas_in_sync` (the sum of
  local means / R = the global mean).
* Generators (and BatchNorm critics) use synchronized BatchNorm, so batch statistics are those of
  the global batch.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from biogans_tf.conventions import STRATEGIES
from biogans_tf.trainer.errors import StrategyError


def _local_devices() -> list[str]:
    """All local accelerators, else every logical CPU device (one replica each)."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` for `--strategy=name`.

    Args:
        name: `default` (no distribution: one device), `mirrored` (`MirroredStrategy` over all
            local GPUs, or all logical CPU devices when there is no GPU) or `multi_worker`
            (`MultiWorkerMirroredStrategy`; the cluster comes from the `TF_CONFIG` environment
            variable, and it must be created before TensorFlow runs any op).

    Raises:
        StrategyError: unknown name, or `multi_worker` without a valid TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(_local_devices())
    if name == "multi_worker":
        cluster = tf_config()
        if not cluster.get("cluster") or not cluster.get("task"):
            raise StrategyError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable with 'cluster' and "
                '\'task\', e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyError(f"--strategy={name!r}: expected one of {list(STRATEGIES)}")


def tf_config() -> dict:
    """The parsed `TF_CONFIG` environment variable ({} when unset).

    Raises:
        StrategyError: TF_CONFIG is set but is not a JSON object.
    """
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise StrategyError(f"TF_CONFIG: expected a JSON object, got {type(value).__name__}")
    return value


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
    """False for TensorFlow's default (no-op) strategy, True for any real `tf.distribute` strategy."""
    with strategy.scope():
        return tf.distribute.has_strategy()


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for `MultiWorkerMirroredStrategy` (collective ops across processes)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_index(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task index) of this process; (None, 0) without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not is_multi_worker(strategy) or resolver is None:
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the process that writes checkpoints, TensorBoard, samples and results.

    That is the `chief` task if the cluster has one, else worker 0; always True without a cluster.
    """
    task_type, task_id = worker_index(strategy)
    if task_type is None or task_type == "chief":
        return True
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in spec


def check_batch_split(batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """Per-replica batch size (global `batch_size` / replicas).

    Raises:
        StrategyError: `batch_size` is not a multiple of the number of replicas.
    """
    n = strategy.num_replicas_in_sync
    if batch_size % n:
        raise StrategyError(
            f"--batch_size={batch_size} must be a multiple of the {n} replicas of the strategy "
            f"(per-replica batch = global batch / replicas)"
        )
    return batch_size // n


def replica_slice(x: tf.Tensor, axis: int) -> tf.Tensor:
    """This replica's equal share of a global-batch tensor along `axis` (identity with 1 replica).

    Must be called in a replica context (inside `strategy.run`, e.g. `GanTrainer.run_step`). Replica r
    of R gets rows `[r * n / R, (r + 1) * n / R)`, matching `replica_datasets`.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    r = ctx.num_replicas_in_sync
    n = x.shape[axis]
    if n is None or n % r:
        raise ValueError(f"replica_slice: axis {axis} of shape {x.shape} does not split into {r} replicas")
    size = n // r
    start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * size
    begin = tf.one_hot(axis, x.shape.rank, dtype=tf.int32) * start
    sizes = [-1] * x.shape.rank
    sizes[axis] = size
    return tf.slice(x, begin, sizes)


def batch_axes(spec):
    """Batch axis of each item of a training element: 1 for `[C, B, H, W, 2]`, else 0.

    Args:
        spec: a dataset's `element_spec` (a `tf.TensorSpec` or a tuple of them).

    Returns:
        An int, or a tuple of ints for a tuple element (the `batch_axes` of `replica_datasets`).
    """
    items = spec if isinstance(spec, tuple) else (spec,)
    axes = tuple(1 if s.shape.rank == 5 else 0 for s in items)
    return axes if isinstance(spec, tuple) else axes[0]


def replica_datasets(strategy: tf.distribute.Strategy, make_dataset, batch_axes):
    """A distributed dataset whose replica r gets piece r of every global batch.

    Args:
        strategy: the training strategy.
        make_dataset: `() -> tf.data.Dataset` of GLOBAL batches (a tensor or a tuple of tensors);
            every worker builds the same one.
        batch_axes: the batch axis of the element (an int) or of each tuple item (a tuple of ints),
            e.g. 1 for conditional batches `[C, B, H, W, 2]`, (0, 0) for joint `(images, labels)`.

    Returns:
        `strategy.distribute_datasets_from_function(...)` output, or the plain dataset with one replica.
    """
    n = strategy.num_replicas_in_sync
    if n == 1:
        return make_dataset()

    def pieces(*items):
        axes = batch_axes if isinstance(batch_axes, tuple | list) else (batch_axes,)
        if len(axes) != len(items):
            raise ValueError(f"batch_axes {batch_axes} do not match the {len(items)} items of a batch")
        return tuple(tf.stack(tf.split(x, n, axis=a)) for x, a in zip(items, axes, strict=True))

    def dataset_fn(ctx: tf.distribute.InputContext):
        local = n // ctx.num_input_pipelines
        first = ctx.input_pipeline_id * local

        def mine(*stacked):
            part = tuple(s[first : first + local] for s in stacked)
            return tf.data.Dataset.from_tensor_slices(part if len(part) > 1 else part[0])

        ds = make_dataset()
        ds = ds.map(pieces).flat_map(mine)
        return ds.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _tf_variable(v):
    """The `tf.Variable` behind a Keras weight (a distributed variable under a strategy).

    Outside a layer call (no autocast scope) a Keras weight's public `value` IS that variable;
    the check keeps a future Keras that returns a tensor from failing silently.
    """
    if not isinstance(v, keras.Variable):
        return v
    value = v.value
    if not isinstance(value, tf.Variable):
        raise TypeError(f"{v.path}: expected its value to be a tf.Variable, got {type(value).__name__}")
    return value


def assign_synced(updates) -> None:
    """Assign `(variable, fn, args)` updates (`variable.assign(fn(variable, *args))`) on every replica.

    Keras weights have no cross-replica aggregation, so under a strategy they cannot be assigned
    from replica code; this goes through `merge_call` and `extended.update`, which runs `fn` on
    each replica's copy with that replica's `args` (e.g. EMA: args=(source weight,)). Outside a
    strategy it is a plain assign. Not for use inside `tf.cond` under MirroredStrategy (merge_call
    is not allowed there).
    """
    updates = list(updates)
    ctx = tf.distribute.get_replica_context()
    if ctx is None or not tf.distribute.has_strategy():
        for var, fn, args in updates:
            var.assign(fn(var, *args))
        return

    def merged(strategy, all_args):
        # Only the per-replica `args` go through merge_call (it regroups them per replica); the
        # variables and functions are the same for every replica and come from this closure.
        for (var, fn, _), args in zip(updates, all_args, strict=True):
            # Keras variables wrap the distributed tf.Variable that `extended.update` needs.
            args = tuple(_tf_variable(a) for a in args)
            strategy.extended.update(
                _tf_variable(var), lambda v, *a, f=fn: v.assign(f(v, *a)), args=args, group=False
            )

    ctx.merge_call(merged, args=([args for _, _, args in updates],))

"""The training loop: `GanTrainer.run_step` over `strategy.run`, driven by Keras callbacks.

An explicit loop instead of `keras.Model.fit` because a GAN step under `tf.distribute` needs two
traced step functions (critic only; critic + generator) chosen in Python: MirroredStrategy cannot
synchronise (apply_gradients, synchronized BatchNorm, merge_call) inside a `tf.cond`. The loop is
otherwise what `fit` does for one epoch of `steps` batches, with public API only:

* one `tf.function` per kind of step, `jit_compile` as compiled into the trainer; each pulls the
  next element of the (distributed) dataset iterator, runs `run_step` on every replica and
  reduces the logs (float metrics: the mean over replicas = the global batch's value; counters:
  the first replica's, all replicas hold the same);
* without a strategy, ONE function that decides the generator update in a `tf.cond` (what `fit`
  traces, so both give the same numbers);
* callbacks through `keras.callbacks.CallbackList` (`on_train_begin`, `on_epoch_begin(0)`,
  `on_train_batch_begin/end`, `on_epoch_end(0)`, `on_train_end`), stopping after the batch in
  which one sets `model.stop_training`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.trainer.distribute import is_distributed


def _reduce_logs(strategy: tf.distribute.Strategy, logs: dict) -> dict:
    """Per-replica logs -> one value each: mean of float metrics, the first replica's counters."""
    out = {}
    for key, value in logs.items():
        first = strategy.experimental_local_results(value)[0]
        if first.dtype.is_floating:
            out[key] = strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
        else:
            out[key] = first
    return out


def step_function(trainer, strategy: tf.distribute.Strategy, generator_update):
    """A traced `fn(iterator) -> logs`: one `trainer.run_step` on the next (distributed) batch.

    Args:
        trainer: a compiled `GanTrainer` (built in `strategy`'s scope).
        strategy: the strategy the dataset was distributed with.
        generator_update: passed to `run_step` (None: decided in the graph; one device only).
    """

    def replica_step(data):
        return trainer.run_step(data, generator_update)

    def one_step(data):
        return _reduce_logs(strategy, strategy.run(replica_step, args=(data,)))

    one_step = tf.function(one_step, reduce_retracing=True, jit_compile=bool(trainer.jit_compile))

    @tf.function(reduce_retracing=True)
    def on_iterator(iterator):
        return one_step(next(iterator))

    return on_iterator


class StepFunctions:
    """The step function(s) of one trainer under one strategy, and which one runs next."""

    def __init__(self, trainer, strategy: tf.distribute.Strategy | None = None):
        self.trainer = trainer
        self.strategy = strategy or tf.distribute.get_strategy()
        self.distributed = is_distributed(self.strategy)
        if self.distributed:
            self.functions = {flag: step_function(trainer, self.strategy, flag) for flag in (False, True)}
        else:
            self.functions = {None: step_function(trainer, self.strategy, None)}

    def __call__(self, iterator) -> dict:
        """Run the next critic update (and the generator update when due); returns its logs."""
        if not self.distributed:
            return self.functions[None](iterator)
        # The counters are the same on every replica and worker, so every worker picks alike.
        t = self.trainer
        due = int(t.critic_in_iter.numpy()) + 1 >= t.schedule.critic_steps(int(t.step.numpy()))
        return self.functions[due](iterator)


def train_loop(trainer, dataset, steps: int, callbacks=(), strategy=None, functions=None) -> dict:
    """Run `steps` critic updates of `trainer` on `dataset`, like one epoch of `fit`.

    Args:
        trainer: a compiled `GanTrainer` (under a strategy: built in its scope).
        dataset: a `tf.data.Dataset` of global batches (one device), or the strategy's
            distributed dataset (`distribute.replica_datasets`); at least `steps` elements.
        steps: critic updates to run (`TrainingSchedule.total_critic_steps` maps generator iterations).
        callbacks: `keras.callbacks.Callback`s; `model` is set to `trainer`.
        strategy: the `tf.distribute.Strategy` of `dataset` (None: the current one).
        functions: `StepFunctions` of an earlier call to reuse (no retracing), else new ones.

    Returns:
        The logs of the last step run, as Python floats (empty when `steps` is 0).
    """
    functions = functions or StepFunctions(trainer, strategy)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=False, add_progbar=False, model=trainer, verbose=0, epochs=1, steps=steps
    )
    trainer.stop_training = False
    iterator = iter(dataset)
    callback_list.on_train_begin()
    callback_list.on_epoch_begin(0)
    logs = {}
    for batch in range(steps):
        callback_list.on_train_batch_begin(batch)
        logs = functions(iterator)
        callback_list.on_train_batch_end(batch, logs)
        if trainer.stop_training:
            break
    logs = {key: float(np.asarray(value)) for key, value in logs.items()}
    callback_list.on_epoch_end(0, logs)
    callback_list.on_train_end(logs)
    return logs

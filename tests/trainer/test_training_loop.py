"""The explicit training loop equals `fit` on one device and drives callbacks like `fit`."""

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.trainer.distribute import is_distributed
from biogans_tf.trainer.training_loop import StepFunctions, train_loop
from tests.trainer.util import Recorder, dataset, make_trainer


def test_loop_equals_fit_bit_for_bit():
    kw = dict(n_critic=2)
    a, b = make_trainer("dcgan", "wgan-gp", **kw), make_trainer("dcgan", "wgan-gp", **kw)
    rec_a, rec_b = Recorder(), Recorder()
    a.fit(dataset("dcgan"), steps_per_epoch=5, verbose=0, shuffle=False, callbacks=[rec_a])
    last = train_loop(b, dataset("dcgan"), 5, [rec_b])
    for x, y in zip(
        a.generator.weights + a.critic.weights, b.generator.weights + b.critic.weights, strict=True
    ):
        np.testing.assert_array_equal(np.array(x), np.array(y), err_msg=x.path)
    assert rec_a.logs == rec_b.logs and last == rec_b.logs[-1]
    assert int(b.step.numpy()) == 2 and int(b.critic_step.numpy()) == 5


def test_loop_stops_after_the_batch_that_sets_stop_training_and_reuses_functions():
    class StopAtSecond(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.events = []

        def on_train_begin(self, logs=None):
            self.events.append("begin")

        def on_train_batch_end(self, batch, logs=None):
            self.events.append(batch)
            if batch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.events.append("end")

    t = make_trainer("dcgan", "gan")
    stop = StopAtSecond()
    functions = StepFunctions(t)
    assert not functions.distributed and not is_distributed(tf.distribute.get_strategy())
    train_loop(t, dataset("dcgan"), 5, [stop], functions=functions)
    assert stop.events == ["begin", 0, 1, "end"] and int(t.critic_step.numpy()) == 2
    train_loop(t, dataset("dcgan", start_step=2), 1, functions=functions)  # no retrace needed
    assert int(t.critic_step.numpy()) == 3 and not t.stop_training

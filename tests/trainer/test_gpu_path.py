"""The GPU code paths, exercised on CPU with tiny shapes: XLA step, bf16 policy, float32 penalty."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.losses import gradient_penalties
from biogans_tf.trainer.config import ConfigError, resolve
from biogans_tf.trainer.setup import use_jit as _jit
from tests.trainer.util import Recorder, dataset, make_trainer


def test_jit_and_precision_flags_resolve():
    assert _jit(resolve({"run_dir": "x"})) is bool(tf.config.list_physical_devices("GPU"))  # auto
    assert _jit(resolve({"run_dir": "x", "jit_compile": "true"})) is True
    assert _jit(resolve({"run_dir": "x", "jit_compile": "false"})) is False
    assert resolve({"run_dir": "x", "precision": "bf16"}).precision == "bf16"
    with pytest.raises(ConfigError, match="--precision"):
        resolve({"run_dir": "x", "precision": "bfloat16"})


def test_xla_compiled_step_traces_and_trains():
    t = make_trainer("dcgan", "wgan-gp", n_critic=1)
    t.jit_compile = True
    rec = Recorder()
    t.fit(dataset("dcgan"), steps_per_epoch=2, verbose=0, shuffle=False, callbacks=[rec])
    assert int(t.step.numpy()) == 2
    assert all(math.isfinite(r["d_loss"]) and r["gp"] > 0 for r in rec.logs)


@pytest.fixture
def bf16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_bf16_step_runs_with_float32_penalty(bf16_policy):
    t = make_trainer("star", "wgan-gp", n_critic=1)
    assert t.generator.compute_dtype == "bfloat16" and t.generator.trainable_weights[0].dtype == "float32"
    seen = []

    def critic(x, training=True):
        seen.append(x.dtype)
        return t.critic(x, training=training)

    real = tf.random.stateless_uniform([2, 4, 24, 40, 2], seed=[1, 2], minval=-1.0, maxval=1.0)
    fake = tf.cast(real[:, ::-1], tf.bfloat16)  # generator outputs are bf16 under the policy
    gp = gradient_penalties(critic, tf.cast(real, tf.bfloat16), fake, tf.constant([3, 4], tf.int64))
    assert seen == [tf.float32] and gp.dtype == tf.float32 and gp.shape == (2, 4)
    assert np.all(np.isfinite(gp.numpy()))

    rec = Recorder()
    t.fit(dataset("star"), steps_per_epoch=2, verbose=0, shuffle=False, callbacks=[rec])
    assert int(t.step.numpy()) == 2
    assert all(math.isfinite(r[k]) for r in rec.logs for k in ("d_loss", "g_loss", "gp", "wdist"))
    assert t.generator(tf.zeros([1, 16])).dtype == tf.bfloat16

"""The reference's schedule for each loss: critic steps (bursts), optimiser, critic BatchNorm."""

import pytest
import tensorflow as tf

from biogans_tf.registries import LOSSES
from biogans_tf.trainer.schedule import REFERENCE_SCHEDULES, reference_schedule


def test_wgan_burst_schedule_python_and_graph_agree():
    s = reference_schedule("wgan")
    want = {0: 100, 24: 100, 25: 5, 499: 5, 500: 100, 501: 5, 1000: 100}
    for g, n in want.items():
        assert s.critic_steps(g) == n
        assert int(s.critic_steps_tf(tf.constant(g, tf.int64))) == n
    assert s.total_critic_steps(0, 26) == 25 * 100 + 5
    assert reference_schedule("wgan", n_critic_burst=0).critic_steps(3) == 5
    gp = reference_schedule("wgan-gp")
    assert gp.critic_steps(0) == 5 and gp.total_critic_steps(2, 6) == 20


def test_defaults_follow_the_reference_runs():
    gan, wgan, gp = (reference_schedule(n) for n in ("gan", "wgan", "wgan-gp"))
    assert (gan.optimizer, gan.lr_d, gan.beta1, gan.beta2, gan.n_critic) == ("adam", 2e-4, 0.5, 0.999, 1)
    assert gan.critic_batchnorm and wgan.critic_batchnorm and not gp.critic_batchnorm
    assert (wgan.optimizer, wgan.lr_d, wgan.lr_g, wgan.n_critic, wgan.n_critic_burst) == (
        "rmsprop", 5e-5, 5e-5, 5, 100,
    )  # fmt: skip
    assert (gp.optimizer, gp.lr_d, gp.beta1, gp.beta2, gp.n_critic, gp.n_critic_burst) == (
        "adam", 1e-4, 0.0, 0.9, 5, 0,
    )  # fmt: skip
    assert set(REFERENCE_SCHEDULES) == set(LOSSES)  # one schedule per registered loss


def test_overrides_and_errors():
    s = reference_schedule("wgan-gp", n_critic=2, lr_d=3e-4, beta1=None)
    assert (s.n_critic, s.lr_d, s.beta1) == (2, 3e-4, 0.0)
    with pytest.raises(ValueError, match="--n_critic"):
        reference_schedule("gan", n_critic=0)
    with pytest.raises(ValueError, match="--optimizer"):
        reference_schedule("gan", optimizer="sgd")
    with pytest.raises(ValueError, match="--gan='lsgan'"):
        reference_schedule("lsgan")

"""Acceptance: a new architecture is one generator class + one registry entry, nothing else.

The test defines its own generator (a tiny `keras.Model`, registered for `.keras` loading) and
registers one `ArchSpec`; then, with no other code change, it trains through the training program's
`train(cfg)`, runs C2ST fake-vs-real on the trained run (`biogans_tf.eval`), and exports a
SavedModel that `tf.saved_model.load` reloads and samples from.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from biogans_tf.data import sources
from biogans_tf.eval import c2st_tables
from biogans_tf.eval.c2st import C2STSettings
from biogans_tf.export import saved_model
from biogans_tf.models import ArchSpec, register, unregister
from biogans_tf.runs.generator import load_generator
from biogans_tf.trainer.config import resolve
from biogans_tf.training.train import train

ARCH = "test-tiny-dense"
SIZE = (24, 40)
PROTEINS = ("Alp14", "Arp3")


@keras.saving.register_keras_serializable(package="test_new_architecture")
class TinyDenseGenerator(keras.Model):
    """z `[B, nz]` -> `[B, H, W, 1 + n_proteins]` in [-1, 1] through one Dense layer."""

    def __init__(self, image_size=SIZE, nz=16, n_proteins=2, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.nz, self.n_proteins = tuple(image_size), int(nz), int(n_proteins)
        self.seed = seed
        h, w = self.image_size
        init = keras.initializers.RandomNormal(stddev=0.02, seed=seed)
        self.dense = keras.layers.Dense(h * w * (1 + self.n_proteins), kernel_initializer=init)
        self.to_image = keras.layers.Reshape((h, w, 1 + self.n_proteins))

    def build(self, input_shape):
        # build_generator calls build((None, nz)): the weights must exist after it (the optimisers
        # and checkpoints are made from them before the first call).
        self.dense.build(input_shape)

    def call(self, z, training=False):
        return ops.tanh(self.to_image(self.dense(z)))

    def get_config(self):
        return {
            "name": self.name,
            "image_size": list(self.image_size),
            "nz": self.nz,
            "n_proteins": self.n_proteins,
            "seed": self.seed,
        }


def _make(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed):
    return TinyDenseGenerator(
        image_size=image_size, nz=nz, n_proteins=n_proteins, seed=seed, name="generator"
    )


@pytest.fixture
def new_arch():
    # The ONE registry entry: a star-like output (red + every green) trained against one critic per protein.
    register(ArchSpec(ARCH, family="conditional", layout="multichannel", generator_class=TinyDenseGenerator,
                      make_generator=_make))  # fmt: skip
    try:
        yield ARCH
    finally:
        unregister(ARCH)


def test_a_registered_architecture_trains_evaluates_and_exports(new_arch, tmp_path):
    run_dir = str(tmp_path / "run")
    tiny = dict(image_size=SIZE, nz=16, ngf=8, ndf=8, batch_size=4, data="sim:8", proteins=PROTEINS)
    cfg = resolve(
        dict(tiny, arch=new_arch, steps=3, n_critic=1, sample_every=100, log_every=100, run_dir=run_dir)
    )
    results = train(cfg)
    assert results["status"] == "ok" and results["step"] == 3
    assert json.load(open(tmp_path / "run" / "config.json"))["arch"] == new_arch

    run = load_generator(run_dir)  # the library's one generator loader: the .keras file and its metadata
    assert (run.arch, run.family, run.layout) == (new_arch, "conditional", "multichannel")
    assert run.proteins == PROTEINS
    assert isinstance(run.model, TinyDenseGenerator) and run.has_joint_output
    test = sources.load("sim:8", "test", PROTEINS, SIZE, seed=0)
    settings = C2STSettings(n_splits=2, steps=3, batch_size=4, ndf=4, eval_batch=8)
    table2 = c2st_tables.fake_vs_real(run, test, settings)
    assert set(table2["per_protein"]) == set(PROTEINS)
    assert np.isfinite(table2["mean_of_medians"])

    written = saved_model.export_run(run_dir, str(tmp_path / "models"), "tiny", warmup=False)
    loaded = tf.saved_model.load(written["tiny"])
    out = loaded.signatures["sample"](n=tf.constant(3, tf.int32), seed=tf.constant(7, tf.int64))
    images = out["images"].numpy()
    assert images.shape == (3, *SIZE, 1 + len(PROTEINS))
    assert np.isfinite(images).all() and np.abs(images).max() <= 1.0
    np.testing.assert_allclose(images, run.model(out["z"], training=False).numpy(), atol=1e-6)
    channels = [c.decode() for c in loaded.signatures["metadata"]()["channels"].numpy()]
    assert channels == ["red:Bgs4", "green:Alp14", "green:Arp3"]

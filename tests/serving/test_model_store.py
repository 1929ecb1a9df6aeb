"""Version polling of serving/model_store.py on real SavedModels: retried loads and deleted versions.

In-process (no server): `poll_once` is what the server's poller thread calls every
--file_system_poll_wait_seconds, so calling it by hand makes each step deterministic.
"""

import os
import shutil

import pytest

from biogans_tf.export import saved_model as sm
from biogans_tf.models import build_generator
from biogans_tf.serving.errors import ServingError
from biogans_tf.serving.model_store import ModelStore
from tests.serving.conftest import NZ, SIZE

NAME = "cells"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """One exported tiny generator (version 1), copied around by the tests."""
    base = tmp_path_factory.mktemp("store_export")
    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=3)
    return sm.export_generator(g, str(base), NAME, arch="dcgan", proteins=["Alp14"], warmup=False)


def _copy_version(export_dir: str, base: str, version: int) -> str:
    dst = os.path.join(base, str(version))
    shutil.copytree(export_dir, dst)
    return dst


def test_half_copied_version_is_retried_and_served_once_complete(export_dir, tmp_path):
    base = str(tmp_path / NAME)
    _copy_version(export_dir, base, 1)
    store = ModelStore(NAME, base, warmup=False)
    assert store.poll_once() and store.current.version == 1
    # A non-atomic copy: saved_model.pb lands first, the variables later.
    os.makedirs(os.path.join(base, "2"))
    shutil.copy(os.path.join(export_dir, "saved_model.pb"), os.path.join(base, "2"))
    assert not store.poll_once() and store.current.version == 1  # fails to load, 1 keeps serving
    assert not store.poll_once()  # unchanged files: not reloaded on every poll
    for entry in os.listdir(export_dir):
        src = os.path.join(export_dir, entry)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(base, "2", entry))
    assert store.poll_once() and store.current.version == 2
    out = store.current.signatures["sample"].run({"n": 1, "seed": 1})
    assert tuple(out["images"].shape) == (1, *SIZE, 2)


def test_deleted_version_is_unloaded_for_the_next_highest(export_dir, tmp_path):
    base = str(tmp_path / NAME)
    for v in (1, 3):
        _copy_version(export_dir, base, v)
    store = ModelStore(NAME, base, warmup=False)
    store.poll_once()
    assert store.current.version == 3
    shutil.rmtree(os.path.join(base, "3"))
    assert store.poll_once() and store.current.version == 1
    with pytest.raises(ServingError) as info:
        store.get(NAME, 3)
    assert info.value.code == "NOT_FOUND"
    shutil.rmtree(os.path.join(base, "1"))
    assert store.poll_once() and store.current is None
    with pytest.raises(ServingError) as info:
        store.get(NAME)
    assert info.value.code == "NOT_FOUND" and "no version" in info.value.message
    _copy_version(export_dir, base, 4)  # and a new version after that is served again
    assert store.poll_once() and store.current.version == 4


def test_long_model_name_is_clipped_in_not_found(export_dir, tmp_path):
    base = str(tmp_path / NAME)
    _copy_version(export_dir, base, 1)
    store = ModelStore(NAME, base, warmup=False)
    store.poll_once()
    with pytest.raises(ServingError) as info:
        store.get("m" * 100_000)
    assert info.value.code == "NOT_FOUND" and len(info.value.message) < 300


def test_an_export_whose_signatures_read_unrestored_variables_is_refused_in_one_line(tmp_path, caplog):
    """The SavedModel such exports were before the fix: a tf.Module holding the Keras model only.
    Graph loaders (TF Serving, this server) restore variables the signatures do not read."""
    import tensorflow as tf

    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=3)
    module = tf.Module()
    module.generator = g
    fn = tf.function(lambda z: {"images": g(z, training=False)}, input_signature=[tf.TensorSpec([None, NZ])])
    tf.saved_model.save(module, str(tmp_path / NAME / "1"), signatures={"generate": fn})
    store = ModelStore(NAME, str(tmp_path / NAME), warmup=False)
    with caplog.at_level("ERROR", logger="serving"):
        assert not store.poll_once() and store.current is None
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "does not restore" in line and "export it again" in line and "\n" not in line

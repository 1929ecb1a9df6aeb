"""SavedModel export of a training run: signatures, exactness, atomic versioned layout, EMA, checkpoints."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.export import saved_model as sm
from biogans_tf.io_utils import owned_tempdir
from biogans_tf.models import build_generator
from biogans_tf.trainer.checkpoint import variable_bag
from tests.conftest import forge_run

NZ = 16
SIZE = (16, 32)
PROTEINS = ["Alp14", "Arp3"]


def _build(seed):
    return build_generator("star", image_size=SIZE, n_proteins=len(PROTEINS), nz=NZ, ngf=8, seed=seed)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny star run dir per the trainer contract: config.json, proteins.json, .keras, checkpoints/."""
    run = tmp_path_factory.mktemp("run")
    g, g_ema = _build(1), _build(2)
    config = dict(arch="star", gan="wgan-gp", proteins=PROTEINS, image_size=list(SIZE), nz=NZ, ngf=8, ndf=8,
                  red_portion=0.5, seed=1, ema=True, steps=3)  # fmt: skip
    forge_run(run, g, config, generator_ema=g_ema)
    # The checkpoint holds different weights from generator.keras, so "latest" is distinguishable.
    g_ckpt, g_ckpt_ema = _build(3), _build(4)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(
            generator=variable_bag(g_ckpt),
            generator_ema=variable_bag(g_ckpt_ema),
            step=tf.Variable(3, dtype=tf.int64),
        ),
        str(run / "checkpoints"),
        max_to_keep=2,
        checkpoint_name="ckpt",
    )
    manager.save(checkpoint_number=3)
    return run, {"final": g, "ema": g_ema, "ckpt": g_ckpt}


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    run, _ = run_dir
    base = tmp_path_factory.mktemp("models")
    written = sm.export_run(str(run), str(base), "cells", warmup=False)
    sm.write_models_config(str(base), {name: f"/models/{name}" for name in written})
    return base, written


def _z(n, seed=0):
    return tf.random.stateless_normal([n, NZ], seed=[seed, 1])


def test_layout_is_versioned_and_complete(exported):
    base, written = exported
    assert set(written) == {"cells", "cells_ema"}  # the run used --ema
    for name in written:
        assert sorted(os.listdir(base / name)) == ["1"]  # no temporary folder left behind
        version_dir = base / name / "1"
        assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables").is_dir()
        meta = json.loads((version_dir / "assets.extra" / "biogans.json").read_text())
        assert meta["proteins"] == PROTEINS and meta["reconstruct_mode"] == "separable"
    config = (base / "models.config").read_text()
    assert 'name: "cells"' in config and 'base_path: "/models/cells_ema"' in config
    assert config.count("config {") == 2


def test_generate_and_sample_match_the_in_memory_generator(exported, run_dir):
    base, _ = exported
    _, gens = run_dir
    for name, g in (("cells", gens["final"]), ("cells_ema", gens["ema"])):
        loaded = tf.saved_model.load(str(base / name / "1"))
        z = _z(3)
        images = loaded.signatures["generate"](z=z)["images"].numpy()
        np.testing.assert_allclose(images, g(z, training=False).numpy(), atol=1e-6, rtol=0)
        assert images.shape == (3, *SIZE, 1 + len(PROTEINS))
    loaded = tf.saved_model.load(str(base / "cells" / "1"))
    n, seed = tf.constant(4, tf.int32), tf.constant(11, tf.int64)
    a, b = loaded.signatures["sample"](n=n, seed=seed), loaded.signatures["serving_default"](n=n, seed=seed)
    np.testing.assert_array_equal(a["images"].numpy(), b["images"].numpy())  # same seed, same images
    np.testing.assert_allclose(a["images"].numpy(), gens["final"](a["z"], training=False).numpy(), atol=1e-6)
    meta = loaded.signatures["metadata"]()
    assert [p.decode() for p in meta["proteins"].numpy()] == PROTEINS
    assert [c.decode() for c in meta["channels"].numpy()] == ["red:Bgs4", "green:Alp14", "green:Arp3"]
    path = loaded.signatures["interpolate"](z0=_z(1)[0], z1=_z(1, 5)[0], steps=tf.constant(5))
    assert path["images"].shape == (5, *SIZE, 3)
    np.testing.assert_allclose(path["z"].numpy()[[0, -1]], np.stack([_z(1)[0], _z(1, 5)[0]]), atol=1e-5)


@pytest.mark.slow  # ~15 s: first call of the reconstruction graph; the server tests cover it too
def test_reconstruct_signature_recovers_samples(exported, run_dir):
    base, _ = exported
    loaded = tf.saved_model.load(str(base / "cells" / "1"))
    images = run_dir[1]["final"](_z(2, 9), training=False)
    out = loaded.signatures["reconstruct"](
        images=images, iterations=tf.constant(30), restarts=tf.constant(2), seed=tf.constant(0, tf.int64)
    )
    assert out["z"].shape == (2, NZ) and out["reconstructions"].shape == images.shape
    assert np.all(out["l2"].numpy() < 1e-3), out["l2"].numpy()


@pytest.mark.e2e
def test_saved_model_cli_lists_all_signatures(exported):
    base, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli not installed next to the interpreter")
    out = subprocess.run([cli, "show", "--all", "--dir", str(base / "cells" / "1")],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    for name in ("sample", "generate", "reconstruct", "interpolate", "serving_default"):
        assert f"signature_def['{name}']" in out
    assert "dtype: DT_INT64" in out and "name: sample_seed:0" in out


def test_latest_checkpoint_loads_checkpoint_weights(run_dir):
    run, gens = run_dir
    loaded = sm.load(str(run), checkpoint="latest")
    g = loaded.model
    assert loaded.arch == "star" and loaded.config["arch"] == "star"
    z = _z(2)
    np.testing.assert_allclose(
        g(z, training=False).numpy(), gens["ckpt"](z, training=False).numpy(), atol=1e-6
    )
    assert np.abs(g(z, training=False).numpy() - gens["final"](z, training=False).numpy()).max() > 1e-3


def test_checkpoint_without_generator_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"arch": "dcgan", "nz": NZ, "image_size": list(SIZE), "ngf": 8})
    )
    tf.train.CheckpointManager(
        tf.train.Checkpoint(step=tf.Variable(1, dtype=tf.int64)), str(tmp_path / "checkpoints"), max_to_keep=1
    ).save()
    with pytest.raises(sm.ExportError, match="checkpoint does not match the 'generator' model"):
        sm.load(str(tmp_path), checkpoint="latest")


def test_versions_increment_and_are_never_overwritten(tmp_path):
    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=0)
    first = sm.export_generator(g, str(tmp_path), "m", arch="dcgan", proteins=["Alp14"], warmup=False)
    assert first.endswith(os.path.join("m", "1"))
    assert sm.next_version(str(tmp_path / "m")) == 2
    with pytest.raises(sm.ExportError, match="already exists"):
        sm.export_generator(g, str(tmp_path), "m", arch="dcgan", proteins=["Alp14"], version=1)
    assert sorted(os.listdir(tmp_path / "m")) == ["1"]  # the refused export left nothing behind
    with pytest.raises(sm.ExportError, match="model_name"):
        sm.export_generator(g, str(tmp_path), "bad/name", arch="dcgan", proteins=[])


def test_bad_run_dir_is_named(tmp_path):
    with pytest.raises(sm.ExportError, match="config.json"):
        sm.export_run(str(tmp_path), str(tmp_path / "base"), "m")
    (tmp_path / "config.json").write_text(json.dumps({"arch": "dcgan", "nz": 16}))
    with pytest.raises(sm.ExportError, match="no checkpoint"):
        sm.load(str(tmp_path), checkpoint="latest")
    with pytest.raises(sm.ExportError, match="generator.keras"):
        sm.load(str(tmp_path))


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "-x", "a/b", "a\\b", "", "x" * 200])
def test_model_name_must_be_one_safe_path_component(tmp_path, name):
    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=0)
    with pytest.raises(sm.ExportError, match="--model_name: expected"):
        sm.export_generator(g, str(tmp_path / "base"), name, arch="dcgan", proteins=["Alp14"], warmup=False)
    assert not (tmp_path / "base").exists() or os.listdir(tmp_path / "base") == []


@pytest.mark.e2e
def test_a_killed_exports_temp_folder_is_removed_by_the_next(tmp_path):
    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=0)
    keras_file = str(tmp_path / "g.keras")
    g.save(keras_file)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    model_dir = tmp_path / "models" / "m"
    p = subprocess.Popen(
        [sys.executable, "-m", "export.saved_model", f"--generator={keras_file}", "--arch=dcgan",
         "--proteins=Alp14", f"--base_path={tmp_path / 'models'}", "--model_name=m"],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 240
    while not (model_dir.exists() and any(n.startswith(".export-tmp-") for n in os.listdir(model_dir))):
        assert p.poll() is None and time.time() < deadline, "the export ended before writing its temp folder"
        time.sleep(0.02)
    p.kill()
    p.wait()
    left = [n for n in os.listdir(model_dir) if n.startswith(".export-tmp-")]
    assert left and not (model_dir / "1").exists()
    # A temp folder of a process that still runs (this one) must survive the clean-up.
    alive = os.path.basename(owned_tempdir(str(model_dir), sm.TMP_PREFIX))
    sm.export_generator(g, str(tmp_path / "models"), "m", arch="dcgan", proteins=["Alp14"], warmup=False)
    assert sorted(os.listdir(model_dir)) == sorted([alive, "1"])


def test_latest_falls_back_from_a_corrupt_newest_checkpoint(run_dir, tmp_path, capsys):
    src, gens = run_dir
    run = tmp_path / "run"
    shutil.copytree(src, run)
    ckpts = run / "checkpoints"
    # A newer checkpoint (different weights) whose data file was cut short, and no state file.
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(generator=variable_bag(_build(5)), step=tf.Variable(9, dtype=tf.int64)),
        str(ckpts), max_to_keep=5, checkpoint_name="ckpt",
    )  # fmt: skip
    manager.save(checkpoint_number=9)
    data = ckpts / "ckpt-9.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    (ckpts / "checkpoint").unlink()
    g = sm.load(str(run), checkpoint="latest").model
    z = _z(2)
    np.testing.assert_allclose(
        g(z, training=False).numpy(), gens["ckpt"](z, training=False).numpy(), atol=1e-6
    )
    assert str(data) in capsys.readouterr().err
    (ckpts / "ckpt-3.index").write_bytes(b"")
    with pytest.raises(sm.ExportError, match=r"--checkpoint latest: .*none of the 2 checkpoints restores"):
        sm.load(str(run), checkpoint="latest")


@pytest.mark.e2e
def test_export_runs_under_graph_loading_as_tf_serving_loads_it(exported, run_dir, tmp_path):
    """TF Serving (C++) and `saved_model_cli run` load the MetaGraph and restore it with its saver, not
    with `tf.saved_model.load`'s object graph. A Keras 3 model tracked only as a layer left the
    signatures reading variables that the saver never restored (keras-team/keras#19274)."""
    base, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli not installed next to the interpreter")
    z = _z(2, 4).numpy()
    np.save(tmp_path / "z.npy", z)
    done = subprocess.run(
        [cli, "run", "--dir", str(base / "cells" / "1"), "--tag_set", "serve", "--signature_def",
         "generate", "--inputs", f"z={tmp_path / 'z.npy'}", "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    images = np.load(tmp_path / "out" / "images.npy")
    np.testing.assert_allclose(images, run_dir[1]["final"](z, training=False).numpy(), atol=1e-5, rtol=0)


def test_signatures_are_saved_with_grappler_off_unless_asked(exported):
    """Each call node records the config its function runs under in any server; Grappler on it costs
    ~20 s per reconstruction signature at the first call (benchmarks/RESULTS.md, issue 24 D)."""
    from tensorflow.core.protobuf import config_pb2, saved_model_pb2

    base, _ = exported
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((base / "cells" / "1" / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    calls = [n for n in nodes if n.op in ("StatefulPartitionedCall", "PartitionedCall")]
    assert len(calls) > 7  # the signatures' calls and the L-BFGS functions' nested ones
    for node in calls:
        config = config_pb2.ConfigProto.FromString(node.attr["config_proto"].s)
        assert config.graph_options.rewrite_options.disable_meta_optimizer, node.name
    # The caller's own setting is left as it was.
    assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)

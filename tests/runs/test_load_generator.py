"""biogans_tf.load_generator, metadata inside .keras files, and registration on `import biogans_tf`."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import biogans_tf
from biogans_tf.data.errors import DataError
from biogans_tf.runs.folder import METADATA_ENTRY, generator_metadata, read_metadata, write_metadata
from tests.conftest import ROOT

PROTEINS = ["Sid2", "Tea1"]  # not the simulator's first two: shows the names come from the file


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny star generator saved with metadata (G.keras) and without (plain run dir)."""
    from biogans_tf.io_utils import write_keras
    from biogans_tf.models import build_generator

    d = tmp_path_factory.mktemp("gen")
    g = build_generator("star", image_size=(16, 16), n_proteins=2, nz=8, ngf=4, seed=0)
    meta = generator_metadata("star", PROTEINS, 8, (16, 16), gan="wgan-gp", ema=False)
    write_keras(g, str(d / "G.keras"), meta)
    run = d / "run"
    write_keras(g, str(run / "generator.keras"))  # an older file: no metadata entry
    (run / "config.json").write_text(json.dumps({"arch": "star", "proteins": ["Alp14", "Mkh1"], "nz": 8}))
    return d, g


def test_metadata_is_stored_in_the_keras_file(saved):
    d, _ = saved
    meta = read_metadata(str(d / "G.keras"))
    assert meta["arch"] == "star" and meta["proteins"] == PROTEINS
    assert meta["nz"] == 8 and meta["image_size"] == [16, 16] and meta["gan"] == "wgan-gp"
    assert read_metadata(str(d / "run" / "generator.keras")) == {}


def test_load_generator_from_a_bare_file_uses_the_files_metadata(saved):
    d, g = saved
    run = biogans_tf.load_generator(str(d / "G.keras"))
    assert (run.arch, run.proteins, run.nz, run.image_size) == ("star", tuple(PROTEINS), 8, (16, 16))
    z = run.latents(2, seed=0)
    assert run.model(z, training=False).shape == (2, 16, 16, 3)
    assert float(abs(run.model(z, training=False) - g(z, training=False)).numpy().max()) == 0.0


def test_old_files_take_their_metadata_from_the_run_json(saved):
    d, _ = saved
    run = biogans_tf.load_generator(str(d / "run"))
    assert (run.arch, run.proteins, run.nz) == ("star", ("Alp14", "Mkh1"), 8)


def test_write_metadata_replaces_an_existing_entry(saved, tmp_path):
    d, _ = saved
    path = tmp_path / "copy.keras"
    path.write_bytes((d / "G.keras").read_bytes())
    write_metadata(str(path), {**read_metadata(str(path)), "proteins": ["Arp3", "Cki2"]})
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert z.namelist().count(METADATA_ENTRY) == 1
    assert biogans_tf.load_generator(str(path)).proteins == ("Arp3", "Cki2")


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "x.keras"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="x.keras: not a .keras"):
        read_metadata(str(bad))
    with pytest.raises(DataError, match="generator file not found"):
        biogans_tf.load_generator(str(tmp_path / "missing.keras"))


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.e2e
def test_import_biogans_tf_registers_without_importing_tensorflow(saved):
    """`import biogans_tf` stays light; the classes register when Keras arrives, in either order."""
    d, _ = saved
    p = _python(
        """
        import sys
        import biogans_tf
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "import biogans_tf is heavy"
        import keras
        m = keras.saving.load_model("G.keras")
        import tensorflow as tf
        m2 = tf.keras.models.load_model("G.keras")
        print(type(m).__name__, type(m2).__name__)
        """,
        d,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split()[-2:] == ["StarGenerator", "StarGenerator"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "imports",
    [
        # `import tensorflow` imports keras half-way through its own start-up: registration must cope.
        "import biogans_tf\nimport tensorflow as tf",
        # Keras already loaded: `import biogans_tf` registers at once.
        "import keras\nimport tensorflow as tf\nimport biogans_tf",
    ],
    ids=["tensorflow-after", "keras-before"],
)
def test_registration_in_either_import_order(saved, imports):
    d, _ = saved
    p = _python(imports + '\nprint(type(tf.keras.models.load_model("G.keras")).__name__)\n', d)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split()[-1] == "StarGenerator"


@pytest.mark.e2e
def test_export_takes_arch_and_proteins_from_the_keras_file(saved, tmp_path):
    """`biogans-export --generator G.keras` needs no --arch/--proteins when the file carries them."""
    d, _ = saved
    cmd = [sys.executable, "-m", "export.saved_model", f"--generator={d / 'G.keras'}",
           f"--base_path={tmp_path}", "--model_name=cells", "--nowarmup"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    meta = json.loads((tmp_path / "cells" / "1" / "assets.extra" / "biogans.json").read_text())
    assert meta["arch"] == "star" and meta["proteins"] == PROTEINS


def test_one_loader_for_a_trained_run_its_checkpoints_and_its_ema(tiny_star_run):
    from biogans_tf.runs.folder import RunFolder
    from biogans_tf.runs.generator import load_generator

    final = load_generator(tiny_star_run)
    assert (final.arch, final.proteins, final.nz, final.image_size) == (
        "star",
        ("Alp14", "Arp3"),
        16,
        (24, 40),
    )
    assert final.guessed == () and final.path == RunFolder(tiny_star_run).generator()
    z = final.latents(3, seed=0)
    # The run saved a checkpoint at its last step: "latest" rebuilds the same weights from the config.
    for ema in (False, True):
        file = load_generator(tiny_star_run, ema=ema).model(z, training=False).numpy()
        ckpt = load_generator(tiny_star_run, checkpoint="latest", ema=ema).model(z, training=False).numpy()
        np.testing.assert_allclose(file, ckpt, atol=1e-6)
    ema_out = load_generator(tiny_star_run, ema=True).model(z, training=False).numpy()
    assert np.abs(ema_out - final.model(z, training=False).numpy()).max() > 1e-6  # a different copy
    with pytest.raises(DataError, match="--checkpoint nope"):
        load_generator(tiny_star_run, checkpoint="nope")
    with pytest.raises(DataError, match="3 proteins .* but the generator draws 2 greens"):
        load_generator(tiny_star_run, proteins="A,B,C")
    with pytest.raises(DataError, match="--arch=.stars.: expected one of dcgan"):
        load_generator(tiny_star_run, arch="stars")


def test_a_bare_file_takes_its_settings_from_a_sidecar_or_the_caller(tmp_path):
    from biogans_tf.io_utils import write_keras
    from biogans_tf.models import build_generator
    from biogans_tf.runs.generator import load_generator

    g = build_generator("dcgan-sep", image_size=(16, 16), n_proteins=1, nz=6, ngf=4, seed=0)
    write_keras(g, str(tmp_path / "G.keras"))  # no metadata entry
    bare = load_generator(str(tmp_path / "G.keras"))
    assert bare.arch == "dcgan-sep" and bare.nz == 6 and set(bare.guessed) == {"arch", "proteins"}
    (tmp_path / "G.json").write_text(json.dumps({"proteins": ["Tea1"]}))
    assert load_generator(str(tmp_path / "G.keras")).proteins == ("Tea1",)
    assert load_generator(str(tmp_path / "G.keras"), proteins=["Sid2"]).proteins == ("Sid2",)
    (tmp_path / "G.json").write_text("{not json")
    with pytest.raises(DataError, match="G.json: not valid JSON"):
        load_generator(str(tmp_path / "G.keras"))

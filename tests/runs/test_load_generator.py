"""biogans_tf.load_generator, metadata inside .keras files, and registration on `import biogans_tf`."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import biogans_tf
from biogans_tf.data.errors import DataError
from biogans_tf.runs.folder import METADATA_ENTRY, generator_metadata, read_metadata, write_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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

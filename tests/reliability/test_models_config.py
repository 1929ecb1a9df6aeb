"""Exports and `BASE/models.config` (issue 24 C1, C3), with real `export.saved_model` processes.

models.config is read and written with TF Serving's own protos: an export keeps every other entry,
field, label and version policy of the file exactly; a file that does not parse stops the export
in one line naming it, and is neither replaced nor joined by a half-exported model. Exports at once
each get their own version and entry; one that runs out of space ends in one line, leaving nothing.
"""

import os
import resource
import signal
import subprocess
import sys

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from biogans_tf.models import build_generator
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.e2e

EXISTING = """
model_config_list {
  config {
    name: "other"
    base_path: "/models/other"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 3 versions: 7 } }
    version_labels { key: "stable" value: 3 }
    version_labels { key: "canary" value: 7 }
  }
  config {
    name: "cells"
    base_path: "/old/place/cells"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
    logging_config { sampling_config { sampling_rate: 0.25 } }
  }
}
"""


def _parse(text: str):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(text, config)
    return config


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("g") / "g.keras"
    build_generator("dcgan", image_size=(16, 32), nz=8, ngf=8, seed=0).save(path)
    return str(path)


def _export(keras_file, base, name):
    env = subprocess_env()
    cmd = [sys.executable, "-m", "export.saved_model", f"--generator={keras_file}", "--arch=dcgan",
           "--proteins=Alp14", f"--base_path={base}", f"--model_name={name}", "--nowarmup",
           "--config_base_path=/models"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_an_export_keeps_every_other_entry_field_and_version_policy(keras_file, tmp_path):
    base = tmp_path / "models"
    base.mkdir()
    (base / "models.config").write_text(EXISTING)
    for name in ("cells", "fresh"):
        p = _export(keras_file, base, name)
        assert p.returncode == 0, p.stderr[-2000:]
    got = _parse((base / "models.config").read_text())
    want = _parse(EXISTING)
    want.model_config_list.config[1].base_path = "/models/cells"  # only the exported path moves
    want.model_config_list.config.add(name="fresh", base_path="/models/fresh", model_platform="tensorflow")
    assert got == want


@pytest.mark.parametrize(
    "text",
    [
        # cut short:
        'model_config_list { config { name: "a" base_path: "/m/a" model_platform: "tensorflow" }',
        'model_config_list { config { name: "a" base_path: "/m/a" bogus_field: 1 } }',
        'custom_model_config { type_url: "x" }',
    ],
)
def test_a_file_that_does_not_parse_stops_the_export_and_is_kept(keras_file, tmp_path, text):
    base = tmp_path / "models"
    base.mkdir()
    (base / "models.config").write_text(text)
    p = _export(keras_file, base, "cells")
    assert p.returncode == 2, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(base / "models.config") in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    assert (base / "models.config").read_text() == text
    assert sorted(os.listdir(base)) == ["models.config"]  # nothing exported beside a file it cannot update


def _start_export(keras_file, base, name, preexec_fn=None):
    env = subprocess_env()
    cmd = [sys.executable, "-m", "export.saved_model", f"--generator={keras_file}", "--arch=dcgan",
           "--proteins=Alp14", f"--base_path={base}", f"--model_name={name}", "--nowarmup"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec_fn)  # fmt: skip


def test_exports_at_once_each_get_a_version_and_an_entry(keras_file, tmp_path):
    base = tmp_path / "models"
    procs = [_start_export(keras_file, base, name) for name in ("a", "a", "b")]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in results] == [0, 0, 0], [err[-1500:] for _, err, _ in results]
    assert sorted(os.listdir(base / "a")) == ["1", "2"]  # one waited for the other
    assert sorted(os.listdir(base / "b")) == ["1"]
    config = _parse((base / "models.config").read_text())
    assert sorted(c.name for c in config.model_config_list.config) == ["a", "b"]


def _small_files():
    # A disk that fills up: writes past 64 KiB fail with EFBIG (SIGXFSZ ignored, so they return).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


def test_an_export_that_runs_out_of_space_ends_in_one_line_and_leaves_nothing(keras_file, tmp_path):
    base = tmp_path / "models"
    base.mkdir()
    (base / "models.config").write_text(EXISTING)
    p = _start_export(keras_file, base, "cells", preexec_fn=_small_files)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 2, err[-2000:]
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "the export failed while writing" in errors[0], err[-2000:]
    assert "nothing was left behind" in errors[0] and "Traceback" not in err
    assert os.listdir(base / "cells") == []  # no version, no temporary folder
    assert (base / "models.config").read_text() == EXISTING

"""Version folders as TF Serving reads them (issue 24 C2): a real server, a real export.

A name that is not a version number (`latest`, `1.0`, a Unicode digit, past int64) is ignored with
one log line, never a crash at start, export or polling; a zero-padded name (`007`) is version 7,
served from its real path.
"""

import shutil

import pytest

from biogans_tf.conventions import parse_version, version_folders
from biogans_tf.export import saved_model as sm
from biogans_tf.models import build_generator
from biogans_tf.serving.model_store import ModelStore, list_versions
from tests.serving.conftest import MODEL, NZ, SIZE, Server

NOT_VERSIONS = ("latest", "1.0", "\u00b2", "-3", "99999999999999999999")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=3)
    return sm.export_generator(g, str(base), MODEL, arch="dcgan", proteins=["Alp14"], warmup=False)


def test_names_parse_as_tf_serving_reads_them(tmp_path):
    assert [parse_version(n) for n in ("7", "007", "0", str(2**63 - 1))] == [7, 7, 0, 2**63 - 1]
    assert all(parse_version(n) is None for n in NOT_VERSIONS)
    for name in ("7", "007", "latest"):
        (tmp_path / name).mkdir()
    (tmp_path / "8").write_text("a file, not a folder")
    assert version_folders(str(tmp_path)) == ({7: "7"}, ["007", "8", "latest"])


@pytest.mark.e2e
def test_a_server_and_an_export_ignore_odd_names_and_serve_padded_ones(export_dir, tmp_path):
    model = tmp_path / "models" / MODEL
    for name in NOT_VERSIONS:
        (model / name).mkdir(parents=True)
    shutil.copytree(export_dir, model / "007")
    server = Server(str(model), str(tmp_path / "server.log"), "--noenable_model_warmup")
    try:
        assert server.wait_healthy(version=7)["version"] == 7
        g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=4)
        # The export numbers past version 7 (not past a name that is no version), atomically.
        assert sm.export_generator(g, str(tmp_path / "models"), MODEL, arch="dcgan", proteins=["Alp14"],
                                   warmup=False) == str(model / "8")  # fmt: skip
        assert server.wait_healthy(version=8)["version"] == 8
        with pytest.raises(sm.ExportError, match="007: version 7 already exists"):
            sm.export_generator(g, str(tmp_path / "models"), MODEL, arch="dcgan", proteins=["Alp14"],
                                warmup=False, version=7)  # fmt: skip
    finally:
        assert server.terminate() == 0
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log
    for name in NOT_VERSIONS:
        assert log.count(f"ignoring {name!r} in {model}: not a version number") == 1, log[-3000:]


def test_zero_padded_and_plain_names_of_one_version(export_dir, tmp_path):
    base = tmp_path / MODEL
    shutil.copytree(export_dir, base / "0012")
    store = ModelStore(MODEL, str(base), warmup=False)
    assert store.poll_once() and store.current.version == 12 and store.current.path == str(base / "0012")
    assert sm.next_version(str(base)) == 13
    shutil.copytree(export_dir, base / "12")  # two names of one version: the plain one counts
    assert ModelStore(MODEL, str(base), warmup=False).poll_once()
    assert list_versions(str(base)) == ({12: str(base / "12")}, ["0012"])

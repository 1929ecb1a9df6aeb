"""Damaged data reaches every command as one `error: <file>: ...` line, never a traceback or a hang.

Real files and real subprocesses: a zip member failing its CRC check, a broken symbolic link,
links back to the root (a loop), a simulator size it cannot render, NaN pixels, a TIFF Z stack
or time series, names that are not UTF-8, through
`biogans_tf.data.inspection`, `biogans_tf.data.neighbours` and `training.run`.
"""

import io
import os
import resource
import subprocess

import numpy as np
import pytest
import tifffile

from tests.conftest import run_cli
from tests.data.lin_fixtures import flip_member_byte, make_lin, zip_folder

pytestmark = pytest.mark.e2e


def _limit_memory():
    # A walk that never ends grows without bound: cap it so a regression fails instead of
    # exhausting the shared machine.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _cli(module, args, timeout=180):
    try:
        p = run_cli(module, *args, timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{module} {' '.join(args)} did not finish within {timeout} s")
    return p


def _one_line_error(p, *parts):
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, p.stderr
    for part in parts:
        assert str(part) in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def damaged(tmp_path):
    """A LIN zip with a member failing its CRC, and a LIN folder with a broken link."""
    make_lin(tmp_path / "src", cells=(1, 2, 3, 4))
    zpath = zip_folder(tmp_path / "src", tmp_path / "LIN.zip")
    flip_member_byte(zpath, "train/Arp3/cell2.png")
    link = tmp_path / "src" / "train" / "Alp14" / "cell3.png"
    link.unlink()
    os.symlink(tmp_path / "nowhere.png", link)
    return zpath, f"{zpath}/train/Arp3/cell2.png", str(tmp_path / "src"), str(link)


def test_inspect_and_neighbours_name_the_damaged_file(damaged, tmp_path):
    zpath, member, folder, link = damaged
    p = _cli("training.data", ["inspect", zpath, "--verify"])
    _one_line_error(p, member, "CRC")
    p = _cli("training.data", ["inspect", folder, "--verify"])
    _one_line_error(p, link, "broken symbolic link")
    out = str(tmp_path / "nn.npz")
    p = _cli("training.data", ["neighbours", "--data", zpath, "--out", out, "--k", "1"])
    _one_line_error(p, member, "CRC")
    p = _cli("training.data", ["neighbours", "--data", folder, "--out", out, "--k", "1"])
    _one_line_error(p, link, "broken symbolic link")
    assert not os.path.exists(out)


def test_training_names_the_damaged_file(damaged, tmp_path):
    zpath, member, folder, link = damaged
    tiny = ["--arch=dcgan", "--image_size=48x80", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=2",
            "--steps=1", "--proteins=Alp14,Arp3"]  # fmt: skip
    p = _cli("training.run", tiny + [f"--data={zpath}", f"--run_dir={tmp_path / 'a'}"])
    _one_line_error(p, member, "CRC")
    p = _cli("training.run", tiny + [f"--data={folder}", f"--run_dir={tmp_path / 'b'}"])
    _one_line_error(p, link, "broken symbolic link")


def test_symlink_loop_does_not_hang_inspect(tmp_path):
    make_lin(tmp_path, cells=(1,))
    os.symlink(tmp_path, tmp_path / "train" / "loop1")
    os.symlink(tmp_path, tmp_path / "train" / "loop2")
    p = _cli("training.data", ["inspect", str(tmp_path), "--verify"], timeout=90)
    _one_line_error(p, "symbolic link loop", tmp_path / "train")


def test_simulator_size_it_cannot_render(tmp_path):
    p = _cli("training.data", ["inspect", "sim", "--image_size", "48x81", "--verify"])
    _one_line_error(p, "image_size", "even width", "81")
    p = _cli("training.data", ["inspect", "sim", "--image_size", "48x81"])
    _one_line_error(p, "image_size", "even width")
    out = str(tmp_path / "nn.npz")
    p = _cli("training.data", ["neighbours", "--data", "sim:2", "--image_size", "25x41", "--out", out])
    _one_line_error(p, "image_size", "even width")


def _own_folder(tmp_path, files: dict) -> str:
    """An own-data folder `<Class>/<file>` from {relative path (str or bytes): array}."""
    root = tmp_path / "own"
    for rel, array in files.items():
        path = os.path.join(os.fsencode(root), os.fsencode(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        buffer = io.BytesIO()  # written apart: the path is bytes, as the name may not be text
        tifffile.imwrite(buffer, array)
        with open(path, "wb") as f:
            f.write(buffer.getvalue())
    return str(root)


def test_non_finite_float_pixels_are_named_by_file_in_verify_and_training(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.random((2, 48, 80), dtype=np.float32)
    bad = good.copy()
    bad[1, 10, 20] = np.nan  # one NaN used to blank the whole green channel unseen
    bad[1, 11, 21] = np.inf
    root = _own_folder(tmp_path, {"Alp14/c1.tif": good, "Alp14/c2.tif": bad, "Arp3/c1.tif": good})
    where = os.path.join(root, "Alp14", "c2.tif")
    p = _cli("training.data", ["inspect", f"own:{root}", "--verify"])
    _one_line_error(p, where, "2 non-finite pixel(s) (NaN or Inf) in channel 1 (green)")
    tiny = [
        "--arch=dcgan",
        "--proteins=Alp14",
        "--ngf=8",
        "--ndf=8",
        "--nz=16",
        "--batch_size=2",
        "--steps=1",
    ]
    p = _cli("training.run", tiny + [f"--data=own:{root}", f"--run_dir={tmp_path / 'run'}"])
    _one_line_error(p, where, "non-finite pixel(s)")


@pytest.mark.parametrize("axis, meaning", [("Z", "Z stack"), ("T", "time series")])
def test_a_tiff_stack_is_refused_not_read_as_channels(tmp_path, axis, meaning):
    # Three planes fit "at most 8 channels": only the file's own axis names tell a stack apart.
    stack = np.random.default_rng(1).integers(0, 4000, (3, 48, 80), dtype=np.uint16)
    root = tmp_path / "own" / "Alp14"
    root.mkdir(parents=True)
    tifffile.imwrite(root / "s.tif", stack, imagej=True, metadata={"axes": f"{axis}YX"})
    p = _cli("training.data", ["inspect", f"own:{tmp_path / 'own'}", "--verify"])
    _one_line_error(p, root / "s.tif", f"TIFF is a {meaning} (3 planes along {axis}")


def test_names_that_are_not_utf8_are_refused_up_front(tmp_path):
    cell = np.random.default_rng(2).integers(0, 255, (2, 48, 80), dtype=np.uint8)
    root = _own_folder(tmp_path, {"Alp14/c1.tif": cell, b"Arp\xe93/c1.tif": cell})
    p = _cli("training.data", ["inspect", f"own:{root}", "--verify"])
    _one_line_error(p, os.path.join(root, "Arp\\xe93"), "not valid UTF-8")
    run = tmp_path / "run"
    p = _cli(
        "training.run",
        ["--arch=dcgan", "--proteins=Alp14", "--steps=1", f"--data=own:{root}", f"--run_dir={run}"],
    )
    _one_line_error(p, "Arp\\xe93", "not valid UTF-8")
    assert not run.exists()

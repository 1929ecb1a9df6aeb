"""Progress output: tqdm bars on a terminal, log lines otherwise (real subprocesses, real pty)."""

import os
import pty
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from biogans_tf import progress
from tests.conftest import ROOT, subprocess_env

ENV = subprocess_env()
TINY = [
    "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4", "--data=sim:8",
    "--n_critic=1", "--steps=4", "--log_every=1",
]  # fmt: skip


def _run_with_tty_stderr(args, timeout=240):
    """Run `python args...` with stderr on a fresh pseudo-terminal; returns (rc, stdout, stderr)."""
    master, slave = pty.openpty()  # a bare pty reports 0x0, like some CI consoles
    p = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out.decode(), err.decode(errors="replace")


def test_no_bar_and_no_output_without_a_terminal(capsys):
    bar = progress.bar(10, "work")  # pytest's captured stderr is not a terminal
    bar.update(4)
    bar.set_postfix({"x": 1})
    bar.close()
    assert bar.n == 4
    assert capsys.readouterr().err == ""


@pytest.mark.e2e
def test_bar_draws_on_a_terminal_that_reports_no_size():
    code = (
        "from biogans_tf import progress\n"
        "b = progress.bar(4, 'work', 'cell')\n"
        "b.update(2); b.refresh(); b.update(2); b.close()\n"
    )
    rc, _, err = _run_with_tty_stderr(["-c", code], timeout=60)
    assert rc == 0
    assert "work:" in err and "4/4" in err and "cell/s" in err, err


@pytest.mark.e2e
def test_training_prints_log_lines_without_a_terminal_and_labels_its_samples(tmp_path):
    run = tmp_path / "run"
    p = subprocess.run(
        [sys.executable, "-m", "training.run", "--arch=star", "--proteins=Alp14,Arp3", "--sample_every=4",
         "--palette=magenta-green", f"--run_dir={run}", *TINY],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    steps = [ln for ln in lines if ln.startswith("step ")]
    assert [ln.split()[1] for ln in steps] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("d_loss=" in ln and "it/s" in ln and "ETA" in ln for ln in steps)
    assert "\r" not in p.stderr and "train:" not in p.stderr  # no bar redraws in logs
    grid = np.asarray(Image.open(run / "samples" / "step_0000004.png").convert("RGB"))
    # 8 rows x 2 proteins of 24x40 tiles, 2 px gutters, x2, under a header band with the names.
    body_h = 2 * (8 * 26 + 2)
    assert grid.shape[0] > body_h and grid.shape[1] == 2 * (2 * 42 + 2)
    header, body = grid[: grid.shape[0] - body_h], grid[grid.shape[0] - body_h :]
    for q in range(2):
        assert (header[:, 4 + q * 84 : (q + 1) * 84].min(axis=2) < 128).sum() > 10, q
    assert (body[..., 0] == body[..., 2]).all()  # magenta-green: red shown as R = B


@pytest.mark.e2e
def test_training_shows_a_bar_on_a_terminal(tmp_path):
    rc, out, err = _run_with_tty_stderr(
        ["-m", "training.run", "--arch=dcgan", "--proteins=Alp14", f"--run_dir={tmp_path / 'r'}", *TINY], 400
    )
    assert rc == 0, err[-2000:]
    assert "train:" in err and "4/4" in err and "it/s" in err and "d_loss=" in err, err[-2000:]
    assert not [ln for ln in out.splitlines() if ln.startswith("step ")]  # the bar replaces the lines
    assert out.strip().splitlines()[-1].startswith("{")  # results JSON stays the last stdout line


@pytest.mark.e2e
def test_bad_palette_is_one_line_naming_the_allowed_values(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "training.run", "--palette=rainbow", f"--run_dir={tmp_path / 'r'}"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2
    err = [ln for ln in p.stderr.strip().splitlines() if "palette" in ln]
    assert err == [
        "error: flag --palette=rainbow: value should be one of <red-green|magenta-green|gray> (see --help)"
    ], p.stderr

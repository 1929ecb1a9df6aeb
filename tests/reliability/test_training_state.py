"""Training state survives lost state files, corrupt checkpoints and log-directory faults.

Real training subprocesses at tiny sizes, real files, and real tmpfs mounts for the full and the
read-only disk (skipped where `mount -t tmpfs` is not allowed, i.e. when not root).
"""

import json
import os
import shutil
import subprocess
import uuid

import pytest

from biogans_tf.trainer.config import ConfigError, resolve
from biogans_tf.training.train import train
from tests.conftest import TINY, run_cli, tiny_flags

CLI_TINY = tiny_flags(arch="dcgan", gan="gan", sample_every=1000, log_every=1000)
TINY_CONFIG = dict(TINY, arch="dcgan", gan="gan", steps=1)


def _cli(args, timeout=300):
    return run_cli("training.run", *CLI_TINY, *args, timeout=timeout)


def _results(p):
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def _error_line(p):
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, p.stderr
    return errors[0]


def _truncate(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def _indexes(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".index"))


@pytest.mark.e2e
def test_resume_without_state_file_and_with_a_corrupt_newest(tmp_path):
    run = tmp_path / "run"
    _results(_cli([f"--run_dir={run}", "--steps=3", "--checkpoint_every=1", "--keep_checkpoints=2"]))
    ckpts = run / "checkpoints"
    assert _indexes(ckpts) == ["ckpt-2.index", "ckpt-3.index"]
    (ckpts / "checkpoint").unlink()
    bad = ckpts / "ckpt-3.data-00000-of-00001"
    _truncate(bad)

    p = _cli([f"--run_dir={run}", "--resume", "--steps=4", "--checkpoint_every=1", "--keep_checkpoints=2"])
    res = _results(p)
    assert res["start_step"] == 2 and res["step"] == 4, p.stderr  # not step 0: nothing started over
    assert str(bad) in p.stderr and "truncated" in p.stderr
    assert f"from {ckpts / 'ckpt-2'} (generator step 2)" in p.stderr
    assert "does not match" not in p.stderr
    # The corrupt newer checkpoint is kept aside; keep-N pruned only the one resumed from.
    assert os.path.exists(ckpts / f"corrupt-{bad.name}")
    assert _indexes(ckpts) == ["ckpt-3.index", "ckpt-4.index", "corrupt-ckpt-3.index"]

    for name in _indexes(ckpts):
        _truncate(ckpts / name)
    p = _cli([f"--run_dir={run}", "--resume", "--steps=5"])
    line = _error_line(p)
    assert p.returncode == 2 and "none of the 2 checkpoints restores" in line and "ckpt-4.index" in line


def test_run_dir_that_is_a_file_or_under_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=rf"--run_dir={afile}: is a file, not a folder"):
        train(resolve(dict(TINY_CONFIG, run_dir=str(afile))))
    with pytest.raises(ConfigError, match=rf"--run_dir={afile}/run: lies under {afile}, which is a file"):
        train(resolve(dict(TINY_CONFIG, run_dir=str(afile / "run"))))


@pytest.fixture
def tmpfs(tmp_path):
    """mount(options) -> a fresh tmpfs folder, unmounted afterwards; skips where mounting fails."""
    mounted = []

    def mount(options):
        target = tmp_path / f"mnt-{uuid.uuid4().hex[:8]}"
        target.mkdir()
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({p.stderr.decode().strip()[:100]})")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.mark.e2e
def test_read_only_run_dir(tmpfs):
    ro = tmpfs("ro,size=1m")  # chmod does not stop root; a read-only mount does
    expected = rf"--run_dir={ro}/run: cannot write to {ro}/run \(Read-only file system\)"
    with pytest.raises(ConfigError, match=expected):
        train(resolve(dict(TINY_CONFIG, run_dir=str(ro / "run"))))


@pytest.mark.e2e
def test_full_disk_stops_cleanly_and_the_last_checkpoint_resumes(tmpfs, tmp_path):
    # Measure one run's files first, then give a second run room for a few checkpoints only.
    probe = tmp_path / "probe"
    _results(_cli([f"--run_dir={probe}", "--steps=1", "--checkpoint_every=1"]))
    ckpt_bytes = sum(os.path.getsize(probe / "checkpoints" / n) for n in os.listdir(probe / "checkpoints"))
    small = tmpfs(f"size={int(ckpt_bytes * 3.5) // 4096 * 4096 + 65536}")
    run = small / "run"
    p = _cli([f"--run_dir={run}", "--steps=20", "--checkpoint_every=1", "--keep_checkpoints=100"])
    line = _error_line(p)
    assert str(small) in line and "No space left on device" in line, line
    last = json.loads(p.stdout.strip().splitlines()[-1])["last_checkpoint"] if p.stdout.strip() else None
    saved = [int(n[5:-6]) for n in _indexes(run / "checkpoints") if n.startswith("ckpt-")]
    assert saved and max(saved) < 20
    assert not [n for n in os.listdir(run / "checkpoints") if n.endswith("_temp")]  # space given back
    if last is not None:
        assert last.endswith(f"ckpt-{max(saved)}")
    # Intact and resumable: resume a copy on a disk with room.
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    res = _results(_cli([f"--run_dir={copy}", "--resume", "--steps=20", "--checkpoint_every=5"]))
    assert 0 < res["start_step"] <= max(saved) and res["step"] == 20

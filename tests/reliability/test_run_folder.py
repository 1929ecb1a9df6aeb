"""One writer per run folder, stop signals that save progress, --resume on a folder with no run.

Real `training.run` processes at tiny sizes (issue 24 A1-A3). `tests.training.slow_run` sleeps
after each iteration so a second process or a signal lands while the first one trains.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.e2e

CLI_TINY = [
    "--arch=dcgan", "--gan=gan", "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4",
    "--data=sim:8", "--proteins=Alp14,Arp3", "--log_every=1000", "--deterministic",
]  # fmt: skip


def _start(args, sleep=None):
    env = subprocess_env()
    program = ["training.run"] if sleep is None else ["tests.training.slow_run", str(sleep)]
    return subprocess.Popen(
        [sys.executable, "-m", *program, *CLI_TINY, *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(p, timeout=300):
    out, err = p.communicate(timeout=timeout)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    return p.returncode, out, err, errors


def _wait_for(path, p, seconds=240):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        assert p.poll() is None, "the process ended before " + path
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_two_runs_started_on_one_folder_at_once_one_trains_the_other_names_it(tmp_path):
    run = str(tmp_path / "run")
    a = _start([f"--run_dir={run}", "--steps=4", "--seed=1"], sleep=0.5)
    b = _start([f"--run_dir={run}", "--steps=4", "--seed=2"], sleep=0.5)
    (rc_a, out_a, err_a, lines_a), (rc_b, out_b, err_b, lines_b) = _finish(a), _finish(b)
    assert sorted([rc_a, rc_b]) == [0, 2], (err_a[-2000:], err_b[-2000:])
    winner, loser = (a, b) if rc_a == 0 else (b, a)
    (line,) = lines_b if winner is a else lines_a
    assert f"is in use by another training process (pid {winner.pid})" in line
    assert "Traceback" not in err_a + err_b
    seed = 1 if winner is a else 2
    with open(os.path.join(run, "config.json")) as f:
        assert json.load(f)["seed"] == seed  # the config of the run that trained, not a mix
    out = out_a if winner is a else out_b
    assert json.loads(out.strip().splitlines()[-1])["step"] == 4


def test_two_resumes_at_once_one_continues(tmp_path):
    run = str(tmp_path / "run")
    rc, _, err, _ = _finish(_start([f"--run_dir={run}", "--steps=2"]))
    assert rc == 0, err[-2000:]
    first, second = (_start([f"--run_dir={run}", "--steps=5", "--resume"], sleep=0.5) for _ in range(2))
    codes = sorted([_finish(first)[0], _finish(second)[0]])
    assert codes == [0, 2]
    with open(os.path.join(run, "results.json")) as f:
        assert json.load(f)["step"] == 5


def test_sigterm_saves_the_current_step_and_resume_is_bit_identical(tmp_path):
    common = ["--steps=6", "--checkpoint_every=100", "--sample_every=1"]
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    rc, out, err, _ = _finish(_start([f"--run_dir={whole}", *common]))
    assert rc == 0, err[-2000:]
    expected = json.loads(out.strip().splitlines()[-1])["weights_sha256"]

    p = _start([f"--run_dir={cut}", *common], sleep=1.0)
    _wait_for(os.path.join(cut, "samples", "step_0000002.png"), p)  # inside the loop, no periodic ckpt
    p.send_signal(signal.SIGTERM)
    rc, out, err, errors = _finish(p)
    assert rc == 128 + signal.SIGTERM, err[-2000:]
    (line,) = errors
    result = json.loads(out.strip().splitlines()[-1])
    step = result["step"]
    assert result["status"] == "interrupted" and 2 <= step < 6
    assert line.startswith(f"error: interrupted by SIGTERM at generator step {step}: saved ")
    assert f"ckpt-{step}" in line and "--resume" in line and "Traceback" not in err
    assert os.path.exists(os.path.join(cut, "checkpoints", f"ckpt-{step}.index"))

    rc, out, err, _ = _finish(_start([f"--run_dir={cut}", *common, "--resume"]))
    assert rc == 0, err[-2000:]
    resumed = json.loads(out.strip().splitlines()[-1])
    assert resumed["start_step"] == step and resumed["weights_sha256"] == expected


def test_ctrl_c_before_the_training_loop_is_one_line(tmp_path):
    run = str(tmp_path / "run")
    p = _start([f"--run_dir={run}", "--steps=50"])
    _wait_for(os.path.join(run, ".lock"), p)  # run folder taken; the trainer is being built and traced
    p.send_signal(signal.SIGINT)
    rc, _, err, errors = _finish(p)
    assert rc == 128 + signal.SIGINT, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    (line,) = errors
    assert line.startswith("error: interrupted by SIGINT") and "nothing new to save" in line


def test_resume_on_a_folder_without_a_run_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for run in (empty, tmp_path / "absent"):
        rc, out, err, errors = _finish(_start([f"--run_dir={run}", "--steps=2", "--resume"]))
        assert rc == 2 and out == "", err[-2000:]
        (line,) = errors
        assert "--resume" in line and "holds no run" in line and "Traceback" not in err
        assert not (run / "config.json").exists() and not (run / "checkpoints").exists()


def test_without_config_json_the_recorded_protein_order_decides(tmp_path):
    run = tmp_path / "run"
    star = ["--arch=star", "--proteins=Alp14,Arp3", "--steps=2", f"--run_dir={run}"]
    rc, _, err, _ = _finish(_start(star))
    assert rc == 0, err[-2000:]
    (run / "config.json").unlink()  # lost; proteins.json and the checkpoints remain
    swapped = [a if not a.startswith("--proteins") else "--proteins=Arp3,Alp14" for a in star]
    rc, _, err, errors = _finish(_start([*swapped, "--resume"]))
    assert rc == 2, err[-2000:]
    (line,) = errors
    assert "--proteins=Arp3,Alp14 differs" in line and "proteins.json" in line
    rc, out, err, _ = _finish(
        _start([a for a in star if not a.startswith("--proteins")] + ["--resume", "--steps=3"])
    )
    assert rc == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["start_step"] == 2
    assert json.loads((run / "config.json").read_text())["proteins"] == ["Alp14", "Arp3"]


def test_without_config_json_the_generator_files_settings_decide(tmp_path):
    run = tmp_path / "run"
    star = ["--arch=star", "--proteins=Alp14,Arp3", "--steps=2", f"--run_dir={run}"]
    rc, _, err, _ = _finish(_start(star))
    assert rc == 0, err[-2000:]
    (run / "config.json").unlink()
    wider = [a.replace("--steps=2", "--steps=3") for a in star] + ["--ngf=16", "--resume"]
    rc, _, err, errors = _finish(_start(wider))
    assert rc == 2, err[-2000:]
    (line,) = errors
    assert f"--ngf=16 differs from the run being resumed ({run / 'generator.keras'}: 8)" in line
    assert not (run / "config.json").exists()


def test_resume_with_fewer_steps_than_reached_keeps_the_records(tmp_path):
    run = tmp_path / "run"
    rc, _, err, _ = _finish(_start([f"--run_dir={run}", "--steps=3"]))
    assert rc == 0, err[-2000:]
    before = (run / "config.json").read_text()
    rc, out, err, errors = _finish(_start([f"--run_dir={run}", "--steps=1", "--resume"]))
    assert rc == 2 and out == "", err[-2000:]
    (line,) = errors
    assert "--steps=1: the run in" in line and "already reached generator step 3" in line
    assert (run / "config.json").read_text() == before  # steps=3 stays recorded

"""A run that fails after its config is resolved ends in one line with the cause, not a traceback.

The traceback goes to `RUN/error.log` (a temp file before the run folder exists); the line names it
and, once checkpoints exist, says the last good one stays resumable.
"""

import errno
import os
from types import SimpleNamespace

import tensorflow as tf

from biogans_tf.training.run import _failure_line


def _run_dir(tmp_path, checkpoints=True):
    if checkpoints:
        (tmp_path / "checkpoints").mkdir()
    return SimpleNamespace(run_dir=str(tmp_path))


def test_disk_full_on_a_sample_png_names_the_file_and_the_checkpoints(tmp_path):
    cfg = _run_dir(tmp_path)
    png = os.path.join(cfg.run_dir, "samples", "step_0000100.png")
    line = _failure_line(OSError(errno.ENOSPC, "No space left on device", png), cfg)
    assert line.startswith(f"error: {png}: No space left on device;")
    assert os.path.join(cfg.run_dir, "checkpoints") in line and "--resume" in line
    assert "\n" not in line and f"full traceback in {cfg.run_dir}/error.log" in line


def test_tensorflow_writer_error_is_one_line_naming_the_run_dir(tmp_path):
    cfg = _run_dir(tmp_path)
    e = tf.errors.ResourceExhaustedError(None, None, "tb/events.out: No space left on device\nmore detail")
    line = _failure_line(e, cfg)
    cause = "ResourceExhaustedError: tb/events.out: No space left on device;"
    assert line.startswith(f"error: {cfg.run_dir}: {cause}")
    assert "\n" not in line and "more detail" in (tmp_path / "error.log").read_text()


def test_any_other_error_is_one_line_and_the_traceback_is_kept(tmp_path):
    cfg = _run_dir(tmp_path, checkpoints=False)
    line = _failure_line(RuntimeError("bug"), cfg)
    assert line == f"error: {cfg.run_dir}: RuntimeError: bug; full traceback in {cfg.run_dir}/error.log"
    assert "RuntimeError: bug" in (tmp_path / "error.log").read_text()
    before_config = _failure_line(OSError(errno.ENOSPC, "full"), None)  # no run folder yet: a temp log
    assert before_config.startswith("error: full; full traceback in ") and "--resume" not in before_config
    os.remove(before_config.rsplit(" ", 1)[-1])

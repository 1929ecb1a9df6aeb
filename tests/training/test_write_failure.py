"""A failed write into the run directory (outside the checkpoint writer) ends in one line, not a traceback."""

import errno
from types import SimpleNamespace

import tensorflow as tf

from training.run import _write_failure

CFG = SimpleNamespace(logdir="/runs/r1")


def test_disk_full_on_a_sample_png_names_the_file_and_the_checkpoints():
    e = OSError(errno.ENOSPC, "No space left on device", "/runs/r1/samples/step_0000100.png")
    line = _write_failure(e, CFG)
    assert line.startswith("error: /runs/r1/samples/step_0000100.png: No space left on device;")
    assert "/runs/r1/checkpoints" in line and "--resume" in line
    assert "\n" not in line


def test_tensorflow_writer_error_is_one_line_naming_the_run_dir():
    e = tf.errors.ResourceExhaustedError(None, None, "tb/events.out: No space left on device\nmore detail")
    line = _write_failure(e, CFG)
    assert line.startswith("error: /runs/r1: tb/events.out: No space left on device;")
    assert "\n" not in line


def test_other_errors_are_not_swallowed():
    assert _write_failure(ValueError("bug"), CFG) is None
    assert _write_failure(OSError(errno.ENOSPC, "full"), None) is None  # before the config exists

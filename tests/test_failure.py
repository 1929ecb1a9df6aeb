"""`biogans_tf.failure`: a failed TensorFlow op keeps its cause in the one line a program prints."""

import errno
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from biogans_tf.failure import LOG_NAME, error_summary, failure_line, op_message, write_error_log
from tests.conftest import subprocess_env


def _graph_error() -> tf.errors.OpError:
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])  # fails at run time
    def step(x):
        return tf.reshape(x * 2.0, [2, -1, 5])

    try:
        step(tf.zeros([3, 7]))
    except tf.errors.OpError as e:
        return e
    raise AssertionError("the reshape should have failed")


def test_a_graph_error_names_the_op_and_the_kernel_message():
    e = _graph_error()
    assert str(e).startswith("Graph execution error:")  # what the old one line kept, and nothing else
    line = error_summary(e)
    assert line.startswith("Reshape failed") and "\n" not in line
    assert "Input to reshape is a tensor with 21 values" in line, line
    assert "Graph execution error" not in line and "[[{{node" not in line


def test_an_eager_error_names_the_op_without_tensorflows_wrapper():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        tf.nn.conv2d(tf.zeros([1, 8, 8, 3]), tf.zeros([3, 3, 4, 2]), 1, "SAME")
    line = error_summary(info.value)
    assert line.startswith("Conv2D failed: ") and "divisible by filter depth" in line, line
    assert "function_node" not in line and "[Op:" not in line


def test_other_errors_keep_their_first_line():
    assert error_summary(ValueError("--arch: bad\ndetail")) == "--arch: bad"
    assert error_summary(RuntimeError("boom")) == "RuntimeError: boom"
    assert error_summary(OSError(errno.ENOSPC, "No space left on device", "/r/x.png")) == (
        "/r/x.png: No space left on device"
    )
    assert op_message("") == (None, "")


def test_the_traceback_goes_to_the_log_the_line_names(tmp_path):
    e = _graph_error()
    line = failure_line(e, str(tmp_path))
    log = os.path.join(str(tmp_path), LOG_NAME)
    assert line.endswith(f"(full traceback: {log})") and "Reshape failed" in line
    text = open(log).read()
    assert "Traceback (most recent call last)" in text and "Input to reshape" in text
    failure_line(RuntimeError("second"), str(tmp_path))  # appends: the first failure stays readable
    assert "Input to reshape" in open(log).read() and "RuntimeError: second" in open(log).read()
    elsewhere = write_error_log(RuntimeError("x"), str(tmp_path / "absent"), "prog")
    assert os.path.basename(elsewhere).startswith("prog-error-")
    assert "RuntimeError: x" in open(elsewhere).read()
    os.remove(elsewhere)


PROGRAM = """
from biogans_tf import cli


def main(argv):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def step(x):
        return tf.reshape(x, [2, -1, 5])

    step(tf.zeros([7]))


cli.run(main, "a program whose graph step fails", "__main__")
"""


@pytest.mark.e2e
def test_a_program_started_through_cli_run_reports_a_graph_failure_in_one_line(tmp_path):
    script = tmp_path / "failing_program.py"
    script.write_text(PROGRAM)
    env = subprocess_env()
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    line = errors[0]
    assert line.startswith("error: Reshape failed") and "Input to reshape is a tensor with 7 values" in line
    log = line.rsplit("(full traceback: ", 1)[1].rstrip(")")
    assert "Traceback (most recent call last)" in open(log).read()
    os.remove(log)

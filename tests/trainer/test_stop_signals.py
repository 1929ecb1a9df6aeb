"""`biogans_tf.trainer.stop_signals`: a stop signal before the loop is never swallowed."""

import os
import signal

import pytest

from biogans_tf.trainer.stop_signals import StopSignalError, StopSignals


def test_a_signal_before_the_loop_escapes_code_that_catches_exception():
    # The handler raises wherever the main thread is; a broad `except Exception` there (AutoGraph
    # converting a function, a probe) once swallowed it, and the run trained on with exit 0.
    before = signal.getsignal(signal.SIGINT)
    with StopSignals(), pytest.raises(StopSignalError) as e:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes of this thread
                pass
        except Exception:  # noqa: BLE001 - the code under test must not stop here
            pytest.fail("StopSignalError was caught as an Exception")
    assert e.value.signum == signal.SIGINT and "before the training loop" in str(e.value)
    assert signal.getsignal(signal.SIGINT) is before  # restored on exit


def test_while_the_loop_runs_a_signal_only_asks_to_stop():
    with StopSignals() as stop:
        stop.loop_running = True
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        assert stop.requested() and stop.received == signal.SIGTERM
        with pytest.raises(StopSignalError, match="again"):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass

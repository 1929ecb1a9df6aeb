"""SIGTERM and SIGINT during a training run: save progress, say where, exit non-zero.

A cluster scheduler ends a job with SIGTERM (then SIGKILL after a grace period); a user presses
Ctrl-C (SIGINT). Either way the run should lose nothing but the iteration in flight:

- while the training loop runs, the first signal asks it to stop at the end of the current
  generator iteration, where the checkpoint writer saves `ckpt-<step>` (a checkpoint at an
  iteration boundary, like every periodic one, so `--resume` continues bit-identically);
- before the loop (data, tracing) there is nothing new to save, and a second signal means
  "now": both raise `StopSignalError` at once. Checkpoints are written atomically, so one cut short
  leaves the previous checkpoint the newest.

The program reports `StopSignalError` and an interrupted run in one line and exits 128 + the signal
number (130 for SIGINT, 143 for SIGTERM), as a shell does.
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignalError(BaseException):
    """A stop signal arrived where nothing new could be saved; `signum` says which.

    A `BaseException`, as `KeyboardInterrupt` is: the handler raises it wherever the main thread
    happens to be, and code there that catches `Exception` (AutoGraph falling back on a function it
    cannot convert, a probe turning a failure into a message) must not swallow it and train on.
    """

    def __init__(self, signum: int, when: str):
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        super().__init__(f"interrupted by {self.name} {when}")


class StopSignals:
    """Context manager installing the handlers (main thread only; elsewhere it does nothing).

    Attributes:
        received: the first signal number received while the loop ran, else None.
        loop_running: set by the training program around its training loop.
    """

    def __init__(self):
        self.received: int | None = None
        self.loop_running = False
        self._previous: dict = {}

    def requested(self) -> bool:
        """Whether the loop should stop at the end of this iteration."""
        return self.received is not None

    def _handle(self, signum, frame):
        if self.received is None and self.loop_running:
            self.received = signum
            name = signal.Signals(signum).name
            print(f"{name} received: stopping after this iteration and writing a checkpoint", file=sys.stderr)
            return
        raise StopSignalError(signum, "before the training loop" if not self.loop_running else "again")

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

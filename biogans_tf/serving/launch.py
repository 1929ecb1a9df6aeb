"""Running `serving.server` as a child process (scripts, benchmarks): a free port, a clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_server(proc: subprocess.Popen, grace_s: float = 60.0) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it has not exited after `grace_s` seconds.

    SIGTERM first so the server drains its in-flight requests (its `--grace_seconds`) and exits
    on its own; the kill only guards against a server that hangs while stopping.
    """
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()

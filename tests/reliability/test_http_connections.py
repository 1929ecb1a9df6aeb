"""Idle and slow HTTP connections cannot wear the REST server down (issue 24 C4).

A real `serving.server` process (no model: its REST answers at once) with short header and
keep-alive deadlines; thousands of real sockets that send nothing or half a request head.
"""

import resource
import select
import socket
import time

import pytest

from tests.serving.conftest import MODEL, Server

pytestmark = pytest.mark.e2e

DEADLINE_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("connections")
    (tmp / MODEL).mkdir()
    server = Server(str(tmp / MODEL), str(tmp / "server.log"), f"--rest_header_timeout_seconds={DEADLINE_S}",
                    f"--rest_keep_alive_seconds={DEADLINE_S}")  # fmt: skip
    deadline = time.time() + 240
    while True:
        try:
            _healthz(server)
            break
        except OSError:
            assert time.time() < deadline and server.proc.poll() is None, server.log_text()[-3000:]
            time.sleep(0.3)
    yield server
    assert server.terminate() == 0


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10)


def _healthz(server, s=None) -> bytes:
    own = s is None
    s = s or _connect(server)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        if own:
            s.close()


def _closed_by_server(sockets, within: float) -> int:
    """How many of `sockets` the server closes (EOF or reset) within `within` seconds."""
    poller, by_fd = select.poll(), {s.fileno(): s for s in sockets}  # poll: fds above 1024 too
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    closed, deadline = 0, time.time() + within
    while by_fd and time.time() < deadline:
        for fd, _ in poller.poll(200):
            try:
                data = by_fd[fd].recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                closed += 1
                poller.unregister(fd)
                del by_fd[fd]
    return closed


def test_thousands_of_silent_or_slow_sockets_are_closed_and_the_api_keeps_answering(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = 3000
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
    sockets = []
    try:
        for i in range(n):
            s = _connect(server)
            if i % 2:  # half a request head, as a slowloris client sends it
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sockets.append(s)
        t0 = time.perf_counter()
        assert b"HTTP/1.1 503 " in _healthz(server)  # (503: no model in this test) answered at once
        assert time.perf_counter() - t0 < 2.0
        for s in sockets[1::2]:  # a slow client trickling bytes does not reset its deadline
            s.sendall(b"a")
        assert _closed_by_server(sockets, within=DEADLINE_S + 10) == n
    finally:
        for s in sockets:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_idle_keep_alive_connection_is_closed_after_its_deadline(server):
    with _connect(server) as s:
        assert b"HTTP/1.1 503 " in _healthz(server, s)
        t0 = time.perf_counter()
        assert _closed_by_server([s], within=DEADLINE_S + 10) == 1
        assert DEADLINE_S - 0.5 < time.perf_counter() - t0 < DEADLINE_S + 5

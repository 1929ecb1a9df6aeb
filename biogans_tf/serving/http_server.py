"""Runs the REST app (serving/rest.py) on Uvicorn in a background thread of the model server.

Uvicorn (h11 HTTP/1.1, asyncio) replaces the standard library's `http.server`, whose listen backlog of
5 reset bursts of connections. The socket is bound here, before the thread starts, so that the port
is known at once (`--rest_api_port 0`) and a bind error surfaces in the main thread; its listen backlog
is `BACKLOG` (the kernel caps it at net.core.somaxconn). Idle connections are closed after
`KEEP_ALIVE_SECONDS`, and a request whose head has not arrived after `HEADER_SECONDS`
(`HeaderTimeoutProtocol`), so thousands of silent sockets cannot exhaust the process's file
descriptors (whose limit `raise_open_file_limit` lifts to the hard limit). The gRPC server keeps its
own threads: both share one process, one model store and one predictor.
"""

from __future__ import annotations

import logging
import resource
import socket
import threading

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("serving")

BACKLOG = 4096
KEEP_ALIVE_SECONDS = 5.0  # an idle connection between requests is closed after this
HEADER_SECONDS = 10.0  # a request's line and headers must have arrived this long after it began


class HeaderTimeoutProtocol(H11Protocol):
    """Uvicorn's h11 protocol with a deadline for each request's head.

    Why: Uvicorn closes idle keep-alive connections, but a connection that sends nothing, or a
    header line a byte at a time ("slowloris"), stays open forever, and enough of them use up the
    process's file descriptors. This closes a connection whose request line and headers are not
    complete `header_seconds` after the connection opened or the previous response ended.
    """

    header_seconds = HEADER_SECONDS

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc) -> None:
        if getattr(self, "header_deadline", None) is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if getattr(self, "header_deadline", None) is not None:
            self.header_deadline.cancel()
        self.header_deadline = self.loop.call_later(self.header_seconds, self._header_deadline_passed)

    def _header_deadline_passed(self) -> None:
        self.header_deadline = None
        # h11 leaves the client's state IDLE until a request's whole head has been parsed; a request
        # being answered (or its body being sent) is not cut.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (each connection holds one); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise OSError(f"could not bind the REST port {host}:{port}: {e.strerror}") from None
    sock.listen(backlog)
    return sock


class RestServer:
    """A Uvicorn server for one ASGI app on its own thread.

    Args:
        app: the ASGI app.
        host: address to bind.
        port: port to bind (0 = a free one; see `port`).
        grace_seconds: on `stop`, time given to in-flight requests before connections are cut.
        backlog: listen backlog.
        header_seconds: deadline for each request's line and headers (`HeaderTimeoutProtocol`).
        keep_alive_seconds: an idle connection between requests is closed after this.
    """

    def __init__(
        self,
        app,
        host: str,
        port: int,
        grace_seconds: float = 10.0,
        backlog: int = BACKLOG,
        header_seconds: float = HEADER_SECONDS,
        keep_alive_seconds: float = KEEP_ALIVE_SECONDS,
    ):
        self._sock = _bind(host, port, backlog)
        self.port = self._sock.getsockname()[1]
        protocol = type("ServerProtocol", (HeaderTimeoutProtocol,), {"header_seconds": header_seconds})
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http=protocol,
            timeout_keep_alive=keep_alive_seconds,
            ws="none",
            lifespan="off",
            log_config=None,  # keep the server's own logging set-up (serving/server.py)
            access_log=False,  # serving/rest.py logs each request with its latency
            backlog=backlog,
            timeout_graceful_shutdown=max(int(round(grace_seconds)), 1),
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="rest", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let in-flight requests finish (up to the grace time), then return."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("REST server did not stop within %.0f s", timeout)
        self._sock.close()

"""Runs the REST app (serving/rest.py) on Uvicorn in a background thread of the model server.

Uvicorn (h11 HTTP/1.1, asyncio) replaces the standard library's `http.server`, whose listen backlog of
5 reset bursts of connections. The socket is bound here, before the thread starts, so that the port
is known at once (`--rest_api_port 0`) and a bind error surfaces in the main thread; its listen backlog
is `BACKLOG` (the kernel caps it at net.core.somaxconn). The gRPC server keeps its own threads: both
share one process, one model store and one predictor.
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn

log = logging.getLogger("serving")

BACKLOG = 4096


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
    """

    def __init__(self, app, host: str, port: int, grace_seconds: float = 10.0, backlog: int = BACKLOG):
        self._sock = _bind(host, port, backlog)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
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

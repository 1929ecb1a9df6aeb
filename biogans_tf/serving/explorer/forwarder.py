"""The explorer's API forwarder: `/explorer/api/v1/models/...` to one configured REST API, nothing else.

With `--explorer_api URL` the page calls this server, which forwards to `URL/v1/models/...` (TF
Serving sends no CORS headers, so a browser could not read its replies across origins). A forwarder
is a way into the network behind the server, so it:

- talks only to the configured upstream: its own HTTP connection to that host and port, no
  redirect followed (a 3xx answer is reported, not chased);
- percent-decodes the client's path until it no longer changes and checks every segment after
  every step, so `..`, `.`, `?`, `#`, `\\` and control characters cannot be smuggled through
  double encoding; the clean segments are re-encoded once for the upstream;
- refuses bodies above the server's own `--max_request_bytes`, with the API's error and status;
- waits at most `timeout_s` for the upstream;
- runs in its own small thread pool with a bounded queue, so a slow or hanging upstream fills
  that pool (later calls get 503) and never the threads the server's own REST and gRPC use;
- reports upstream failures without the upstream's address (logged on the server instead).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import logging
import urllib.parse

from starlette.requests import Request
from starlette.responses import Response

from biogans_tf.serving.errors import BodyRefusedError
from biogans_tf.serving.rest import read_body

log = logging.getLogger("serving")

TIMEOUT_S = 300.0  # reconstruct requests run L-BFGS and can take minutes on a CPU
WORKERS = 4
MAX_WAITING = 16  # calls queued for the pool beyond its workers before answering 503
MAX_RESPONSE_BYTES = 256 << 20
_DECODE_ROUNDS = 4  # more nested encodings than this is no real client
_SEGMENT_SAFE = ":@!$&'()*+,;=-._~"  # RFC 3986 pchar; ':' keeps `NAME:predict` as TF Serving wants
_FORBIDDEN = "?#\\\x7f"  # and control characters: a query, a fragment, a Windows separator


def _json(status: int, message: str, headers: dict | None = None) -> Response:
    return Response(json.dumps({"error": message}), status, headers, media_type="application/json")


def clean_path(raw: str) -> str | None:
    """The upstream path below `/v1/models/` for a client's raw (still encoded) path, or None.

    Decodes until stable, checking the segments after every round; returns them re-encoded.
    """
    text = raw
    for _ in range(_DECODE_ROUNDS + 1):
        segments = text.split("/")
        if any(s in ("", ".", "..") or any(c in _FORBIDDEN or c < " " for c in s) for s in segments):
            return None
        decoded = urllib.parse.unquote(text, errors="strict")
        if decoded == text:
            return "/".join(urllib.parse.quote(s, safe=_SEGMENT_SAFE) for s in segments)
        text = decoded
    return None  # still changing: encoded more deeply than any client would


class Forwarder:
    """The forwarder behind `/explorer/api/v1/models/{path}` (`handle` is the endpoint).

    Args:
        api_base: the upstream REST API, `http(s)://host[:port][/prefix]`.
        route: the path this endpoint serves, up to the forwarded part (`/explorer/api/v1/models/`).
        max_request_bytes: the largest request body forwarded (the server's own limit).
        timeout_s: how long to wait for the upstream (connect and each read).
        workers: threads that talk to the upstream.
        max_waiting: calls allowed to wait for a thread before new ones get 503.

    Raises:
        ValueError: `api_base` is not an http(s) URL with a host.
    """

    def __init__(
        self,
        api_base: str,
        route: str,
        max_request_bytes: int,
        timeout_s: float = TIMEOUT_S,
        workers: int = WORKERS,
        max_waiting: int = MAX_WAITING,
    ):
        url = urllib.parse.urlsplit(api_base.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            raise ValueError(f"--explorer_api {api_base!r}: expected an http:// or https:// URL")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.prefix, self.route = url.path, route
        self.max_request_bytes, self.timeout_s = max_request_bytes, timeout_s
        self.capacity = workers + max_waiting
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="explorer-forward")
        self._in_flight = 0  # touched only on the event loop

    def _call(self, method: str, path: str, body: bytes | None, content_type: str) -> Response:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = kind(self.host, self.port, timeout=self.timeout_s)
        headers = {"Content-Type": content_type or "application/json"} if body is not None else {}
        try:
            conn.request(method, f"{self.prefix}/v1/models/{path}", body=body, headers=headers)
            r = conn.getresponse()
            if 300 <= r.status < 400:
                log.warning("explorer forwarder: upstream answered %d (redirect to %r); not followed",
                            r.status, r.getheader("Location"))  # fmt: skip
                return _json(502, f"the model server answered with a redirect ({r.status}); not followed")
            data = r.read(MAX_RESPONSE_BYTES + 1)
            if len(data) > MAX_RESPONSE_BYTES:
                return _json(502, f"the model server's answer is above {MAX_RESPONSE_BYTES} bytes")
            return Response(data, r.status, media_type=r.getheader("Content-Type", "application/json"))
        except TimeoutError:
            log.warning("explorer forwarder: %s %s timed out after %.0f s", method, path, self.timeout_s)
            return _json(504, f"the model server did not answer within {self.timeout_s:.0f} s")
        except (OSError, http.client.HTTPException) as e:
            log.warning("explorer forwarder: %s %s failed: %s", method, path, e)
            return _json(502, f"the model server could not be reached ({type(e).__name__})")
        finally:
            conn.close()

    async def handle(self, request: Request) -> Response:
        """The endpoint (a Starlette request handler)."""
        # The raw path, not Starlette's decoded one: decoding is done (and checked) here alone.
        raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        path = clean_path(raw[len(self.route) :]) if raw.startswith(self.route) else None
        if path is None:
            return _json(404, "not found: the explorer forwards only /v1/models/... paths")
        body = None
        if request.method == "POST":
            try:
                body = await read_body(request, self.max_request_bytes)
            except BodyRefusedError as e:
                return _json(e.http_status, e.message, {"Connection": "close"})
        if self._in_flight >= self.capacity:
            return _json(503, "the explorer's forwarder is busy (the model server is slow); retry later")
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            ctype = request.headers.get("content-type", "")
            return await loop.run_in_executor(self._pool, self._call, request.method, path, body, ctype)
        finally:
            self._in_flight -= 1

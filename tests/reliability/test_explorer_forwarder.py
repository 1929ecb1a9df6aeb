"""The explorer's forwarder (`serving.server --explorer_api URL`) stays on its upstream (issue 24 C5).

A real `serving.server` process forwards to a real HTTP server in this test, which records every
request it gets and can answer, redirect or hang. Raw requests (`http.client`, no client-side
normalisation) try double encoding, redirects, oversized bodies and a hanging upstream.
"""

import concurrent.futures
import http.client
import http.server
import json
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from tests.serving.conftest import MODEL, Server

TIMEOUT_S = 2.0
MAX_BODY = 4096
CAPACITY = 4 + 16  # serving.explorer.forwarder WORKERS + MAX_WAITING


class Upstream:
    """A real HTTP server on 127.0.0.1 that records paths; /v1/models/slow hangs until released."""

    def __init__(self, redirect_to: int | None = None):
        self.paths, self.release = [], threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                outer.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.endswith("/slow"):
                    outer.release.wait(60)
                if self.path.endswith("/redirect") and redirect_to:
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{redirect_to}/v1/models/x")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps({"outputs": {"path": self.path, "bytes": len(body)}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the forwarder timed out first

            do_GET = do_POST = _answer  # noqa: N815 - http.server's handler names

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forwarder")
    elsewhere = Upstream()  # where a redirect points: must never be called
    upstream = Upstream(redirect_to=elsewhere.port)
    (tmp / MODEL).mkdir()
    server = Server(str(tmp / MODEL), str(tmp / "server.log"), f"--explorer_api=http://127.0.0.1:{upstream.port}",
                    f"--explorer_timeout_seconds={TIMEOUT_S}", f"--max_request_bytes={MAX_BODY}")  # fmt: skip
    deadline = time.time() + 240
    while True:  # no model is loaded (healthz says 503); the REST port answering is enough
        try:
            _request(server, "GET", "/healthz")
            break
        except OSError:
            assert time.time() < deadline and server.proc.poll() is None, server.log_text()[-3000:]
            time.sleep(0.3)
    yield server, upstream, elsewhere
    upstream.close()
    elsewhere.close()
    server.terminate()


def _request(server, method, path, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_the_page_is_sent_with_a_content_security_policy(setup):
    server, _, _ = setup
    status, headers, page = _request(server, "GET", "/explorer")
    assert status == 200 and b'content="/explorer/api"' in page
    assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_the_model_api_is_forwarded(setup):
    server, upstream, _ = setup
    status, _, body = _request(server, "POST", "/explorer/api/v1/models/cells:predict", b'{"inputs": {}}')
    assert status == 200 and json.loads(body)["outputs"] == {"path": "/v1/models/cells:predict", "bytes": 14}
    status, _, body = _request(server, "GET", "/explorer/api/v1/models/cells/versions/2/metadata")
    assert status == 200 and upstream.paths[-1] == "/v1/models/cells/versions/2/metadata"


@pytest.mark.parametrize(
    "path",
    [
        "%252e%252e/%252e%252e/admin",  # `..` after two decodings
        "..%2f..%2fadmin",
        "cells%253Fadmin=1:predict",  # a query after two decodings
        "cells%2523x",  # a fragment
        "cells%255cadmin",  # a backslash
        "cells%2500:predict",  # a NUL
        "%2525252525252e%2525252525252e/x",  # nested deeper than any client encodes
    ],
)
def test_no_path_can_be_smuggled_past_the_model_api(setup, path):
    server, upstream, _ = setup
    before = len(upstream.paths)
    status, _, body = _request(server, "GET", "/explorer/api/v1/models/" + path)
    assert status == 404, body
    assert len(upstream.paths) == before  # nothing reached the upstream


def test_a_redirect_is_not_followed_and_no_address_is_told(setup):
    server, upstream, elsewhere = setup
    status, _, body = _request(server, "GET", "/explorer/api/v1/models/redirect")
    assert status == 502 and b"redirect" in body
    assert upstream.paths[-1] == "/v1/models/redirect" and elsewhere.paths == []
    assert b"127.0.0.1" not in body and str(upstream.port).encode() not in body


def test_a_body_above_the_servers_limit_is_refused_before_forwarding(setup):
    server, upstream, _ = setup
    before = len(upstream.paths)
    status, _, body = _request(server, "POST", "/explorer/api/v1/models/cells:predict", b"x" * (MAX_BODY + 1))
    assert status in (400, 413) and b"max_request_bytes" in body
    assert len(upstream.paths) == before


def test_a_hanging_upstream_times_out_fills_only_the_forwarders_pool(setup):
    server, _, _ = setup
    n = CAPACITY + 6
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        calls = [pool.submit(_request, server, "GET", "/explorer/api/v1/models/slow") for _ in range(n)]
        time.sleep(0.5)  # every call is in the forwarder now (or refused)
        # The server's own REST and gRPC answer at once meanwhile.
        t0 = time.perf_counter()
        status, _, _ = _request(server, "GET", "/healthz", timeout=5)
        assert status == 503 and time.perf_counter() - t0 < 1.0  # (503: no model loaded in this test)
        with grpc.insecure_channel(server.target) as channel:
            t0 = time.perf_counter()
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "nope"
            with pytest.raises(grpc.RpcError) as e:
                stub.GetModelStatus(request, timeout=5)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND and time.perf_counter() - t0 < 1.0
        results = [c.result(timeout=60) for c in calls]
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(503) >= n - CAPACITY and set(statuses) <= {503, 504}, statuses
    timed_out = [body for status, _, body in results if status == 504]
    assert timed_out and all(b"did not answer within 2 s" in b and b"127.0.0.1" not in b for b in timed_out)

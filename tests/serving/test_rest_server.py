"""The REST server itself (Starlette on Uvicorn): verbs, bodies, bursts of clients, the explorer mount.

Real HTTP (http.client / urllib) against the shared server subprocess of conftest.py.
"""

import http.client
import json
import socket
import threading

import pytest

from tests.serving.conftest import MAX_REQUEST_BYTES, MODEL, http_json


def _request(served, method, path, body=None, headers=None):
    """(status, headers, raw body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


WRONG_VERBS = [
    ("PUT", f"/v1/models/{MODEL}", "GET, POST"),
    ("DELETE", f"/v1/models/{MODEL}/versions/1", "GET, POST"),
    ("PATCH", f"/v1/models/{MODEL}:predict", "POST"),
    ("GET", f"/v1/models/{MODEL}:predict", "POST"),
    ("POST", f"/v1/models/{MODEL}/metadata", "GET"),
    ("DELETE", "/healthz", "GET"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_VERBS)
def test_wrong_verb_is_405_with_json_body(served, method, path, allow):
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    status, headers, raw = _request(served, method, path, body)
    assert status == 405, raw[:200]
    assert headers["content-type"].startswith("application/json")
    error = json.loads(raw)["error"]
    assert method in error and allow.split(", ")[0] in error
    assert set(allow.split(", ")) <= set(headers["allow"].split(", "))


def test_unknown_path_is_404_json(served):
    status, headers, raw = _request(served, "GET", "/v2/nothing")
    assert status == 404 and "unknown path '/v2/nothing'" in json.loads(raw)["error"]


def test_json_nested_100000_deep_is_400(served):
    deep = b"[" * 100_000 + b"]" * 100_000  # exactly MAX_REQUEST_BYTES: passes the size check
    assert len(deep) <= MAX_REQUEST_BYTES
    status, answer = http_json(f"{served.server.url}/v1/models/{MODEL}:predict", deep)
    assert status == 400 and "nested too deeply" in answer["error"], answer
    inner = b'{"inputs": {"z": ' + b"[" * 40 + b"0.0" + b"]" * 40 + b"}, " + b'"signature_name": "generate"}'
    status, answer = http_json(f"{served.server.url}/v1/models/{MODEL}:predict", inner)
    assert status == 400 and "nested deeper than" in answer["error"], answer
    assert http_json(served.server.url + "/healthz")[0] == 200


def test_body_limits_without_content_length(served):
    path = f"/v1/models/{MODEL}:predict"
    # Chunked upload above --max_request_bytes: refused while streaming, connection closed. Exactly
    # limit + 1 bytes are sent (and no final chunk), so that the server has read everything when it
    # closes: unread bytes would make the kernel reset the connection before the answer is read.
    sizes = [50_000] * (MAX_REQUEST_BYTES // 50_000) + [MAX_REQUEST_BYTES % 50_000 + 1]
    chunks = b"".join(b"%x\r\n%s\r\n" % (n, b" " * n) for n in sizes)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", served.server.rest_port), timeout=60) as sock:
        sock.sendall(head + chunks)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 400") and b"--max_request_bytes" in answer, answer[:300]
    assert b"connection: close" in answer.lower()
    # Chunked and small: served (http.client chunks an iterable body of unknown length).
    status, _, raw = _request(served, "POST", path, body=iter([b'{"inputs": {"n": 1,', b' "seed": 2}}']))
    assert status == 200 and len(json.loads(raw)["outputs"]["images"]) == 1


def test_keep_alive_connection_serves_many_requests(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=60)
    for seed in range(3):
        conn.request(
            "POST", f"/v1/models/{MODEL}:predict", body=json.dumps({"inputs": {"n": 1, "seed": seed}})
        )
        r = conn.getresponse()
        assert r.status == 200 and "outputs" in json.loads(r.read())
    conn.close()


def test_64_simultaneous_clients_x_20_requests_have_no_connection_errors(served):
    clients, per_client = 64, 20
    barrier = threading.Barrier(clients)
    errors, ok = [], [0]
    lock = threading.Lock()
    url = f"{served.server.url}/v1/models/{MODEL}:predict"

    def client(idx):
        barrier.wait()  # all connect at once: the burst the old backlog of 5 reset
        for j in range(per_client):
            try:
                # The cheap `metadata` signature: this is about the HTTP stack, not the model's speed.
                status, body = http_json(url, {"signature_name": "metadata", "inputs": {}}, timeout=120)
                if status != 200:
                    raise RuntimeError(f"status {status}: {body}")
                with lock:
                    ok[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                with lock:
                    errors.append(f"client {idx} request {j}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, f"{len(errors)} errors, first: {errors[:3]}"
    assert ok[0] == clients * per_client


def test_explorer_routes_are_mounted(served):
    status, headers, raw = _request(served, "GET", "/explorer")
    assert status == 200 and headers["content-type"].startswith("text/html"), raw[:200]

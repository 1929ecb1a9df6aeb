"""TF Serving's REST API on the standard library's `ThreadingHTTPServer`.

Routes (as TF Serving, plus a health check):
- `GET  /v1/models/NAME[/versions/N]`            -> `{"model_version_status": [...]}`
- `GET  /v1/models/NAME[/versions/N]/metadata`   -> `{"model_spec": ..., "metadata": {"signature_def": ...}}`
- `POST /v1/models/NAME[/versions/N][:predict]`  with either
  row format      `{"signature_name": S, "instances": [...]}` -> `{"predictions": [...]}` or
  columnar format `{"signature_name": S, "inputs": {...}}`    -> `{"outputs": {...}}`
- `GET  /healthz` -> 200 `{"status": "SERVING", ...}` once a version is loaded, else 503.
Errors are `{"error": "message"}` with HTTP 400 (malformed request) or 404 (unknown model or version).

JSON numbers are converted to the signature's dtype (as TF Serving does); a fractional number for an
integer input is an error. Signatures with scalar inputs (`sample`, `interpolate`, `reconstruct`) need
the columnar format, since the row format stacks every input along a batch axis.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.errors import ServingError, invalid
from serving.model_store import TensorInfo
from serving.predictor import Predictor, shape_str

log = logging.getLogger("serving")

_MODEL_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata|:predict)?$")


def json_to_array(name: str, value, info: TensorInfo) -> np.ndarray:
    """Convert one JSON input value to a numpy array of the signature's dtype (INVALID_ARGUMENT if not)."""
    dtype = info.dtype
    if dtype.name == "string":
        try:
            return np.array(value, dtype=object)
        except ValueError:
            raise invalid(f"input {name!r}: ragged nested lists") from None
    try:
        arr = np.array(value)
    except ValueError:
        raise invalid(f"input {name!r}: ragged nested lists (every row must have the same length)") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise invalid(
            f"input {name!r}: expected numbers for dtype {dtype.name}, got {arr.dtype.kind!r} values"
        )
    if arr.dtype.kind == "b":
        raise invalid(f"input {name!r}: expected {dtype.name} numbers, got booleans")
    if dtype.is_integer:
        if arr.dtype.kind == "f":
            raise invalid(
                f"input {name!r}: expected integer values for dtype {dtype.name}, got fractional numbers"
            )
        bounds = np.iinfo(dtype.as_numpy_dtype)
        if arr.size and (arr.min() < bounds.min or arr.max() > bounds.max):
            raise invalid(f"input {name!r}: value out of range for dtype {dtype.name}")
    return arr.astype(dtype.as_numpy_dtype)


def _to_json(arr: np.ndarray):
    if arr.dtype == object:
        return np.vectorize(
            lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b, otypes=[object]
        )(arr).tolist()
    return arr.tolist()


def parse_predict_body(body: dict, sig) -> tuple[dict, bool]:
    """Turn a predict JSON body into `(input name -> array, is_row_format)`."""
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise invalid('request body must have exactly one of "instances" (row format) or "inputs" (columnar)')
    unknown = set(body) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise invalid(f"unexpected fields in request body: {sorted(unknown)}")
    names = list(sig.inputs)
    if has_cols:
        cols = body["inputs"]
        if not isinstance(cols, dict):
            if len(names) != 1:
                raise invalid(f'"inputs" must be an object naming {names} for signature {sig.name!r}')
            cols = {names[0]: cols}
        return {
            k: json_to_array(k, v, sig.inputs[k]) if k in sig.inputs else np.asarray(0)
            for k, v in cols.items()
        }, False
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise invalid('"instances" must be a non-empty list')
    if all(isinstance(r, dict) for r in rows):
        keys = set(rows[0])
        if any(set(r) != keys for r in rows):
            raise invalid("every instance must name the same inputs")
        stacked = {k: [r[k] for r in rows] for k in keys}
    elif len(names) == 1:
        stacked = {names[0]: rows}
    else:
        raise invalid(f"signature {sig.name!r} has several inputs {names}: each instance must be an object")
    scalars = [k for k in stacked if k in sig.inputs and sig.inputs[k].shape == ()]
    if scalars:
        raise invalid(
            f"inputs {sorted(scalars)} of signature {sig.name!r} are scalars, which the row format cannot "
            f'express; use the columnar format {{"inputs": {{...}}}}'
        )
    return {
        k: json_to_array(k, v, sig.inputs[k]) if k in sig.inputs else np.asarray(0)
        for k, v in stacked.items()
    }, True


def format_predict_response(outputs: dict, row_format: bool) -> dict:
    """`{"predictions": ...}` (row format) or `{"outputs": ...}` (columnar), as TF Serving."""
    if not row_format:
        if len(outputs) == 1:
            return {"outputs": _to_json(next(iter(outputs.values())))}
        return {"outputs": {k: _to_json(v) for k, v in outputs.items()}}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise invalid(f"outputs have different batch sizes {sizes}; use the columnar format")
    if len(outputs) == 1:
        return {"predictions": _to_json(next(iter(outputs.values())))}
    lists = {k: _to_json(v) for k, v in outputs.items()}
    n = next(iter(sizes.values()))
    return {"predictions": [{k: lists[k][i] for k in lists} for i in range(n)]}


def _status_json(version: int) -> dict:
    return {
        "model_version_status": [
            {
                "version": str(version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


class _Handler(BaseHTTPRequestHandler):
    predictor: Predictor  # set on the subclass made by make_rest_server
    protocol_version = "HTTP/1.1"
    server_version = "biogans-serving"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("rest %s", format % args)

    def _send(self, status: int, obj) -> None:
        data = json.dumps(obj, allow_nan=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        t0 = time.perf_counter()
        status = 500
        try:
            status, obj = self._route(method)
        except ServingError as e:
            status, obj = e.http_status, {"error": e.message}
        except Exception as e:  # a bug must not kill the server
            log.exception("rest %s %s failed", method, self.path)
            status, obj = 500, {"error": f"{type(e).__name__}: {e}"}
        try:
            self._send(status, obj)
        except (BrokenPipeError, ConnectionResetError):
            pass
        log.info(
            "rest %s %s status=%d latency_ms=%.1f",
            method,
            self.path,
            status,
            1000 * (time.perf_counter() - t0),
        )

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise invalid("a Content-Length header is required")
        length = int(length)
        limit = self.predictor.limits.max_request_bytes
        if length > limit:
            # Do not read (and buffer) an oversized body; drop the connection after answering.
            self.close_connection = True
            raise invalid(f"request body is {length} bytes, above --max_request_bytes={limit}")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise invalid(f"request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise invalid("request body must be a JSON object")
        return body

    def _route(self, method: str):
        store = self.predictor.store
        path = self.path.split("?", 1)[0]
        if path == "/healthz" and method == "GET":
            current = store.current
            if current is None:
                return 503, {"status": "LOADING", "model": store.model_name}
            return 200, {"status": "SERVING", "model": store.model_name, "version": current.version}
        m = _MODEL_PATH.match(path)
        if not m:
            if method == "POST":
                self._discard_body()
            return 404, {
                "error": f"unknown path {path!r}; expected /v1/models/NAME[/versions/N][:predict|/metadata]"
            }
        name, version, suffix = m.group(1), m.group(2), m.group(3)
        version = int(version) if version else None
        if method == "GET":
            if suffix == ":predict":
                return 405, {"error": "use POST for :predict"}
            loaded = store.get(name, version)
            if suffix == "/metadata":
                sig_map = get_model_metadata_pb2.SignatureDefMap()
                for key, sig_def in loaded.signature_defs.items():
                    sig_map.signature_def[key].CopyFrom(sig_def)
                return 200, {
                    "model_spec": {"name": name, "signature_name": "", "version": str(loaded.version)},
                    "metadata": {
                        "signature_def": json_format.MessageToDict(sig_map, preserving_proto_field_name=True)
                    },
                }
            return 200, _status_json(loaded.version)
        if suffix == "/metadata":
            self._discard_body()
            return 405, {"error": "use GET for /metadata"}
        body = self._read_json()
        sig_name = body.get("signature_name") or ""
        if not isinstance(sig_name, str):
            raise invalid('"signature_name" must be a string')
        _, sig = self.predictor.resolve(name, version, sig_name)
        arrays, row_format = parse_predict_body(body, sig)
        outputs = self.predictor.run(sig, arrays)
        return 200, format_predict_response(outputs, row_format)

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) <= self.predictor.limits.max_request_bytes:
            self.rfile.read(int(length))
        else:
            self.close_connection = True


def make_rest_server(
    predictor: Predictor, host: str, port: int
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind the REST server (one thread per connection) and return it with its not-yet-started thread."""
    handler = type("RestHandler", (_Handler,), {"predictor": predictor})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="rest", daemon=True)
    return server, thread


__all__ = ["make_rest_server", "json_to_array", "parse_predict_body", "format_predict_response", "shape_str"]

"""TF Serving's REST API as a Starlette (ASGI) app; serving/http_server.py runs it on Uvicorn.

Routes (as TF Serving, plus a health check):
- `GET  /v1/models/NAME[/versions/N]`            -> `{"model_version_status": [...]}`
- `GET  /v1/models/NAME[/versions/N]/metadata`   -> `{"model_spec": ..., "metadata": {"signature_def": ...}}`
- `POST /v1/models/NAME[/versions/N][:predict]`  with either
  row format      `{"signature_name": S, "instances": [...]}` -> `{"predictions": [...]}` or
  columnar format `{"signature_name": S, "inputs": {...}}`    -> `{"outputs": {...}}`
- `GET  /healthz` -> 200 `{"status": "SERVING", ...}` once a version is loaded, else 503.
Errors are `{"error": "message"}` with HTTP 400 (malformed request), 404 (unknown model, version or
path) or 405 (wrong verb, with an `Allow` header). The routes of `serving.explorer.routes()` are mounted
beside the API.

JSON numbers are converted to the signature's dtype (as TF Serving does); a fractional number for an
integer input is an error. Signatures with scalar inputs (`sample`, `interpolate`, `reconstruct`) need
the columnar format, since the row format stacks every input along a batch axis.
"""

from __future__ import annotations

import json
import logging
import re
import time

import numpy as np
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tensorflow_serving.apis import get_model_metadata_pb2

from biogans_tf.serving.bundle import TensorInfo
from biogans_tf.serving.errors import BodyRefusedError, ServingError, clip, clip_names, invalid
from biogans_tf.serving.predictor import Limits, Predictor, check_declared, shape_str

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


_MAX_JSON_RANK = 32  # well above any signature's rank; numpy itself stops at 64


def _nested_shape(name: str, value) -> tuple:
    """The shape a nested JSON list declares (read along the first elements; raggedness is found later)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if len(shape) > _MAX_JSON_RANK:
            raise invalid(f"input {clip(name)}: lists nested deeper than {_MAX_JSON_RANK} levels")
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _convert(sig, columns: dict, limits: Limits | None) -> dict:
    """Input name -> array, after bounding every input by its declared shape (before numpy copies it)."""
    if limits is not None:
        check_declared(sig, {k: (None, _nested_shape(k, v)) for k, v in columns.items()}, limits)
    # Unknown names were refused above; without limits check_inputs reports them later.
    return {
        k: json_to_array(k, v, sig.inputs[k]) if k in sig.inputs else np.asarray(0)
        for k, v in columns.items()
    }


def parse_predict_body(body: dict, sig, limits: Limits | None = None) -> tuple[dict, bool]:
    """Turn a predict JSON body into `(input name -> array, is_row_format)`.

    With `limits`, the inputs' nested-list shapes are checked against them before any array is built.
    """
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise invalid('request body must have exactly one of "instances" (row format) or "inputs" (columnar)')
    unknown = set(body) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise invalid(f"unexpected fields in request body: {clip_names(unknown)}")
    names = list(sig.inputs)
    if has_cols:
        cols = body["inputs"]
        if not isinstance(cols, dict):
            if len(names) != 1:
                raise invalid(f'"inputs" must be an object naming {names} for signature {sig.name!r}')
            cols = {names[0]: cols}
        return _convert(sig, cols, limits), False
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
    return _convert(sig, stacked, limits), True


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


def _status_json(version: int, state: str = "AVAILABLE") -> dict:
    return {
        "model_version_status": [
            {
                "version": str(version),
                "state": state,
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_PATH_HINT = "expected /v1/models/NAME[/versions/N][:predict|/metadata]"


def _json_response(status: int, obj, headers: dict | None = None) -> Response:
    data = json.dumps(obj, allow_nan=True).encode()
    return Response(data, status_code=status, headers=headers, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing one above `limit` bytes without buffering it."""
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if length is None and not chunked:
        raise BodyRefusedError("a Content-Length header is required")
    if length is not None and int(length) > limit:  # h11 has already checked that it is a number
        raise BodyRefusedError(f"request body is {int(length)} bytes, above --max_request_bytes={limit}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyRefusedError(f"request body is above --max_request_bytes={limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise invalid(f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise invalid("request body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    return body


def _predict(predictor: Predictor, name: str, version: int | None, raw: bytes) -> dict:
    """Parse, validate and run one predict body (in a worker thread: it is CPU-bound)."""
    body = _parse_json(raw)
    sig_name = body.get("signature_name") or ""
    if not isinstance(sig_name, str):
        raise invalid('"signature_name" must be a string')
    _, sig = predictor.resolve(name, version, sig_name)
    arrays, row_format = parse_predict_body(body, sig, predictor.limits)
    outputs = predictor.run(sig, arrays)
    return format_predict_response(outputs, row_format)


def _metadata(predictor: Predictor, name: str, version: int | None) -> dict:
    loaded = predictor.store.get(name, version)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig_def in loaded.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig_def)
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(loaded.version)},
        "metadata": {"signature_def": json_format.MessageToDict(sig_map, preserving_proto_field_name=True)},
    }


def _method_not_allowed(method: str, path: str, allowed: list[str]) -> Response:
    return _json_response(
        405,
        {"error": f"method {method} is not allowed on {clip(path)}; use {' or '.join(allowed)}"},
        {"Allow": ", ".join(allowed)},
    )


class _RefuseAmbiguousFraming:
    """ASGI middleware: refuse a request with both Content-Length and Transfer-Encoding; close its connection.

    Why: with both `Content-Length` and `Transfer-Encoding`, a proxy in
    front and this server may split the stream at different places, so bytes of one request would
    be read as another (request smuggling, RFC 9112 6.1). h11 follows the chunked encoding; a proxy
    may not. Answering 400 with `Connection: close` ends the connection before anything after it
    is read.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = [(k.lower(), v.strip()) for k, v in scope["headers"]]
            length = any(k == b"content-length" for k, _ in headers)
            chunked = any(k == b"transfer-encoding" for k, _ in headers)
            if length and chunked:  # (h11 itself refuses two different Content-Length values)
                error = {"error": "request has both Content-Length and Transfer-Encoding; send exactly one"}
                response = _json_response(400, error, {"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _AccessLog:
    """ASGI middleware: one log line per HTTP request with its status and latency."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), [500]

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            log.info(
                "rest %s %s status=%d latency_ms=%.1f",
                scope["method"],
                clip(scope["path"], 200),
                status[0],
                1000 * (time.perf_counter() - t0),
            )


def make_rest_app(predictor: Predictor, extra_routes: list = ()) -> Starlette:
    """The REST API as an ASGI app.

    Args:
        predictor: resolves and runs requests (shared with gRPC).
        extra_routes: more Starlette routes served beside the API (the explorer's pages).

    Returns:
        A Starlette app; every error answer is JSON `{"error": message}`.
    """
    store = predictor.store

    async def healthz(request: Request) -> Response:
        current = store.current
        if current is None:
            return _json_response(503, {"status": "LOADING", "model": store.model_name})
        body = {"status": "SERVING", "model": store.model_name, "version": current.version}
        return _json_response(200, body)

    async def models(request: Request) -> Response:
        method, path = request.method, request.url.path
        try:
            m = _MODEL_PATH.match(path)
            if not m:
                return _json_response(404, {"error": f"unknown path {clip(path)}; {_PATH_HINT}"})
            name, version, suffix = m.group(1), m.group(2), m.group(3)
            version = int(version) if version else None
            allowed = {":predict": ["POST"], "/metadata": ["GET"]}.get(suffix, ["GET", "POST"])
            if method not in allowed:
                return _method_not_allowed(method, path, allowed)
            if method == "GET":
                if suffix == "/metadata":
                    return _json_response(200, await run_in_threadpool(_metadata, predictor, name, version))
                return _json_response(200, _status_json(*store.status(name, version)))
            raw = await read_body(request, predictor.limits.max_request_bytes)
            return _json_response(200, await run_in_threadpool(_predict, predictor, name, version, raw))
        except ServingError as e:
            headers = {"Connection": "close"} if isinstance(e, BodyRefusedError) else None
            return _json_response(e.http_status, {"error": e.message}, headers)
        except Exception as e:  # a bug must not kill the server, nor answer in HTML
            log.exception("rest %s %s failed", method, clip(path, 200))
            message = ServingError("INTERNAL", f"{type(e).__name__}: {e}").message  # length-capped
            return _json_response(500, {"error": message})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Starlette's own 404 (no route) and 405 (a route's wrong verb), in JSON as every other error.
        path = request.url.path
        if exc.status_code == 405:
            allowed = sorted((exc.headers or {}).get("Allow", "GET").split(", "))  # Starlette's order varies
            return _method_not_allowed(request.method, path, allowed)
        if exc.status_code == 404:
            return _json_response(404, {"error": f"unknown path {clip(path)}; {_PATH_HINT}"})
        return _json_response(exc.status_code, {"error": exc.detail}, exc.headers)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/models/{rest:path}", models, methods=_ALL_METHODS),
        *extra_routes,
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_AccessLog), Middleware(_RefuseAmbiguousFraming)],
        exception_handlers={HTTPException: http_error},
    )


__all__ = [
    "make_rest_app",
    "json_to_array",
    "parse_predict_body",
    "format_predict_response",
    "read_body",
    "shape_str",
]

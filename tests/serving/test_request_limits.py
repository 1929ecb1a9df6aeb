"""Requests that must be refused cheaply and clearly, over gRPC (official stubs) and REST (real HTTP).

- a TensorProto whose declared shape is far larger than its payload is refused before it is decoded
  (the server's peak RSS is measured around the request);
- `reconstruct` refuses pixel values outside [-1, 1] and NaN/Inf, naming the input;
- error messages never echo unbounded client input (a 100k-character model name is NOT_FOUND with a
  short message, not RESOURCE_EXHAUSTED from an oversized gRPC trailer).
"""

import socket

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import MODEL, NZ, SIZE, http_json


@pytest.fixture(scope="module")
def predict(served):
    channel = grpc.insecure_channel(served.server.target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
    channel.close()


def _request(signature, model=MODEL, **protos):
    req = predict_pb2.PredictRequest()
    req.model_spec.name, req.model_spec.signature_name = model, signature
    for k, v in protos.items():
        req.inputs[k].CopyFrom(v if isinstance(v, tensor_pb2.TensorProto) else tf.make_tensor_proto(v))
    return req


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss(pid: int) -> None:
    # Writing 5 to clear_refs resets the VmHWM (peak RSS) of a process we own (Linux >= 4.0).
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def _tiny_huge_proto(dims) -> tensor_pb2.TensorProto:
    """A few bytes on the wire declaring `dims` floats, with a single float_val to broadcast."""
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        ),
        float_val=[1.0],
    )


def test_declared_shape_is_refused_before_allocation(predict, served):
    proto = _tiny_huge_proto([4_000_000, NZ])  # 256 MB once decoded
    req = _request("generate", z=proto)
    assert req.ByteSize() < 64
    pid = served.server.proc.pid
    _reset_peak_rss(pid)
    rss_before = _status_kb(pid, "VmRSS")
    with pytest.raises(grpc.RpcError) as info:
        predict(req, timeout=60)
    growth_mb = (_status_kb(pid, "VmHWM") - rss_before) / 1024
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'z'" in info.value.details() and "--max_batch" in info.value.details()
    assert growth_mb < 64, f"server peak RSS grew {growth_mb:.0f} MB for a refused request"
    # A declared shape within --max_batch but above --max_request_bytes once decoded: refused too.
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("sample", n=_tiny_huge_proto([50_000, 16]), seed=np.int64(1)), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'n'" in info.value.details()


def test_negative_or_unknown_rank_shapes_are_refused(predict):
    bad = _tiny_huge_proto([2, NZ])
    bad.tensor_shape.dim[0].size = -3
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("generate", z=bad), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "negative" in info.value.details()


OUT_OF_RANGE = {"above 1": 1.5, "below -1": -2.0, "NaN": float("nan"), "Inf": float("inf")}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_reconstruct_refuses_pixels_outside_range(predict, served, case):
    images = np.zeros([1, *SIZE, 2], np.float32)
    images[0, 3, 4, 1] = OUT_OF_RANGE[case]
    scalars = {"iterations": np.int32(1), "restarts": np.int32(1), "seed": np.int64(0)}
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("reconstruct", images=images, **scalars), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'images'" in info.value.details()
    if case in ("above 1", "below -1"):
        body = {
            "signature_name": "reconstruct",
            "inputs": {"images": images.tolist(), "iterations": 1, "restarts": 1, "seed": 0},
        }
        status, answer = http_json(f"{served.server.url}/v1/models/{MODEL}:predict", body)
        assert status == 400 and "'images'" in answer["error"] and "[-1, 1]" in answer["error"]


def test_long_names_are_not_echoed_in_full(predict, served):
    z = np.zeros([1, NZ], np.float32)
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("generate", model="m" * 100_000, z=z), timeout=60)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and len(info.value.details()) < 300
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("s" * 100_000, z=z), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(info.value.details()) < 500
    with pytest.raises(grpc.RpcError) as info:
        predict(_request("generate", z=z, **{"x" * 50_000: z}), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(info.value.details()) < 500
    # REST: the name travels in the URL (kept under h11's 16 KiB request-head limit).
    status, answer = http_json(f"{served.server.url}/v1/models/{'m' * 10_000}:predict", {"inputs": {}})
    assert status == 404 and len(answer["error"]) < 300
    status, answer = http_json(
        f"{served.server.url}/v1/models/{MODEL}:predict", {"inputs": {"n": 1, "seed": 1, "y" * 100_000: 1}}
    )
    assert status == 400 and len(answer["error"]) < 500


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
    ],
)
def test_a_body_length_stated_two_ways_is_refused_and_the_connection_closed(served, framing):
    # A smuggled second request follows the body; it must never be answered.
    body = b"3\r\n{}x\r\n0\r\n\r\n" if b"chunked" in framing else b"{}xxx"
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    port = int(served.server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /v1/models/" + MODEL.encode() + b":predict HTTP/1.1\r\nHost: x\r\n" + framing +
                  b"\r\n" + body + smuggled)  # fmt: skip
        received = b""
        while chunk := s.recv(65536):  # until the server closes the connection
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 "), received[:300]
    assert received.count(b"HTTP/1.1 ") == 1, received  # the smuggled request got no answer
    # h11 itself refuses two different lengths; both headers at once reach the app's check.
    assert (b"send exactly one" if b"chunked" in framing else b"Invalid HTTP request") in received

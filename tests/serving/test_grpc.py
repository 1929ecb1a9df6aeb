"""gRPC: the official tensorflow_serving stubs against a real server subprocess."""

import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.serving.conftest import MAX_BATCH, MAX_REQUEST_BYTES, MODEL, NZ, SIZE

OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


@pytest.fixture(scope="module")
def stubs(served):
    channel = grpc.insecure_channel(served.server.target, options=OPTIONS)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def request(signature="", model=MODEL, version=None, **inputs):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    if signature:
        req.model_spec.signature_name = signature
    if version is not None:
        req.model_spec.version.value = version
    for k, v in inputs.items():
        req.inputs[k].CopyFrom(tf.make_tensor_proto(v))
    return req


def outputs(response):
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def z_batch(n, seed=0):
    return np.random.default_rng(np.random.SeedSequence([seed])).normal(size=(n, NZ)).astype(np.float32)


def test_generate_equals_in_memory_generator(stubs, served):
    predict, _ = stubs
    z = z_batch(5)
    response = predict.Predict(request("generate", z=z), timeout=60)
    version = response.model_spec.version.value
    assert response.model_spec.name == MODEL and response.model_spec.signature_name == "generate"
    expected = served.generator(version)(z, training=False).numpy()
    np.testing.assert_allclose(outputs(response)["images"], expected, atol=1e-6, rtol=0)


def test_sample_is_seeded_and_default_signature(stubs, served):
    predict, _ = stubs
    a = outputs(predict.Predict(request("sample", n=np.int32(3), seed=np.int64(4)), timeout=60))
    b = outputs(predict.Predict(request(n=np.int32(3), seed=np.int64(4)), timeout=60))  # serving_default
    c = outputs(predict.Predict(request("sample", n=np.int32(3), seed=np.int64(5)), timeout=60))
    assert a["images"].shape == (3, *SIZE, 2) and a["z"].shape == (3, NZ)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert np.abs(a["images"] - c["images"]).max() > 1e-3


def test_reconstruct_and_interpolate(stubs, served):
    predict, _ = stubs
    response = predict.Predict(request("generate", z=z_batch(2, 1)), timeout=60)
    images = outputs(response)["images"]
    rec = outputs(predict.Predict(request("reconstruct", images=images, iterations=np.int32(30),
                                          restarts=np.int32(2), seed=np.int64(0)), timeout=300))  # fmt: skip
    assert rec["z"].shape == (2, NZ) and rec["reconstructions"].shape == images.shape
    assert np.all(rec["l2"] < 1e-3), rec["l2"]
    path = outputs(predict.Predict(request("interpolate", z0=z_batch(1)[0], z1=z_batch(1, 2)[0],
                                           steps=np.int32(6)), timeout=60))  # fmt: skip
    assert path["images"].shape == (6, *SIZE, 2)
    np.testing.assert_allclose(path["z"][0], z_batch(1)[0], atol=1e-5)


def test_metadata_and_status(stubs):
    predict, models = stubs
    req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    req.model_spec.name = MODEL
    response = predict.GetModelMetadata(req, timeout=60)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    assert {"sample", "generate", "reconstruct", "interpolate", "serving_default"} <= set(
        sig_map.signature_def
    )
    assert sig_map.signature_def["sample"].inputs["seed"].dtype == tf.int64.as_datatype_enum
    status_req = get_model_status_pb2.GetModelStatusRequest()
    status_req.model_spec.name = MODEL
    status = models.GetModelStatus(status_req, timeout=60).model_version_status
    assert len(status) == 1 and status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


NAN_Z = z_batch(2)
NAN_Z[1, 3] = np.nan
INV, I32, I64 = "INVALID_ARGUMENT", np.int32, np.int64
MANY_ROWS = np.zeros([MAX_REQUEST_BYTES // (4 * NZ) + 10, NZ], np.float32)
MALFORMED = {
    "unknown model": (dict(model="nope", signature="generate", z=z_batch(1)), "NOT_FOUND", "nope"),
    "unknown version": (dict(version=99, signature="generate", z=z_batch(1)), "NOT_FOUND", "version 99"),
    "unknown signature": (dict(signature="paint", z=z_batch(1)), INV, "'paint' not found"),
    "missing input": (dict(signature="sample", n=I32(2)), INV, "missing: ['seed']"),
    "extra input": (dict(signature="generate", z=z_batch(1), w=z_batch(1)), INV, "unexpected: ['w']"),
    "wrong dtype": (dict(signature="sample", n=I64(2), seed=I64(0)), INV, "expected dtype int32"),
    "wrong shape": (
        dict(signature="generate", z=np.zeros([2, NZ + 1], np.float32)),
        INV,
        "expected shape [?, 16]",
    ),
    "wrong rank": (dict(signature="sample", n=np.array([2], I32), seed=I64(0)), INV, "expected shape []"),
    "n zero": (dict(signature="sample", n=I32(0), seed=I64(0)), INV, "'n' must be between 1"),
    "n negative": (dict(signature="sample", n=I32(-3), seed=I64(0)), INV, "'n' must be between 1"),
    "n above max_batch": (dict(signature="sample", n=I32(MAX_BATCH + 1), seed=I64(0)), INV, "--max_batch"),
    "batch above max_batch": (dict(signature="generate", z=z_batch(MAX_BATCH + 1)), INV, "batch size"),
    "non-finite": (dict(signature="generate", z=NAN_Z), INV, "NaN or Inf"),
    "restarts too many": (
        dict(
            signature="reconstruct",
            images=np.zeros([8, *SIZE, 2], np.float32),
            iterations=I32(5),
            restarts=I32(9),
            seed=I64(0),
        ),
        INV,
        "restarts",
    ),  # fmt: skip
    "oversized payload": (dict(signature="generate", z=MANY_ROWS), INV, "--max_request_bytes"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_are_rejected_and_server_keeps_serving(stubs, case):
    predict, _ = stubs
    kwargs, code, fragment = MALFORMED[case]
    with pytest.raises(grpc.RpcError) as info:
        predict.Predict(request(**kwargs), timeout=60)
    assert info.value.code() == getattr(grpc.StatusCode, code), info.value.details()
    assert fragment in info.value.details()
    ok = outputs(predict.Predict(request("sample", n=np.int32(1), seed=np.int64(0)), timeout=60))
    assert ok["images"].shape == (1, *SIZE, 2)


def test_eight_concurrent_clients_fifty_requests_each(served):
    expected = {}
    errors = []

    def client(idx):
        channel = grpc.insecure_channel(served.server.target, options=OPTIONS)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            for j in range(50):
                seed = (idx * 50 + j) % 7
                out = outputs(
                    stub.Predict(request("sample", n=np.int32(2), seed=np.int64(seed)), timeout=120)
                )
                expected.setdefault(seed, out["images"])  # first answer per seed
                if not np.array_equal(out["images"], expected[seed]):
                    errors.append(f"client {idx} request {j}: seed {seed} gave different images")
        except grpc.RpcError as e:
            errors.append(f"client {idx}: {e.code()} {e.details()}")
        finally:
            channel.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(expected) == 7
    assert "latency_ms=" in served.server.log_text()

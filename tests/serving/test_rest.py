"""REST: TF Serving's JSON API over real HTTP (urllib) against the server subprocess."""

import http.client

import numpy as np
import pytest

from tests.serving.conftest import MAX_REQUEST_BYTES, MODEL, NZ, SIZE, http_json


def z_batch(n, seed=0):
    return np.random.default_rng(np.random.SeedSequence([seed, 1])).normal(size=(n, NZ)).astype(np.float32)


def predict_url(served, model=MODEL):
    return f"{served.server.url}/v1/models/{model}:predict"


def test_status_metadata_and_health(served):
    status, health = http_json(served.server.url + "/healthz")
    assert status == 200 and health["status"] == "SERVING"
    status, body = http_json(f"{served.server.url}/v1/models/{MODEL}")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = http_json(f"{served.server.url}/v1/models/{MODEL}/metadata")
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert status == 200 and {"sample", "reconstruct", "serving_default"} <= set(sigs)
    assert sigs["sample"]["inputs"]["n"]["dtype"] == "DT_INT32"


def test_row_format_generate_equals_in_memory_generator(served):
    z = z_batch(3)
    version = http_json(served.server.url + "/healthz")[1]["version"]
    status, body = http_json(predict_url(served), {"signature_name": "generate", "instances": z.tolist()})
    assert status == 200, body
    expected = served.generator(version)(z, training=False).numpy()
    np.testing.assert_allclose(np.array(body["predictions"], np.float32), expected, atol=1e-6, rtol=0)


def test_columnar_sample_and_metadata(served):
    status, body = http_json(predict_url(served), {"inputs": {"n": 2, "seed": 3}})
    assert status == 200, body
    images = np.array(body["outputs"]["images"], np.float32)
    assert images.shape == (2, *SIZE, 2) and np.array(body["outputs"]["z"]).shape == (2, NZ)
    status, same = http_json(f"{served.server.url}/v1/models/{MODEL}", {"inputs": {"n": 2, "seed": 3}})
    assert status == 200 and same == body  # POST without ":predict" too
    status, meta = http_json(predict_url(served), {"signature_name": "metadata", "inputs": {}})
    assert status == 200 and meta["outputs"]["proteins"] == ["Alp14"] and meta["outputs"]["nz"] == NZ


NAN_Z = z_batch(1).tolist()
NAN_Z[0][0] = float("nan")
MALFORMED = {
    "garbage json": (b"{not json", 400, "not valid JSON"),
    "not an object": ([1, 2], 400, "JSON object"),
    "both formats": ({"instances": [[0.0] * NZ], "inputs": {}}, 400, "exactly one"),
    "unknown signature": (
        {"signature_name": "paint", "inputs": {"z": z_batch(1).tolist()}},
        400,
        "'paint' not found",
    ),
    "missing input": ({"inputs": {"n": 2}}, 400, "missing: ['seed']"),
    "extra input": ({"inputs": {"n": 2, "seed": 1, "x": 1}}, 400, "unexpected: ['x']"),
    "float for int": ({"inputs": {"n": 2.5, "seed": 1}}, 400, "integer values"),
    "string for float": (
        {"signature_name": "generate", "inputs": {"z": [["a"] * NZ]}},
        400,
        "expected numbers",
    ),
    "ragged": ({"signature_name": "generate", "inputs": {"z": [[0.0] * NZ, [0.0]]}}, 400, "ragged"),
    "wrong shape": ({"signature_name": "generate", "instances": [[0.0] * (NZ - 1)]}, 400, "expected shape"),
    "row format with scalars": ({"instances": [{"n": 2, "seed": 1}]}, 400, "columnar"),
    "n zero": ({"inputs": {"n": 0, "seed": 1}}, 400, "'n' must be between 1"),
    "n above max_batch": ({"inputs": {"n": 10_000, "seed": 1}}, 400, "--max_batch"),
    "non-finite": ({"signature_name": "generate", "instances": NAN_Z}, 400, "NaN or Inf"),
    "int overflow": ({"inputs": {"n": 2**40, "seed": 1}}, 400, "out of range"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_get_400(served, case):
    body, code, fragment = MALFORMED[case]
    status, answer = http_json(predict_url(served), body)
    assert status == code and fragment in answer["error"], answer


def test_unknown_model_and_version_get_404(served):
    status, answer = http_json(predict_url(served, "nope"), {"inputs": {"n": 1, "seed": 1}})
    assert status == 404 and "nope" in answer["error"]
    status, answer = http_json(f"{served.server.url}/v1/models/{MODEL}/versions/99")
    assert status == 404 and "version 99" in answer["error"]


def test_oversized_body_is_refused_without_reading_it(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.server.rest_port, timeout=30)
    conn.putrequest("POST", f"/v1/models/{MODEL}:predict")
    conn.putheader("Content-Length", str(MAX_REQUEST_BYTES + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 400 and b"--max_request_bytes" in response.read()
    conn.close()
    assert http_json(served.server.url + "/healthz")[0] == 200  # still serving

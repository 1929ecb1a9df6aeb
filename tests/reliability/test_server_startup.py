"""The server answers at once while its model loads, as TF Serving does (issue 24 D).

A real `serving.server` process on a real export with warm-up requests: the REST and gRPC ports
answer long before the version is served, the model's status is LOADING (REST and gRPC) until it is
AVAILABLE, `/healthz` says LOADING, the explorer page loads, and every warm-up request is logged.
"""

import json
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from tests.conftest import ROOT, subprocess_env
from tests.serving.conftest import MODEL, Server, http_json

pytestmark = pytest.mark.e2e

N_WARMUP = 6  # one request per signature but serving_default (export/serving_files.py)


@pytest.fixture(scope="module")
def export_base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("startup")
    from biogans_tf.models import build_generator

    build_generator("star", image_size=(24, 40), n_proteins=2, nz=16, ngf=8, seed=0).save(tmp / "g.keras")
    p = subprocess.run(
        [sys.executable, "-m", "export.saved_model", f"--generator={tmp / 'g.keras'}", "--arch=star",
         "--proteins=Alp14,Arp3", f"--base_path={tmp / 'models'}", f"--model_name={MODEL}"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp


def _grpc_state(server) -> tuple[int, str]:
    with grpc.insecure_channel(server.target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=5)
    (v,) = status.model_version_status
    return v.version, get_model_status_pb2.ModelVersionStatus.State.Name(v.state)


def test_ports_answer_at_once_and_the_model_is_loading_until_available(export_base, tmp_path):
    server = Server(str(export_base / "models" / MODEL), str(tmp_path / "server.log"))
    t0, seen, first_answer = time.time(), [], None
    grpc_seen, health_seen = [], []
    try:
        while True:
            assert server.proc.poll() is None, server.log_text()[-3000:]
            assert time.time() - t0 < 300, server.log_text()[-3000:]
            try:
                status, body = http_json(server.url + f"/v1/models/{MODEL}", timeout=5)
            except OSError:
                time.sleep(0.05)
                continue
            first_answer = first_answer or time.time() - t0
            (v,) = body["model_version_status"]
            seen.append(v["state"])
            if v["state"] == "LOADING":
                # Each check below may come after the load ended (the server does not wait for the
                # test): a later state must then be AVAILABLE; LOADING must be seen over the loop.
                assert status == 200 and v["version"] == "1"
                grpc_seen.append(_grpc_state(server))
                assert grpc_seen[-1] in ((1, "LOADING"), (1, "AVAILABLE"))
                health_status, health = http_json(server.url + "/healthz", timeout=5)
                health_seen.append((health_status, health["status"]))
                assert health_seen[-1] in ((503, "LOADING"), (200, "SERVING")), health
                page = urllib.request.urlopen(server.url + "/explorer", timeout=5)
                assert page.status == 200
                predict_status, error = http_json(server.url + f"/v1/models/{MODEL}:predict",
                                                  {"signature_name": "metadata", "inputs": {}})  # fmt: skip
                if predict_status != 404:  # the load ended in between
                    assert (
                        http_json(server.url + f"/v1/models/{MODEL}")[1]["model_version_status"][0]["state"]
                        == "AVAILABLE"
                    )
                else:
                    assert "version 1 is loading" in error["error"]
            if v["state"] == "AVAILABLE":
                break
            time.sleep(0.05)
        available = time.time() - t0
        assert _grpc_state(server) == (1, "AVAILABLE")
    finally:
        assert server.terminate() == 0
    assert seen[0] == "LOADING" and "LOADING" in seen[: seen.index("AVAILABLE")]
    assert (1, "LOADING") in grpc_seen and (503, "LOADING") in health_seen, (grpc_seen, health_seen)
    assert first_answer < available - 1.0, (first_answer, available)  # the ports did not wait for it
    log = (tmp_path / "server.log").read_text()
    for i in range(1, N_WARMUP + 1):
        assert f"warm-up {MODEL} version 1: " in log and f"({i}/{N_WARMUP})" in log, log[-3000:]
    print(json.dumps({"first_answer_s": round(first_answer, 1), "available_s": round(available, 1)}))

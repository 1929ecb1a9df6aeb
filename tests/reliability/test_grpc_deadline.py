"""A gRPC call past its deadline stops its computation (issue 24 C4), as TF Serving's does.

A real `serving.server` process and the official stubs: a reconstruction that needs tens of seconds,
called with a 1 s deadline, ends DEADLINE_EXCEEDED in the server's own log within about that second,
and the server's CPU goes quiet right after (before, the L-BFGS loop ran on to the end on both cores
for an answer nobody waited for). The server answers the next request at once.
"""

import os
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.conftest import ROOT, subprocess_env
from tests.serving.conftest import MODEL, Server

pytestmark = pytest.mark.e2e

IMAGES, RESTARTS, ITERATIONS = 32, 32, 1000  # 1,024 independent L-BFGS problems, well over 10 s


@pytest.fixture(scope="module")
def export_base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deadline")
    from biogans_tf.models import build_generator

    build_generator("dcgan", image_size=(16, 32), nz=16, ngf=8, seed=0).save(tmp / "g.keras")
    p = subprocess.run(
        [sys.executable, "-m", "export.saved_model", f"--generator={tmp / 'g.keras'}", "--arch=dcgan",
         "--proteins=Alp14", f"--base_path={tmp / 'models'}", f"--model_name={MODEL}", "--nowarmup"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reconstruct_request(images: int, restarts: int, iterations: int):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "reconstruct"
    # Noise: no generator draws it, so no row converges early and the loop runs all its iterations.
    pixels = np.random.default_rng(0).uniform(-1, 1, (images, 16, 32, 2)).astype(np.float32)
    inputs = {"images": pixels, "iterations": np.int32(iterations), "restarts": np.int32(restarts),
              "seed": np.int64(0)}  # fmt: skip
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_a_call_past_its_deadline_is_cancelled_in_the_server(export_base, tmp_path):
    server = Server(str(export_base / "models" / MODEL), str(tmp_path / "server.log"), "--max_batch=1024")
    try:
        server.wait_healthy(version=1)
        with grpc.insecure_channel(server.target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            stub.Predict(_reconstruct_request(1, 1, 2), timeout=300)  # builds the graph: not timed below
            cpu_before, t0 = _cpu_seconds(server.proc.pid), time.perf_counter()
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(_reconstruct_request(IMAGES, RESTARTS, ITERATIONS), timeout=1.0)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The server's handler itself ends, cancelled, within moments of the deadline.
            while "status=DEADLINE_EXCEEDED" not in server.log_text():
                assert time.perf_counter() - t0 < 8, server.log_text()[-3000:]
                time.sleep(0.1)
            time.sleep(0.5)
            cpu_mid = _cpu_seconds(server.proc.pid)
            time.sleep(3.0)
            idle_cpu = _cpu_seconds(server.proc.pid) - cpu_mid
            assert idle_cpu < 0.6, f"the server used {idle_cpu:.2f} CPU-s in 3 s after the deadline"
            assert cpu_mid - cpu_before < 8, "the cancelled call ran far past its deadline"
            # It answers the next call at once (nothing left running in its worker threads).
            t1 = time.perf_counter()
            out = stub.Predict(_reconstruct_request(2, 1, 5), timeout=30)
            assert tf.make_ndarray(out.outputs["l2"]).shape == (2,)
            assert time.perf_counter() - t1 < 5
        assert "cancelled" in server.log_text() or "DEADLINE_EXCEEDED" in server.log_text()
    finally:
        assert server.terminate() == 0

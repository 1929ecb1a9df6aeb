"""Version pick-up without restart, retried and deleted versions, and graceful SIGTERM."""

import os
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from biogans_tf.export import saved_model as sm
from biogans_tf.models import build_generator
from tests.serving.conftest import MODEL, NZ, SIZE, Server

pytestmark = pytest.mark.e2e


def _generate(target, z, version=None):
    with grpc.insecure_channel(target) as channel:
        req = predict_pb2.PredictRequest()
        req.model_spec.name, req.model_spec.signature_name = MODEL, "generate"
        if version is not None:
            req.model_spec.version.value = version
        req.inputs["z"].CopyFrom(tf.make_tensor_proto(z))
        resp = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, timeout=60)
        return resp.model_spec.version.value, tf.make_ndarray(resp.outputs["images"])


def test_new_version_is_picked_up_without_restart(served):
    g2 = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=8)
    path = sm.export_generator(g2, str(served.base), MODEL, arch="dcgan", proteins=["Alp14"], warmup=False)
    assert path.endswith("2")
    served.generators[2] = g2
    served.server.wait_healthy(version=2, timeout=120)
    z = np.random.default_rng(np.random.SeedSequence([5])).normal(size=(2, NZ)).astype(np.float32)
    version, images = _generate(served.server.target, z)
    assert version == 2
    np.testing.assert_allclose(images, g2(z, training=False).numpy(), atol=1e-6, rtol=0)
    assert np.abs(images - served.generator(1)(z, training=False).numpy()).max() > 1e-3
    assert "loaded cells version 2" in served.server.log_text()
    # The old version is unloaded (TF Serving's default "latest" policy): asking for it is NOT_FOUND.
    with pytest.raises(grpc.RpcError) as info:
        _generate(served.server.target, z, version=1)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_sigterm_shuts_down_cleanly(served, tmp_path):
    server = Server(str(served.base / MODEL), str(tmp_path / "log.txt"), "--noenable_model_warmup")
    server.wait_healthy()
    t0 = time.time()
    assert server.terminate(timeout=60) == 0
    assert time.time() - t0 < 30
    log = server.log_text() if not server.log.closed else open(server.log_path).read()
    assert "received SIGTERM" in log and "shut down cleanly" in log


def test_half_copied_and_deleted_versions_through_the_server(served, tmp_path):
    """Issue 12 B3 end to end: a failed load is retried once complete; a deleted version is unloaded."""
    src = str(served.base / MODEL / "1")
    base = tmp_path / MODEL
    shutil.copytree(src, base / "1")
    server = Server(str(base), str(tmp_path / "log.txt"), "--noenable_model_warmup")
    try:
        server.wait_healthy(version=1)
        os.makedirs(base / "2")
        shutil.copy(os.path.join(src, "saved_model.pb"), base / "2")  # variables/ not there yet
        deadline = time.time() + 120
        while "failed to load cells version 2" not in server.log_text():
            assert time.time() < deadline, server.log_text()[-2000:]
            time.sleep(0.3)
        assert server.wait_healthy(version=1)["version"] == 1  # version 1 keeps serving
        shutil.copytree(os.path.join(src, "variables"), base / "2" / "variables")
        server.wait_healthy(version=2, timeout=120)
        shutil.rmtree(base / "2")
        server.wait_healthy(version=1, timeout=120)
        z = np.zeros([1, NZ], np.float32)
        assert _generate(server.target, z)[0] == 1
    finally:
        assert server.terminate() == 0

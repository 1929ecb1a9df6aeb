"""One exported tiny model and one real server subprocess, shared by the tests in tests/serving/.

The server is started on an EMPTY model folder and the export runs meanwhile, so the fixture also
proves that a version appearing later is picked up. Ports are ephemeral; everything binds 127.0.0.1.
"""

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from biogans_tf.serving.launch import free_port
from tests.conftest import ROOT, subprocess_env

NZ = 16
SIZE = (16, 32)
MODEL = "cells"
MAX_BATCH = 64
MAX_REQUEST_BYTES = 200_000


def http_json(url: str, body=None, timeout: float = 60.0):
    """(status, parsed JSON) for a GET (body None) or a POST of `body` (bytes or JSON-able)."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Server:
    """A `serving.server` subprocess."""

    def __init__(self, model_base_path: str, log_path: str, *extra: str):
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [sys.executable, "-m", "serving.server", "--model_base_path", model_base_path,
               "--model_name", MODEL,
               "--port", str(self.grpc_port), "--rest_api_port", str(self.rest_port),
               "--file_system_poll_wait_seconds", "0.3", "--max_batch", str(MAX_BATCH),
               "--max_request_bytes", str(MAX_REQUEST_BYTES), *extra]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=subprocess_env(), stdout=self.log, stderr=subprocess.STDOUT
        )
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.url = f"http://127.0.0.1:{self.rest_port}"

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_healthy(self, version: int | None = None, timeout: float = 300.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                status, body = http_json(self.url + "/healthz", timeout=5)
                if status == 200 and (version is None or body["version"] == version):
                    return body
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not healthy after {timeout} s:\n{self.log_text()[-3000:]}")

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


class Served:
    """What the tests get: the server, the export folder, and the generator of each version."""

    def __init__(self, server, base, generators):
        self.server, self.base, self.generators = server, base, generators

    def generator(self, version: int):
        return self.generators[version]


@pytest.fixture(scope="package")
def served(tmp_path_factory):
    from biogans_tf.export import saved_model as sm
    from biogans_tf.models import build_generator

    tmp = tmp_path_factory.mktemp("serving")
    base = tmp / "models"
    (base / MODEL).mkdir(parents=True)
    server = Server(str(base / MODEL), str(tmp / "server.log"))
    try:
        g = build_generator("dcgan", image_size=SIZE, nz=NZ, ngf=8, seed=7)
        # Exported in this process while the server already polls the folder (the exporter's command
        # line has its own tests); no warm-up records, so the server is ready seconds sooner.
        version = sm.export_generator(g, str(base), MODEL, arch="dcgan", proteins=["Alp14"], warmup=False)
        assert version == str(base / MODEL / "1")
        sm.write_models_config(str(base), {MODEL: str(base / MODEL)})
        server.wait_healthy(version=1)
        yield Served(server, base, {1: g})
    finally:
        server.terminate()

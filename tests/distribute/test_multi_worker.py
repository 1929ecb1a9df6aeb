"""MultiWorkerMirroredStrategy: two local worker processes (TF_CONFIG on 127.0.0.1) train alike.

Both workers run the real CLI (`python -m training.run --strategy=multi_worker`) with fixed step
counts (a worker that ends early would make the other wait ~60 s for heartbeats), bounded
timeouts, and stragglers killed by PID. Each prints its results JSON with a SHA-256 of all its
generator and critic weights; identical digests = bit-identical weights on both workers.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

TINY = [
    "--arch=dcgan", "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4",
    "--data=sim:8", "--proteins=Alp14,Arp3", "--n_critic=1", "--sample_every=100", "--log_every=100",
    "--checkpoint_every=1", "--strategy=multi_worker",
]  # fmt: skip
TIMEOUT_S = 240


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run_workers(run_dir, extra):
    """Start 2 workers, wait (bounded), kill any straggler; return [(rc, results or None, stderr)]."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for i in range(2):
        env = dict(
            os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        )
        cmd = [sys.executable, "-m", "training.run", *TINY, f"--run_dir={run_dir}", *extra]
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=TIMEOUT_S)
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            out.append((p.returncode, json.loads(lines[-1]) if lines else None, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    return out


def _check_identical(out, step):
    for rc, results, stderr in out:
        assert rc == 0 and results is not None, stderr[-3000:]
        assert results["status"] == "ok" and results["step"] == step and results["replicas"] == 2
    (_, chief, _), (_, other, _) = out
    assert chief["chief"] is True and other["chief"] is False
    assert chief["weights_sha256"] == other["weights_sha256"]
    return chief, other


def test_two_workers_end_with_identical_weights(tmp_path):
    run = tmp_path / "run"
    chief, other = _check_identical(_run_workers(run, ["--steps=2"]), 2)
    # Only the chief writes the run directory; the other worker's checkpoint scratch is gone.
    assert (run / "results.json").exists() and (run / "generator.keras").exists()
    assert json.loads((run / "results.json").read_text())["weights_sha256"] == chief["weights_sha256"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")) == []
    assert other.get("generator") is None and chief["last_checkpoint"].endswith("ckpt-2")


@pytest.mark.slow
def test_two_workers_resume(tmp_path):
    run = tmp_path / "run"
    _check_identical(_run_workers(run, ["--steps=1"]), 1)
    out = _run_workers(run, ["--steps=2", "--resume"])
    _check_identical(out, 2)
    assert all(results["start_step"] == 1 for _, results, _ in out)

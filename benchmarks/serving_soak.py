"""Serving soak: many gRPC and REST clients at once, sample and reconstruct mixed, hot version swaps.

    python -m benchmarks.serving_soak [--rounds 2] [--grpc_clients 8 --grpc_requests 100]
        [--rest_clients 64 --rest_requests 20] [--reconstruct_clients 2 --reconstruct_requests 5]
        [--forward_clients 16 --forward_requests 5 --upstream_delay 1 --forward_timeout 3]
        [--swaps 2] [--arch dcgan --image_size 16,32 --nz 16 --ngf 8] [--out FILE.json]

A `serving.server` subprocess on 127.0.0.1 serves a freshly exported generator (random weights; the
default is a tiny dcgan, 16x32, nz=16, ngf=8: this measures the server, not the model). Each round
starts every client at once (a barrier): gRPC clients call `sample` (n = 1..4) through the official
stub, one channel each; REST clients POST `sample` (n = 1) through urllib, a new connection per
request; reconstruct clients call `reconstruct` over gRPC; forwarder clients GET the explorer's API
forwarder (`--explorer_api`), which points at an HTTP server in this process that answers after
`--upstream_delay` seconds or, for every other request, never (the forwarder times out): their
answers (200, 503 busy, 504 timeout) are counted apart, not as errors, since the soak's question is
whether a slow upstream disturbs the server's own API. During each round `--swaps` new versions
are moved into the base path (an atomic rename of a pre-exported copy; two different generators
alternate), at evenly spaced points of the round's requests, and each swap waits until the server
serves the new version. Prints per round: errors, p50/p99 latency per kind, the server's RSS at the
start and end, and the RSS growth between consecutive rounds. Exit status 1 unless there are no errors
and the last growth is below --max_growth.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
from absl import app, logging

from biogans_tf.cli import define_flags, from_flags
from biogans_tf.options import option
from biogans_tf.serving.launch import free_port, stop_server


@dataclasses.dataclass
class SoakOptions:
    """Every option of `benchmarks.serving_soak`: each field is the flag of the same name.

    `image_size`'s default is comma-separated text (a dataclass default cannot be a list); absl
    parses it, so the flag value (what `from_flags` returns) is a list of str.
    """

    rounds: int = option(2, "Rounds (RSS growth is compared between consecutive ones).", lower_bound=1)
    grpc_clients: int = option(8, "Concurrent gRPC sample clients.", lower_bound=0)
    grpc_requests: int = option(100, "Requests per gRPC sample client per round.", lower_bound=1)
    rest_clients: int = option(64, "Concurrent REST sample clients.", lower_bound=0)
    rest_requests: int = option(20, "Requests per REST client per round.", lower_bound=1)
    reconstruct_clients: int = option(2, "Concurrent gRPC reconstruct clients.", lower_bound=0)
    reconstruct_requests: int = option(5, "Requests per reconstruct client per round.", lower_bound=1)
    reconstruct_iterations: int = option(10, "L-BFGS iterations per reconstruct request.", lower_bound=1)
    forward_clients: int = option(
        16,
        "Concurrent clients of the explorer's forwarder (to a slow and a hanging upstream).",
        lower_bound=0,
    )
    forward_requests: int = option(5, "Requests per forwarder client per round.", lower_bound=1)
    upstream_delay: float = option(1.0, "Seconds the slow upstream takes (the hanging one never answers).")
    forward_timeout: float = option(3.0, "The server's --explorer_timeout_seconds.", lower_bound=0.1)
    swaps: int = option(2, "Hot version swaps per round.", lower_bound=0)
    arch: str = option("dcgan", "Generator architecture.")
    image_size: list[str] = option("16,32", "Image height,width.")
    nz: int = option(16, "Latent size.", lower_bound=1)
    ngf: int = option(8, "Generator width.", lower_bound=1)
    max_growth: float = option(0.10, "Acceptance: most RSS growth between the last two rounds.")
    out: str | None = option(None, "Optional JSON file for the figures.")


define_flags(SoakOptions, __name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "soak"


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _health(rest_url: str) -> dict | None:
    try:
        with urllib.request.urlopen(rest_url + "/healthz", timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _wait_version(proc, rest_url: str, version: int, log_path: str, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log: {log_path}")
        health = _health(rest_url)
        if health and health.get("version") == version:
            return
        time.sleep(0.2)
    raise TimeoutError(f"server did not serve version {version} within {timeout} s; log: {log_path}")


class _Versions:
    """Pre-exported generators, moved into the base path as new versions by an atomic rename."""

    def __init__(self, base: str, sources: list[str]):
        self.base, self.sources, self.next = base, sources, 1

    def publish(self) -> int:
        version, src = self.next, self.sources[(self.next - 1) % len(self.sources)]
        staging = os.path.join(self.base, f".staging-{version}")  # not an integer: ignored by the server
        shutil.copytree(src, staging)
        os.rename(staging, os.path.join(self.base, str(version)))
        self.next += 1
        return version


def _export(tmp: str, opts: SoakOptions) -> list[str]:
    from biogans_tf.export.saved_model import export_generator
    from biogans_tf.models import build_generator

    size = tuple(int(s) for s in opts.image_size)
    paths = []
    for seed in (1, 2):  # two different generators, so that a swap really changes the model
        g = build_generator(opts.arch, image_size=size, nz=opts.nz, ngf=opts.ngf, seed=seed)
        paths.append(
            export_generator(g, os.path.join(tmp, f"src{seed}"), MODEL, arch=opts.arch, proteins=["p0"])
        )
    return paths


def _grpc_stub(target: str):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _grpc_request(signature: str, **inputs):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    req = predict_pb2.PredictRequest()
    req.model_spec.name, req.model_spec.signature_name = MODEL, signature
    for k, v in inputs.items():
        req.inputs[k].CopyFrom(tf.make_tensor_proto(v))
    return req


def run_round(
    target: str, rest_url: str, versions: _Versions, proc, log_path: str, images, opts: SoakOptions
) -> dict:
    """One round: all clients at once, `--swaps` hot swaps; returns latencies, errors and swap times."""
    jobs = []  # (kind, client index, requests)
    jobs += [("grpc_sample", i, opts.grpc_requests) for i in range(opts.grpc_clients)]
    jobs += [("rest_sample", i, opts.rest_requests) for i in range(opts.rest_clients)]
    jobs += [("grpc_reconstruct", i, opts.reconstruct_requests) for i in range(opts.reconstruct_clients)]
    jobs += [("forward", i, opts.forward_requests) for i in range(opts.forward_clients)]
    total = sum(n for _, _, n in jobs)
    lock = threading.Lock()
    lat = {kind: [] for kind, _, _ in jobs}
    errors, done, swaps, forwarded = [], [0], [], {}
    barrier = threading.Barrier(len(jobs) + 1)

    def record(kind, t0, err=None):
        with lock:
            done[0] += 1
            if err is None:
                lat[kind].append(time.perf_counter() - t0)
            else:
                errors.append(f"{kind}: {err}")

    def client(kind, idx, n):
        channel, stub = _grpc_stub(target) if kind.startswith("grpc") else (None, None)
        barrier.wait()
        for j in range(n):
            t0 = time.perf_counter()
            try:
                if kind == "grpc_sample":
                    req = _grpc_request("sample", n=np.int32(1 + j % 4), seed=np.int64(idx * 1000 + j))
                    stub.Predict(req, timeout=300)
                elif kind == "grpc_reconstruct":
                    iters, one = np.int32(opts.reconstruct_iterations), np.int32(1)
                    req = _grpc_request(
                        "reconstruct", images=images, iterations=iters, restarts=one, seed=np.int64(j)
                    )
                    stub.Predict(req, timeout=300)
                elif kind == "forward":
                    path = "hang" if (idx + j) % 2 else "slow"
                    try:
                        with urllib.request.urlopen(
                            f"{rest_url}/explorer/api/v1/models/{path}", timeout=60
                        ) as r:
                            status = r.status
                    except urllib.error.HTTPError as e:
                        status = e.code
                    with lock:
                        forwarded[f"{path} {status}"] = forwarded.get(f"{path} {status}", 0) + 1
                    if status not in (200, 503, 504):
                        raise RuntimeError(f"forwarder answered {status}")
                else:
                    body = json.dumps({"inputs": {"n": 1, "seed": idx * 1000 + j}}).encode()
                    req = urllib.request.Request(
                        f"{rest_url}/v1/models/{MODEL}:predict", data=body, method="POST"
                    )
                    with urllib.request.urlopen(req, timeout=300) as r:
                        if r.status != 200 or "outputs" not in json.loads(r.read()):
                            raise RuntimeError(f"status {r.status}")
                record(kind, t0)
            except Exception as e:  # noqa: BLE001 - every failure is a finding of the soak
                record(kind, t0, f"{type(e).__name__}: {str(e)[:200]}")
        if channel is not None:
            channel.close()

    def swapper():
        barrier.wait()
        for k in range(1, opts.swaps + 1):
            while done[0] < total * k / (opts.swaps + 1):
                time.sleep(0.05)
            t0 = time.perf_counter()
            version = versions.publish()
            _wait_version(proc, rest_url, version, log_path)
            swaps.append((version, round(time.perf_counter() - t0, 2)))

    threads = [threading.Thread(target=client, args=job) for job in jobs]
    threads.append(threading.Thread(target=swapper))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stats = {}
    for kind, times in lat.items():
        if times:
            t = np.asarray(times) * 1000
            stats[kind] = {"n": len(t), "p50_ms": round(float(np.percentile(t, 50)), 1),
                           "p99_ms": round(float(np.percentile(t, 99)), 1)}  # fmt: skip
    return {
        "wall_s": round(wall, 1),
        "errors": errors,
        "latency": stats,
        "swaps": swaps,
        "forwarded": forwarded,
    }


class _SlowUpstream:
    """An HTTP server on 127.0.0.1 for the forwarder: `.../slow` answers after `delay`, `.../hang` never."""

    def __init__(self, delay: float):
        import http.server

        release = self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's handler name
                release.wait(delay if self.path.endswith("/slow") else 600)
                data = b'{"outputs": {}}'
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the forwarder gave up first (its timeout): what the soak provokes

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    opts = from_flags(SoakOptions)
    tmp = tempfile.mkdtemp(prefix="serving_soak-")
    sources = _export(tmp, opts)
    base = os.path.join(tmp, "models", MODEL)
    os.makedirs(base)
    versions = _Versions(base, sources)
    versions.publish()
    grpc_port, rest_port = free_port(), free_port()
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "w")
    threads = str(max(opts.grpc_clients + opts.reconstruct_clients, 1))
    upstream = _SlowUpstream(opts.upstream_delay)
    cmd = [sys.executable, "-m", "serving.server", "--model_base_path", base, "--model_name", MODEL,
           "--port", str(grpc_port), "--rest_api_port", str(rest_port),
           "--file_system_poll_wait_seconds", "0.5", "--num_threads", threads,
           f"--explorer_api={upstream.url}",
           f"--explorer_timeout_seconds={opts.forward_timeout}"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    target, rest_url = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}"
    rounds, ok = [], True
    try:
        _wait_version(proc, rest_url, 1, log_path)
        _, stub = _grpc_stub(target)
        import tensorflow as tf

        sample = stub.Predict(_grpc_request("sample", n=np.int32(1), seed=np.int64(0)), timeout=300)
        images = tf.make_ndarray(sample.outputs["images"])  # a generator image: in [-1, 1]
        print(f"model: {opts.arch} {'x'.join(opts.image_size)} nz={opts.nz} ngf={opts.ngf}; "
              f"server pid {proc.pid}, log {log_path}", flush=True)  # fmt: skip
        for r in range(opts.rounds):
            rss_start = _rss_mb(proc.pid)
            result = run_round(target, rest_url, versions, proc, log_path, images, opts)
            result.update(rss_start_mb=round(rss_start, 1), rss_end_mb=round(_rss_mb(proc.pid), 1))
            if rounds:
                prev = rounds[-1]["rss_end_mb"]
                result["rss_growth"] = round((result["rss_end_mb"] - prev) / prev, 4)
            rounds.append(result)
            lat = "  ".join(f"{k} p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms (n={v['n']})"
                            for k, v in result["latency"].items())  # fmt: skip
            growth = f"{100 * result['rss_growth']:+.1f} %" if "rss_growth" in result else "-"
            print(
                f"round {r + 1}: {result['wall_s']} s, errors {len(result['errors'])}, "
                f"swaps (version, s) {result['swaps']}, RSS {result['rss_start_mb']} -> "
                f"{result['rss_end_mb']} MB (growth vs previous round {growth})\n  {lat}",
                flush=True,
            )
            print(f"  forwarder answers (path status: count): {result['forwarded']}", flush=True)
            for e in result["errors"][:5]:
                print(f"  error: {e}", flush=True)
        ok = all(not r["errors"] for r in rounds) and rounds[-1].get("rss_growth", 0.0) < opts.max_growth
        print(
            f"acceptance (0 errors, RSS growth < {100 * opts.max_growth:.0f} %): {'PASS' if ok else 'FAIL'}"
        )
    finally:
        stop_server(proc)
        upstream.close()
        log.close()
    if opts.out:
        from biogans_tf.io_utils import write_json

        names = (
            "rounds",
            "grpc_clients",
            "rest_clients",
            "reconstruct_clients",
            "forward_clients",
            "upstream_delay",
            "forward_timeout",
            "swaps",
            "arch",
            "image_size",
        )
        write_json(opts.out, {"flags": {k: getattr(opts, k) for k in names}, "rounds": rounds})
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    app.run(main)

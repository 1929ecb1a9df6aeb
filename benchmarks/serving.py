"""Serving latency and throughput: in-process vs over gRPC, batch 1 / 16 / 64.

    python -m benchmarks.serving [--archs dcgan-sep,star] [--batches 1,16,64] [--repeats 20]

For each architecture (paper size: 48x80, nz=100, ngf=64, 6 proteins for star; random init is fine for
timing) the generator is exported with `export.saved_model`, then the `sample` signature is timed
  keras      `G(z, training=False)` in a tf.function (the model itself, no export),
  inprocess  the reloaded SavedModel's signature called in this process,
  grpc       a `serving.server` subprocess on 127.0.0.1 called through the official stub (includes
             the TensorProto encoding of the images and the loopback transfer).
Prints one line per (arch, path, batch) and, last, all figures as key=value pairs
(`<arch>_<path>_b<batch>_{p50_ms,p99_ms,img_per_s}`).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from absl import app, logging

from biogans_tf.cli import define_flags, from_flags
from biogans_tf.options import option


@dataclasses.dataclass
class ServingBenchOptions:
    """Every option of `benchmarks.serving`: each field is the flag of the same name.

    The list fields' defaults are comma-separated text (a dataclass default cannot be a list);
    absl parses them, so the flag values (what `from_flags` returns) are lists of str.
    """

    archs: list[str] = option("dcgan-sep,star", "Architectures to time.")
    batches: list[str] = option("1,16,64", "Batch sizes (n of the sample signature).")
    repeats: int = option(20, "Timed calls per (arch, path, batch), after 3 warm-up calls.", lower_bound=2)
    n_proteins: int = option(6, "Proteins of the multi-protein (star) model.")
    out: str | None = option(None, "Optional JSON file for the figures.")


define_flags(ServingBenchOptions, __name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _stats(times, n) -> dict:
    t = np.asarray(times)
    return {
        "p50_ms": float(np.percentile(t, 50) * 1000),
        "p99_ms": float(np.percentile(t, 99) * 1000),
        "img_per_s": float(n / t.mean()),
    }


def _time(fn, repeats) -> list[float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model_dir: str, name: str, max_batch: int):
    grpc_port, rest_port = _free_port(), _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving.server",
            "--model_base_path",
            model_dir,
            "--model_name",
            name,
            "--port",
            str(grpc_port),
            "--rest_api_port",
            str(rest_port),
            "--max_batch",
            str(max_batch),
            "--noenable_model_warmup",
            "--max_request_bytes",
            str(256 << 20),
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log: {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return proc, f"127.0.0.1:{grpc_port}"
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError(f"server did not become healthy; log: {log.name}")


def bench_arch(arch: str, batches: list[int], repeats: int, base: str, n_proteins: int = 6) -> dict:
    import tensorflow as tf

    from biogans_tf.export.saved_model import export_generator
    from biogans_tf.models import build_generator
    from biogans_tf.serving.grpc_client import ServingClient

    proteins = [f"p{i}" for i in range(n_proteins)]
    g = build_generator(arch, image_size=(48, 80), n_proteins=len(proteins), nz=100, ngf=64, seed=0)
    t0 = time.perf_counter()
    path = export_generator(g, base, arch, arch=arch, proteins=proteins, warmup=False)
    print(f"{arch}: exported in {time.perf_counter() - t0:.1f} s to {path}", flush=True)
    results = {}

    keras_fn = tf.function(lambda z: g(z, training=False))
    loaded = tf.saved_model.load(path)
    sample = loaded.signatures["sample"]
    seed = tf.constant(1, tf.int64)
    for b in batches:
        z = tf.random.stateless_normal([b, 100], seed=[1, 2])
        results[("keras", b)] = _stats(_time(lambda z=z: keras_fn(z).numpy(), repeats), b)
        n = tf.constant(b, tf.int32)
        results[("inprocess", b)] = _stats(
            _time(lambda n=n: sample(n=n, seed=seed)["images"].numpy(), repeats), b
        )

    proc, target = _start_server(os.path.join(base, arch), arch, max(batches))
    try:
        client = ServingClient(target, arch)
        for b in batches:
            results[("grpc", b)] = _stats(_time(lambda b=b: client.sample(b, 1), repeats), b)
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return results


def main(argv):
    del argv
    import tensorflow as tf

    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs every step at INFO
    opts = from_flags(ServingBenchOptions)
    batches = [int(b) for b in opts.batches]
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; repeats={opts.repeats}", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory() as base:
        for arch in opts.archs:
            for (path, b), s in bench_arch(arch, batches, opts.repeats, base, opts.n_proteins).items():
                print(
                    f"{arch:10s} {path:9s} batch {b:3d}: p50 {s['p50_ms']:9.2f} ms  "
                    f"p99 {s['p99_ms']:9.2f} ms  {s['img_per_s']:9.1f} img/s",
                    flush=True,
                )
                for k, v in s.items():
                    figures[f"{arch}_{path}_b{b}_{k}"] = round(v, 3)
    if opts.out:
        from biogans_tf.io_utils import write_json

        write_json(opts.out, {"device": device, "repeats": opts.repeats, "figures": figures})
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    app.run(main)

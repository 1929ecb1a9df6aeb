"""Server start-up: time to the first REST answer, to AVAILABLE, and each warm-up request's time.

    python -m benchmarks.server_startup [--runs 2] [--image_size 24,40] [--ngf 8] [--nz 16]

Exports a tiny star generator (2 proteins, random weights, warm-up requests included) twice, with
TensorFlow's graph optimiser on (`export.saved_model --graph_optimizer`) and off (the default), and
starts `python -m serving.server` on each `--runs` times, alternating. Polls `GET /v1/models/NAME` every 0.1 s
from the process start; prints one line per start and the server's own warm-up lines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from absl import app

from biogans_tf.cli import define_flags, from_flags
from biogans_tf.cpu import cpu_model
from biogans_tf.options import option
from biogans_tf.serving.launch import free_port, stop_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "cells"


@dataclasses.dataclass
class StartupOptions:
    """Every option of `benchmarks.server_startup`: each field is the flag of the same name."""

    runs: int = option(2, "Starts per setting.", lower_bound=1)
    image_size: list[str] = option("24,40", "Image height,width of the exported model.")
    ngf: int = option(8, "Generator width.", lower_bound=1)
    nz: int = option(16, "Latent size.", lower_bound=2)


define_flags(StartupOptions, __name__)


def _state(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())["model_version_status"][0]["state"]
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except OSError:
        return None


def start_once(base: str, extra: list[str], log_path: str) -> dict:
    """Start the server on `base`, wait for AVAILABLE, stop it; returns the figures of this start."""
    rest = free_port()
    cmd = [sys.executable, "-m", "serving.server", "--model_base_path", base, "--model_name", MODEL,
           "--port", str(free_port()), "--rest_api_port", str(rest), *extra]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    url, first = f"http://127.0.0.1:{rest}/v1/models/{MODEL}", None
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}; log {log_path}")
                state = _state(url)
                now = time.perf_counter() - t0
                if state is not None and first is None:
                    first = now
                if state == "AVAILABLE":
                    break
                time.sleep(0.1)
        finally:
            stop_server(proc)
    with open(log_path) as f:
        text = f.read()
    warmups = re.findall(r"warm-up \S+ version \d+: (\S+) \(\d+/\d+\) ([\d.]+) s", text)
    return {"first_answer_s": round(first, 1), "available_s": round(now, 1),
            "warmup_s": {name: float(s) for name, s in warmups},
            "warmup_total_s": round(sum(float(s) for _, s in warmups), 1)}  # fmt: skip


def main(argv):
    del argv
    o = from_flags(StartupOptions)
    from biogans_tf.export import saved_model as sm
    from biogans_tf.models import build_generator

    tmp = tempfile.mkdtemp(prefix="server_startup-")
    size = tuple(int(v) for v in o.image_size)
    g = build_generator("star", image_size=size, n_proteins=2, nz=o.nz, ngf=o.ngf, seed=0)
    settings = {"graph_optimizer on": True, "graph_optimizer off (default)": False}
    bases = {}
    for name, on in settings.items():
        base = os.path.join(tmp, "on" if on else "off")
        path = sm.export_generator(
            g, base, MODEL, arch="star", proteins=["Alp14", "Arp3"], graph_optimizer=on
        )
        bases[name] = os.path.dirname(path)
    print(f"cpu={cpu_model()!r} cores={os.cpu_count()} model: star {size[0]}x{size[1]} ngf={o.ngf} nz={o.nz}")
    results = {name: [] for name in settings}
    for i in range(o.runs):
        for name, model_dir in bases.items():
            r = start_once(model_dir, [], os.path.join(tmp, f"server-{i}-{int(settings[name])}.log"))
            results[name].append(r)
            print(f"{name}: first answer {r['first_answer_s']} s, AVAILABLE {r['available_s']} s, "
                  f"warm-up {r['warmup_total_s']} s {r['warmup_s']}", flush=True)  # fmt: skip
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    app.run(main)

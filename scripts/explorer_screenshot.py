"""Screenshot of the cell explorer's one-cell view for a training run.

    python scripts/explorer_screenshot.py --run_dir RUN --out docs/figures/explorer.png

Exports the run into a temporary folder (`export.saved_model`), starts `serving.server` on free
ports, opens `/explorer` in headless Chromium (serving/explorer/browser.py, as the test), opens one
cell, runs the young -> dividing presets and saves a screenshot of the page (written atomically).
Needs Debian's chromium + chromium-driver and selenium (requirements-dev.txt). Prints a JSON
summary as its last line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from biogans_tf.io_utils import write_bytes  # noqa: E402
from serving.explorer import browser  # noqa: E402
from serving.launch import free_port, stop_server  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run directory (config.json, generator.keras).")
flags.DEFINE_string("out", "docs/figures/explorer.png", "PNG to write.")
flags.DEFINE_string("checkpoint", "final", "What to export: final (generator.keras), latest, or a prefix.")
flags.DEFINE_bool("ema", True, "Show the EMA generator when the run has one.")
flags.DEFINE_integer("seed", 1, "Seed of the browsed batch.", lower_bound=0)
flags.DEFINE_integer("tile", 0, "Which tile of the grid to open.", lower_bound=0)
flags.DEFINE_integer("zoom", 2, "Zoom of the pixels (2, 3, 4, 6 or 8).")
flags.DEFINE_integer("width", 1366, "Browser window width (CSS px).", lower_bound=400)
flags.DEFINE_integer("height", 1000, "Browser window height (CSS px).", lower_bound=300)
flags.DEFINE_float("timeout", 900.0, "Seconds allowed for the export and the server start each.")


def _fail(message: str) -> None:
    """Exit 2 with one line on stderr (no usage text, no traceback)."""
    print(f"explorer_screenshot: error: {message}", file=sys.stderr)
    sys.exit(2)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")


def _export(run_dir: str, base: str) -> str:
    cmd = [sys.executable, "-m", "export.saved_model", "--run_dir", run_dir, "--base_path", base,
           "--model_name", "cells", "--checkpoint", FLAGS.checkpoint]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=FLAGS.timeout)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        _fail(f"--run_dir {run_dir}: export failed: {tail}")
    exported = json.loads(out.stdout.strip().splitlines()[-1])["exported"]
    name = "cells_ema" if FLAGS.ema and "cells_ema" in exported else "cells"
    return name


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: str) -> None:
    deadline = time.time() + FLAGS.timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            with open(log_path) as f:
                raise RuntimeError(f"serving.server exited with {proc.returncode}: {f.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"serving.server not healthy after {FLAGS.timeout} s (log: {log_path})")


def _shoot(url: str, out: str) -> dict:
    driver = browser.make_driver(FLAGS.width, FLAGS.height)
    try:
        browser.open_explorer(driver, f"{url}/explorer", 1, timeout=FLAGS.timeout)
        driver.execute_script(
            "const z = document.getElementById('zoom'); z.value = arguments[0];"
            "z.dispatchEvent(new Event('change')); document.getElementById('seed').value = arguments[1];",
            str(FLAGS.zoom),
            FLAGS.seed,
        )
        driver.find_element("id", "sample").click()
        browser.wait_for(driver, "return window.explorer.busy() === 0 && window.explorer.state.cells.length")
        tiles = driver.find_elements("css selector", "#grid button.tile")
        tiles[min(FLAGS.tile, len(tiles) - 1)].click()
        driver.find_element("id", "preset").click()
        browser.wait_for(driver, "return window.explorer.state.frames.length && window.explorer.busy() === 0")
        driver.execute_script("window.scrollTo(0, 0)")
        errors = browser.console_entries(driver)
        labels = [e.text for e in driver.find_elements("css selector", "#panels figcaption")]
        write_bytes(out, driver.get_screenshot_as_png())
        return {"out": out, "panels": labels, "console_errors": errors}
    finally:
        driver.quit()


def main(argv):
    del argv
    if not FLAGS.run_dir or not os.path.isfile(os.path.join(FLAGS.run_dir, "config.json")):
        _fail(f"--run_dir {FLAGS.run_dir}: expected a training run folder with config.json")
    # SIGTERM unwinds like Ctrl-C, so the server subprocess and the temporary export are cleaned up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    missing = browser.browser_missing()
    if missing:
        _fail(f"cannot take the screenshot: {missing}")
    with tempfile.TemporaryDirectory(prefix="explorer-shot-") as tmp:
        base = os.path.join(tmp, "models")
        name = _export(os.path.abspath(FLAGS.run_dir), base)
        rest = free_port()
        log_path = os.path.join(tmp, "server.log")
        with open(log_path, "w") as log:
            cmd = [sys.executable, "-m", "serving.server", "--model_base_path",
                   os.path.join(base, name), "--model_name", name, "--port", str(free_port()),
                   "--rest_api_port", str(rest)]  # fmt: skip
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{rest}"
                _wait_healthy(url, proc, log_path)
                summary = _shoot(url, os.path.abspath(FLAGS.out))
            finally:
                stop_server(proc)
    summary["model"] = name
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)

"""Screenshot of the cell explorer's one-cell view for a training run.

    python scripts/explorer_screenshot.py --run_dir RUN --out docs/figures/explorer.png

Exports the run into a temporary folder (`export.saved_model`), starts `serving.server` on free
ports, opens `/explorer` in headless Chromium (serving/explorer/browser.py, as the test), opens one
cell, runs the young -> dividing presets and saves a screenshot of the page (written atomically).
Needs Debian's chromium + chromium-driver and selenium (requirements-dev.txt). Prints a JSON
summary as its last line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from absl import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from biogans_tf.cli import define_flags, from_flags  # noqa: E402
from biogans_tf.io_utils import write_bytes  # noqa: E402
from biogans_tf.options import option  # noqa: E402
from biogans_tf.runs.folder import RunFolder  # noqa: E402
from biogans_tf.serving.explorer import browser  # noqa: E402
from biogans_tf.serving.launch import free_port, stop_server  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ScreenshotOptions:
    """The screenshot's options; each field is a flag of the same name (biogans_tf.cli)."""

    run_dir: str | None = option(None, "Training run directory (config.json, generator.keras).")
    out: str = option("docs/figures/explorer.png", "PNG to write.")
    checkpoint: str = option("final", "What to export: final (generator.keras), latest, or a prefix.")
    ema: bool = option(True, "Show the EMA generator when the run has one.")
    seed: int = option(1, "Seed of the browsed batch.", lower_bound=0)
    tile: int = option(0, "Which tile of the grid to open.", lower_bound=0)
    zoom: int = option(2, "Zoom of the pixels (2, 3, 4, 6 or 8).")
    width: int = option(1366, "Browser window width (CSS px).", lower_bound=400)
    height: int = option(1000, "Browser window height (CSS px).", lower_bound=300)
    timeout: float = option(900.0, "Seconds allowed for the export and the server start each.")


define_flags(ScreenshotOptions, __name__)


def _fail(message: str) -> None:
    """Exit 2 with one line on stderr (no usage text, no traceback)."""
    print(f"explorer_screenshot: error: {message}", file=sys.stderr)
    sys.exit(2)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")


def _export(o: ScreenshotOptions, run_dir: str, base: str) -> str:
    cmd = [sys.executable, "-m", "export.saved_model", "--run_dir", run_dir, "--base_path", base,
           "--model_name", "cells", "--checkpoint", o.checkpoint]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=o.timeout)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        _fail(f"--run_dir {run_dir}: export failed: {tail}")
    exported = json.loads(out.stdout.strip().splitlines()[-1])["exported"]
    name = "cells_ema" if o.ema and "cells_ema" in exported else "cells"
    return name


def _wait_healthy(o: ScreenshotOptions, url: str, proc: subprocess.Popen, log_path: str) -> None:
    deadline = time.time() + o.timeout
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
    raise TimeoutError(f"serving.server not healthy after {o.timeout} s (log: {log_path})")


def _shoot(o: ScreenshotOptions, url: str, out: str) -> dict:
    driver = browser.make_driver(o.width, o.height)
    try:
        browser.open_explorer(driver, f"{url}/explorer", 1, timeout=o.timeout)
        driver.execute_script(
            "const z = document.getElementById('zoom'); z.value = arguments[0];"
            "z.dispatchEvent(new Event('change')); document.getElementById('seed').value = arguments[1];",
            str(o.zoom),
            o.seed,
        )
        driver.find_element("id", "sample").click()
        browser.wait_for(driver, "return window.explorer.busy() === 0 && window.explorer.state.cells.length")
        tiles = driver.find_elements("css selector", "#grid button.tile")
        tiles[min(o.tile, len(tiles) - 1)].click()
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
    o = from_flags(ScreenshotOptions)
    if not o.run_dir or not os.path.isfile(RunFolder(o.run_dir).config):
        _fail(f"--run_dir {o.run_dir}: expected a training run folder with config.json")
    # SIGTERM unwinds like Ctrl-C, so the server subprocess and the temporary export are cleaned up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    missing = browser.browser_missing()
    if missing:
        _fail(f"cannot take the screenshot: {missing}")
    with tempfile.TemporaryDirectory(prefix="explorer-shot-") as tmp:
        base = os.path.join(tmp, "models")
        name = _export(o, os.path.abspath(o.run_dir), base)
        rest = free_port()
        log_path = os.path.join(tmp, "server.log")
        with open(log_path, "w") as log:
            cmd = [sys.executable, "-m", "serving.server", "--model_base_path",
                   os.path.join(base, name), "--model_name", name, "--port", str(free_port()),
                   "--rest_api_port", str(rest)]  # fmt: skip
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{rest}"
                _wait_healthy(o, url, proc, log_path)
                summary = _shoot(o, url, os.path.abspath(o.out))
            finally:
                stop_server(proc)
    summary["model"] = name
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)

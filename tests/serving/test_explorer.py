"""The cell explorer page in a real headless Chromium against a real `serving.server` subprocess.

The served model is a tiny star generator (3 proteins, 16x32) whose kernels are scaled up and whose
last red kernel is shifted negative, so that its cells differ visibly from z to z (an untrained
generator outputs a flat grey with the same length everywhere): a fixed, seeded stand-in for a trained
model. Skipped only where no browser is installed and the CI variable is unset.
"""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from biogans_tf.serving.explorer.browser import (
    browser_missing,
    console_entries,
    make_driver,
    open_explorer,
    wait_for,
)
from biogans_tf.serving.launch import free_port
from tests.conftest import ROOT, subprocess_env
from tests.serving.conftest import Server, http_json

pytestmark = pytest.mark.browser

PROTEINS = ["Alp14", "Arp3", "Tea1"]
SIZE = (16, 32)
N_TILES = 12

_missing = browser_missing()
if _missing and not os.environ.get("CI"):
    pytest.skip(f"no browser to drive: {_missing}", allow_module_level=True)


def export_varied_star(tmp) -> None:
    """Export the tiny star generator described in the module docstring to tmp/models/cells."""
    from biogans_tf.models import build_generator

    g = build_generator("star", image_size=SIZE, n_proteins=len(PROTEINS), nz=16, ngf=8, seed=3)
    for w in g.weights:
        if w.path.endswith("kernel"):
            w.assign(w * 40.0)  # reference init (std 0.02) gives outputs ~1e-4: make them saturate
    red = next(w for w in g.weights if w.path.endswith("block_2/conv_red/kernel"))
    # Features entering the last layer are ReLU outputs (>= 0), so a negative kernel shift darkens
    # the red background and leaves z-dependent "cells" of varying length.
    red.assign(red - 0.3 * float(np.std(red.numpy())))
    g.save(tmp / "g.keras")
    base = tmp / "models"
    cmd = [sys.executable, "-m", "export.saved_model", "--generator", str(tmp / "g.keras"),
           "--arch", "star", "--proteins", ",".join(PROTEINS), "--base_path", str(base),
           "--model_name", "cells"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def loading_seen():
    return {}


@pytest.fixture(scope="module")
def server_and_driver(tmp_path_factory, downloads, loading_seen):
    tmp = tmp_path_factory.mktemp("explorer")
    (tmp / "models" / "cells").mkdir(parents=True)
    # The server starts on the empty folder (importing TF meanwhile) and picks the export up; the
    # page opens as soon as the export is written, while the server loads and warms the model up.
    srv = Server(str(tmp / "models" / "cells"), str(tmp / "server.log"), "--grace_seconds", "1")
    d = make_driver(download_dir=str(downloads))
    try:
        export_varied_star(tmp)
        deadline = time.time() + 60
        while True:  # the poller has found the version (before that the model is unknown, 404)
            status, body = http_json(srv.url + "/v1/models/cells")
            if status == 200:
                break
            assert time.time() < deadline, body
            time.sleep(0.05)
        d.get(srv.url + "/explorer")
        status = "document.getElementById('status').textContent"
        # Past "connecting to cells…" (its own " cells" is not a grid of cells): loading, or loaded.
        wait_for(
            d,
            f"return !{status}.startsWith('connecting') && "
            f"({status}.includes('is loading') || {status}.includes(' cells'))",
            120,
        )
        loading_seen["status"] = d.execute_script(f"return {status}")
        open_explorer(d, srv.url + "/explorer", N_TILES)
        yield srv, d
    finally:
        d.quit()
        srv.terminate()


@pytest.fixture(scope="module")
def server(server_and_driver):
    return server_and_driver[0]


@pytest.fixture(scope="module")
def driver(server_and_driver):
    return server_and_driver[1]


def test_the_page_says_the_model_is_loading_while_the_server_loads_it(driver, loading_seen):
    # The page opened while the server was loading the version (its ports answer at once).
    assert loading_seen["status"].startswith("cells is loading (version 1)"), loading_seen


# Pixel helpers run in the page: RGBA bytes of a canvas, and their hash.
PIXELS = (
    "const c = arguments[0]; "
    "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);"
)


def pixels(driver, element) -> np.ndarray:
    return np.array(driver.execute_script(PIXELS, element), np.uint8).reshape(-1, 4)


def digest(driver, element) -> str:
    return hashlib.sha1(pixels(driver, element).tobytes()).hexdigest()


def idle(driver, timeout=120):
    wait_for(driver, "return window.explorer.busy() === 0", timeout)


def open_first_tile(driver):
    driver.find_element("css selector", "#grid button.tile").click()
    wait_for(driver, "return !document.getElementById('cell').hidden")


def test_page_loads_grid_of_non_blank_tiles_without_console_errors(driver):
    tiles = driver.find_elements("css selector", "#grid button.tile canvas")
    assert len(tiles) == N_TILES
    for tile in tiles:
        rgb = pixels(driver, tile)[:, :3]
        assert rgb.max() > 0 and rgb.std() > 0, "a tile is blank or flat"
    # "More" draws another batch with the next seed: the grid grows and the new tiles differ.
    first = digest(driver, tiles[0])
    driver.find_element("id", "more").click()
    wait_for(driver, f"return document.querySelectorAll('#grid canvas').length === {2 * N_TILES}")
    idle(driver)
    new = driver.find_elements("css selector", "#grid button.tile canvas")[N_TILES]
    assert digest(driver, new) != first
    assert console_entries(driver) == []


def test_click_opens_cell_view_with_one_labelled_panel_per_protein(driver):
    open_first_tile(driver)
    captions = [e.text for e in driver.find_elements("css selector", "#panels figcaption")]
    assert captions == ["Bgs4 (red)", *PROTEINS]
    toggles = driver.find_elements("css selector", "#overlay-toggles label")
    assert [t.text.strip() for t in toggles] == PROTEINS
    overlay = driver.find_element("id", "overlay")
    before = digest(driver, overlay)
    boxes = [t.find_element("tag name", "input") for t in toggles]
    assert [b.is_selected() for b in boxes] == [True, False, False]
    boxes[0].click()  # all greens off: the overlay is the red alone
    assert digest(driver, overlay) != before
    assert pixels(driver, overlay)[:, 1].max() == 0
    boxes[1].click()
    assert pixels(driver, overlay)[:, 1].max() > 0
    assert console_entries(driver) == []


def test_slider_changes_image_and_reported_cell_length(driver):
    driver.find_element("id", "preset").click()
    wait_for(driver, "return window.explorer.state.frames.length === 16")
    idle(driver)
    canvas, slider = driver.find_element("id", "cycle-canvas"), driver.find_element("id", "slider")
    first, first_len = digest(driver, canvas), driver.find_element("id", "length").text
    slider.send_keys("\ue010")  # END key: the slider is keyboard-operable
    assert slider.get_attribute("value") == "15"
    last, last_len = digest(driver, canvas), driver.find_element("id", "length").text
    assert last != first
    assert first_len.startswith("cell length: ") and last_len != first_len
    young, old = driver.execute_script("const L = window.explorer.state.lengths; return [L[0], L.at(-1)];")
    assert young < old, "the young preset should be shorter than the dividing one"
    assert console_entries(driver) == []


def test_palette_switch_changes_pixel_colours(driver):
    from selenium.webdriver.support.ui import Select

    tile = driver.find_element("css selector", "#grid button.tile canvas")
    rg = pixels(driver, tile)
    assert rg[:, 2].max() == 0  # red-green: no blue
    Select(driver.find_element("id", "palette")).select_by_value("mg")
    mg = pixels(driver, tile)
    assert np.array_equal(mg[:, 2], mg[:, 0]) and mg[:, 2].max() > 0  # magenta: blue = red
    Select(driver.find_element("id", "palette")).select_by_value("gray")
    gray = pixels(driver, tile)
    assert np.array_equal(gray[:, 0], gray[:, 1]) and np.array_equal(gray[:, 1], gray[:, 2])
    Select(driver.find_element("id", "palette")).select_by_value("rg")
    assert np.array_equal(pixels(driver, tile), rg)


def _cell_png(path):
    from PIL import Image

    h, w = SIZE
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - h / 2 + 0.5) / 6) ** 2 + ((xx - w / 2 + 0.5) / 12) ** 2 <= 1
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = np.where(inside, 200, 0)
    rgb[..., 1] = np.where(inside & (np.abs(xx - w / 2) > 8), 160, 0)  # a green at both tips
    Image.fromarray(rgb).save(path)
    return rgb


def test_uploaded_png_is_reconstructed_with_l2_and_every_protein(driver, tmp_path):
    from selenium.webdriver.support.ui import Select

    rgb = _cell_png(tmp_path / "cell.png")
    driver.find_element("id", "upload").send_keys(str(tmp_path / "cell.png"))
    wait_for(driver, "return !document.getElementById('reconstruct').disabled")
    red = driver.execute_script("return Array.from(window.explorer.state.upload.red)")
    np.testing.assert_allclose(red, rgb[..., 0].ravel() / 255 * 2 - 1, atol=1e-6)
    which = Select(driver.find_element("xpath", "//label[contains(., 'Green channel is')]/select"))
    assert which.first_selected_option.text == "Alp14"  # the default: the first protein
    which.select_by_visible_text("Arp3")
    for name, value in (("iterations", "5"), ("restarts", "1")):
        field = driver.find_element("id", name)
        field.clear()
        field.send_keys(value)
    driver.find_element("id", "reconstruct").click()
    l2 = float(wait_for(driver, "return document.getElementById('recon-info').dataset.l2", 120))
    assert np.isfinite(l2) and 0 <= l2 <= 1
    assert "L2 " in driver.find_element("id", "recon-info").text
    captions = [e.text for e in driver.find_elements("css selector", "#recon-panels figcaption")]
    assert captions == ["input (Arp3)", "reconstruction (Arp3)", "predicted Alp14", "predicted Tea1"]
    # The model lists reconstruct_masked, so only Bgs4 + Arp3 were fitted and the L2 shown is the
    # RMS over those two channels (the unknown Alp14 / Tea1 greens do not count).
    assert driver.execute_script("return window.explorer.state.reconSignature") == "reconstruct_masked"
    assert "over observed channels: Bgs4 + Arp3" in driver.find_element("id", "recon-info").text
    up, rec = driver.execute_script(
        "const s = window.explorer.state, u = s.upload, r = s.reconstruction;"
        "return [[Array.from(u.red), Array.from(u.green)], [Array.from(r.red), Array.from(r.greens[1])]];"
    )
    observed = np.sqrt(np.mean(((np.array(rec) - np.array(up)) * 0.5) ** 2))
    np.testing.assert_allclose(l2, observed, rtol=1e-4, atol=1e-6)
    assert console_entries(driver) == []


def test_sixteen_bit_tiff_upload_is_decoded(driver, tmp_path):
    import tifffile

    h, w = SIZE
    planes = np.zeros((2, h, w), np.uint16)
    planes[0, 4:12, 6:26] = 65535
    planes[1, 5:9, 8:12] = 32768
    tifffile.imwrite(tmp_path / "cell16.tif", planes)  # two pages, uncompressed
    driver.find_element("id", "upload").send_keys(str(tmp_path / "cell16.tif"))
    wait_for(driver, "return (window.explorer.state.upload || {}).name === 'cell16.tif'")
    up = driver.execute_script(
        "const u = window.explorer.state.upload; return [Array.from(u.red), Array.from(u.green)];"
    )
    np.testing.assert_allclose(up[0], planes[0].ravel() / 65535 * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(up[1], planes[1].ravel() / 65535 * 2 - 1, atol=1e-6)
    # A compressed TIFF is refused with one line naming the file and what to do.
    tifffile.imwrite(tmp_path / "packed.tif", planes, compression="zlib")
    driver.find_element("id", "upload").send_keys(str(tmp_path / "packed.tif"))
    info = wait_for(driver, "const t = document.getElementById('recon-info').textContent; "
                    "return t.startsWith('packed.tif') && t")  # fmt: skip
    assert info == "packed.tif: compressed TIFF (compression 8); save it uncompressed"
    assert console_entries(driver) == []


def _tiff_bytes(driver, fn):
    b64 = driver.execute_script(
        f"const b = window.explorer.{fn}(); let s = ''; "
        "b.forEach(v => s += String.fromCharCode(v)); return btoa(s);"
    )
    return base64.b64decode(b64)


def _ome_channels(tif) -> tuple[list[str], ET.Element]:
    root = ET.fromstring(tif.ome_metadata)
    ns = {"ome": root.tag.split("}")[0].strip("{")}
    pixels_el = root.find(".//ome:Pixels", ns)
    return [c.get("Name") for c in pixels_el.findall("ome:Channel", ns)], pixels_el


def test_ome_tiff_downloads_read_back_with_named_channels(driver, downloads):
    import tifffile

    open_first_tile(driver)
    driver.find_element("id", "cell-tiff").click()  # the button's real download
    path = downloads / "cell.ome.tif"
    deadline = time.time() + 30
    while not path.exists() and time.time() < deadline:
        time.sleep(0.2)
    data = path.read_bytes()
    assert data == _tiff_bytes(driver, "cellTiff")
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_ome
        names, px = _ome_channels(tif)
        assert names == ["Bgs4", *PROTEINS]
        assert float(px.get("PhysicalSizeX")) == pytest.approx(0.1)
        arr = tif.series[0].asarray()
    assert arr.shape == (1 + len(PROTEINS), *SIZE)
    red = driver.execute_script("return Array.from(window.explorer.state.current.red)")
    expected = np.clip(np.round((np.array(red) + 1) * 127.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(arr[0].ravel(), expected)

    from PIL import Image

    driver.find_element("id", "cell-png").click()  # red, then red + each green, side by side
    png = downloads / "cell.png"
    while not png.exists() and time.time() < deadline + 30:
        time.sleep(0.2)
    with Image.open(png) as im:
        assert im.size == ((1 + len(PROTEINS)) * SIZE[1], SIZE[0])
        np.testing.assert_array_equal(np.asarray(im.convert("RGB"))[:, : SIZE[1], 0].ravel(), expected)

    if not driver.execute_script("return window.explorer.state.frames.length"):
        driver.find_element("id", "preset").click()
        wait_for(driver, "return window.explorer.state.frames.length === 16")
    with tifffile.TiffFile(io.BytesIO(_tiff_bytes(driver, "cycleTiff"))) as tif:
        names, px = _ome_channels(tif)
        assert names == ["Bgs4", *PROTEINS] and px.get("SizeT") == "16"
        series = tif.series[0]
        assert series.axes == "TCYX" and series.shape == (16, 1 + len(PROTEINS), *SIZE)
    assert console_entries(driver) == []


def test_explorer_api_forwards_only_the_model_api(server):
    """`routes(api_base=...)`, as `--explorer_api` uses it: the page calls a REST API served elsewhere."""
    import uvicorn
    from starlette.applications import Starlette

    from biogans_tf.serving.explorer import routes

    with pytest.raises(ValueError, match="--explorer_api 'localhost:8501': expected an http"):
        routes(api_base="localhost:8501")
    port = free_port()
    app = Starlette(routes=routes(api_base=server.url))
    srv = uvicorn.Server(uvicorn.Config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while not srv.started and time.time() < deadline:
            time.sleep(0.05)
        page = urllib.request.urlopen(url + "/explorer", timeout=10).read().decode()
        assert '<meta name="biogans-api" content="/explorer/api">' in page
        meta = {"signature_name": "metadata", "inputs": {}}
        status, body = http_json(url + "/explorer/api/v1/models/cells:predict", meta)
        assert status == 200 and body["outputs"]["proteins"] == PROTEINS
        status, body = http_json(url + "/explorer/api/v1/models/nope:predict", meta)
        assert status == 404 and "nope" in json.dumps(body)  # the API's own error comes through
        for outside in ("/explorer/api/healthz", "/explorer/api/v1/models/../../healthz"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + outside, timeout=10)
            assert e.value.code == 404, outside  # never forwarded outside /v1/models/
    finally:
        srv.should_exit = True
        thread.join(10)

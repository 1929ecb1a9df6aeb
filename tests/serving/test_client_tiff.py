"""serving.client with TIFF: named-channel output for every command, TIFF input read like own data,
and one-line errors that name an unreadable input file (issue 12 C5)."""

import json

import numpy as np
import pytest
import tifffile

from biogans_tf import tiff
from biogans_tf.data.own import load_own
from biogans_tf.serving import client as cl
from tests.serving.conftest import MODEL, SIZE


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_sample_interpolate_reconstruct_write_named_tiffs(served, tmp_path, capsys):
    common = ["--target", served.server.target, "--model_name", MODEL]
    s_path = tmp_path / "s.ome.tif"
    assert cl.main(common + ["sample", "--n", "3", "--seed", "4", "--out", str(s_path), "--bits", "16"]) == 0
    capsys.readouterr()
    with tifffile.TiffFile(s_path) as t:
        assert t.is_ome and t.series[0].axes == "QCYX" and t.series[0].shape == (3, 2) + SIZE
        assert t.series[0].dtype == np.uint16
    back = tiff.read_tiff(str(s_path))
    assert back.channels == ["Bgs4", "Alp14"] and back.pixel_size_um == (0.1, 0.1)
    c = cl.ServingClient(served.server.target, MODEL)
    try:
        want = c.sample(3, 4)["images"]
    finally:
        c.close()
    np.testing.assert_array_equal(back.data, tiff.quantise(np.moveaxis(want, -1, 1), 16))

    w_path = tmp_path / "walk.tif"  # ImageJ hyperstack, T = step
    assert cl.main(common + ["interpolate", "--seed", "3", "--interp_steps", "4", "--out", str(w_path)]) == 0
    assert _last_json(capsys)["steps"] == 4
    walk = tiff.read_tiff(str(w_path))
    assert not walk.ome and walk.axes == "TCYX" and walk.data.shape == (4, 2) + SIZE
    assert walk.channels == ["Bgs4", "Alp14"] and walk.dtype == np.uint8

    # Served cells as 16-bit two-page TIFFs with green first: --channel_map red=1,green=0.
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"cell{i}.tif"))
        tifffile.imwrite(paths[-1], tiff.quantise(np.moveaxis(want[i], -1, 0)[::-1], 16))  # green, red
    r_path = tmp_path / "r.ome.tif"
    args = ["reconstruct", "--images", *paths, "--channel_map", "red=1,green=0", "--percentiles", "none",
            "--iterations", "30", "--restarts", "2", "--out", str(r_path)]  # fmt: skip
    assert cl.main(common + args) == 0
    assert max(_last_json(capsys)["l2"]) < 0.01
    rec = tiff.read_tiff(str(r_path))
    assert rec.axes == "QCYX" and rec.data.shape == (2, 4) + SIZE
    assert rec.channels == ["Bgs4", "Alp14", "Bgs4 (reconstruction)", "Alp14 (reconstruction)"]
    # The input channels hold the served cells (16 -> 8 bit rounding: within one level).
    diff = rec.data[:, :2].astype(int) - tiff.quantise(np.moveaxis(want[:2], -1, 1), 8).astype(int)
    assert np.abs(diff).max() <= 1


def test_tiff_input_is_read_like_own_data(tmp_path):
    # A 3-channel 16-bit crop larger than the model: channel map, percentile stretch, centre crop.
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 4000, (3, SIZE[0] + 6, SIZE[1] + 4)).astype(np.uint16)
    folder = tmp_path / "own" / "Alp14"
    folder.mkdir(parents=True)
    tifffile.imwrite(folder / "c1.tif", raw)
    got = cl.read_cells([str(folder / "c1.tif")], SIZE + (2,), channel_map="red=2,green=0")
    own = load_own(str(tmp_path / "own"), None, channel_map="red=2,green=0", image_size=SIZE)
    np.testing.assert_array_equal(got, own.images.astype(np.float32) / 127.5 - 1.0)


@pytest.mark.parametrize("name,content", [("bad.npy", b"\x93NUMPY garbage"), ("bad.png", b"not a png"),
                                          ("bad.tif", b"II*\x00 broken")])  # fmt: skip
def test_unreadable_input_names_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as e:
        cl.read_cells([str(path)], SIZE + (2,))
    message = str(e.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_cli_unreadable_input_is_one_line(served, tmp_path, capsys):
    bad = tmp_path / "cells.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00garbage")
    common = ["--target", served.server.target, "--model_name", MODEL]
    assert cl.main(common + ["reconstruct", "--images", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "Traceback" not in err

"""Own-data reader: 16-bit TIFF with a channel map and percentile normalisation, PNG variants, resizing."""

import numpy as np
import pytest
import tifffile

from biogans_tf.data.errors import DataError
from biogans_tf.data.own import load_own, parse_channel_map, resize_to
from tests.data.lin_fixtures import png_bytes


def _expected(channel, lo_p=0.5, hi_p=99.5):
    lo, hi = np.percentile(channel.astype(np.float64), (lo_p, hi_p))
    return np.round(np.clip((channel - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8), lo, hi


def test_16bit_tiff_channel_map_and_percentiles(tmp_path):
    rng = np.random.default_rng(1)
    stack = rng.integers(100, 60000, (3, 48, 80), dtype=np.uint16)  # (C, H, W)
    (tmp_path / "train" / "Alp14").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "train" / "Alp14" / "c1.tif", stack)
    cs = load_own(str(tmp_path), "train", channel_map="red=2,green=0")
    assert cs.images.shape == (1, 48, 80, 2) and cs.proteins == ("Alp14",)
    red, lo, hi = _expected(stack[2])
    green, _, _ = _expected(stack[0])
    np.testing.assert_array_equal(cs.images[0, ..., 0], red)  # the map is honoured: red = channel 2
    np.testing.assert_array_equal(cs.images[0, ..., 1], green)
    # The 99.5th percentile maps to 255 and everything above is clipped there; 0.5th -> 0.
    assert (cs.images[0, ..., 0][stack[2] >= hi] == 255).all()
    assert (cs.images[0, ..., 0][stack[2] <= lo] == 0).all()
    assert 0.004 < (cs.images[0, ..., 0] == 255).mean() < 0.01


def test_tiff_channel_axis_layouts_agree(tmp_path):
    rng = np.random.default_rng(2)
    stack = rng.integers(0, 4000, (2, 48, 80), dtype=np.uint16)
    (tmp_path / "A").mkdir()
    tifffile.imwrite(tmp_path / "A" / "pages.tif", stack)  # multi-page, first axis
    tifffile.imwrite(tmp_path / "A" / "last.tif", np.moveaxis(stack, 0, -1))  # channel last
    tifffile.imwrite(tmp_path / "A" / "imagej.tif", stack[None, None], imagej=True)  # TZCYX, T=Z=1 squeezed
    cs = load_own(str(tmp_path))
    assert cs.files == ("A/imagej.tif", "A/last.tif", "A/pages.tif")
    np.testing.assert_array_equal(cs.images[0], cs.images[2])
    np.testing.assert_array_equal(cs.images[1], cs.images[2])
    swapped = load_own(str(tmp_path), channel_map={"red": 1, "green": 0})
    np.testing.assert_array_equal(swapped.images[..., 0], cs.images[..., 1])


def test_png_variants_16bit_rgb_keeps_low_bits(tmp_path):
    import tensorflow as tf

    (tmp_path / "P").mkdir()
    ramp = (np.arange(48 * 80, dtype=np.uint16).reshape(48, 80) % 200) + 1000  # differs only in low byte
    rgb16 = np.stack([ramp, ramp[::-1], np.zeros_like(ramp)], axis=-1)
    (tmp_path / "P" / "a16.png").write_bytes(tf.io.encode_png(tf.constant(rgb16)).numpy())
    la = np.stack([ramp.astype(np.uint8), (255 - ramp).astype(np.uint8)], -1)  # gray + extra channel
    (tmp_path / "P" / "b_la.png").write_bytes(png_bytes(la))
    (tmp_path / "Q").mkdir()
    (tmp_path / "Q" / "c_gray16.png").write_bytes(png_bytes(ramp))
    # 16-bit RGB: PIL would keep only the high byte (constant here); the reader must not.
    cs = load_own(str(tmp_path), channel_map="red=0,green=1", proteins=["P"], percentiles=(0, 100))
    assert cs.files[0] == "P/a16.png"
    np.testing.assert_array_equal(cs.images[0, ..., 0], _expected(ramp, 0, 100)[0])
    assert len(np.unique(cs.images[1, ..., 1])) > 100  # LA: channel 1 is the extra channel
    gray = load_own(str(tmp_path), channel_map="red=0,green=0", proteins=["Q"], percentiles=(0, 100))
    np.testing.assert_array_equal(gray.images[0, ..., 0], _expected(ramp, 0, 100)[0])  # 16-bit gray


def test_single_channel_png_with_map_to_same_channel(tmp_path):
    (tmp_path / "G").mkdir()
    (tmp_path / "G" / "x.png").write_bytes(png_bytes(np.arange(48 * 80, dtype=np.uint16).reshape(48, 80)))
    cs = load_own(str(tmp_path), channel_map="red=0,green=0", percentiles=None)
    np.testing.assert_array_equal(cs.images[0, ..., 0], cs.images[0, ..., 1])
    assert cs.images.max() == 15  # percentiles=None: 16-bit full range, 3839 * 255 / 65535 -> 15


def test_resize_policies():
    x = np.ones((40, 100, 2), np.float32)
    pc = resize_to(x, (48, 80), "pad_or_crop")
    assert pc.shape == (48, 80, 2)
    assert pc[:4].sum() == 0 and pc[4:44].min() == 1 and pc[44:].sum() == 0  # padded rows, cropped cols
    fit = resize_to(x, (48, 80), "fit")  # scale 0.8 -> 32x80, padded 8 rows each side
    assert fit[:8].max() == 0 and fit[8:40].min() > 0.99 and fit[40:].max() == 0
    assert resize_to(x, (48, 80), "stretch").min() > 0.99
    with pytest.raises(DataError, match="40x100.*expected 48x80"):
        resize_to(x, (48, 80), "exact", where="f.tif")


def test_split_fallback_and_errors(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "x.png").write_bytes(png_bytes(np.zeros((48, 80, 3), np.uint8)))
    assert load_own(str(tmp_path), "train").files == ("train/A/x.png",)  # no split folders: root = train
    with pytest.raises(DataError, match="no 'test' folder"):
        load_own(str(tmp_path), "test")


@pytest.mark.parametrize(
    "spec", ["red=0", "red=0,green=x", "red=-1,green=0", "blue=0,green=1", "red:0,green:1"]
)
def test_bad_channel_map(spec):
    with pytest.raises(DataError, match="channel_map"):
        parse_channel_map(spec)


def test_channel_map_forms():
    assert parse_channel_map("green=3, red=1") == (1, 3)
    assert parse_channel_map((2, 0)) == (2, 0)
    assert parse_channel_map(None) == (0, 1)

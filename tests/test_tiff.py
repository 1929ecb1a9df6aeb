"""biogans_tf.tiff: named-channel OME-TIFF / ImageJ hyperstacks, read back with tifffile itself."""

import numpy as np
import pytest
import tifffile

from biogans_tf import tiff

PROTEINS = ["Alp14", "Arp3", "Cki2"]


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


@pytest.mark.parametrize("bits,dtype", [(8, np.uint8), (16, np.uint16)])
@pytest.mark.parametrize("time_axis", [False, True])
def test_ome_tiff_axes_channels_dtype_and_pixel_size(tmp_path, bits, dtype, time_axis):
    x = _images((5, 12, 20, 4))
    path = str(tmp_path / "cells.ome.tif")
    info = tiff.write_cells(path, x, PROTEINS, time_axis=time_axis, bits=bits, description="test")
    assert info["channels"] == ["Bgs4", *PROTEINS]
    with tifffile.TiffFile(path) as tif:  # tifffile's own reading, not ours
        assert tif.is_ome and not tif.is_imagej
        series = tif.series[0]
        assert series.axes == ("TCYX" if time_axis else "QCYX")
        assert series.shape == (5, 4, 12, 20) and series.dtype == dtype
        data = series.asarray()
        xml = tif.ome_metadata
    for name in ["Bgs4", *PROTEINS]:
        assert f'Name="{name}"' in xml
    assert 'PhysicalSizeX="0.1"' in xml and 'PhysicalSizeY="0.1"' in xml and 'PhysicalSizeXUnit="µm"' in xml
    # Pixels: channel c of cell n is generator channel c, mapped [-1, 1] -> [0, max].
    top = np.iinfo(dtype).max
    expected = np.round((np.moveaxis(x, -1, 1).astype(np.float64) + 1) * top / 2)
    np.testing.assert_array_equal(data, expected.astype(dtype))
    back = tiff.read_tiff(path)
    assert back.channels == ["Bgs4", *PROTEINS] and back.pixel_size_um == (0.1, 0.1) and back.ome


def test_imagej_hyperstack_labels_and_resolution(tmp_path):
    x = _images((3, 8, 16, 3))
    path = str(tmp_path / "walk.tif")
    tiff.write_cells(path, x, PROTEINS[:2], time_axis=True, bits=16)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and not tif.is_ome
        assert tif.series[0].axes == "TCYX" and tif.series[0].shape == (3, 3, 8, 16)
        assert tif.series[0].dtype == np.uint16
        meta = tif.imagej_metadata
        assert meta["Labels"][:3] == ["Bgs4", "Alp14", "Arp3"] and meta["unit"] == "micron"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.1, rel=1e-6)
    back = tiff.read_tiff(path)
    assert back.channels == ["Bgs4", "Alp14", "Arp3"] and back.pixel_size_um == pytest.approx((0.1, 0.1))


def test_layouts_pair_and_independent(tmp_path):
    pair = _images((2, 8, 16, 2))
    assert tiff.channels_of(pair, ["Tea1"])[1] == ["Bgs4", "Tea1"]
    assert tiff.channels_of(pair, PROTEINS)[1] == ["Bgs4", "green"]  # one green of several proteins
    ind = _images((2, 3, 8, 16, 2))  # independent: [N, C, H, W, 2]
    stack, names = tiff.channels_of(ind, PROTEINS)
    assert names == ["Bgs4 (Alp14)", "Alp14", "Bgs4 (Arp3)", "Arp3", "Bgs4 (Cki2)", "Cki2"]
    np.testing.assert_array_equal(stack[:, 3], ind[:, 1, :, :, 1])  # Arp3's green
    np.testing.assert_array_equal(stack[:, 4], ind[:, 2, :, :, 0])  # Cki2's red
    # uint8 input at 16 bits keeps full scale: 255 -> 65535.
    assert tiff.quantise(np.array([0, 255], np.uint8), 16).tolist() == [0, 65535]


def test_bad_arguments_name_what_is_wrong(tmp_path):
    x = _images((1, 8, 16, 3))
    with pytest.raises(ValueError, match=r"bits=12: expected 8 or 16"):
        tiff.write_cells(str(tmp_path / "a.ome.tif"), x, PROTEINS[:2], bits=12)
    with pytest.raises(ValueError, match=r"a\.png: expected a \.tif"):
        tiff.write_cells(str(tmp_path / "a.png"), x, PROTEINS[:2])
    with pytest.raises(ValueError, match="2 greens, but 3 proteins"):
        tiff.channels_of(x, PROTEINS)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(ValueError, match=r"bad\.tif: cannot read TIFF"):
        tiff.read_tiff(str(bad))
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written left behind

"""Every bad-input case gives a DataError whose message names the path and what was wrong."""

import os
import zipfile

import numpy as np
import pytest
import tifffile

from biogans_tf.data import sources
from biogans_tf.data.errors import DataError
from biogans_tf.data.lin import load_lin
from biogans_tf.data.own import load_own
from tests.data.lin_fixtures import flip_member_byte, make_lin, png_bytes, zip_folder


@pytest.fixture
def lin(tmp_path):
    make_lin(tmp_path, cells=(1, 2))
    return tmp_path


def _raises(path_part, pattern, fn, *args, **kwargs):
    with pytest.raises(DataError, match=pattern) as info:
        fn(*args, **kwargs)
    assert str(path_part) in str(info.value), str(info.value)
    return info.value


def test_corrupt_png(lin):
    bad = lin / "train" / "Arp3" / "cell3.png"
    bad.write_bytes(b"this is not a png at all" * 10)
    _raises(bad, "not a PNG file", load_lin, str(lin), "train")


def test_truncated_png(lin):
    good = (lin / "train" / "Alp14" / "cell1.png").read_bytes()
    bad = lin / "train" / "Alp14" / "cell2.png"
    bad.write_bytes(good[: len(good) // 2])
    _raises(bad, "corrupt or truncated PNG", load_lin, str(lin), "train")


def test_grayscale_png(lin):
    bad = lin / "train" / "Alp14" / "cell2.png"
    bad.write_bytes(png_bytes(np.zeros((48, 80), np.uint8)))
    _raises(bad, "mode L .grayscale.; expected RGB", load_lin, str(lin), "train")


def test_rgba_png_with_transparency(lin):
    rgba = np.full((48, 80, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0
    bad = lin / "train" / "Alp14" / "cell2.png"
    bad.write_bytes(png_bytes(rgba))
    _raises(bad, "RGBA PNG with transparent pixels", load_lin, str(lin), "train")


def test_wrong_image_size(lin):
    bad = lin / "test" / "Arp3" / "cell2.png"
    bad.write_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8)))
    _raises(bad, "image size 64x64 .HxW., expected 48x80", load_lin, str(lin), "test", image_size=(48, 80))
    # With image_size=None the first image defines the size and the others must match it.
    _raises(bad, "image size 64x64", load_lin, str(lin), "test")


def test_16bit_png_where_8bit_expected(lin):
    bad = lin / "train" / "Arp3" / "cell1.png"
    bad.write_bytes(png_bytes(np.zeros((48, 80), np.uint16)))
    _raises(bad, "16-bit PNG .* use 'own:<folder>'", load_lin, str(lin), "train")


def test_empty_protein_folder(lin):
    os.makedirs(lin / "train" / "Sid2")
    _raises(lin / "train" / "Sid2", "empty protein folder", load_lin, str(lin), "train")
    assert len(load_lin(str(lin), "train", proteins=["Alp14"])) == 2  # not selected: fine


def test_unknown_protein(lin):
    err = _raises(lin / "train", "unknown protein.*Nope.*available: Alp14, Arp3", load_lin, str(lin), "train",
                  proteins=["Alp14", "Nope"])  # fmt: skip
    assert "Nope" in err.problem


def test_missing_split(tmp_path):
    make_lin(tmp_path, splits=("train",))
    _raises(tmp_path, "no 'test' split .*'test/<Protein>/\\*.png'", load_lin, str(tmp_path), "test")


def test_zip_without_expected_folders(tmp_path):
    zpath = tmp_path / "LIN.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("images/a/cell1.png", png_bytes(np.zeros((48, 80, 3), np.uint8)))
    _raises(
        zpath,
        "no 'train' split in this zip; expected .*LIN_Normalized_WT_size",
        load_lin,
        str(zpath),
        "train",
    )


def test_not_a_zip(tmp_path):
    zpath = tmp_path / "LIN.zip"
    zpath.write_bytes(b"PK\3\4 broken")
    _raises(zpath, "not a readable zip", load_lin, str(zpath), "train")


def test_bad_png_inside_zip_names_member(tmp_path):
    make_lin(tmp_path / "src", cells=(1,))
    (tmp_path / "src" / "train" / "Arp3" / "cell1.png").write_bytes(png_bytes(np.zeros((48, 80), np.uint8)))
    zpath = zip_folder(tmp_path / "src", tmp_path / "LIN.zip")
    _raises(f"{zpath}/train/Arp3/cell1.png", "mode L", load_lin, zpath, "train")


def test_non_image_file_in_class_folder(lin, tmp_path):
    bad = lin / "train" / "Alp14" / "notes.txt"
    bad.write_text("hello")
    _raises(bad, "not a PNG file", load_lin, str(lin), "train")
    own = tmp_path / "own"
    (own / "A").mkdir(parents=True)
    (own / "A" / "readme.md").write_text("x")
    _raises(own / "A" / "readme.md", "not an image; expected", load_own, str(own))


def test_tiff_with_fewer_channels_than_the_map(tmp_path):
    (tmp_path / "A").mkdir()
    bad = tmp_path / "A" / "one.tif"
    tifffile.imwrite(bad, np.zeros((48, 80), np.uint16))
    err = _raises(
        bad, "1 channel.s. found.*red=0, green=2", load_own, str(tmp_path), channel_map="red=0,green=2"
    )
    assert "one.tif" in err.path


def test_tiff_z_stack_is_explained(tmp_path):
    (tmp_path / "A").mkdir()
    bad = tmp_path / "A" / "z.tif"
    tifffile.imwrite(bad, np.zeros((5, 2, 48, 80), np.uint16), imagej=True, metadata={"axes": "ZCYX"})
    _raises(bad, "TIFF is a Z stack .5 planes along Z", load_own, str(tmp_path))


def test_sources_bad_specs(tmp_path):
    _raises(tmp_path / "nothing", "no such file or folder", sources.load, str(tmp_path / "nothing"), "train")
    _raises("data", "sim:<n_per_protein>", sources.load, "sim:abc", "train")
    _raises("split", "unknown split 'val'", sources.load, "sim", "val")
    (tmp_path / "x.txt").write_text("x")
    _raises(tmp_path / "x.txt", "not a folder or a .zip", sources.load, str(tmp_path / "x.txt"), "train")
    spec = "tfds:no_such_dataset_xyz"
    _raises(spec, "cannot open TFDS dataset", sources.load, spec, "train", data_dir=str(tmp_path))


def test_failed_tfds_build_leaves_no_dataset(tmp_path):
    import tensorflow_datasets as tfds

    import biogans_tf.data.tfds_builders  # noqa: F401

    manual = tmp_path / "manual"
    make_lin(manual, cells=(1, 2))
    (manual / "test" / "Arp3" / "cell2.png").write_bytes(b"garbage")
    data_dir = tmp_path / "tfds"
    _raises(manual / "test" / "Arp3" / "cell2.png", "not a PNG", sources.load, "tfds:lin", "train",
            data_dir=str(data_dir), manual_dir=str(manual))  # fmt: skip
    builder = tfds.builder("lin", data_dir=str(data_dir))
    assert not builder.is_prepared()
    # No half-written shards, no dataset_info.json, no empty version folder; only TFDS' own
    # config note (lin/.config/metadata.json) may remain.
    left = [p.relative_to(data_dir / "lin").as_posix() for p in (data_dir / "lin").rglob("*")]
    assert left in ([], [".config", ".config/metadata.json"]), left
    # After fixing the data, the same data_dir builds and loads.
    make_lin(manual, cells=(1, 2), seed=5)
    cs = sources.load("tfds:lin", "test", data_dir=str(data_dir), manual_dir=str(manual))
    assert len(cs) == 4 and cs.proteins == ("Alp14", "Arp3")


def test_zip_member_failing_its_crc_is_named(tmp_path):
    make_lin(tmp_path / "src", cells=(1, 2))
    zpath = zip_folder(tmp_path / "src", tmp_path / "LIN.zip")
    flip_member_byte(zpath, "train/Arp3/cell2.png")
    _raises(f"{zpath}/train/Arp3/cell2.png", "damaged zip member .*CRC", load_lin, zpath, "train")


def test_broken_symlink_is_named(lin):
    bad = lin / "train" / "Arp3" / "cell2.png"
    bad.unlink()
    os.symlink(lin / "gone.png", bad)
    _raises(bad, "broken symbolic link", load_lin, str(lin), "train")
    _raises(bad, "broken symbolic link", load_own, str(lin), "train")


def test_odd_width_for_the_simulator_is_a_clear_error():
    _raises("image_size", "even width", sources.load, "sim:2", "train", image_size=(48, 81))
    _raises("image_size", "even width", sources.describe, "sim", image_size=(48, 81))

"""LIN reader on real files: folders, zips (both namings), order, selection, accepted PNG variants."""

import os

import numpy as np
import pytest
from PIL import Image

from biogans_tf.data.errors import DataError
from biogans_tf.data.lin import find_splits, load_lin
from biogans_tf.data.store import natural_key
from tests.data.lin_fixtures import make_lin, zip_folder


def test_natural_key_orders_numbers():
    names = ["cell10.png", "cell2.png", "cell1.png", "Cell3.png"]
    assert sorted(names, key=natural_key) == ["cell1.png", "cell2.png", "Cell3.png", "cell10.png"]


def test_folder_plain_layout(tmp_path):
    written = make_lin(tmp_path)
    cs = load_lin(str(tmp_path), "train")
    assert cs.proteins == ("Alp14", "Arp3")
    assert cs.files[:3] == ("train/Alp14/cell1.png", "train/Alp14/cell2.png", "train/Alp14/cell10.png")
    assert cs.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert cs.images.shape == (6, 48, 80, 2) and cs.images.dtype == np.uint8
    # Channel 0 = R (Bgs4), channel 1 = G (protein); B dropped.
    np.testing.assert_array_equal(cs.images[2], written[("train", "Alp14", 10)][..., :2])
    np.testing.assert_array_equal(cs.images[3], written[("train", "Arp3", 1)][..., :2])


def test_folder_reference_naming_and_test_split(tmp_path):
    written = make_lin(tmp_path, naming="ref")
    cs = load_lin(str(tmp_path), "test", image_size=(48, 80))
    assert len(cs) == 6 and cs.files[0] == "test/Alp14/cell1.png"
    np.testing.assert_array_equal(cs.images[5], written[("test", "Arp3", 10)][..., :2])
    assert find_splits(str(tmp_path)) == ["train", "test"]


@pytest.mark.parametrize(
    "naming,top", [("ref", "LIN_Normalized_WT_size-48-80"), ("ref", None), ("plain", None)]
)
def test_zip_matches_folder(tmp_path, naming, top):
    folder = tmp_path / "src"
    make_lin(folder, naming=naming)
    zpath = zip_folder(folder, tmp_path / "LIN_Normalized_WT_size-48-80.zip", top=top)
    from_zip = load_lin(zpath, "train")
    from_dir = load_lin(str(folder), "train")
    np.testing.assert_array_equal(from_zip.images, from_dir.images)
    assert from_zip.files == from_dir.files and from_zip.proteins == from_dir.proteins
    assert "lin:" in from_zip.source and zpath in from_zip.source
    assert not any(p.suffix == ".png" for p in tmp_path.iterdir())  # nothing extracted


def test_protein_selection_order_defines_labels(tmp_path):
    make_lin(tmp_path, proteins=("Alp14", "Arp3", "Tea1"))
    cs = load_lin(str(tmp_path), "train", proteins=["Tea1", "Alp14"])
    assert cs.proteins == ("Tea1", "Alp14")
    assert cs.files[0].startswith("train/Tea1/") and cs.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert load_lin(str(tmp_path), "train", proteins="Arp3").counts() == {"Arp3": 3}


def test_image_size_none_takes_first_and_size_picks_split_folder(tmp_path):
    make_lin(tmp_path, naming="ref", size=(48, 80), cells=(1,))
    make_lin(tmp_path, naming="ref", size=(96, 160), cells=(1, 2))
    big = load_lin(str(tmp_path), "train", image_size=(96, 160))
    assert big.image_size == (96, 160) and len(big) == 4
    assert load_lin(str(tmp_path), "train", image_size=(48, 80)).image_size == (48, 80)
    with pytest.raises(DataError, match="several 'train' split folders"):
        load_lin(str(tmp_path), "train")  # ambiguous without a size


def test_hidden_files_metadata_palette_and_opaque_rgba_accepted(tmp_path):
    make_lin(tmp_path, cells=(1,))
    (tmp_path / "train" / "metadata.csv").write_text("file,protein\n")
    (tmp_path / "train" / "Alp14" / ".DS_Store").write_bytes(b"\0\1")
    os.makedirs(tmp_path / "train" / "__MACOSX" / "x")
    rgba = np.zeros((48, 80, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 3] = 7, 9, 255
    Image.fromarray(rgba).save(tmp_path / "train" / "Alp14" / "cell5.png")
    pal = Image.fromarray(np.full((48, 80, 3), (3, 4, 0), np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE
    )
    pal.save(tmp_path / "train" / "Arp3" / "cell7.png")
    cs = load_lin(str(tmp_path), "train")
    assert cs.proteins == ("Alp14", "Arp3") and len(cs) == 4
    assert cs.images[1, 0, 0].tolist() == [7, 9] and cs.images[3, 0, 0].tolist() == [3, 4]


def test_thread_count_does_not_change_result(tmp_path):
    make_lin(tmp_path, cells=tuple(range(1, 12)))
    a = load_lin(str(tmp_path), "train", num_threads=1)
    b = load_lin(str(tmp_path), "train", num_threads=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.files == b.files

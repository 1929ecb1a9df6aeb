"""The source dispatcher: every `data` form reaches the right reader; `describe` stays cheap."""

import numpy as np
import pytest
import tifffile

from biogans_tf import conventions
from biogans_tf.data import simulator, sources
from biogans_tf.data.errors import DataError
from biogans_tf.data.sim.writer import write_dataset
from tests.data.lin_fixtures import make_lin, zip_folder


def test_sim_defaults_and_counts():
    cs = sources.load("sim:3", "test", seed=1)
    assert cs.proteins == conventions.PAPER_PROTEINS and len(cs) == 18
    again = sources.load("sim:3", "test", seed=1)
    np.testing.assert_array_equal(cs.images, again.images)  # same seed, same cells
    other = sources.load("sim:3", "test", seed=2, proteins=["Tea4", "Alp14"])
    assert other.proteins == ("Tea4", "Alp14") and not np.array_equal(other.images[3:], cs.images[:3])
    assert (sources.SIM_TRAIN_PER_PROTEIN, sources.SIM_TEST_PER_PROTEIN) == (1000, 200)
    with pytest.raises(DataError, match="unknown protein.*Bgs4.*available: .*Alp14"):
        sources.load("sim:2", "train", proteins=["Bgs4"])


def test_sim_image_size():
    cs = sources.load("sim:1", "train", proteins="Alp14", image_size=(96, 160))
    assert cs.images.shape == (1, 96, 160, 2)


def test_lin_folder_zip_and_prefix(tmp_path):
    make_lin(tmp_path / "d", naming="ref")
    zpath = zip_folder(tmp_path / "d", tmp_path / "LIN_Normalized_WT_size-48-80.zip")
    a = sources.load(str(tmp_path / "d"), "train")
    b = sources.load(zpath, "train")
    c = sources.load(f"lin:{tmp_path / 'd'}", "train", proteins="Arp3,Alp14")
    np.testing.assert_array_equal(a.images, b.images)
    assert a.proteins == ("Alp14", "Arp3") and c.proteins == ("Arp3", "Alp14")
    with pytest.raises(DataError, match="image size 48x80 .HxW., expected 96x160"):
        sources.load(zpath, "train", image_size=(96, 160))


def test_own_and_tiff_prefixes(tmp_path):
    (tmp_path / "train" / "Cls").mkdir(parents=True)
    tifffile.imwrite(
        tmp_path / "train" / "Cls" / "a.tif", np.arange(2 * 30 * 50, dtype=np.uint16).reshape(2, 30, 50)
    )
    for prefix in ("own:", "tiff:"):
        cs = sources.load(f"{prefix}{tmp_path}", "train", channel_map="red=1,green=0", image_size=(32, 48))
        assert cs.images.shape == (1, 32, 48, 2) and cs.proteins == ("Cls",)
        assert cs.images[0, 0, 0].tolist() == [0, 0]  # pad_or_crop: padded border is 0
    desc = sources.describe(f"own:{tmp_path}")
    assert desc["format"] == "own" and desc["dtype"] == "uint16" and desc["image_size"] == [30, 50]
    assert desc["splits"]["train"]["proteins"] == {"Cls": 1}


def test_describe_lin_is_cheap_and_complete(tmp_path):
    make_lin(tmp_path, proteins=("Alp14", "Arp3", "Tea1"), cells=(1, 2, 3), splits=("train",))
    # A corrupt non-first file is not seen by describe (one image per folder), only by load.
    (tmp_path / "train" / "Tea1" / "cell3.png").write_bytes(b"\x89PNG broken")
    desc = sources.describe(str(tmp_path))
    assert desc["format"] == "lin-folder" and list(desc["splits"]) == ["train"]
    assert desc["splits"]["train"]["proteins"] == {"Alp14": 3, "Arp3": 3, "Tea1": 3}
    assert desc["image_size"] == [48, 80] and desc["dtype"] == "uint8"
    with pytest.raises(DataError, match="cell3.png"):
        sources.load(str(tmp_path), "train")


def test_describe_sim():
    desc = sources.describe("sim:5")
    assert desc["splits"]["test"]["total"] == 30 and desc["proteins"] == list(conventions.PAPER_PROTEINS)
    assert sources.describe("sim")["splits"]["train"]["proteins"]["Alp14"] == 1000


def test_simulator_written_dataset_reads_back(tmp_path):
    write_dataset(str(tmp_path / "sim"), 3, 2, seed=4, proteins=("Alp14", "Tea1"))
    cs = sources.load(str(tmp_path / "sim"), "train")
    assert cs.proteins == ("Alp14", "Tea1") and cs.files[:3] == tuple(
        f"train/Alp14/cell{i}.png" for i in range(3)
    )
    expected, _ = simulator.simulate("Tea1", 3, 4, split="train")
    np.testing.assert_array_equal(cs.of_protein("Tea1"), expected)
    assert sources.describe(str(tmp_path / "sim"))["splits"]["test"]["total"] == 4

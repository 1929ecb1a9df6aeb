"""TFDS builders `lin` and `lin_synthetic`: tiny offline builds, loaded back through tfds and sources."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import biogans_tf.data.tfds_builders  # noqa: F401  (registers the builders)
from biogans_tf.data import sources
from biogans_tf.data.errors import DataError
from biogans_tf.data.tfds_builders import LinSyntheticConfig
from biogans_tf.data.tfds_builders.lin_synthetic import SIM_PROTEINS
from tests.data.lin_fixtures import make_lin, zip_folder


def _manual(manual_dir):
    return {"download_config": tfds.download.DownloadConfig(manual_dir=str(manual_dir))}


def test_builders_registered():
    # (tfds.list_builders() is avoided: it scans the community index and is slow offline.)
    assert tfds.builder_cls("lin_synthetic").name == "lin_synthetic"
    assert tfds.builder_cls("lin").name == "lin"
    assert [c.name for c in tfds.builder_cls("lin").BUILDER_CONFIGS] == ["48x80", "96x160"]


def test_lin_from_zip_in_manual_dir(tmp_path):
    written = make_lin(tmp_path / "src", proteins=("Tea1", "Alp14"), cells=(1, 2), naming="ref")
    manual = tmp_path / "manual"
    manual.mkdir()
    zip_folder(
        tmp_path / "src", manual / "LIN_Normalized_WT_size-48-80.zip", top="LIN_Normalized_WT_size-48-80"
    )
    ds, info = tfds.load(
        "lin",
        split="test",
        data_dir=str(tmp_path / "tfds"),
        download_and_prepare_kwargs=_manual(manual),
        with_info=True,
    )
    assert info.features["label"].names == ["Alp14", "Tea1"]  # natural sort of folder names
    assert info.splits["train"].num_examples == 4 and info.splits["test"].num_examples == 4
    seen = set()
    for ex in tfds.as_numpy(ds):
        split, protein, name = ex["file"].decode().split("/")
        n = int(name[4:-4])
        assert ex["image"].shape == (48, 80, 3) and ex["image"][..., 2].max() == 0
        np.testing.assert_array_equal(ex["image"][..., :2], written[(split, protein, n)][..., :2])
        assert info.features["label"].int2str(ex["label"]) == protein == ex["protein"].decode()
        seen.add((protein, n))
    assert seen == {("Alp14", 1), ("Alp14", 2), ("Tea1", 1), ("Tea1", 2)}
    # Reloading a prepared dataset needs no manual dir and keeps the label names.
    cs = sources.load("tfds:lin", "train", data_dir=str(tmp_path / "tfds"), proteins=["Tea1"])
    assert cs.proteins == ("Tea1",) and cs.files == ("train/Tea1/cell1.png", "train/Tea1/cell2.png")
    np.testing.assert_array_equal(cs.images[1], written[("train", "Tea1", 2)][..., :2])


def test_lin_96x160_from_extracted_folders(tmp_path):
    make_lin(tmp_path / "manual", proteins=("Arp3",), cells=(1,), size=(96, 160), naming="ref")
    cs = sources.load(
        "tfds:lin",
        "train",
        image_size=(96, 160),
        data_dir=str(tmp_path / "tfds"),
        manual_dir=str(tmp_path / "manual"),
    )
    assert cs.image_size == (96, 160) and cs.source.startswith("tfds:lin/96x160/")
    desc = sources.describe("tfds:lin/96x160", data_dir=str(tmp_path / "tfds"))
    assert desc["prepared"] and desc["splits"]["test"]["total"] == 1 and desc["proteins"] == ["Arp3"]


def test_lin_missing_manual_data_is_a_data_error(tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "readme.txt").write_text("nothing here")
    with pytest.raises(
        DataError, match="(?s)manual: no LIN data for 48x80.*LIN_Normalized_WT_size-48-80.zip"
    ):
        sources.load(
            "tfds:lin", "train", data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path / "manual")
        )


def test_sim_protein_list_matches_simulator():
    from biogans_tf.data import simulator

    assert SIM_PROTEINS == tuple(simulator.SIM_PROTEINS)


def test_lin_synthetic_tiny_config_matches_simulator(tmp_path):
    from biogans_tf.data import simulator

    cfg = LinSyntheticConfig(name="tiny", n_train=3, n_test=2, proteins=("Tea1", "Alp14"), seed=7)
    ds, info = tfds.load(
        "lin_synthetic", split="train", data_dir=str(tmp_path), builder_kwargs={"config": cfg}, with_info=True
    )
    assert info.features["label"].names == ["Tea1", "Alp14"]
    assert info.splits["test"].num_examples == 4
    got = {ex["file"].decode(): ex for ex in tfds.as_numpy(ds)}
    assert len(got) == 6
    expected, _ = simulator.simulate("Alp14", 3, 7, split="train", image_size=(48, 80))
    for i in range(3):
        ex = got[f"train/Alp14/cell{i}.png"]
        np.testing.assert_array_equal(ex["image"][..., :2], expected[i])
        assert ex["image"][..., 2].max() == 0 and ex["label"] == 1


@pytest.mark.slow
def test_lin_synthetic_small_via_sources(tmp_path):
    cs = sources.load("tfds:lin_synthetic/small", "test", data_dir=str(tmp_path), proteins=["Sid2", "Alp14"])
    assert cs.counts() == {"Sid2": 50, "Alp14": 50} and cs.image_size == (48, 80)

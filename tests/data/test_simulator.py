"""Tests for the LIN-like simulator: determinism, layout, metadata, cycle statistics, joint split, CLI."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from biogans_tf.data import simulator as S
from biogans_tf.data.errors import DataError
from biogans_tf.data.sim.params import cell_draws, phase_from_uniform
from biogans_tf.data.sim.writer import write_dataset


def test_simulate_shapes_dtype_and_metadata():
    images, meta = S.simulate("Arp3", 5, seed=3)
    assert images.shape == (5, 48, 80, 2) and images.dtype == np.uint8
    assert [m["file"] for m in meta] == [f"cell{i}.png" for i in range(5)]
    for m in meta:
        assert tuple(m) == S.METADATA_COLUMNS
        assert m["protein"] == "Arp3" and m["seed"] == 3
        assert 0.0 <= m["phase"] < 1.0
        expected = "monopolar" if m["phase"] < 0.34 else ("bipolar" if m["phase"] < 0.75 else "septating")
        assert m["stage"] == expected
        assert m["polarity"] in (("left", "right") if expected == "monopolar" else ("bipolar",))
        assert 40 <= m["length_px"] <= 80 and 22 <= m["width_px"] <= 31


def test_deterministic_and_seed_sensitive():
    a, ma = S.simulate("Alp14", 6, seed=11)
    b, mb = S.simulate("Alp14", 6, seed=11)
    c, _ = S.simulate("Alp14", 6, seed=12)
    assert a.tobytes() == b.tobytes() and ma == mb
    assert not np.array_equal(a, c)


def test_prefix_stability_across_chunks_and_start():
    big, meta = S.simulate("Tea1", 70, seed=5)  # crosses a 64-cell chunk boundary
    small, _ = S.simulate("Tea1", 4, seed=5)
    mid, mid_meta = S.simulate("Tea1", 4, seed=5, start=64)
    assert small.tobytes() == big[:4].tobytes()
    assert mid.tobytes() == big[64:68].tobytes()
    assert [m["file"] for m in mid_meta] == ["cell64.png", "cell65.png", "cell66.png", "cell67.png"]
    assert mid_meta == meta[64:68]


def test_splits_and_proteins_use_different_cells():
    train, _ = S.simulate("Sid2", 4, seed=0, split="train")
    test, _ = S.simulate("Sid2", 4, seed=0, split="test")
    other, _ = S.simulate("Mkh1", 4, seed=0, split="train")
    assert not np.array_equal(train, test)
    assert not np.array_equal(train[..., 0], other[..., 0])  # different cells, not just a new green


@pytest.mark.parametrize("size", [(48, 80), (96, 160)])
def test_background_is_exactly_zero_and_geometry_scales(size):
    images, meta = S.simulate("Mkh1", 6, seed=2, image_size=size)
    assert images.shape == (6,) + size + (2,)
    h, w = size
    scale = h / 48
    for img, m in zip(images, meta, strict=False):
        inside = (img > 0).any(-1)
        border = np.concatenate([inside[0], inside[-1], inside[:, 0], inside[:, -1]])
        assert not border.any()
        assert 0.5 < 1 - inside.mean() < 0.85  # LIN: 59-80 % of pixels are 0
        ys, xs = np.nonzero(inside)
        assert abs(ys.mean() - (h - 1) / 2) < 2.5 * scale and abs(xs.mean() - (w - 1) / 2) < 4 * scale
        assert 22 * scale <= m["width_px"] <= 31 * scale
        assert (img[..., 0][inside] == 255).any() or (img[..., 1][inside] == 255).any()


def test_phase_distribution_follows_asynchronous_population():
    # The phase is the first geometry uniform; drawing only that keeps the test cheap.
    uni, _ = cell_draws(0, "train", 1, 0, range(4000), 1, (1,))
    a = phase_from_uniform(uni[:, 0])
    fractions = [(a < 0.34).mean(), ((a >= 0.34) & (a < 0.75)).mean(), (a >= 0.75).mean()]
    assert np.allclose(fractions, [0.42, 0.39, 0.19], atol=0.03)
    # Density 2 ln2 2^-a: the first decile of phase holds ~13.4 % of cells, the last ~7.0 %.
    assert abs((a < 0.1).mean() - 0.134) < 0.02 and abs((a >= 0.9).mean() - 0.070) < 0.015
    _, meta = S.simulate("Cki2", 64, seed=0)
    lengths = np.array([m["length_px"] for m in meta])
    phases = np.array([m["phase"] for m in meta])
    assert np.corrcoef(phases, lengths)[0, 1] > 0.8  # length grows with phase


def test_joint_split_shares_geometry_and_matches_single_protein():
    proteins = ("Arp3", "Tea1", "Mkh1")
    joint, meta = S.simulate_joint(proteins, 5, seed=4)
    assert joint.shape == (5, 48, 80, 4) and meta[0]["protein"] == "Arp3,Tea1,Mkh1"
    for k, p in enumerate(proteins):
        single, smeta = S.simulate(p, 5, seed=4, split="joint")
        assert np.array_equal(single[..., 0], joint[..., 0])
        assert np.array_equal(single[..., 1], joint[..., 1 + k])
        assert [m["phase"] for m in smeta] == [m["phase"] for m in meta]
    masks = joint > 0
    # Every channel is masked by the same cell outline; greens differ between proteins.
    union = masks.any(-1)
    assert ((joint[..., 1:] > 0).any(-1) <= union).all()
    assert not np.array_equal(joint[..., 1], joint[..., 2])
    assert not np.array_equal(joint[..., 2], joint[..., 3])


def test_simulate_cellset_layout():
    cs = S.simulate_cellset(("Tea1", "Alp14"), 12, seed=1, split="test")
    assert len(cs) == 24 and cs.proteins == ("Tea1", "Alp14")
    assert cs.counts() == {"Tea1": 12, "Alp14": 12}
    assert cs.files[0] == "test/Tea1/cell0.png"
    assert cs.files[10] == "test/Tea1/cell10.png"  # natural order, as the LIN readers list files
    ref, _ = S.simulate("Tea1", 12, seed=1, split="test")
    assert np.array_equal(cs.images[10], ref[10]) and not np.array_equal(cs.images[2], ref[10])
    assert "seed=1" in cs.source and "n=12" in cs.source


def _read_tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def test_write_dataset_layout_png_format_and_determinism(tmp_path):
    proteins = ("Arp3", "Tea1")
    summary = write_dataset(tmp_path / "ds", 3, 2, seed=9, proteins=proteins, joint=True)
    assert summary["n_train"] == 3 and summary["proteins"] == list(proteins)
    root = tmp_path / "ds"
    assert json.loads((root / "results.json").read_text()) == summary
    for split, n in (("train", 3), ("test", 2)):
        ref = {p: S.simulate(p, n, 9, split)[0] for p in proteins}
        with open(root / split / "metadata.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert tuple(rows[0]) == S.METADATA_COLUMNS and len(rows) == n * len(proteins)
        for row in rows:
            path = root / split / row["file"]
            img = Image.open(path)
            assert img.mode == "RGB" and img.size == (80, 48)
            arr = np.asarray(img)
            assert (arr[..., 2] == 0).all()
            idx = int(row["file"].split("cell")[1].split(".")[0])
            assert np.array_equal(arr[..., :2], ref[row["protein"]][idx])
        names = sorted(os.listdir(root / split / "Arp3"))
        assert names == sorted(f"cell{i}.png" for i in range(n))
    with np.load(root / "joint" / "cells.npz") as z:
        assert z["images"].shape == (2, 48, 80, 3) and list(z["proteins"]) == list(proteins)
        assert list(z["file"]) == ["cell0.png", "cell1.png"] and z["phase"].shape == (2,)
        joint_ref, _ = S.simulate_joint(proteins, 2, 9)
        assert np.array_equal(z["images"], joint_ref)
    assert (root / "joint" / "metadata.csv").read_text().count("\n") == 3
    # Byte-identical on a second write; a rewrite in place replaces the dataset.
    write_dataset(tmp_path / "ds2", 3, 2, seed=9, proteins=proteins, joint=True)
    assert _read_tree(root) == _read_tree(tmp_path / "ds2")
    write_dataset(root, 1, 1, seed=9, proteins=("Tea1",))
    assert sorted(os.listdir(root / "train")) == ["Tea1", "metadata.csv"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp leftovers


def test_write_dataset_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(DataError, match="refusing"):
        write_dataset(tmp_path / "mine", 1, 1, seed=0, proteins=("Arp3",))
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(DataError, match="Foo"):
        S.simulate("Foo", 1, 0)
    with pytest.raises(DataError, match="image_size"):
        S.simulate("Arp3", 1, 0, image_size=(10, 10))
    with pytest.raises(DataError, match="seed"):
        S.simulate("Arp3", 1, -1)
    with pytest.raises(DataError, match="duplicate"):
        S.simulate_joint(("Arp3", "Arp3"), 1, 0)


def _features(images):
    """Simple per-image features of the green channel (and its relation to red)."""
    feats = []
    for img in images.astype(np.float32):
        m = (img > 0).any(-1)
        g, r = img[..., 1], img[..., 0]
        gv = g[m]
        cols = np.nonzero(m.any(0))[0]
        xs = np.linspace(0, 1, 5)
        prof = [
            g[:, cols[0] + int(t * (len(cols) - 1))][m[:, cols[0] + int(t * (len(cols) - 1))]].mean()
            for t in xs
        ]
        hp = g - np.asarray(Image.fromarray(g.astype(np.uint8)).resize((20, 12)).resize((80, 48)), np.float32)
        feats.append(
            [gv.mean(), gv.std(), np.percentile(gv, 10), np.percentile(gv, 90), (gv > 200).mean() * 100]
            + [np.abs(hp[m]).mean()]
            + [p - gv.mean() for p in prof]
            + [np.corrcoef(gv, r[m])[0, 1] * 50]
        )
    return np.array(feats)


def test_proteins_are_separable_and_similar_pairs_are_close():
    n = 40
    proteins = S.SIM_PROTEINS
    feats = {p: _features(S.simulate(p, n, seed=21)[0]) for p in proteins}
    allf = np.concatenate(list(feats.values()))
    mu, sd = allf.mean(0), allf.std(0) + 1e-6
    z = {p: (f - mu) / sd for p, f in feats.items()}
    centroids = {p: z[p][: n // 2].mean(0) for p in proteins}
    correct = total = 0
    for k, p in enumerate(proteins):
        for x in z[p][n // 2 :]:
            d = [np.linalg.norm(x - centroids[q]) for q in proteins]
            correct += int(np.argmin(d) == k)
            total += 1
    # Nearest centroid on crude features; Arp3/Fim1 and Tea1/Tea4 are meant to be confusable.
    assert correct / total > 0.6
    dist = {(a, b): np.linalg.norm(centroids[a] - centroids[b]) for a in proteins for b in proteins if a < b}
    others = [v for k, v in dist.items() if k not in {("Arp3", "Fim1"), ("Tea1", "Tea4")}]
    assert dist[("Arp3", "Fim1")] < np.median(others)
    assert dist[("Tea1", "Tea4")] < np.median(others)
    assert dist[("Arp3", "Fim1")] > 0 and dist[("Tea1", "Tea4")] > 0


def test_output_does_not_depend_on_threads(monkeypatch):
    monkeypatch.setenv("BIOGANS_SIM_THREADS", "1")
    one, _ = S.simulate("Cki2", 70, seed=8)
    monkeypatch.setenv("BIOGANS_SIM_THREADS", "3")
    three, _ = S.simulate("Cki2", 70, seed=8)
    assert one.tobytes() == three.tobytes()

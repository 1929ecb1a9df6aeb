"""Nearest-neighbour mining: exactness against brute force, ties, caching, the npz file and the CLI."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.neighbours import Neighbours, compute_neighbours, fingerprint, mine_neighbours
from biogans_tf.training.data_neighbours import main


def _cells(images, labels, proteins=("A", "B", "C")):
    return CellSet(
        images=images,
        labels=np.asarray(labels, np.int32),
        proteins=tuple(proteins),
        files=tuple(f"{proteins[p]}/cell{i:03d}.png" for i, p in enumerate(labels)),
    )


def _brute_force(cells, k):
    """int64 indices and float64 distances by plain numpy, self first, ties by lower index."""
    red = cells.images[..., 0].reshape(len(cells), -1).astype(np.int64)
    d = ((red[:, None, :] - red[None, :, :]) ** 2).sum(axis=-1)
    C, n = len(cells.proteins), len(cells)
    idx = np.zeros((n, C, k), np.int64)
    dist = np.zeros((n, C, k), np.float64)
    for i in range(n):
        for q in range(C):
            members = np.flatnonzero(cells.labels == q)
            if q == cells.labels[i]:
                members = members[members != i]
                chosen = members[np.lexsort((members, d[i, members]))[: k - 1]]
                idx[i, q] = np.concatenate([[i], chosen])
                dist[i, q, 1:] = d[i, chosen]
            else:
                chosen = members[np.lexsort((members, d[i, members]))[:k]]
                idx[i, q] = chosen
                dist[i, q] = d[i, chosen]
    return idx, dist / 255.0**2


@pytest.mark.parametrize("chunk", [5, 1024])
def test_matches_brute_force_with_many_ties(chunk):
    rng = np.random.default_rng(0)
    labels = np.sort(rng.integers(0, 3, 40))
    # Four grey levels on 5x6 pixels: many exactly equal distances, and duplicated images.
    images = (rng.integers(0, 4, (40, 5, 6, 2)) * 85).astype(np.uint8)
    images[7] = images[2]
    images[30] = images[11]
    cells = _cells(images, labels)
    idx, dist = compute_neighbours(cells, k=4, chunk=chunk)
    want_idx, want_dist = _brute_force(cells, 4)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (40, 3, 4)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-6, atol=1e-6)
    assert (idx[np.arange(40), labels, 0] == np.arange(40)).all()  # self first in its own protein


def test_matches_brute_force_full_range_uneven_proteins():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], [9, 14, 5])  # k = the smallest protein's count
    images = rng.integers(0, 256, (28, 12, 16, 2), dtype=np.uint8)
    cells = _cells(images, labels)
    idx, dist = compute_neighbours(cells, k=5, chunk=4)
    want_idx, want_dist = _brute_force(cells, 5)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-6)
    assert (np.diff(dist[:, :, 1:], axis=-1) >= 0).all()


def test_green_channel_is_ignored_and_k_is_checked():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (12, 4, 4, 2), dtype=np.uint8)
    cells = _cells(images, [0] * 6 + [1] * 6, ("A", "B"))
    shuffled_green = images.copy()
    shuffled_green[..., 1] = rng.integers(0, 256, (12, 4, 4))
    a, _ = compute_neighbours(cells, k=3)
    b, _ = compute_neighbours(_cells(shuffled_green, [0] * 6 + [1] * 6, ("A", "B")), k=3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="k=7.*only 6"):
        compute_neighbours(cells, k=7)
    with pytest.raises(DataError, match="k"):
        compute_neighbours(cells, k=0)


def test_cache_hit_and_invalidation(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (16, 6, 8, 2), dtype=np.uint8)
    cells = _cells(images, [0] * 8 + [1] * 8, ("A", "B"))
    first = mine_neighbours(cells, k=3, cache_dir=str(tmp_path))
    assert not first.from_cache
    (cache_file,) = list(tmp_path.iterdir())
    mtime = cache_file.stat().st_mtime_ns
    second = mine_neighbours(cells, k=3, cache_dir=str(tmp_path))
    assert second.from_cache and cache_file.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first.indices, second.indices)
    np.testing.assert_array_equal(first.distances, second.distances)

    changed = images.copy()
    changed[5, 2, 3, 0] ^= 1  # one red pixel
    third = mine_neighbours(_cells(changed, [0] * 8 + [1] * 8, ("A", "B")), k=3, cache_dir=str(tmp_path))
    assert not third.from_cache and third.fingerprint != first.fingerprint
    assert len(list(tmp_path.iterdir())) == 2  # a second entry, and no temporary files left
    assert fingerprint(cells, 4) != fingerprint(cells, 3)

    # A corrupt cache entry is recomputed and replaced, not trusted.
    cache_file.write_bytes(b"not an npz")
    again = mine_neighbours(cells, k=3, cache_dir=str(tmp_path))
    assert not again.from_cache
    np.testing.assert_array_equal(again.indices, first.indices)
    assert mine_neighbours(cells, k=3, cache_dir=str(tmp_path)).from_cache


def test_save_load_round_trip_and_bad_file(tmp_path):
    rng = np.random.default_rng(4)
    cells = _cells(rng.integers(0, 256, (10, 4, 6, 2), dtype=np.uint8), [0] * 5 + [1] * 5, ("A", "B"))
    nb = mine_neighbours(cells, k=2)
    path = tmp_path / "nb.npz"
    nb.save(str(path))
    back = Neighbours.load(str(path))
    np.testing.assert_array_equal(back.indices, nb.indices)
    np.testing.assert_array_equal(back.distances, nb.distances)
    assert back.files == cells.files and back.proteins == ("A", "B") and back.k == 2
    assert back.fingerprint == nb.fingerprint
    bad = tmp_path / "bad.npz"
    np.savez(bad, indices=np.zeros((2, 2, 2), np.int64))
    with pytest.raises(DataError, match="bad.npz.*missing"):
        Neighbours.load(str(bad))
    with pytest.raises(DataError, match="missing.npz"):
        Neighbours.load(str(tmp_path / "missing.npz"))


def _write_lin(root, proteins, n, rng):
    for protein in proteins:
        folder = root / "train" / protein
        folder.mkdir(parents=True)
        for i in range(n):
            rgb = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
            rgb[..., 2] = 0
            Image.fromarray(rgb).save(folder / f"cell{i}.png")


def test_cli_on_lin_folder(tmp_path, capsys):
    _write_lin(tmp_path / "lin", ["Arp3", "Alp14"], 4, np.random.default_rng(5))
    out = tmp_path / "out" / "nn.npz"
    status = main(
        [
            "--data",
            str(tmp_path / "lin"),
            "--split",
            "train",
            "--k",
            "3",
            "--out",
            str(out),
            "--proteins",
            "Arp3,Alp14",
        ]
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert status == 0  # the CLI's main returns the exit status; the summary is the last stdout line
    summary = json.loads(last)
    assert summary["n_images"] == 8 and summary["proteins"] == ["Arp3", "Alp14"] and summary["k"] == 3
    with np.load(out) as z:
        assert z["indices"].shape == (8, 2, 3) and z["indices"].dtype == np.int64
        assert z["distances"].shape == (8, 2, 3)
        assert list(z["proteins"]) == ["Arp3", "Alp14"]
        files = list(z["files"])
    assert files == sorted(files[:4]) + sorted(files[4:]) and all("Arp3" in f for f in files[:4])
    assert os.listdir(out.parent) == ["nn.npz"]

"""tf.data pipelines: content, shapes, epochs without replacement, flips, exact resume, errors."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.conventions import to_model_range_tf, to_uint8_tf
from biogans_tf.data.cellset import CellSet
from biogans_tf.data.errors import DataError
from biogans_tf.data.neighbours import Neighbours, mine_neighbours
from biogans_tf.data.pipeline import (
    conditional_batches,
    eval_batches,
    joint_batches,
    make_batches,
    multichannel_batches,
    steps_per_epoch,
)

H, W = 6, 8


def _cells(counts=(7, 9, 8), seed=0):
    """Image i has red = i + 1 everywhere (its identity survives flips) and an asymmetric green."""
    n = sum(counts)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, H, W, 2), np.uint8)
    images[..., 0] = (np.arange(n) + 1)[:, None, None]
    images[..., 1] = rng.integers(0, 256, (n, H, W))
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    proteins = tuple(f"P{p}" for p in range(len(counts)))
    files = tuple(f"P{p}/cell{i:03d}.png" for i, p in enumerate(labels))
    return CellSet(images, labels, proteins, files, source="test")


def _ids(x):
    """Image indices from red channel values of [..., H, W, ch] float images in [-1, 1]."""
    red = np.rint((np.asarray(x)[..., 0] + 1) / 2 * 255).astype(int)
    assert (red == red[..., :1, :1]).all()
    return red[..., 0, 0] - 1


def _take(ds, n):
    return [tuple(np.asarray(t) for t in e) if isinstance(e, tuple) else np.asarray(e) for e in ds.take(n)]


def _variants(img):
    """The four flips of [H, W, ch]: none, horizontal, vertical, both."""
    return [img, img[:, ::-1], img[::-1], img[::-1, ::-1]]


def test_unit_scaling_round_trip():
    x = np.arange(256, dtype=np.uint8)
    u = to_model_range_tf(x).numpy()
    assert u.dtype == np.float32 and u[0] == -1.0 and u[-1] == 1.0
    np.testing.assert_allclose(u, x / 255 * 2 - 1, atol=1e-7)
    np.testing.assert_array_equal(to_uint8_tf(u).numpy(), x)


def test_joint_epochs_without_replacement_and_content():
    cells = _cells()  # 24 images; B=5 -> 4 steps per epoch, 4 images dropped per epoch
    ds = joint_batches(cells, 5, seed=3, flips=False)
    assert ds.element_spec[0].shape == (5, H, W, 2) and ds.element_spec[1].shape == (5,)
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int32
    assert ds.cardinality() == tf.data.INFINITE_CARDINALITY
    assert steps_per_epoch("joint", cells, 5) == 4
    batches = _take(ds, 8)
    epochs = []
    for e in range(2):
        ids = np.concatenate([_ids(x) for x, _ in batches[4 * e : 4 * e + 4]])
        assert len(set(ids)) == 20  # no image twice within an epoch
        epochs.append(ids)
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh permutation per epoch
    for x, labels in batches:
        ids = _ids(x)
        np.testing.assert_array_equal(labels, cells.labels[ids])
        np.testing.assert_allclose(x, to_model_range_tf(cells.images[ids]).numpy())
    other = np.concatenate([_ids(x) for x, _ in _take(joint_batches(cells, 5, seed=4, flips=False), 4)])
    assert not np.array_equal(other, epochs[0])


def test_every_image_is_used_when_batches_divide_the_epoch():
    cells = _cells((4, 4, 4))
    ids = np.concatenate([_ids(x) for x, _ in _take(joint_batches(cells, 4, seed=0), 3)])
    assert sorted(ids) == list(range(12))


def test_flips_are_per_image_and_balanced():
    cells = _cells()
    seen = np.zeros(4, int)
    for x, _ in _take(joint_batches(cells, 8, seed=1), 25):
        for img, i in zip(x, _ids(x), strict=False):
            source = to_model_range_tf(cells.images[i]).numpy()
            matches = [np.allclose(img, v) for v in _variants(source)]
            assert sum(matches) == 1
            seen[matches.index(True)] += 1
    # 200 images: each of the four flip combinations ~50 times.
    assert seen.min() >= 25, seen


@pytest.mark.parametrize("kind", ["joint", "conditional", "multichannel"])
def test_resume_yields_the_same_elements(kind):
    cells = _cells()
    nb = mine_neighbours(cells, k=3) if kind == "multichannel" else None
    kwargs = {"pick": "random"} if kind == "multichannel" else {}
    full = _take(make_batches(kind, cells, 3, seed=11, neighbours=nb, **kwargs), 9)
    resumed = _take(make_batches(kind, cells, 3, seed=11, start_step=5, neighbours=nb, **kwargs), 4)
    for a, b in zip(full[5:], resumed, strict=False):
        for ta, tb in zip(
            a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,), strict=False
        ):
            np.testing.assert_array_equal(ta, tb)
    again = _take(make_batches(kind, cells, 3, seed=11, neighbours=nb, **kwargs), 9)
    for a, b in zip(full, again, strict=False):
        np.testing.assert_array_equal(
            a[0] if isinstance(a, tuple) else a, b[0] if isinstance(b, tuple) else b
        )


def test_conditional_batches_per_protein_streams():
    cells = _cells((7, 9, 8))
    ds = conditional_batches(cells, 3, seed=2, flips=False)
    assert ds.element_spec.shape == (3, 3, H, W, 2)
    batches = _take(ds, 6)
    for x in batches:
        ids = _ids(x)  # [C, B]
        for p in range(3):
            assert (cells.labels[ids[p]] == p).all()
        np.testing.assert_allclose(x, to_model_range_tf(cells.images[ids]).numpy())
    # Protein 0 has 7 images: epochs of 2 steps (6 images), no repeat within an epoch.
    for e in range(3):
        ids = np.concatenate([_ids(batches[2 * e + s])[0] for s in range(2)])
        assert len(set(ids)) == 6
    # Protein 1 has 9 images: one epoch is 3 steps and covers all of them.
    assert sorted(np.concatenate([_ids(b)[1] for b in batches[:3]])) == list(range(7, 16))
    with pytest.raises(DataError, match="batch_size.*8 is larger than the 7 images of protein 'P0'"):
        conditional_batches(cells, 8, seed=0)


def test_multichannel_channels_follow_the_neighbours():
    cells = _cells((6, 5, 7))
    nb = mine_neighbours(cells, k=3)
    ds = multichannel_batches(cells, nb, 4, seed=5, flips=False, pick="nearest")
    assert ds.element_spec.shape == (4, H, W, 4)
    greens = to_model_range_tf(cells.images[..., 1]).numpy()
    for x in _take(ds, 4):
        for img, i in zip(x, _ids(x), strict=False):
            p = cells.labels[i]
            for q in range(3):
                partner = i if q == p else nb.indices[i, q, 0]
                np.testing.assert_allclose(img[..., 1 + q], greens[partner])

    # pick="random": partners drawn among the k, more than one rank used; flips shared by channels.
    used = set()
    for x in _take(multichannel_batches(cells, nb, 4, seed=5, pick="random"), 10):
        for img, i in zip(x, _ids(x), strict=False):
            p = cells.labels[i]
            for q in [q for q in range(3) if q != p]:
                ranks = [
                    r
                    for r in range(3)
                    if any(np.allclose(img[..., 1 + q], v) for v in _variants(greens[nb.indices[i, q, r]]))
                ]
                assert ranks
                used.update(ranks)
            stacked = np.concatenate(
                [to_model_range_tf(cells.images[i, ..., :1]).numpy(), greens[i][..., None]], -1
            )
            assert any(np.allclose(img[..., [0, 1 + p]], v) for v in _variants(stacked))
    assert len(used) > 1


def _masked_cells(counts=(8, 7, 9), seed=0):
    """Red = i + 1 inside a random per-image cell mask and 0 outside; greens nonzero everywhere."""
    n = sum(counts)
    rng = np.random.default_rng(seed)
    inside = rng.random((n, H, W)) < 0.5
    images = np.zeros((n, H, W, 2), np.uint8)
    images[..., 0] = np.where(inside, (np.arange(n) + 1)[:, None, None], 0)
    images[..., 1] = rng.integers(1, 256, (n, H, W))
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    proteins = tuple(f"P{p}" for p in range(len(counts)))
    files = tuple(f"P{p}/cell{i:03d}.png" for i, p in enumerate(labels))
    return CellSet(images, labels, proteins, files, source="test")


def test_multichannel_random_neighbours_red_mask_and_resume():
    # The defaults: greens drawn at random among the k=5 neighbours, every channel masked by red > 0.
    cells = _masked_cells()
    nb = mine_neighbours(cells, k=5)
    mask = cells.images[..., 0] > 0
    greens = to_model_range_tf(cells.images[..., 1]).numpy()
    batches = _take(multichannel_batches(cells, nb, 4, seed=3), 18)  # 3 epochs of 6 steps
    ranks_of = {}
    for x in batches:
        for img in x:
            i = int(np.rint((img[..., 0].max() + 1) / 2 * 255)) - 1
            p = cells.labels[i]
            outside = img[..., 0] == -1.0
            assert outside.any() and (img[outside] == -1.0).all()  # every channel is -1 off the cell
            (flip,) = [f for f, v in enumerate(_variants(~mask[i])) if (v == outside).all()]
            # Inside the mask: own green, and a neighbour's green (masked by i's red, not its own).
            keep = _variants(mask[i])[flip]
            np.testing.assert_allclose(img[..., 1 + p], np.where(keep, _variants(greens[i])[flip], -1))
            for q in [q for q in range(3) if q != p]:
                ranks = [
                    r
                    for r in range(5)
                    if np.allclose(
                        img[..., 1 + q], np.where(keep, _variants(greens[nb.indices[i, q, r]])[flip], -1)
                    )
                ]
                assert len(ranks) == 1
                ranks_of.setdefault((i, q), set()).update(ranks)
    # Across epochs the same (image, protein) takes greens from more than one of its k neighbours.
    assert max(len(r) for r in ranks_of.values()) > 1
    assert len(set().union(*ranks_of.values())) >= 4
    resumed = _take(multichannel_batches(cells, nb, 4, seed=3, start_step=10), 8)
    for a, b in zip(batches[10:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_dispatcher_and_errors():
    cells = _cells()
    with pytest.raises(DataError, match="kind.*'pairs'"):
        make_batches("pairs", cells, 2, seed=0)
    with pytest.raises(DataError, match="neighbours"):
        make_batches("multichannel", cells, 2, seed=0)
    nb = mine_neighbours(cells, k=2)
    other = Neighbours(nb.indices, nb.distances, tuple(reversed(nb.files)), nb.proteins, 2, "x")
    with pytest.raises(DataError, match="files differ"):
        make_batches("multichannel", cells, 2, seed=0, neighbours=other)
    swapped = Neighbours(nb.indices[:, ::-1].copy(), nb.distances, nb.files, nb.proteins, 2, "x")
    with pytest.raises(DataError, match="protein q"):
        multichannel_batches(cells, swapped, 2, seed=0)
    with pytest.raises(DataError, match="pick"):
        multichannel_batches(cells, nb, 2, seed=0, pick="farthest")
    with pytest.raises(DataError, match="batch_size"):
        joint_batches(cells, 0, seed=0)
    with pytest.raises(DataError, match="batch_size.*25 is larger than the 24"):
        joint_batches(cells, 25, seed=0)
    with pytest.raises(DataError, match="seed"):
        joint_batches(cells, 2, seed=-1)
    with pytest.raises(DataError, match="start_step"):
        joint_batches(cells, 2, seed=0, start_step=-3)


def test_eval_batches_file_order_and_partial_batch():
    cells = _cells()
    batches = list(eval_batches(cells, 10))
    assert [int(x.shape[0]) for x, _ in batches] == [10, 10, 4]
    x = np.concatenate([np.asarray(b[0]) for b in batches])
    labels = np.concatenate([np.asarray(b[1]) for b in batches])
    np.testing.assert_array_equal(x, to_model_range_tf(cells.images).numpy())
    np.testing.assert_array_equal(labels, cells.labels)


def test_static_shapes_trace_once():
    """A tf.function consuming the dataset traces once for many steps (static batch dims)."""
    cells = _cells()
    traces = []

    @tf.function
    def consume(x):
        traces.append(1)
        return tf.reduce_mean(x)

    for x in itertools.islice(iter(conditional_batches(cells, 3, seed=0)), 5):
        consume(x)
    assert len(traces) == 1


@pytest.mark.parametrize("kind", ["joint", "conditional"])
def test_training_batches_are_not_autotuned(kind):
    """Regression: with tf.data autotuning, deleting the iterator at the end of a training run
    waited for the autotuner's sleep (its period doubles up to 60 s): `training.run` of the
    cpu-demo preset sat idle 16 s after 50 steps and 54 s after 1000 steps before writing its
    generators (measured with timestamps on the log; py-spy showed the wait in the iterator's
    destructor)."""
    ds = make_batches(kind, _cells(), 4, seed=0)
    assert ds.options().autotune.enabled is False
    assert len(_take(ds, 3)) == 3

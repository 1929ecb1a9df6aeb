"""`reconstruct_masked` of a reloaded SavedModel: a real cell shows the red and ONE protein's green.

The model is a tiny star generator (2 proteins, so images are `[B, 16, 32, 3]`: red, Alp14, Arp3)
with its kernels scaled up so that its cells depend visibly on z (the reference init gives outputs
of ~1e-4 everywhere, which any z reproduces). The observed channels are the red and Arp3; Alp14 is
masked and filled with seeded garbage, as a real Arp3 cell has no Alp14 channel.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from biogans_tf.export import saved_model as sm
from biogans_tf.models import build_generator

NZ = 16
SIZE = (16, 32)
PROTEINS = ["Alp14", "Arp3"]
MASK = np.array([1.0, 0.0, 1.0], np.float32)  # red + Arp3 observed, Alp14 ignored
KERNEL_SCALE = 5.0  # cells vary with z without saturating tanh (saturated cells are hard to fit)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(reloaded SavedModel, in-memory generator, export dir) of the scaled tiny star generator."""
    g = build_generator("star", image_size=SIZE, n_proteins=len(PROTEINS), nz=NZ, ngf=8, seed=1)
    for w in g.weights:
        if w.path.endswith("kernel"):
            w.assign(w * KERNEL_SCALE)
    base = tmp_path_factory.mktemp("models")
    path = sm.export_generator(g, str(base), "cells", arch="star", proteins=PROTEINS, warmup=False)
    return tf.saved_model.load(path), g, path


def _garbage(images, seed):
    """Replace the masked channels by seeded uniform noise in [-1, 1] (still valid pixel values)."""
    out = images.copy()
    noise = np.random.default_rng(np.random.SeedSequence([seed, 7])).uniform(-1, 1, out.shape)
    out[..., MASK == 0] = noise[..., MASK == 0].astype(np.float32)
    return out


def _call(loaded, images, mask=MASK, iterations=25, restarts=2):
    return loaded.signatures["reconstruct_masked"](
        images=tf.constant(images, tf.float32),
        channel_mask=tf.constant(mask, tf.float32),
        iterations=tf.constant(iterations, tf.int32),
        restarts=tf.constant(restarts, tf.int32),
        seed=tf.constant(0, tf.int64),
    )


@pytest.fixture(scope="module")
def own_samples(model):
    """The generator's own cells (batch 2) with garbage in the masked channel, and the fit of them."""
    loaded, g, _ = model
    clean = g(tf.random.stateless_normal([2, NZ], seed=[9, 1]), training=False).numpy()
    images = _garbage(clean, seed=1)
    return clean, images, {k: v.numpy() for k, v in _call(loaded, images).items()}


def test_signature_is_exported_and_listed(model):
    loaded, _, path = model
    sig = loaded.signatures["reconstruct_masked"]
    assert sig.structured_input_signature[1]["channel_mask"].dtype == tf.float32
    assert set(sig.structured_outputs) == {"z", "reconstructions", "l2", "nll"}
    meta = json.loads(open(f"{path}/assets.extra/biogans.json").read())
    assert "reconstruct_masked" in meta["signatures"] and "reconstruct" in meta["signatures"]


def test_own_sample_with_garbage_in_masked_channels_fits_the_observed_ones(own_samples):
    clean, images, out = own_samples
    assert out["z"].shape == (2, NZ) and out["reconstructions"].shape == images.shape
    rec = out["reconstructions"]
    observed = (((rec - images) * 0.5) ** 2)[..., MASK == 1]
    # The reported l2 is the RMS error over the observed channels only, on [0, 1] intensities.
    np.testing.assert_allclose(out["l2"], np.sqrt(observed.mean(axis=(1, 2, 3))), rtol=1e-4, atol=1e-6)
    assert np.all(out["l2"] < 1e-3), out["l2"]  # measured ~1e-9
    # Over all channels the garbage would dominate (~0.17): the fit did not chase it...
    everything = np.sqrt((((rec - images) * 0.5) ** 2).mean(axis=(1, 2, 3)))
    assert np.all(everything > 0.05), everything
    # ...and the masked protein is predicted as the generator drew it before the garbage went in.
    np.testing.assert_allclose(rec[..., MASK == 0], clean[..., MASK == 0], atol=1e-2)


def test_masked_channel_pixels_change_nothing_observed_ones_do(model, own_samples):
    loaded, _, _ = model
    clean, images, out = own_samples
    other = {k: v.numpy() for k, v in _call(loaded, _garbage(clean, seed=2)).items()}
    np.testing.assert_array_equal(other["z"], out["z"])  # bit for bit: masked pixels weigh exactly 0
    np.testing.assert_array_equal(other["l2"], out["l2"])
    changed = images.copy()
    changed[..., 2] = -changed[..., 2]  # the observed green (Arp3) inverted
    moved = {k: v.numpy() for k, v in _call(loaded, changed).items()}
    assert np.abs(moved["z"] - out["z"]).max() > 1e-2
    assert np.all(np.abs(moved["l2"] - out["l2"]) > 1e-3)


@pytest.mark.parametrize(
    "mask, message",
    [
        ([0.0, 0.0, 0.0], "channel_mask is all zeros"),
        ([1.0, 1.0], "channel_mask needs one entry per image channel"),
        ([1.0, 0.5, 0.0], "channel_mask entries must be 1 (observed) or 0 (ignored)"),
    ],
)
def test_bad_channel_mask_is_refused_in_graph(model, mask, message):
    loaded, _, _ = model
    images = np.zeros([1, *SIZE, 1 + len(PROTEINS)], np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _call(loaded, images, mask=mask, iterations=1, restarts=1)


def test_plain_reconstruct_still_fits_and_scores_every_channel(model, own_samples):
    loaded, _, _ = model
    _, images, masked = own_samples
    out = loaded.signatures["reconstruct"](
        images=tf.constant(images), iterations=tf.constant(25), restarts=tf.constant(2),
        seed=tf.constant(0, tf.int64),
    )  # fmt: skip
    rec = out["reconstructions"].numpy()
    everything = np.sqrt((((rec - images) * 0.5) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(out["l2"].numpy(), everything, rtol=1e-4, atol=1e-6)
    assert np.all(out["l2"].numpy() > 10 * masked["l2"])  # the garbage channel counts here


def test_reference_lbfgs_budget_is_exported_into_the_signature(model, tmp_path, monkeypatch):
    """`--lbfgs_budget=reference`: the exported `reconstruct` runs the reference's L-BFGS (issue 22
    A1), the same computation as `latent.reconstruct(..., budget="reference")` in memory."""
    from biogans_tf.eval import latent

    monkeypatch.setattr(latent, "REFERENCE_OUTER_STEPS", 2)  # traced into the graph: a short budget
    _, g, _ = model
    path = sm.export_generator(
        g, str(tmp_path), "ref", arch="dcgan", proteins=PROTEINS, warmup=False, lbfgs_budget="reference"
    )
    meta = json.loads((tmp_path / "ref" / "1" / "assets.extra" / "biogans.json").read_text())
    assert meta["lbfgs_budget"] == "reference"
    images = np.asarray(g(tf.random.stateless_normal([2, NZ], seed=[3, 4]), training=False))
    args = dict(iterations=tf.constant(0), restarts=tf.constant(2), seed=tf.constant(9, tf.int64))
    exported = tf.saved_model.load(path).signatures["reconstruct"](images=tf.constant(images), **args)
    direct = latent.reconstruct(
        lambda z: g(z, training=False), images, NZ, budget="reference", iterations=0, restarts=2, seed=9
    )
    np.testing.assert_allclose(exported["z"].numpy(), direct["z"].numpy(), atol=1e-5)
    fast = latent.reconstruct(lambda z: g(z, training=False), images, NZ, iterations=0, restarts=2, seed=9)
    # It fitted despite iterations=0 (small moves: 40 fixed steps of 0.05 on a mean over pixels).
    assert np.abs(exported["z"].numpy() - fast["z"].numpy()).max() > 1e-4
    assert np.all(exported["l2"].numpy() < fast["l2"].numpy())

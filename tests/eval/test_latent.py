"""Latent reconstruction (batched L-BFGS) and interpolation on tiny registry generators."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from biogans_tf.eval import latent
from biogans_tf.models import build_generator

NZ = 16


@pytest.fixture(scope="module")
def dcgan():
    return build_generator("dcgan", image_size=(16, 32), nz=NZ, ngf=8, seed=3)


@pytest.fixture(scope="module")
def dcgan_sep():
    return build_generator("dcgan-sep", image_size=(16, 32), nz=NZ, ngf=8, seed=4)


def _samples(G, n, seed):
    z = tf.random.stateless_normal([n, NZ], seed=[seed, 7])
    return z, G(z, training=False)


def test_reconstructs_own_samples_to_near_zero_l2(dcgan):
    _, images = _samples(dcgan, 3, 1)
    out = latent.reconstruct(
        lambda z: dcgan(z, training=False), images, NZ, iterations=40, restarts=2, seed=5
    )
    assert out["z"].shape == (3, NZ)
    assert out["reconstructions"].shape == images.shape
    # Tolerance: RMS error on [0, 1] intensities below 1e-3 (a tenth of an 8-bit grey level is 4e-4).
    assert np.all(out["l2"].numpy() < 1e-3), out["l2"].numpy()
    # The reported l2 is the RMS of the returned reconstructions' error.
    rms = np.sqrt(np.mean(((out["reconstructions"].numpy() - images.numpy()) / 2) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(out["l2"].numpy(), rms, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out["nll"].numpy(), latent.gaussian_nll(out["z"]).numpy(), rtol=1e-6)


def test_nll_matches_scipy():
    z = np.random.default_rng(np.random.SeedSequence([3])).normal(size=(4, NZ)).astype(np.float32)
    expected = -stats.multivariate_normal(mean=np.zeros(NZ), cov=np.eye(NZ)).logpdf(z)
    np.testing.assert_allclose(latent.gaussian_nll(z).numpy(), expected, rtol=1e-5)


def test_separable_phases_change_only_their_half(dcgan_sep):
    _, images = _samples(dcgan_sep, 2, 2)
    z_init = tf.random.stateless_normal([2, NZ], seed=[9, 9])
    half = NZ // 2
    gen = lambda z: dcgan_sep(z, training=False)  # noqa: E731
    z_red, _ = latent.fit_latent(gen, images, z_init, free=(0, half), channels=(0, 1), iterations=5)
    np.testing.assert_array_equal(z_red[:, half:].numpy(), z_init[:, half:].numpy())
    assert np.abs(z_red[:, :half].numpy() - z_init[:, :half].numpy()).max() > 1e-3
    z_green, _ = latent.fit_latent(gen, images, z_red, free=(half, NZ), channels=(1, None), iterations=5)
    np.testing.assert_array_equal(z_green[:, :half].numpy(), z_red[:, :half].numpy())
    assert np.abs(z_green[:, half:].numpy() - z_red[:, half:].numpy()).max() > 1e-3


@pytest.mark.slow
def test_separable_reconstruction_of_separable_samples(dcgan_sep):
    _, images = _samples(dcgan_sep, 2, 3)
    out = latent.reconstruct(
        lambda z: dcgan_sep(z, training=False),
        images,
        NZ,
        iterations=40,
        restarts=2,
        seed=1,
        mode="separable",
    )
    assert np.all(out["l2"].numpy() < 1e-3), out["l2"].numpy()


def test_interpolate_linear_and_spherical():
    rng = np.random.default_rng(np.random.SeedSequence([4]))
    z0, z1 = rng.normal(size=(2, NZ)).astype(np.float32)
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)  # equal norms: slerp stays on the sphere
    for kind in ("linear", "spherical"):
        path = latent.interpolate(z0, z1, 5, kind=kind).numpy()
        assert path.shape == (5, NZ)
        np.testing.assert_allclose(path[0], z0, atol=1e-5)
        np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    lin = latent.interpolate(z0, z1, 3).numpy()
    np.testing.assert_allclose(lin[1], (z0 + z1) / 2, atol=1e-6)
    sph = latent.interpolate(z0, z1, 7, kind="spherical").numpy()
    np.testing.assert_allclose(np.linalg.norm(sph, axis=1), np.linalg.norm(z0), rtol=1e-5)
    batched = latent.interpolate(np.stack([z0, z1]), np.stack([z1, z0]), 4, kind="spherical")
    assert batched.shape == (4, 2, NZ)
    np.testing.assert_allclose(latent.interpolate(z0, z1, 1).numpy(), z0[None], atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode"):
        latent.reconstruct(lambda z: z, np.zeros([1, 4], np.float32), 4, mode="joint")
    with pytest.raises(ValueError, match="restarts"):
        latent.reconstruct(lambda z: z, np.zeros([1, 4], np.float32), 4, restarts=0)
    with pytest.raises(ValueError, match="kind"):
        latent.interpolate(np.zeros(4), np.ones(4), 3, kind="cubic")

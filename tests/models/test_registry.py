"""Registry: shapes, parameter counts (reference figures), views, errors, determinism, round trips."""

import keras
import numpy as np
import pytest

from biogans_tf.models import ARCHS, build_critic, build_generator, critic_view, family, n_output_channels
from biogans_tf.models.init import reference_init
from biogans_tf.models.tower import tower_plan

TINY = dict(image_size=(16, 32), ngf=8, n_proteins=3)
C = 3


def _z(b=3, nz=100, seed=0):
    return np.random.default_rng(seed).normal(size=(b, nz)).astype("float32")


def _n_trainable(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def _expected(arch, b, h, w, c):
    fam = family(arch)
    if arch.startswith("independent"):
        return (b, c, h, w, 2), (c, b, h, w, 2), (c, b)
    if arch == "star":
        return (b, h, w, 1 + c), (c, b, h, w, 2), (c, b)
    if fam == "multichannel":
        return (b, h, w, 1 + c), (b, h, w, 1 + c), (b,)
    return (b, h, w, 2), (b, h, w, 2), (b,)


def test_all_seven_archs_registered():
    assert set(ARCHS) == {
        "dcgan", "dcgan-sep", "multichannel", "multichannel-sep", "star", "independent", "independent-sep"
    }  # fmt: skip
    assert {a: ARCHS[a].family for a in ARCHS}["star"] == "conditional"
    assert n_output_channels("multichannel", 6) == 7 and n_output_channels("dcgan", 6) == 2


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("size", [(16, 32), (48, 80)])
def test_shapes_generator_view_critic(arch, size):
    g = build_generator(arch, image_size=size, ngf=8, n_proteins=C, seed=1)
    d = build_critic(arch, image_size=size, ndf=8, n_proteins=C, seed=2)
    want_g, want_v, want_d = _expected(arch, 2, *size, C)
    y = g(_z(2), training=False)
    assert tuple(y.shape) == want_g
    assert np.abs(np.asarray(y)).max() <= 1.0
    v = critic_view(arch, y)
    assert tuple(v.shape) == want_v
    assert tuple(d(v).shape) == want_d


@pytest.mark.parametrize("arch", ["dcgan", "star"])
def test_96x160_and_64x64(arch):
    assert tower_plan((96, 160), 64).start == (3, 5)
    assert tower_plan((64, 64), 64).start == (4, 4)
    for size in [(96, 160), (64, 64)]:
        g = build_generator(arch, image_size=size, ngf=8, n_proteins=2)
        d = build_critic(arch, image_size=size, ndf=8, n_proteins=2)
        y = g(_z(1))
        assert tuple(y.shape[1:3]) == size
        assert d(critic_view(arch, y)).shape[-1] == 1


def test_parameter_counts_match_reference():
    """Reference figures at 48x80, nz=100, ngf=ndf=64, C=6 (torch_reference.py info)."""
    assert tower_plan((48, 80), 64).channels == (512, 256, 128, 64)
    assert _n_trainable(build_generator("dcgan")) == 3_524_480
    assert _n_trainable(build_generator("dcgan-sep")) == 2_643_840
    assert _n_trainable(build_generator("star")) == 11_455_040
    assert _n_trainable(build_critic("dcgan")) == 2_762_240
    assert _n_trainable(build_critic("dcgan", batchnorm=True)) == 2_764_032
    assert _n_trainable(build_critic("star")) == 16_573_440


def test_star_view_pairs_red_with_each_green():
    x = np.arange(2 * 3 * 4 * 4, dtype="float32").reshape(2, 3, 4, 4)  # [B, H, W, 1+3]
    v = np.asarray(critic_view("star", x))
    assert v.shape == (3, 2, 3, 4, 2)
    for c in range(3):
        np.testing.assert_array_equal(v[c, ..., 0], x[..., 0])
        np.testing.assert_array_equal(v[c, ..., 1], x[..., 1 + c])
    ind = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(critic_view("independent", ind))[1], ind[:, 1])


@pytest.mark.parametrize("arch", ["dcgan-sep", "star", "multichannel-sep", "independent-sep"])
def test_separability_red_ignores_green_latent(arch):
    g = build_generator(arch, **TINY, seed=4)
    z = _z(4)
    z_green = z.copy()
    z_green[:, 50:] = _z(4, 50, seed=9)
    z_red = z.copy()
    z_red[:, :50] = _z(4, 50, seed=10)
    y, y_green, y_red = (np.asarray(g(a, training=False)) for a in (z, z_green, z_red))
    if arch.startswith("independent"):
        y, y_green, y_red = (
            np.moveaxis(a, 1, -2).reshape(a.shape[0], 16, 32, -1) for a in (y, y_green, y_red)
        )
        red = [0, 2, 4]
        green = [1, 3, 5]
    else:
        red, green = [0], list(range(1, y.shape[-1]))
    np.testing.assert_array_equal(y[..., red], y_green[..., red])
    assert np.abs(y[..., green] - y_green[..., green]).max() > 1e-4
    assert np.abs(y[..., green] - y_red[..., green]).max() > 1e-4  # red latent changes the green too
    assert np.abs(y[..., red] - y_red[..., red]).max() > 1e-4


@pytest.mark.parametrize(
    "red_portion, n_proteins, n_red", [(0.5, 3, 2), (0.5, 6, 3), (0.143, 6, 1), (0.143, 2, 1)]
)
def test_multichannel_sep_final_red_follows_red_portion(red_portion, n_proteins, n_red):
    # The reference: int((1 + C) * red_portion) outputs from red features, first on the channel axis
    # (at least one: int(3 * 0.143) = 0 would leave the red channel reading green features).
    kw = dict(TINY, n_proteins=n_proteins, ngf=16)
    g = build_generator("multichannel-sep", **kw, red_portion=red_portion, seed=2)
    final = g.convs[-1]
    assert (final.out_red, final.out_green) == (n_red, 1 + n_proteins - n_red)
    z = _z(3)
    split = int(100 * red_portion)
    z_green = z.copy()
    z_green[:, split:] = _z(3, 100 - split, seed=9)
    y, y_green = np.asarray(g(z)), np.asarray(g(z_green))
    assert y.shape == (3, 16, 32, 1 + n_proteins)
    np.testing.assert_array_equal(y[..., :n_red], y_green[..., :n_red])
    assert (np.abs(y[..., n_red:] - y_green[..., n_red:]).max(axis=(0, 1, 2)) > 1e-4).all()


def test_multichannel_sep_saved_with_one_red_output_still_loads(tmp_path):
    # Models saved before red_portion was honoured carry final_red=1 in their config.
    from biogans_tf.models.dcgan import DCGANGenerator

    old = DCGANGenerator(image_size=(16, 32), ngf=8, n_channels=4, separable=True, final_red=1, seed=3)
    old.build((None, 100))
    old.save(tmp_path / "g.keras")
    back = keras.models.load_model(tmp_path / "g.keras")
    assert back.convs[-1].out_red == 1
    np.testing.assert_array_equal(np.asarray(back(_z())), np.asarray(old(_z())))


def test_star_generate_protein_matches_full_output():
    g = build_generator("star", **TINY, seed=5)
    z = _z(2)
    full = np.asarray(g(z))
    for i in range(C):
        one = np.asarray(g.generate_protein(z, i))
        np.testing.assert_allclose(one, full[..., [0, 1 + i]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(g(z, protein=2)), full[..., [0, 3]], atol=1e-6)
    with pytest.raises(ValueError, match="protein"):
        g.generate_protein(z, C)


def test_deterministic_init_and_seed_dependence():
    a = build_generator("star", **TINY, seed=7)
    b = build_generator("star", **TINY, seed=7)
    c = build_generator("star", **TINY, seed=8)
    for va, vb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    assert np.abs(np.asarray(a.weights[0]) - np.asarray(c.weights[0])).max() > 0
    k = np.concatenate([np.asarray(v).ravel() for v in a.trainable_weights if v.name == "kernel"])
    assert abs(k.mean()) < 2e-3 and abs(k.std() - 0.02) < 1e-3
    da = build_critic("star", image_size=(16, 32), n_proteins=C, ndf=8, seed=3)
    db = build_critic("star", image_size=(16, 32), n_proteins=C, ndf=8, seed=3)
    np.testing.assert_array_equal(np.asarray(da.weights[-1]), np.asarray(db.weights[-1]))
    # distinct critics in a bank start from different weights
    assert np.abs(np.asarray(da.critics[0].weights[0]) - np.asarray(da.critics[1].weights[0])).max() > 0


def test_reference_init_reinitialises_deterministically():
    g = build_generator("dcgan", **TINY)
    g(_z(), training=True)  # moves the BN statistics
    reference_init(g, seed=11)
    w1 = [np.asarray(v).copy() for v in g.weights]
    reference_init(g, seed=11)
    for v, w in zip(g.weights, w1, strict=True):
        np.testing.assert_array_equal(np.asarray(v), w)
    assert np.all(np.asarray(g.bns[0].moving_variance) == 1.0)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_keras_round_trip(arch, tmp_path):
    g = build_generator(arch, **TINY, seed=2)
    d = build_critic(arch, image_size=(16, 32), n_proteins=C, ndf=8, batchnorm=True, seed=3)
    z = _z(2)
    g(z, training=True)  # non-trivial moving statistics must survive the round trip
    g.save(tmp_path / "g.keras")
    d.save(tmp_path / "d.keras")
    g2 = keras.models.load_model(tmp_path / "g.keras")
    d2 = keras.models.load_model(tmp_path / "d.keras")
    assert type(g2) is type(g) and g2.get_config() == g.get_config()
    np.testing.assert_array_equal(np.asarray(g2(z)), np.asarray(g(z)))
    v = critic_view(arch, g(z))
    np.testing.assert_array_equal(np.asarray(d2(v)), np.asarray(d(v)))


def test_mixed_precision_generator_and_critic():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        g = build_generator("star", **TINY)
        d = build_critic("star", image_size=(16, 32), n_proteins=C, ndf=8)
        y = g(_z(2), training=True)
        s = d(critic_view("star", y), training=True)
        assert keras.backend.standardize_dtype(y.dtype) == "float16"
        assert np.isfinite(np.asarray(s, dtype="float32")).all()
        assert all(v.dtype == "float32" for v in g.weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        (dict(arch="nope"), "arch"),
        (dict(arch="dcgan", image_size=(50, 80)), "image_size"),
        (dict(arch="dcgan", image_size=(48, 90)), "image_size"),
        (dict(arch="dcgan", image_size=(48,)), "image_size"),
        (dict(arch="dcgan", ngf=7), "ngf"),
        (dict(arch="star", n_proteins=0), "n_proteins"),
        (dict(arch="star", red_portion=1.0), "red_portion"),
    ],
)
def test_clear_errors(kwargs, flag):
    arch = kwargs.pop("arch")
    with pytest.raises(ValueError, match=flag):
        build_generator(arch, **kwargs)
    if flag in ("arch", "image_size"):
        with pytest.raises(ValueError, match=flag):
            build_critic(arch, **{k: v for k, v in kwargs.items() if k == "image_size"})


def test_spec_fields_follow_family_and_layout():
    from biogans_tf.models import LAYOUTS, get_arch

    assert {a: ARCHS[a].layout for a in ARCHS} == {
        "dcgan": "two_channel", "dcgan-sep": "two_channel", "multichannel": "multichannel",
        "multichannel-sep": "multichannel", "star": "multichannel", "independent": "per_protein",
        "independent-sep": "per_protein",
    }  # fmt: skip
    assert set(LAYOUTS) == {"two_channel", "multichannel", "per_protein"}
    assert get_arch("star").generator_output == "[B, H, W, 1+C]"
    assert get_arch("star").critic_input == "[C, B, H, W, 2] -> [C, B]"
    assert get_arch("multichannel").critic_input == "[B, H, W, 1+C] -> [B]"


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_arch_of_tells_every_generator_apart(arch):
    from biogans_tf.models import arch_of

    assert arch_of(build_generator(arch, **TINY)) == arch


def test_register_and_unregister():
    from biogans_tf.models import ArchSpec, DCGANGenerator, get_arch, register, unregister

    spec = ArchSpec("test-joint", family="joint", layout="two_channel", generator_class=DCGANGenerator,
                    make_generator=ARCHS["dcgan"].make_generator)  # fmt: skip
    register(spec)
    try:
        assert get_arch("test-joint") is spec and family("test-joint") == "joint"
        assert n_output_channels("test-joint", 5) == 2
        with pytest.raises(ValueError, match="already registered"):
            register(spec)
        g = build_generator("test-joint", **TINY)
        assert tuple(critic_view("test-joint", g(_z(1))).shape) == (1, 16, 32, 2)
    finally:
        unregister("test-joint")
    assert "test-joint" not in ARCHS
    with pytest.raises(ValueError, match="layout"):
        ArchSpec("bad", family="joint", layout="per_protein", generator_class=DCGANGenerator,
                 make_generator=ARCHS["dcgan"].make_generator)  # fmt: skip

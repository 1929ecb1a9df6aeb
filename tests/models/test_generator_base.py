"""The generators' shared base (`models/generator_base.py`): `get_config()` equals the constructor kwargs."""

import pytest

from biogans_tf.models import DCGANGenerator, IndependentGenerator, StarGenerator
from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, StarBlock

SHARED = dict(image_size=[16, 32], nz=10, ngf=8, red_portion=0.25, synchronized_bn=True, seed=7)


@pytest.mark.parametrize(
    "cls,own",
    [
        (DCGANGenerator, dict(n_channels=4, separable=True, final_red=1)),
        (StarGenerator, dict(n_proteins=3)),
        (IndependentGenerator, dict(n_proteins=2, separable=True)),
    ],
)
def test_generator_config_is_its_constructor_kwargs(cls, own):
    kwargs = dict(SHARED, name="g", **own)
    g = cls(**kwargs)
    assert g.get_config() == kwargs
    assert cls.from_config(g.get_config()).get_config() == kwargs


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (BatchNorm, dict(momentum=0.8, epsilon=1e-3, synchronized=True, seed=2)),
        (SeparableConvTranspose, dict(in_red=2, out_red=1, out_green=3, kernel_size=4, strides=2,
                                      padding="same", seed=5)),
        (StarBlock, dict(in_red=2, in_channels=4, out_red=3, out_green=3, n_proteins=2, kernel_size=4,
                         strides=2, padding="same", batchnorm=False, activation="tanh", synchronized_bn=True,
                         seed=1)),
    ],
)  # fmt: skip
def test_layer_config_holds_its_constructor_kwargs(cls, kwargs):
    cfg = cls(**kwargs).get_config()
    assert {k: cfg[k] for k in kwargs} == kwargs


def test_bad_protein_index_names_the_range():
    g = StarGenerator(image_size=(16, 32), nz=10, ngf=8, n_proteins=2)
    with pytest.raises(ValueError, match=r"protein: expected an index in \[0, 2\), got 2"):
        g.generate_protein([[0.0] * 10], 2)

"""The seven generator architectures of the paper, one `ArchSpec` each (`--arch` names them).

Each spec gives the generator class and its builder; the critic, critic view and output channels
follow from the family and layout (`spec.py`). `biogans_tf.registries.ARCHS` maps each name to its
constant here. A new architecture is a module with its generator and spec, plus one registry line.
"""

from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.spec import ArchSpec
from biogans_tf.models.star import StarGenerator


def _builder(cls, per_protein_kwargs, **fixed):
    """`make_generator` for `cls`: the shared arguments, `fixed` ones and `per_protein_kwargs(C)`."""

    def make(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed):
        shape = dict(image_size=image_size, nz=nz, ngf=ngf, red_portion=red_portion)
        kwargs = {**shape, **fixed, **per_protein_kwargs(n_proteins)}
        return cls(synchronized_bn=synchronized_bn, seed=seed, name="generator", **kwargs)

    return make


def _dc_g(separable, multichannel):
    # multichannel-sep too: final_red=None gives int((1 + C) * red_portion) red outputs, as the reference.
    channels = (lambda n: {"n_channels": 1 + n}) if multichannel else (lambda n: {"n_channels": 2})
    return _builder(DCGANGenerator, channels, separable=separable, final_red=None)


def _dc_is(separable, multichannel):
    """Tell the four `DCGANGenerator` archs apart by the saved config."""

    def identify(cfg):
        return (
            bool(cfg.get("separable")) == separable and (int(cfg.get("n_channels", 2)) != 2) == multichannel
        )

    return identify


def _proteins(n):
    return {"n_proteins": n}


def _ind_is(separable):
    return lambda cfg: bool(cfg.get("separable")) == separable


def _ind_g(separable):
    return _builder(IndependentGenerator, _proteins, separable=separable)


_JOINT = dict(family="joint", layout="two_channel", generator_class=DCGANGenerator)
_MULTI = dict(family="multichannel", layout="multichannel", generator_class=DCGANGenerator)
_STAR = dict(family="conditional", layout="multichannel", generator_class=StarGenerator)
_IND = dict(family="conditional", layout="per_protein", generator_class=IndependentGenerator)

# fmt: off
DCGAN = ArchSpec("dcgan", **_JOINT, make_generator=_dc_g(False, False), identify=_dc_is(False, False))
DCGAN_SEP = ArchSpec("dcgan-sep", **_JOINT, separable=True, make_generator=_dc_g(True, False),
                     identify=_dc_is(True, False))
MULTICHANNEL = ArchSpec("multichannel", **_MULTI, make_generator=_dc_g(False, True),
                        identify=_dc_is(False, True))
MULTICHANNEL_SEP = ArchSpec("multichannel-sep", **_MULTI, separable=True, make_generator=_dc_g(True, True),
                            identify=_dc_is(True, True))
STAR = ArchSpec("star", **_STAR, separable=True, make_generator=_builder(StarGenerator, _proteins))
INDEPENDENT = ArchSpec("independent", **_IND, make_generator=_ind_g(False), identify=_ind_is(False))
INDEPENDENT_SEP = ArchSpec("independent-sep", **_IND, separable=True, make_generator=_ind_g(True),
                           identify=_ind_is(True))
# fmt: on

"""Reference (aosokin/biogans) state_dict keys of each model family, mapped to Keras variables.

The keys are those `torch_reference.py info` prints (e.g. `main.initial.100-512.convt.weight`,
`main.0.convt_green.3.weight`); each family's reference module names its layers its own way, so
there is one mapping function per family and `key_map` picks it by the model's class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Keras is imported inside `key_map`, so that `biogans-convert --help` answers at once.
if TYPE_CHECKING:
    from biogans_tf.models import DCGANCritic, DCGANGenerator, StarGenerator

_BN_FIELDS = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)


def _bn_keys(prefix, bn):
    return {f"{prefix}.{t}": getattr(bn, k) for t, k in _BN_FIELDS}


def _dcgan_generator_keys(g: DCGANGenerator, prefix="main") -> dict:
    """Reference `DCGAN_G` keys of a `DCGANGenerator` (plain or separable)."""
    out = {}
    chans = g.plan.channels
    ins, outs = (g.nz,) + chans, chans + (g.n_channels,)
    tname = "convt-sep" if g.separable else "convt"
    for i, (cin, cout) in enumerate(zip(ins, outs, strict=True)):
        stage = "initial" if i == 0 else ("final" if i == len(outs) - 1 else "pyramid")
        base = f"{prefix}.{stage}.{cin}-{cout}.{tname}"
        layer = g.convs[i]
        if g.separable:
            out[f"{base}.convt_half.weight"] = layer.conv_half.kernel
            out[f"{base}.convt_all.weight"] = layer.conv_all.kernel
        else:
            out[f"{base}.weight"] = layer.kernel
        if i < len(g.bns):
            out.update(_bn_keys(f"{prefix}.{stage}.{cout}.batchnorm", g.bns[i]))
    return out


def _star_generator_keys(g: StarGenerator, prefix="main") -> dict:
    """Reference `DCGAN_G_starShaped` keys of a `StarGenerator`."""
    out = {}
    for i, block in enumerate(g.blocks):
        out[f"{prefix}.{i}.convt_red.weight"] = block.conv_red.kernel
        if block.batchnorm:
            out.update(_bn_keys(f"{prefix}.{i}.batchnorm_red", block.bn_red))
        for c in range(block.n_proteins):
            out[f"{prefix}.{i}.convt_green.{c}.weight"] = block.conv_green[c].kernel
            if block.batchnorm:
                out.update(_bn_keys(f"{prefix}.{i}.batchnorm_green.{c}", block.bn_green[c]))
    return out


def _dcgan_critic_keys(d: DCGANCritic, prefix="main") -> dict:
    """Reference `DCGAN_D` keys of a `DCGANCritic`."""
    out = {}
    cin = d.n_channels
    for i, cout in enumerate(d.chans):
        stage = "initial" if i == 0 else "pyramid"
        out[f"{prefix}.{stage}.{cin}-{cout}.conv.weight"] = d.convs[i].kernel
        if d.batchnorm and i > 0:
            out.update(_bn_keys(f"{prefix}.pyramid.{cout}.batchnorm", d.bns[i - 1]))
        cin = cout
    out[f"{prefix}.final.{cin}-1.conv.weight"] = d.final.kernel
    return out


def key_map(model) -> dict:
    """All reference state_dict keys of `model` mapped to its Keras variables.

    For an `IndependentGenerator` the keys are prefixed `"<protein index>/"` (see
    `independent_parts` for the reference's own single-file layout); for a `CriticBank` they are
    `main.<i>.main....` as the reference's `DCGAN_D_starShaped`.
    """
    from biogans_tf.models import CriticBank, DCGANCritic, DCGANGenerator, IndependentGenerator, StarGenerator

    if isinstance(model, DCGANGenerator):
        return _dcgan_generator_keys(model)
    if isinstance(model, StarGenerator):
        return _star_generator_keys(model)
    if isinstance(model, IndependentGenerator):
        out = {}
        for i, tower in enumerate(model.towers):
            out.update({f"{i}/{k}": v for k, v in _dcgan_generator_keys(tower).items()})
        return out
    if isinstance(model, DCGANCritic):
        return _dcgan_critic_keys(model)
    if isinstance(model, CriticBank):
        out = {}
        for i, critic in enumerate(model.critics):
            out.update(_dcgan_critic_keys(critic, prefix=f"main.{i}.main"))
        return out
    raise TypeError(f"key_map: unsupported model type {type(model).__name__}")

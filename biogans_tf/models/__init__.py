"""Generators and critics of the paper, built by architecture name.

Use `build_generator(arch, ...)`, `build_critic(arch, ...)` and `critic_view(arch, images)`;
`ARCHS` (`biogans_tf.registries`) lists the names (dcgan, dcgan-sep, multichannel,
multichannel-sep, star, independent, independent-sep; their specs are in `archs.py`).
"""

from biogans_tf.models.critic_bank import CriticBank
from biogans_tf.models.critics import DCGANCritic
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, StarBlock
from biogans_tf.models.registry import (
    ARCHS,
    arch_of,
    build_critic,
    build_generator,
    critic_view,
    family,
    get_arch,
    n_output_channels,
    register,
    unregister,
)
from biogans_tf.models.spec import LAYOUTS, ArchSpec
from biogans_tf.models.star import StarGenerator

__all__ = [
    "ARCHS",
    "LAYOUTS",
    "ArchSpec",
    "BatchNorm",
    "CriticBank",
    "DCGANCritic",
    "DCGANGenerator",
    "IndependentGenerator",
    "SeparableConvTranspose",
    "StarBlock",
    "StarGenerator",
    "arch_of",
    "build_critic",
    "build_generator",
    "critic_view",
    "family",
    "get_arch",
    "n_output_channels",
    "register",
    "unregister",
]

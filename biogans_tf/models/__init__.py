"""Generators and critics of the paper, and the registry of named architectures.

Use `build_generator(arch, ...)`, `build_critic(arch, ...)` and `critic_view(arch, images)`;
`ARCHS` lists the names (dcgan, dcgan-sep, multichannel, multichannel-sep, star, independent,
independent-sep; registered in `archs.py`). `register(ArchSpec(...))` adds one.
"""

from biogans_tf.models import archs  # noqa: F401  (registers the paper's architectures in ARCHS)
from biogans_tf.models.critic_bank import CriticBank
from biogans_tf.models.critics import DCGANCritic
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, StarBlock
from biogans_tf.models.registry import (
    ARCHS,
    LAYOUTS,
    ArchSpec,
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

"""Generators and critics of the paper, and the registry of named architectures.

Use `build_generator(arch, ...)`, `build_critic(arch, ...)` and `critic_view(arch, images)`;
`ARCHS` lists the names (dcgan, dcgan-sep, multichannel, multichannel-sep, star, independent,
independent-sep).
"""

from biogans_tf.models.critics import CriticBank, DCGANCritic
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.layers import BatchNorm, SeparableConvTranspose, StarBlock
from biogans_tf.models.registry import (
    ARCHS,
    ArchSpec,
    build_critic,
    build_generator,
    critic_view,
    family,
    get_arch,
    n_output_channels,
)
from biogans_tf.models.star import StarGenerator

__all__ = [
    "ARCHS",
    "ArchSpec",
    "BatchNorm",
    "CriticBank",
    "DCGANCritic",
    "DCGANGenerator",
    "IndependentGenerator",
    "SeparableConvTranspose",
    "StarBlock",
    "StarGenerator",
    "build_critic",
    "build_generator",
    "critic_view",
    "family",
    "get_arch",
    "n_output_channels",
]

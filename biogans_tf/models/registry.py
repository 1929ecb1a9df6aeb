"""Named architectures: one `ArchSpec` per name, and the functions the rest of the code calls.

Adding an architecture = one module with its Keras model(s) + one `_register(ArchSpec(...))` line.

| arch | family | generator output | critic input -> output |
|---|---|---|---|
| dcgan, dcgan-sep | joint | `[B, H, W, 2]` | `[B, H, W, 2]` -> `[B]` |
| multichannel, multichannel-sep | multichannel | `[B, H, W, 1+C]` | `[B, H, W, 1+C]` -> `[B]` |
| star | conditional | `[B, H, W, 1+C]` | `[C, B, H, W, 2]` -> `[C, B]` |
| independent, independent-sep | conditional | `[B, C, H, W, 2]` | `[C, B, H, W, 2]` -> `[C, B]` |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import ops

from biogans_tf.models.critics import CriticBank, DCGANCritic
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.geometry import check_image_size, tower_plan
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.star import StarGenerator

FAMILIES = ("joint", "multichannel", "conditional")


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """Description and builders of one named architecture.

    Attributes:
      name: registry name (the `--arch` flag value).
      family: "joint" (2-channel images), "multichannel" (one `[H, W, 1+C]` image per z) or
        "conditional" (one 2-channel image per protein, a critic per protein).
      generator_output: layout of the generator's output (doc string, e.g. "[B, H, W, 1+C]").
      critic_input: layout the critic takes -> gives.
      separable: whether the red tower is isolated from green (z[:, :nz//2] drives the red).
      make_generator: `(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed) -> Model`.
      make_critic: `(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed) -> Model`.
      view: `(generator_output, n_proteins) -> critic input`.
      output_channels: `n_proteins -> channels on the generator output's last axis`.
    """

    name: str
    family: str
    generator_output: str
    critic_input: str
    separable: bool
    make_generator: Callable[..., keras.Model]
    make_critic: Callable[..., keras.Model]
    view: Callable
    output_channels: Callable[[int], int]


ARCHS: dict[str, ArchSpec] = {}


def _register(spec: ArchSpec) -> None:
    if spec.family not in FAMILIES:
        raise ValueError(f"ArchSpec {spec.name}: family must be one of {FAMILIES}, got {spec.family!r}")
    ARCHS[spec.name] = spec


# --- views: generator output -> critic input -------------------------------------------------
def _identity(x, n_proteins):
    return x


def star_pairs(x, n_proteins=None):
    """`[B, H, W, 1+C]` -> `[C, B, H, W, 2]`: channel 0 (red) paired with each green."""
    c = x.shape[-1] - 1 if n_proteins is None else int(n_proteins)
    if x.shape[-1] is not None and x.shape[-1] != c + 1:
        raise ValueError(f"star output has {x.shape[-1]} channels, expected 1 + n_proteins = {c + 1}")
    greens = ops.transpose(x[..., 1:], (3, 0, 1, 2))[..., None]  # [C, B, H, W, 1]
    red = ops.broadcast_to(x[None, ..., :1], ops.shape(greens))
    return ops.concatenate([red, greens], axis=-1)


def protein_major(x, n_proteins=None):
    """`[B, C, H, W, 2]` -> `[C, B, H, W, 2]`."""
    return ops.transpose(x, (1, 0, 2, 3, 4))


# --- builders ----------------------------------------------------------------------------------
def _dcgan_g(separable, multichannel):
    def make(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed):
        return DCGANGenerator(
            image_size=image_size,
            nz=nz,
            ngf=ngf,
            n_channels=1 + n_proteins if multichannel else 2,
            separable=separable,
            red_portion=red_portion,
            # multichannel-sep too: int((1 + C) * red_portion) red outputs, as the reference.
            final_red=None,
            synchronized_bn=synchronized_bn,
            seed=seed,
            name="generator",
        )

    return make


def _star_g(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed):
    return StarGenerator(
        image_size=image_size,
        nz=nz,
        ngf=ngf,
        n_proteins=n_proteins,
        red_portion=red_portion,
        synchronized_bn=synchronized_bn,
        seed=seed,
        name="generator",
    )


def _independent_g(separable):
    def make(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed):
        return IndependentGenerator(
            image_size=image_size,
            nz=nz,
            ngf=ngf,
            n_proteins=n_proteins,
            separable=separable,
            red_portion=red_portion,
            synchronized_bn=synchronized_bn,
            seed=seed,
            name="generator",
        )

    return make


def _single_critic(multichannel):
    def make(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed):
        return DCGANCritic(
            image_size=image_size,
            n_channels=1 + n_proteins if multichannel else 2,
            ndf=ndf,
            batchnorm=batchnorm,
            synchronized_bn=synchronized_bn,
            seed=seed,
            name="critic",
        )

    return make


def _bank_critic(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed):
    return CriticBank(
        n_critics=n_proteins,
        image_size=image_size,
        n_channels=2,
        ndf=ndf,
        batchnorm=batchnorm,
        synchronized_bn=synchronized_bn,
        seed=seed,
        name="critic",
    )


_JOINT = dict(family="joint", generator_output="[B, H, W, 2]", critic_input="[B, H, W, 2] -> [B]")
_MULTI = dict(family="multichannel", generator_output="[B, H, W, 1+C]", critic_input="[B, H, W, 1+C] -> [B]")
_COND = dict(family="conditional", critic_input="[C, B, H, W, 2] -> [C, B]")
_two = lambda n: 2  # noqa: E731
_one_plus = lambda n: 1 + n  # noqa: E731

_register(ArchSpec("dcgan", **_JOINT, separable=False, make_generator=_dcgan_g(False, False),
                   make_critic=_single_critic(False), view=_identity, output_channels=_two))  # fmt: skip
_register(ArchSpec("dcgan-sep", **_JOINT, separable=True, make_generator=_dcgan_g(True, False),
                   make_critic=_single_critic(False), view=_identity, output_channels=_two))  # fmt: skip
_register(ArchSpec("multichannel", **_MULTI, separable=False, make_generator=_dcgan_g(False, True),
                   make_critic=_single_critic(True), view=_identity, output_channels=_one_plus))  # fmt: skip
_register(ArchSpec("multichannel-sep", **_MULTI, separable=True, make_generator=_dcgan_g(True, True),
                   make_critic=_single_critic(True), view=_identity, output_channels=_one_plus))  # fmt: skip
_register(ArchSpec("star", **_COND, generator_output="[B, H, W, 1+C]", separable=True, make_generator=_star_g,
                   make_critic=_bank_critic, view=star_pairs, output_channels=_one_plus))  # fmt: skip
_register(ArchSpec("independent", **_COND, generator_output="[B, C, H, W, 2]", separable=False,
                   make_generator=_independent_g(False), make_critic=_bank_critic, view=protein_major,
                   output_channels=_two))  # fmt: skip
_register(ArchSpec("independent-sep", **_COND, generator_output="[B, C, H, W, 2]", separable=True,
                   make_generator=_independent_g(True), make_critic=_bank_critic, view=protein_major,
                   output_channels=_two))  # fmt: skip


# --- public API --------------------------------------------------------------------------------
def get_arch(arch: str) -> ArchSpec:
    """Return the `ArchSpec` of `arch`; ValueError naming `arch` and the choices if unknown."""
    if arch not in ARCHS:
        raise ValueError(f"arch: unknown architecture {arch!r}; expected one of {sorted(ARCHS)}")
    return ARCHS[arch]


def _check_int(flag, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{flag}: expected an int >= {minimum}, got {value!r}")


def build_generator(
    arch: str,
    *,
    image_size=(48, 80),
    n_proteins: int = 6,
    nz: int = 100,
    ngf: int = 64,
    red_portion: float = 0.5,
    synchronized_bn: bool = False,
    seed: int = 0,
) -> keras.Model:
    """Build (and build the weights of) the generator of `arch`, with reference init from `seed`.

    Args:
      arch: a name in `ARCHS`.
      image_size: `(height, width)`, sides halving evenly down to ~4 (48x80, 64x64, 96x160, ...).
      n_proteins: C (ignored by the joint family, which has 2 channels).
      nz: latent size; z is float32 `[B, nz]`.
      ngf: generator base width.
      red_portion: red fraction of the separable / star layers (ignored by non-separable archs).
      synchronized_bn: cross-replica BatchNorm (MirroredStrategy).
      seed: init seed; the same seed gives identical weights.

    Returns:
      A built Keras model; `model(z, training=...)` gives the layout in `ARCHS[arch].generator_output`.

    Raises:
      ValueError: naming the flag (`arch`, `image_size`, `n_proteins`, `nz`, `ngf`, `red_portion`).
    """
    spec = get_arch(arch)
    image_size = check_image_size(image_size)
    tower_plan(image_size, ngf)
    _check_int("n_proteins", n_proteins, 1)
    _check_int("nz", nz, 2 if spec.separable else 1)
    if spec.separable and not 0.0 < float(red_portion) < 1.0:
        raise ValueError(f"red_portion: expected a value in (0, 1), got {red_portion!r}")
    model = spec.make_generator(
        image_size, n_proteins, nz, ngf, float(red_portion), bool(synchronized_bn), seed
    )
    model.build((None, nz))
    return model


def build_critic(
    arch: str,
    *,
    image_size=(48, 80),
    n_proteins: int = 6,
    ndf: int = 64,
    batchnorm: bool = False,
    synchronized_bn: bool = False,
    seed: int = 0,
) -> keras.Model:
    """Build the critic of `arch` (a `DCGANCritic` or a `CriticBank` of C critics).

    Args:
      arch: a name in `ARCHS`.
      image_size: `(height, width)`.
      n_proteins: C.
      ndf: critic base width.
      batchnorm: BatchNorm in the critic (GAN / WGAN); False for WGAN-GP (the default).
      synchronized_bn: cross-replica BatchNorm.
      seed: init seed.

    Returns:
      A built model taking the layout `critic_view(arch, generator_output)` gives.
    """
    spec = get_arch(arch)
    image_size = check_image_size(image_size)
    tower_plan(image_size, ndf)
    _check_int("n_proteins", n_proteins, 1)
    model = spec.make_critic(image_size, n_proteins, ndf, bool(batchnorm), bool(synchronized_bn), seed)
    model.build()
    return model


def critic_view(arch: str, generator_output, n_proteins: int | None = None):
    """Rearrange a generator output (or real data in the same layout) into the critic's input.

    Identity for joint and multichannel; star `[B, H, W, 1+C]` -> `[C, B, H, W, 2]` (red paired
    with each green); independent `[B, C, H, W, 2]` -> `[C, B, H, W, 2]`.
    """
    return get_arch(arch).view(generator_output, n_proteins)


def n_output_channels(arch: str, n_proteins: int = 6) -> int:
    """Channels on the last axis of the generator output (2, or 1 + n_proteins)."""
    return get_arch(arch).output_channels(int(n_proteins))


def family(arch: str) -> str:
    """The family of `arch`: "joint", "multichannel" or "conditional"."""
    return get_arch(arch).family

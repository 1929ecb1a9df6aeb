"""Build architectures by name: `build_generator(arch)`, `build_critic(arch)`, `critic_view(arch, x)`.

The names are `biogans_tf.registries.ARCHS` (one line each, pointing at an `ArchSpec` in
`archs.py`); what a spec holds is described in `spec.py`. `register(spec)` adds one at run time.
"""

from __future__ import annotations

import keras

from biogans_tf.models.spec import ArchSpec
from biogans_tf.models.tower import check_image_size, tower_plan
from biogans_tf.registries import ARCHS


def register(spec: ArchSpec, help: str = "") -> ArchSpec:
    """Add `spec` to `ARCHS` under `spec.name` (`--arch` then accepts it); returns it.

    A new architecture of the project gets a line in `biogans_tf.registries` instead, so that its
    name is known without importing it; `register` is for code outside the project (and tests).

    Raises:
      ValueError: the name is already registered (`unregister` it first).
    """
    ARCHS.add(spec.name, spec, help)
    return spec


def unregister(name: str) -> None:
    """Remove `name` from `ARCHS` (tests that register a temporary architecture)."""
    ARCHS.remove(name)


# --- public API --------------------------------------------------------------------------------
def get_arch(arch: str) -> ArchSpec:
    """Return the `ArchSpec` of `arch`; ValueError naming `arch` and the choices if unknown."""
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
    norm: str = "none",
    execution: str = "loop",
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
      norm: "none" or "spectral" (`--critic_norm`; `keras.layers.SpectralNormalization` on every conv).
      execution: how a `CriticBank` (conditional family) runs its critics, "loop" or "grouped"
        (`--critic_bank`; same weights for the same seed); other families have one critic.

    Returns:
      A built model taking the layout `critic_view(arch, generator_output)` gives.
    """
    spec = get_arch(arch)
    image_size = check_image_size(image_size)
    tower_plan(image_size, ndf)
    _check_int("n_proteins", n_proteins, 1)
    # `norm` only when asked for: an arch's own `make_critic` need not take it.
    extra = {} if norm == "none" else {"norm": norm}
    if execution != "loop" and spec.family == "conditional":
        extra["execution"] = execution
    model = spec.make_critic(
        image_size, n_proteins, ndf, bool(batchnorm), bool(synchronized_bn), seed, **extra
    )
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


def arch_of(model) -> str:
    """The registry name of a generator model, from its class (and config when the class is shared).

    Raises:
      ValueError: no registered arch (or more than one) matches the model.
    """
    cfg = model.get_config()
    found = [
        spec.name
        for spec in ARCHS.values()
        if type(model) is spec.generator_class and (spec.identify is None or spec.identify(cfg))
    ]
    if len(found) != 1:
        raise ValueError(f"cannot tell the architecture of a {type(model).__name__} (matches: {found})")
    return found[0]

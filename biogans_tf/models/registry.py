"""Named architectures: one `ArchSpec` per name, and the functions the rest of the code calls.

Adding an architecture = one module with its generator (a registered Keras class) + one
`register(ArchSpec(...))` line (the paper's seven are in `biogans_tf/models/archs.py`). Everything
else (critic, critic view, output channels, data batches, evaluation views, export metadata) follows
from the spec's `family` and `layout`.

| arch | family | layout: generator output | critic input -> output |
|---|---|---|---|
| dcgan(-sep) | joint | two_channel: `[B, H, W, 2]` | `[B, H, W, 2]` -> `[B]` |
| multichannel(-sep) | multichannel | multichannel: `[B, H, W, 1+C]` | `[B, H, W, 1+C]` -> `[B]` |
| star | conditional | multichannel: `[B, H, W, 1+C]` | `[C, B, H, W, 2]` -> `[C, B]` |
| independent(-sep) | conditional | per_protein: `[B, C, H, W, 2]` | `[C, B, H, W, 2]` -> `[C, B]` |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import ops

from biogans_tf.conventions import FAMILIES
from biogans_tf.models.critic_bank import CriticBank
from biogans_tf.models.critics import DCGANCritic
from biogans_tf.models.tower import check_image_size, tower_plan

# Generator output layouts: the red + one green `[B, H, W, 2]`; the red + every green of one cell
# `[B, H, W, 1+C]`; one (red, green) pair per protein `[B, C, H, W, 2]`.
LAYOUTS = ("two_channel", "multichannel", "per_protein")
_LAYOUT_SHAPES = {
    "two_channel": "[B, H, W, 2]",
    "multichannel": "[B, H, W, 1+C]",
    "per_protein": "[B, C, H, W, 2]",
}
# Which layouts each family can train on (the critic view must exist).
_FAMILY_LAYOUTS = {
    "joint": ("two_channel",),
    "multichannel": ("multichannel",),
    "conditional": ("multichannel", "per_protein"),
}


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


def _two(n_proteins):
    return 2


def _one_plus(n_proteins):
    return 1 + n_proteins


# --- critics: one per family ------------------------------------------------------------------
def _critic_kwargs(image_size, ndf, batchnorm, synchronized_bn, seed, norm) -> dict:
    """The constructor arguments every critic takes (`DCGANCritic`, `CriticBank`)."""
    return dict(
        image_size=image_size,
        ndf=ndf,
        batchnorm=batchnorm,
        synchronized_bn=synchronized_bn,
        seed=seed,
        norm=norm,
        name="critic",
    )


def single_critic(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed, n_channels=2, norm="none"):
    """One `DCGANCritic` on `[B, H, W, n_channels]` images (joint and multichannel families)."""
    return DCGANCritic(
        n_channels=n_channels, **_critic_kwargs(image_size, ndf, batchnorm, synchronized_bn, seed, norm)
    )


def multichannel_critic(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed, norm="none"):
    """One `DCGANCritic` on `[B, H, W, 1+C]` images (multichannel family)."""
    return single_critic(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed, 1 + n_proteins, norm)


def bank_critic(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed, norm="none", execution="loop"):
    """A `CriticBank` of C critics on `[C, B, H, W, 2]` (conditional family), run as `execution`."""
    kwargs = _critic_kwargs(image_size, ndf, batchnorm, synchronized_bn, seed, norm)
    return CriticBank(n_critics=n_proteins, n_channels=2, execution=execution, **kwargs)


_FAMILY_CRITICS = {"joint": single_critic, "multichannel": multichannel_critic, "conditional": bank_critic}


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """Description and builders of one named architecture.

    Only `name`, `family`, `layout`, `generator_class` and `make_generator` are needed; the other
    fields default to what the family and layout imply.

    Attributes:
      name: registry name (the `--arch` flag value).
      family: "joint" (2-channel images), "multichannel" (one `[H, W, 1+C]` image per z) or
        "conditional" (one 2-channel image per protein, a critic per protein). It also names the
        batches the data pipeline makes (`biogans_tf.data.pipeline.make_batches`).
      layout: the generator output, one of `LAYOUTS`: "two_channel" `[B, H, W, 2]`, "multichannel"
        `[B, H, W, 1+C]` or "per_protein" `[B, C, H, W, 2]` (channel 0 / last-axis 0 is the red).
      generator_class: the Keras class of the generator (registered with
        `keras.saving.register_keras_serializable`); identifies the arch of a `.keras` file that
        carries no metadata.
      make_generator: `(image_size, n_proteins, nz, ngf, red_portion, synchronized_bn, seed) -> Model`;
        the model creates its weights in `build((None, nz))` (optimisers and checkpoints are made
        from them before the first call).
      separable: whether the red tower is isolated from green (z[:, :nz//2] drives the red).
      identify: `generator config dict -> bool`, telling this arch from others with the same
        `generator_class` (None: the class alone decides).
      make_critic: `(image_size, n_proteins, ndf, batchnorm, synchronized_bn, seed[, norm]) -> Model`
        (default: the family's critic; `norm` is passed only for `--critic_norm` other than none).
      view: `(generator_output, n_proteins) -> critic input` (default: from family and layout).
      output_channels: `n_proteins -> channels on the generator output's last axis` (default: from
        the layout).
    """

    name: str
    family: str
    layout: str
    generator_class: type
    make_generator: Callable[..., keras.Model]
    separable: bool = False
    identify: Callable[[dict], bool] | None = None
    make_critic: Callable[..., keras.Model] | None = None
    view: Callable | None = None
    output_channels: Callable[[int], int] | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"ArchSpec {self.name}: family must be one of {FAMILIES}, got {self.family!r}")
        if self.layout not in _FAMILY_LAYOUTS[self.family]:
            raise ValueError(
                f"ArchSpec {self.name}: layout of family {self.family!r} must be one of "
                f"{_FAMILY_LAYOUTS[self.family]}, got {self.layout!r}"
            )
        # Why object.__setattr__: the spec is frozen; defaults depend on family and layout.
        if self.make_critic is None:
            object.__setattr__(self, "make_critic", _FAMILY_CRITICS[self.family])
        if self.view is None:
            views = {"two_channel": _identity, "per_protein": protein_major}
            conditional = self.family == "conditional"
            views["multichannel"] = star_pairs if conditional else _identity
            object.__setattr__(self, "view", views[self.layout])
        if self.output_channels is None:
            object.__setattr__(self, "output_channels", _one_plus if self.layout == "multichannel" else _two)

    @property
    def generator_output(self) -> str:
        """Layout of the generator's output, e.g. "[B, H, W, 1+C]"."""
        return _LAYOUT_SHAPES[self.layout]

    @property
    def critic_input(self) -> str:
        """Layout the critic takes -> gives."""
        if self.family == "conditional":
            return "[C, B, H, W, 2] -> [C, B]"
        return f"{self.generator_output} -> [B]"


ARCHS: dict[str, ArchSpec] = {}


def register(spec: ArchSpec) -> ArchSpec:
    """Add `spec` to `ARCHS` under `spec.name` (`--arch` then accepts it); returns it.

    Raises:
      ValueError: the name is already registered (`unregister` it first).
    """
    if spec.name in ARCHS:
        raise ValueError(f"arch: {spec.name!r} is already registered")
    ARCHS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove `name` from `ARCHS` (tests that register a temporary architecture)."""
    ARCHS.pop(name, None)


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

"""What an architecture is: `ArchSpec`, its family, output layout, critic and critic view.

| arch | family | layout: generator output | critic input -> output |
|---|---|---|---|
| dcgan(-sep) | joint | two_channel: `[B, H, W, 2]` | `[B, H, W, 2]` -> `[B]` |
| multichannel(-sep) | multichannel | multichannel: `[B, H, W, 1+C]` | `[B, H, W, 1+C]` -> `[B]` |
| star | conditional | multichannel: `[B, H, W, 1+C]` | `[C, B, H, W, 2]` -> `[C, B]` |
| independent(-sep) | conditional | per_protein: `[B, C, H, W, 2]` | `[C, B, H, W, 2]` -> `[C, B]` |

Everything but the generator (critic, critic view, output channels, data batches, evaluation views,
export metadata) follows from a spec's `family` and `layout`. The specs of the paper's seven are in
`archs.py`, registered by name in `biogans_tf.registries.ARCHS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import ops

from biogans_tf.conventions import FAMILIES
from biogans_tf.models.critic_bank import CriticBank
from biogans_tf.models.critics import DCGANCritic

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

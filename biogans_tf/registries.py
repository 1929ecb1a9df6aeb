"""The registries: every named architecture, loss and critic penalty, without importing TensorFlow.

Each line is a name, its one-line help (what `--help` shows) and its target, imported on first use.
Adding one is its own module plus one line here:

    ARCHS     --arch     an `ArchSpec` (biogans_tf/models/spec.py), built with `models.registry`
    LOSSES    --gan      a `GanLoss` subclass (biogans_tf/losses/base.py)
    PENALTIES --penalty  `fn(critic, real, fake, seed, eps=None) -> float32 scalar`

The names-only choices (critic norms, palettes, L-BFGS budgets, ...) are in `biogans_tf.conventions`.
A target module never imports this one (that would be an import circle).
"""

from __future__ import annotations

from biogans_tf.named import Named

# fmt: off
ARCHS = Named("arch", {
    "dcgan": ("DCGAN on (red, green) pairs", "biogans_tf.models.archs:DCGAN"),
    "dcgan-sep": ("DCGAN, red drawn by z[:nz/2] alone (separable)", "biogans_tf.models.archs:DCGAN_SEP"),
    "multichannel": ("one DCGAN image of the red and every green", "biogans_tf.models.archs:MULTICHANNEL"),
    "multichannel-sep": ("multichannel, separable red", "biogans_tf.models.archs:MULTICHANNEL_SEP"),
    "star": ("shared red tower, one green tower per protein (the paper's)", "biogans_tf.models.archs:STAR"),
    "independent": ("one DCGAN per protein", "biogans_tf.models.archs:INDEPENDENT"),
    "independent-sep": ("one separable DCGAN per protein", "biogans_tf.models.archs:INDEPENDENT_SEP"),
})

LOSSES = Named("gan", {
    "gan": ("cross-entropy GAN (Adam 2e-4)", "biogans_tf.losses.gan:CrossEntropyGan"),
    "wgan": ("WGAN, weight clipping (RMSprop 5e-5)", "biogans_tf.losses.wgan:Wgan"),
    "wgan-gp": ("WGAN with gradient penalty (Adam 1e-4)", "biogans_tf.losses.wgan_gp:WganGp"),
})

PENALTIES = Named("penalty", {
    "none": ("no penalty", "biogans_tf.losses.base:no_penalty"),
    "gp": ("WGAN-GP, on interpolates", "biogans_tf.losses.wgan_gp:gp_penalty"),
    "r1": ("gamma/2 E|grad D(real)|^2, Mescheder et al. 2018", "biogans_tf.losses.r1:r1_penalty"),
})
# fmt: on

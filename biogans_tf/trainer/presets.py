"""Training presets (`--preset`): named bundles of `TrainConfig` settings, as data.

A preset sits between the loss defaults and the flags given on the command line (see
`biogans_tf.trainer.config.resolve`). `FAMILY_PRESETS` adds per-architecture-family settings on
top of `PRESETS`. This module imports nothing, so `--help` can list the preset names cheaply.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # The reference's settings (Osokin et al. 2017, aosokin/biogans experiment scripts).
    "paper": dict(image_size=(48, 80), batch_size=64, nz=100, ngf=64, ndf=64, red_portion=0.5, steps=50000),
    # A reduced model that shows recognisable cells in ~5 minutes on 2 CPU cores (issue 15:
    # benchmarks/RESULTS.md has the timing and the before/after grids). The critic bank (6
    # critics with a double-backward penalty) is what costs time, so the critic stays narrow
    # (ndf=16) while the generator gets the width the six protein patterns need (ngf=32 costs
    # about the same per step as 16). bfloat16 where the CPU computes it natively (`auto`) and
    # the grouped critic bank where it can train (`auto`: one grouped conv per layer, fewer and
    # larger kernels at this width; Eigen's CPU kernels cannot train it) make a step ~1.5x faster;
    # two critic steps per generator step instead of five buy more generator updates per second;
    # the EMA generator (decay 0.99, short enough for 1200 iterations) gives visibly cleaner
    # samples early. 1000 simulated cells per protein (~4 s to render) keep the critic from
    # memorising the training set.
    "cpu-demo": dict(
        data="sim:1000",
        image_size=(48, 80),
        batch_size=16,
        ngf=32,
        ndf=16,
        n_critic=2,
        lr_d=2e-4,
        lr_g=2e-4,
        ema=True,
        ema_decay=0.99,
        steps=1200,
        sample_every=200,
        checkpoint_every=300,
        log_every=25,
        precision="auto",
        critic_bank="auto",
    ),
}


# Per-family settings a preset adds for an architecture family (`biogans_tf.models.registry`), on
# top of `PRESETS`. The reference's multichannel run scripts
# (experiments/models_6class_conditional/train_size-48-80_6class_wgangp-multichannel[-sep]-adam.sh)
# train a wider model with a larger latent and a 1/7 red share: one red channel of seven.
FAMILY_PRESETS: dict[str, dict[str, dict]] = {
    "paper": {"multichannel": dict(nz=350, ngf=224, ndf=224, red_portion=0.143)},
}

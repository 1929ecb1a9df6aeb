"""Config resolution, presets and flag validation (no training)."""

import dataclasses

import pytest

from biogans_tf.trainer.config import (
    PAPER_PROTEINS,
    ConfigError,
    TrainConfig,
    merge_for_resume,
    parse_image_size,
    parse_proteins,
    resolve,
)


def test_defaults_follow_the_loss_and_the_paper():
    cfg = resolve({"run_dir": "x"})
    assert (cfg.arch, cfg.gan, cfg.data, cfg.proteins) == ("star", "wgan-gp", "sim", PAPER_PROTEINS)
    assert (cfg.image_size, cfg.batch_size, cfg.nz, cfg.ngf, cfg.ndf) == ((48, 80), 64, 100, 64, 64)
    assert (cfg.optimizer, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.n_critic, cfg.gp_lambda) == (
        "adam",
        1e-4,
        0.0,
        0.9,
        5,
        10.0,
    )
    assert cfg.critic_batchnorm is False
    wgan = resolve({"gan": "wgan", "run_dir": "x"})
    assert (wgan.optimizer, wgan.lr_d, wgan.clip, wgan.n_critic_burst, wgan.critic_batchnorm) == (
        "rmsprop",
        5e-5,
        0.01,
        100,
        True,
    )
    assert resolve({}).run_dir.startswith("runs/star-wgan-gp-")


def test_preset_then_flags_override():
    cfg = resolve({"ngf": 24, "run_dir": "x"}, preset="cpu-demo")
    assert cfg.preset == "cpu-demo" and cfg.ngf == 24 and cfg.ndf == 16 and cfg.batch_size == 16
    assert resolve({"run_dir": "x"}, preset="paper").steps == 50000
    with pytest.raises(ConfigError, match="--preset='fast'"):
        resolve({}, preset="fast")


def test_paper_preset_per_family(tmp_path):
    # The reference's run scripts: multichannel[-sep] nz 350, ngf = ndf = 224, red_portion 0.143.
    for arch in ("multichannel", "multichannel-sep"):
        cfg = resolve({"arch": arch, "run_dir": "x"}, preset="paper")
        assert (cfg.nz, cfg.ngf, cfg.ndf, cfg.red_portion, cfg.steps) == (350, 224, 224, 0.143, 50000)
    for arch in ("star", "dcgan", "dcgan-sep", "independent"):
        cfg = resolve({"arch": arch, "run_dir": "x"}, preset="paper")
        assert (cfg.nz, cfg.ngf, cfg.ndf, cfg.red_portion, cfg.steps) == (100, 64, 64, 0.5, 50000)
    assert resolve({"arch": "multichannel-sep", "nz": 64, "run_dir": "x"}, preset="paper").nz == 64
    assert resolve({"arch": "multichannel", "run_dir": "x"}, preset="cpu-demo").nz == 100
    # Resuming a multichannel paper run with --preset=paper again is no conflict.
    import json

    from absl import flags

    from biogans_tf.training import run

    saved = resolve({"arch": "multichannel-sep", "run_dir": str(tmp_path)}, preset="paper")
    (tmp_path / "config.json").write_text(json.dumps(saved.to_json()))
    try:
        flags.FLAGS(["run", f"--run_dir={tmp_path}", "--resume", "--preset=paper"])
        cfg = run.config_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    assert cfg.resume and (cfg.arch, cfg.nz, cfg.ngf) == ("multichannel-sep", 350, 224)


def test_json_round_trip_has_the_export_contract_fields():
    cfg = resolve({"run_dir": "x", "ema": True})
    d = cfg.to_json()
    for key in (
        "arch",
        "gan",
        "proteins",
        "image_size",
        "nz",
        "ngf",
        "ndf",
        "red_portion",
        "seed",
        "ema",
        "steps",
    ):
        assert key in d
    assert d["image_size"] == [48, 80] and d["proteins"] == list(PAPER_PROTEINS)
    assert TrainConfig.from_json(d) == cfg
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig.from_json({**d, "learning_rate": 1})


@pytest.mark.parametrize(
    "flags, flag_named",
    [
        ({"arch": "resnet"}, "--arch='resnet'"),
        ({"gan": "lsgan"}, "--gan='lsgan'"),
        ({"image_size": (50, 80)}, "--image_size=50x80"),
        ({"arch": "star", "proteins": ("Alp14",)}, "--arch=star"),
        ({"arch": "independent", "proteins": ("Alp14",)}, "--proteins=Alp14"),
        ({"strategy": "tpu"}, "--strategy='tpu'"),
        ({"ema_decay": 1.0}, "--ema_decay"),
        ({"precision": "fp8"}, "--precision"),
        ({"batch_size": 0}, "--batch_size=0"),
        ({"n_critic": 0}, "--n_critic"),
        ({"lr_g": -1.0}, "--lr_g"),
        ({"jit_compile": "maybe"}, "--jit_compile"),
        ({"arch": "dcgan-sep", "red_portion": 1.0}, "--red_portion"),
        # Non-finite numbers (issue 24 A5): inf passed the positivity checks, NaN every check.
        ({"lr_d": float("inf")}, "--lr_d=inf: expected finite"),
        ({"gp_lambda": float("nan")}, "--gp_lambda=nan: expected finite"),
        ({"gan": "wgan", "clip": float("inf")}, "--clip=inf: expected finite"),
        ({"percentiles": (0.5, float("nan"))}, "--percentiles=(0.5, nan): expected finite"),
    ],
)
def test_bad_flags_fail_naming_the_flag(flags, flag_named):
    with pytest.raises(ConfigError) as e:
        resolve({"run_dir": "x", **flags})
    assert flag_named in str(e.value)


def test_dcgan_accepts_one_protein_and_other_sizes():
    cfg = resolve({"arch": "dcgan", "proteins": ("Alp14",), "image_size": (96, 160), "run_dir": "x"})
    assert cfg.proteins == ("Alp14",)


def test_parsers():
    assert parse_image_size("48x80") == (48, 80) and parse_image_size("24,40") == (24, 40)
    with pytest.raises(ConfigError, match="--image_size"):
        parse_image_size("48")
    assert parse_proteins("Alp14, Arp3") == ("Alp14", "Arp3") and parse_proteins("all") is None
    with pytest.raises(ConfigError, match="twice"):
        parse_proteins("Alp14,Alp14")


def test_resume_accepts_only_harmless_changes():
    saved = resolve({"run_dir": "run", "ngf": 8})
    merged = merge_for_resume(saved, {"steps": 99, "sample_every": 3, "run_dir": "run"}, "run/config.json")
    assert (
        merged.steps == 99
        and merged.resume
        and dataclasses.replace(merged, steps=saved.steps, sample_every=saved.sample_every, resume=False)
        == saved
    )
    with pytest.raises(ConfigError, match="--ngf=16 differs .*run/config.json: ngf=8"):
        merge_for_resume(saved, {"ngf": 16}, "run/config.json")

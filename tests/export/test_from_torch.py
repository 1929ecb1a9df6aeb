"""Conversion of reference PyTorch checkpoints (export/from_torch.py).

The numpy tests need neither torch nor the reference. The comparison tests run
`torch_reference.py export` (found via $BIOGANS_SHARED or <repo>/../shared) and skip without it;
the full acceptance runs (--bn-warmup 100, all three archs) are marked slow.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from biogans_tf.export.from_torch import convert_critic_state_dict, convert_state_dict, run
from biogans_tf.export.torch_keys import key_map
from biogans_tf.export.torch_weights import load_torch_state_dict
from biogans_tf.models import build_critic, build_generator
from tests.conftest import ROOT, subprocess_env

SHARED = os.environ.get("BIOGANS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
REFERENCE = os.path.join(SHARED, "reference", "torch_reference.py")
TINY = dict(image_size=(16, 32), ngf=8, n_proteins=3)


def _to_torch_layout(model):
    """The reference-layout state_dict of a Keras model (inverse of the converter's mapping)."""
    return {k: (np.transpose(np.asarray(v), (3, 2, 0, 1)) if len(v.shape) == 4 else np.asarray(v))
            for k, v in key_map(model).items()}  # fmt: skip


def _z(b=2, nz=100):
    return np.random.default_rng(1).normal(size=(b, nz)).astype("float32")


@pytest.mark.parametrize("arch", ["dcgan", "dcgan-sep", "multichannel", "multichannel-sep", "star"])
def test_numpy_state_dict_round_trip(arch):
    src = build_generator(arch, **TINY, seed=1)
    src(_z(8), training=True)  # non-trivial BN statistics
    sd = _to_torch_layout(src)
    dst = convert_state_dict(arch, sd, **TINY)
    np.testing.assert_array_equal(np.asarray(dst(_z())), np.asarray(src(_z())))


def test_independent_takes_one_state_dict_per_protein():
    src = build_generator("independent-sep", **TINY, seed=1)
    sds = [_to_torch_layout(t) for t in src.towers]
    dst = convert_state_dict("independent-sep", sds, **TINY)
    np.testing.assert_array_equal(np.asarray(dst(_z())), np.asarray(src(_z())))
    with pytest.raises(ValueError, match="one reference checkpoint per protein"):
        convert_state_dict("independent-sep", sds[:2], **TINY)


def test_critic_bank_conversion_keys_and_values():
    src = build_critic("star", image_size=(16, 32), n_proteins=3, ndf=8, batchnorm=True, seed=4)
    sd = _to_torch_layout(src)
    assert (
        "main.2.main.initial.2-8.conv.weight" in sd and "main.0.main.pyramid.16.batchnorm.running_var" in sd
    )
    kw = dict(image_size=(16, 32), n_proteins=3, ndf=8, batchnorm=True)
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 2, 16, 32, 2)).astype("float32")
    dst = convert_critic_state_dict("star", sd, **kw, gan="gan")  # GAN logits keep their sign
    np.testing.assert_array_equal(np.asarray(dst(x)), np.asarray(src(x)))
    # WGAN(-GP) critics are sign-converted: every critic of the bank gives exactly minus the scores.
    for gan in ("wgan", "wgan-gp"):
        neg = convert_critic_state_dict("star", sd, **kw, gan=gan)
        np.testing.assert_array_equal(np.asarray(neg(x)), -np.asarray(src(x)))
    with pytest.raises(ValueError, match="--gan"):
        convert_critic_state_dict("star", sd, **kw, gan="lsgan")


def test_errors_name_the_key():
    src = build_generator("dcgan", **TINY)
    sd = _to_torch_layout(src)
    assert "main.initial.100-16.convt.weight" in sd
    sd["num_batches_tracked_is_ignored.num_batches_tracked"] = np.array(3)
    convert_state_dict("dcgan", sd, **TINY)  # num_batches_tracked keys are ignored
    bad = dict(sd)
    bad["main.final.8-2.convt.weight"] = np.zeros((8, 2, 3, 3), "float32")
    with pytest.raises(ValueError, match=r"main\.final\.8-2\.convt\.weight"):
        convert_state_dict("dcgan", bad, **TINY)
    missing = dict(sd)
    del missing["main.pyramid.8.batchnorm.running_var"]
    with pytest.raises(ValueError, match=r"missing 1: \['main\.pyramid\.8\.batchnorm\.running_var'\]"):
        convert_state_dict("dcgan", missing, **TINY)
    with pytest.raises(ValueError, match="unexpected"):
        convert_state_dict("dcgan", dict(sd, extra=np.zeros(1)), **TINY)
    with pytest.raises(ValueError, match="missing"):
        convert_state_dict("dcgan-sep", sd, **TINY)  # wrong arch for the keys


# --- comparison with the PyTorch reference ------------------------------------------------------
def _reference_export(tmp_path, ref_arch, warmup, seed=3):
    if not os.path.isfile(REFERENCE):
        pytest.skip(f"reference not found at {REFERENCE} (set BIOGANS_SHARED)")
    pytest.importorskip("torch")
    pth, npz, dpth = tmp_path / "G.pth", tmp_path / "ref.npz", tmp_path / "D.pth"
    cmd = [sys.executable, REFERENCE, "export", "--arch", ref_arch, "--out", str(pth), "--seed", str(seed),
           "--npz", str(npz), "--bn-warmup", str(warmup), "--out-d", str(dpth)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=1800)
    return pth, np.load(npz), dpth


def _reference_layout(arch, out):
    """NCHW reference output -> our layout (star: [C, B, 2, H, W] -> [B, H, W, 1+C])."""
    if arch != "star":
        return np.transpose(out, (0, 2, 3, 1))
    x = np.transpose(out, (1, 3, 4, 0, 2))  # [B, H, W, C, 2]
    return np.concatenate([x[..., 0, :1], x[..., :, 1]], axis=-1)


def _check_against_reference(tmp_path, arch, ref_arch, warmup):
    pth, ref, dpth = _reference_export(tmp_path, ref_arch, warmup)
    g = convert_state_dict(arch, load_torch_state_dict(str(pth)))
    z = ref["z"].reshape(-1, 100)
    eval_out = np.asarray(g(z, training=False))
    assert np.abs(eval_out - _reference_layout(arch, ref["out_eval"])).max() < 1e-4
    # Train mode: batch statistics, and the moving statistics updated with the unbiased variance.
    train_out = np.asarray(g(z, training=True))
    assert np.abs(train_out - _reference_layout(arch, ref["out_train"])).max() < 1e-4
    keys = key_map(g)
    for k in ref.files:
        if k.startswith("running_after_train:"):
            np.testing.assert_allclose(np.asarray(keys[k.split(":", 1)[1]]), ref[k], atol=1e-5)
    d = convert_critic_state_dict(arch, load_torch_state_dict(str(dpth)))  # a WGAN-GP critic
    x = ref["out_eval"].transpose(0, 1, 3, 4, 2) if arch == "star" else ref["out_eval"].transpose(0, 2, 3, 1)
    # Sign-converted: the reference's critic scores real images low, ours high.
    assert np.abs(np.asarray(d(x)) + ref["d_scores_on_out_eval"]).max() < 1e-4


@pytest.mark.parametrize("arch, ref_arch", [("dcgan", "dcgan"), ("dcgan-sep", "sep"), ("star", "star")])
def test_matches_reference_quick(tmp_path, arch, ref_arch):
    # A few warm-up batches already move every BatchNorm running statistic away from 0/1.
    _check_against_reference(tmp_path, arch, ref_arch, warmup=3)


@pytest.mark.slow
@pytest.mark.parametrize("arch, ref_arch", [("dcgan", "dcgan"), ("dcgan-sep", "sep"), ("star", "star")])
def test_matches_reference_acceptance(tmp_path, arch, ref_arch):
    _check_against_reference(tmp_path, arch, ref_arch, warmup=100)


def _save_pth(torch, model, path):
    torch.save(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _to_torch_layout(model).items()}, path
    )


def test_cli_writes_keras_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    src = build_generator("dcgan-sep", **TINY, seed=6)
    pth = tmp_path / "G.pth"
    _save_pth(torch, src, pth)
    out = tmp_path / "sub" / "G.keras"
    argv = ["from_torch", "--arch", "dcgan-sep", "--pth", str(pth), "--out", str(out),
            "--image_size", "16x32", "--ngf", "8"]  # fmt: skip
    assert run(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_tensors"] == len(key_map(src)) and summary["out"] == str(out)
    assert sorted(os.listdir(out.parent)) == ["G.keras"]  # no temporary files left
    g = keras.models.load_model(out)
    np.testing.assert_array_equal(np.asarray(g(_z())), np.asarray(src(_z())))
    # Bad flags / mismatching checkpoints: a message naming the flag or key, non-zero status, no file.
    bad_out = tmp_path / "bad.keras"
    assert run(argv[:5] + ["--out", str(bad_out), "--image_size", "17x32", "--ngf", "8"]) == 1
    assert "image_size" in capsys.readouterr().err
    assert run(argv[:5] + ["--out", str(bad_out), "--image_size", "16x32", "--ngf", "16"]) == 1
    assert "main.initial.100-32.convt-sep.convt_half.weight" in capsys.readouterr().err
    assert run(argv[:5] + ["--out", str(bad_out)] + argv[7:] + ["--pth", str(pth)]) == 1
    assert "takes one checkpoint" in capsys.readouterr().err
    assert run(["from_torch", "--arch", "dcgan"]) == 2
    assert "--pth" in capsys.readouterr().err
    assert not bad_out.exists()


@pytest.mark.slow
def test_cli_as_module_subprocess(tmp_path):
    torch = pytest.importorskip("torch")
    src = build_generator("star", **TINY, seed=6)
    pth = tmp_path / "G.pth"
    _save_pth(torch, src, pth)
    out = tmp_path / "G.keras"
    env = subprocess_env()
    cmd = [sys.executable, "-m", "export.from_torch", "--arch", "star", "--pth", str(pth), "--out", str(out),
           "--image_size", "16x32", "--ngf", "8", "--n_proteins", "3"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.strip().splitlines()[-1])["arch"] == "star"
    np.testing.assert_array_equal(np.asarray(keras.models.load_model(out)(_z())), np.asarray(src(_z())))


def _import_reference():
    if not os.path.isfile(REFERENCE):
        pytest.skip(f"reference not found at {REFERENCE} (set BIOGANS_SHARED)")
    torch = pytest.importorskip("torch")
    import importlib.util

    spec = importlib.util.spec_from_file_location("_biogans_torch_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return torch, module


def _reference_towers(ref, torch, nz, nc, ngf, red_portion, n_towers):
    """Reference DCGAN_G towers, reference init, with non-trivial BatchNorm running statistics."""
    torch.manual_seed(0)
    towers = [ref.DCGAN_G((16, 32), nz, nc, ngf, 0, red_portion=red_portion) for _ in range(n_towers)]
    for t in towers:
        ref.reference_init(t)
        with torch.no_grad():
            t.train()
            t(torch.randn(16, nz, 1, 1))
            t.eval()
    return towers


@pytest.mark.parametrize(
    "arch, nz, ngf, red_portion, n_proteins, layout",
    [
        ("multichannel", 350, 16, None, 3, "one"),
        ("multichannel-sep", 350, 28, 0.143, 6, "one"),  # int(7 * 0.143) = 1 red output
        ("multichannel-sep", 100, 16, 0.5, 6, "one"),  # int(7 * 0.5) = 3 red outputs
        ("independent-sep", 100, 8, 0.5, 3, "per-protein"),
        ("independent-sep", 100, 8, 0.5, 3, "single-file"),  # DCGAN_G_independent: main.<c>.main...
        ("independent", 100, 8, None, 3, "single-file"),
    ],
)
def test_matches_reference_multichannel_and_independent(arch, nz, ngf, red_portion, n_proteins, layout):
    """Reference settings: multichannel[-sep] used nz=350, ngf=224, --red_portion 0.143 (small ngf here)."""
    torch, ref = _import_reference()
    independent = arch.startswith("independent")
    nc = 2 if independent else 1 + n_proteins
    towers = _reference_towers(ref, torch, nz, nc, ngf, red_portion, n_proteins if independent else 1)
    sds = [ref.reference_state_dict(t) for t in towers]
    if layout == "single-file":  # as the reference's DCGAN_G_independent state_dict
        sd = {f"main.{c}.{k}": v for c, tower_sd in enumerate(sds) for k, v in tower_sd.items()}
    else:
        sd = sds if independent else sds[0]
    g = convert_state_dict(
        arch, sd, image_size=(16, 32), n_proteins=n_proteins, nz=nz, ngf=ngf, red_portion=red_portion or 0.5
    )
    assert sum(int(np.prod(v.shape)) for v in g.trainable_weights) == sum(ref.count_params(t) for t in towers)
    z = np.random.default_rng(0).normal(size=(4, nz)).astype("float32")
    with torch.no_grad():
        outs = [t(torch.from_numpy(z).view(4, nz, 1, 1)).numpy().transpose(0, 2, 3, 1) for t in towers]
    want = np.stack(outs, axis=1) if len(outs) > 1 else outs[0]
    assert np.abs(np.asarray(g(z)) - want).max() < 1e-5


def test_cli_imports_a_single_file_independent_checkpoint(tmp_path, capsys):
    torch, ref = _import_reference()
    towers = _reference_towers(ref, torch, 100, 2, 8, 0.5, 3)
    sd = {f"main.{c}.{k}": v for c, t in enumerate(towers) for k, v in ref.reference_state_dict(t).items()}
    pth, out = tmp_path / "netG.pth", tmp_path / "G.keras"
    torch.save(sd, pth)
    argv = ["from_torch", "--arch", "independent-sep", "--pth", str(pth), "--out", str(out),
            "--image_size", "16x32", "--ngf", "8", "--n_proteins", "3"]  # fmt: skip
    assert run(argv) == 0
    z = np.random.default_rng(2).normal(size=(3, 100)).astype("float32")
    with torch.no_grad():
        want = np.stack([t(torch.from_numpy(z).view(3, 100, 1, 1)).numpy() for t in towers], 1)
    got = np.asarray(keras.models.load_model(out)(z))  # [B, C, H, W, 2]
    assert np.abs(got - want.transpose(0, 1, 3, 4, 2)).max() < 1e-5
    # The same file for 4 proteins names the mismatch instead of a shape error.
    assert run(argv[:-2] + ["--n_proteins", "4", "--out", str(tmp_path / "bad.keras")]) == 1
    assert "holding generators [0, 1, 2]; expected 0..3 (--n_proteins=4)" in capsys.readouterr().err


def test_reference_wgan_critic_is_sign_converted():
    """A reference WGAN-GP critic trained as the reference trains it scores real images LOW; the
    converted one scores them high, with exactly the negated scores."""
    torch, ref = _import_reference()
    torch.manual_seed(0)
    d_ref = ref.reference_init(ref.DCGAN_D_starShaped((16, 32), None, 2, 8, 3, 0, use_batch_norm=False))
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.uniform(0.2, 1.0, (3, 8, 2, 16, 32)).astype("float32"))
    fake = torch.from_numpy(rng.uniform(-1.0, -0.2, (3, 8, 2, 16, 32)).astype("float32"))
    # The reference's critic objective, mean D(real) - mean D(fake) + lambda * GP (the generator is
    # unused here: the fakes are fixed).
    trainer = ref.WGANGPTrainer(torch.nn.Linear(1, 1), d_ref, batch_size=8, lr_d=1e-3)
    for _ in range(10):
        trainer.optD.zero_grad()
        trainer.critic_loss(real, fake).mean().backward()
        trainer.optD.step()
    with torch.no_grad():
        ref_real, ref_fake = d_ref(real).numpy(), d_ref(fake).numpy()  # [C, B]
    assert (ref_real.mean(1) < ref_fake.mean(1)).all()
    d = convert_critic_state_dict(
        "star", ref.reference_state_dict(d_ref), image_size=(16, 32), n_proteins=3, ndf=8, gan="wgan-gp"
    )
    ours_real = np.asarray(d(real.numpy().transpose(0, 1, 3, 4, 2)))
    ours_fake = np.asarray(d(fake.numpy().transpose(0, 1, 3, 4, 2)))
    assert (ours_real.mean(1) > ours_fake.mean(1)).all()
    assert np.abs(ours_real + ref_real).max() < 1e-5 and np.abs(ours_fake + ref_fake).max() < 1e-5

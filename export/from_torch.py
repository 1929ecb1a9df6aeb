"""Import reference PyTorch (aosokin/biogans) checkpoints into the Keras models.

    python -m export.from_torch --arch star --pth netG.pth --out G.keras [--image_size 48x80]
        [--n_proteins 6] [--nz 100] [--ngf 64] [--red_portion 0.5]
    python -m export.from_torch --arch independent --pth g0.pth --pth g1.pth ... --out G.keras
    python -m export.from_torch --arch star --critic --pth netD.pth --out D.keras [--batchnorm]

The state_dict keys are those of the reference (as `torch_reference.py info` prints them, e.g.
`main.initial.100-512.convt.weight`, `main.0.convt_green.3.weight`); they are mapped to the
Keras variables explicitly by name. Every key must be used and every shape must match, otherwise a
ValueError names the key. BatchNorm running statistics are imported (`num_batches_tracked`, absent
from PyTorch-0.2 files, is ignored). Layouts: PyTorch ConvTranspose2d `[in, out, kh, kw]` and
Conv2d `[out, in, kh, kw]` both become Keras `[kh, kw, ...]` by the transpose (2, 3, 1, 0).

`independent[-sep]` has no single reference checkpoint: pass one DCGAN(-sep) state_dict per
protein, in protein order. `multichannel-sep` reference models (`--red_portion 0.143 --nz 350
--ngf 224`) have exactly 1 red output channel, as ours.

torch is optional: only `load_torch_state_dict` needs it (`pip install -r requirements-torch.txt`);
`convert_state_dict` works on numpy arrays.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from biogans_tf.io_utils import atomic_path
from biogans_tf.models import registry
from biogans_tf.models.critics import CriticBank, DCGANCritic
from biogans_tf.models.dcgan import DCGANGenerator
from biogans_tf.models.independent import IndependentGenerator
from biogans_tf.models.star import StarGenerator

_BN_FIELDS = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)
_HINT = "check --arch, --image_size, --n_proteins, --nz, --ngf/--ndf and --red_portion"


# --- key maps: torch key -> Keras variable ---------------------------------------------------
def _bn_keys(prefix, bn):
    return {f"{prefix}.{t}": getattr(bn, k) for t, k in _BN_FIELDS}


def _dcgan_generator_keys(g: DCGANGenerator, prefix="main") -> dict:
    """Reference `DCGAN_G` keys of a `DCGANGenerator` (plain or separable)."""
    out = {}
    chans = g.plan.channels
    ins, outs = (g.nz,) + chans, chans + (g.n_channels,)
    tname = "convt-sep" if g.separable else "convt"
    for i, (cin, cout) in enumerate(zip(ins, outs, strict=True)):
        stage = "initial" if i == 0 else ("final" if i == len(outs) - 1 else "pyramid")
        base = f"{prefix}.{stage}.{cin}-{cout}.{tname}"
        layer = g.convs[i]
        if g.separable:
            out[f"{base}.convt_half.weight"] = layer.conv_half.kernel
            out[f"{base}.convt_all.weight"] = layer.conv_all.kernel
        else:
            out[f"{base}.weight"] = layer.kernel
        if i < len(g.bns):
            out.update(_bn_keys(f"{prefix}.{stage}.{cout}.batchnorm", g.bns[i]))
    return out


def _star_generator_keys(g: StarGenerator, prefix="main") -> dict:
    """Reference `DCGAN_G_starShaped` keys of a `StarGenerator`."""
    out = {}
    for i, block in enumerate(g.blocks):
        out[f"{prefix}.{i}.convt_red.weight"] = block.conv_red.kernel
        if block.batchnorm:
            out.update(_bn_keys(f"{prefix}.{i}.batchnorm_red", block.bn_red))
        for c in range(block.n_proteins):
            out[f"{prefix}.{i}.convt_green.{c}.weight"] = block.conv_green[c].kernel
            if block.batchnorm:
                out.update(_bn_keys(f"{prefix}.{i}.batchnorm_green.{c}", block.bn_green[c]))
    return out


def _dcgan_critic_keys(d: DCGANCritic, prefix="main") -> dict:
    """Reference `DCGAN_D` keys of a `DCGANCritic`."""
    out = {}
    cin = d.n_channels
    for i, cout in enumerate(d.chans):
        stage = "initial" if i == 0 else "pyramid"
        out[f"{prefix}.{stage}.{cin}-{cout}.conv.weight"] = d.convs[i].kernel
        if d.batchnorm and i > 0:
            out.update(_bn_keys(f"{prefix}.pyramid.{cout}.batchnorm", d.bns[i - 1]))
        cin = cout
    out[f"{prefix}.final.{cin}-1.conv.weight"] = d.final.kernel
    return out


def key_map(model) -> dict:
    """All reference state_dict keys of `model` mapped to its Keras variables.

    For an `IndependentGenerator` the keys are prefixed `"<protein index>/"` (one reference
    checkpoint per protein); for a `CriticBank` they are `main.<i>.main....` as the reference's
    `DCGAN_D_starShaped`.
    """
    if isinstance(model, DCGANGenerator):
        return _dcgan_generator_keys(model)
    if isinstance(model, StarGenerator):
        return _star_generator_keys(model)
    if isinstance(model, IndependentGenerator):
        out = {}
        for i, tower in enumerate(model.towers):
            out.update({f"{i}/{k}": v for k, v in _dcgan_generator_keys(tower).items()})
        return out
    if isinstance(model, DCGANCritic):
        return _dcgan_critic_keys(model)
    if isinstance(model, CriticBank):
        out = {}
        for i, critic in enumerate(model.critics):
            out.update(_dcgan_critic_keys(critic, prefix=f"main.{i}.main"))
        return out
    raise TypeError(f"key_map: unsupported model type {type(model).__name__}")


# --- loading weights ---------------------------------------------------------------------------
def _clean(state_dict, source) -> dict:
    """Numpy copy without `num_batches_tracked`, and without a DataParallel `module.` prefix."""
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(
            f"{source}: expected a non-empty state_dict (name -> array), got {type(state_dict).__name__}"
        )
    out = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise ValueError(f"{source}: state_dict key {k!r} is not a string")
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
    if out and all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


def load_weights(model, state_dict, source="state_dict") -> int:
    """Copy a reference state_dict (numpy or torch tensors) into a built Keras model, strictly.

    Args:
      model: a built model from `biogans_tf.models` (generator or critic).
      state_dict: mapping key -> array; for an `IndependentGenerator` a list with one state_dict
        per protein (in protein order).
      source: name of the checkpoint for error messages.

    Returns:
      Number of tensors copied.

    Raises:
      ValueError: naming the missing / unexpected key or the key whose shape does not match.
    """
    if isinstance(model, IndependentGenerator):
        if not isinstance(state_dict, list | tuple) or len(state_dict) != model.n_proteins:
            got = len(state_dict) if isinstance(state_dict, list | tuple) else "1"
            raise ValueError(
                f"{source}: independent generators need one reference checkpoint per protein "
                f"({model.n_proteins}, in protein order; pass --pth once per protein), got {got}"
            )
        flat = {}
        for i, sd in enumerate(state_dict):
            flat.update({f"{i}/{k}": v for k, v in _clean(sd, f"{source}[{i}]").items()})
    else:
        flat = _clean(state_dict, source)
    targets = key_map(model)
    missing = [k for k in targets if k not in flat]
    unexpected = [k for k in flat if k not in targets]
    if missing or unexpected:
        raise ValueError(
            f"{source}: state_dict keys do not match {type(model).__name__} "
            f"(missing {len(missing)}: {missing[:3]}; unexpected {len(unexpected)}: {unexpected[:3]}); "
            f"{_HINT}"
        )
    values = {}
    for k, var in targets.items():
        arr = flat[k]
        if arr.ndim == 4:
            arr = np.transpose(arr, (2, 3, 1, 0))
        if tuple(arr.shape) != tuple(var.shape):
            raise ValueError(
                f"{source}: key {k!r} has shape {list(flat[k].shape)}, the Keras variable {var.path} needs "
                f"{_torch_shape(var)}; {_HINT}"
            )
        values[k] = arr
    for k, var in targets.items():
        var.assign(values[k].astype(var.dtype))
    return len(values)


def _torch_shape(var):
    s = list(var.shape)
    return [s[3], s[2], s[0], s[1]] if len(s) == 4 else s


def convert_state_dict(
    arch: str,
    state_dict,
    *,
    image_size=(48, 80),
    n_proteins: int = 6,
    nz: int = 100,
    ngf: int = 64,
    red_portion: float = 0.5,
):
    """Build the Keras generator of `arch` and load a reference generator state_dict into it.

    Args:
      arch: registry name (dcgan, dcgan-sep, multichannel, multichannel-sep, star, independent,
        independent-sep).
      state_dict: key -> numpy array (or torch tensor); for independent archs a list of C of them.
      image_size, n_proteins, nz, ngf, red_portion: must describe the checkpoint's model.

    Returns:
      The Keras generator, eval-mode outputs equal to the reference's (z `[B, nz]` instead of
      `[B, nz, 1, 1]`, NHWC instead of NCHW; star `[B, H, W, 1+C]` instead of `[C, B, 2, H, W]`).
    """
    g = registry.build_generator(
        arch, image_size=image_size, n_proteins=n_proteins, nz=nz, ngf=ngf, red_portion=red_portion
    )
    load_weights(g, state_dict, source=f"{arch} generator state_dict")
    return g


def convert_critic_state_dict(
    arch: str, state_dict, *, image_size=(48, 80), n_proteins: int = 6, ndf: int = 64, batchnorm: bool = False
):
    """Build the Keras critic of `arch` and load a reference critic (`DCGAN_D` or star bank) into it.

    For independent archs pass the reference star-shaped critic bank's keys (`main.<c>.main....`).
    """
    d = registry.build_critic(
        arch, image_size=image_size, n_proteins=n_proteins, ndf=ndf, batchnorm=batchnorm
    )
    load_weights(d, state_dict, source=f"{arch} critic state_dict")
    return d


def load_torch_state_dict(path: str, allow_pickle: bool = False) -> dict:
    """Read a `.pth` holding a state_dict (or a whole pickled module) into numpy arrays.

    Args:
      path: the `.pth` file.
      allow_pickle: also accept a whole pickled `nn.Module` (needs its classes importable and runs
        pickle code: only for files you trust).

    Raises:
      ImportError: torch is not installed.
      ValueError: naming `path` when it is missing or holds something else.
    """
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "export.from_torch needs PyTorch to read .pth files: pip install -r requirements-torch.txt"
        ) from e
    if not os.path.isfile(path):
        raise ValueError(f"--pth: {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:
        raise ValueError(
            f"--pth: {path}: cannot read it as a state_dict ({type(e).__name__}: {str(e)[:200]}). If it is a "
            "whole pickled module, pass --allow_pickle (trusted files only)"
        ) from e
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return _clean(obj, path)


def save_keras(model, path: str) -> None:
    """Save `model` to the `.keras` file `path` atomically."""
    with atomic_path(path) as tmp:
        # Keras insists on the .keras suffix: save beside the temporary name, then move it over.
        staged = tmp + ".keras"
        try:
            model.save(staged)
            os.replace(staged, tmp)
        finally:
            if os.path.exists(staged):
                os.remove(staged)


def _parse_size(text: str):
    try:
        h, w = (int(s) for s in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--image_size: expected HEIGHTxWIDTH such as 48x80, got {text!r}") from None
    return (h, w)


def _define_flags(fv):
    from absl import flags

    flags.DEFINE_enum("arch", None, sorted(registry.ARCHS), "Architecture of the checkpoint.", flag_values=fv)
    flags.DEFINE_multi_string(
        "pth", None, "Reference checkpoint(s); one per protein for independent archs.", flag_values=fv
    )
    flags.DEFINE_string("out", None, "Output .keras file (written atomically).", flag_values=fv)
    flags.DEFINE_string("image_size", "48x80", "HEIGHTxWIDTH of the images.", flag_values=fv)
    flags.DEFINE_integer("n_proteins", 6, "Number of proteins C.", flag_values=fv)
    flags.DEFINE_integer("nz", 100, "Latent size.", flag_values=fv)
    flags.DEFINE_integer("ngf", 64, "Generator width.", flag_values=fv)
    flags.DEFINE_integer("ndf", 64, "Critic width (--critic).", flag_values=fv)
    flags.DEFINE_float(
        "red_portion", 0.5, "Red fraction of separable layers (reference --red_portion).", flag_values=fv
    )
    flags.DEFINE_bool(
        "critic",
        False,
        "Convert a critic (DCGAN_D / star critic bank) instead of a generator.",
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "batchnorm", False, "The critic has BatchNorm (GAN / WGAN; not WGAN-GP).", flag_values=fv
    )
    flags.DEFINE_bool(
        "allow_pickle", False, "Accept whole pickled modules (trusted files only).", flag_values=fv
    )
    flags.mark_flags_as_required(["arch", "pth", "out"], flag_values=fv)


def run(argv) -> int:
    """Command-line entry point: `argv[0]` is the program name. Returns the exit status.

    Prints one JSON line (arch, out, n_tensors, n_params) on success; on bad flags or a checkpoint
    that does not fit, prints `error: ...` naming the flag / key to stderr and returns 2 / 1.
    """
    from absl import flags

    fv = flags.FlagValues()
    _define_flags(fv)
    try:
        fv(list(argv))
    except flags.Error as e:
        print(f"error: {e}\nflags:\n{fv.main_module_help()}", file=sys.stderr)
        return 2
    try:
        summary = _convert_from_flags(fv)
    except (ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


def _convert_from_flags(F) -> dict:
    if not F.out.endswith(".keras"):
        raise ValueError(f"--out: expected a path ending in .keras, got {F.out!r}")
    size = _parse_size(F.image_size)
    sds = [load_torch_state_dict(p, allow_pickle=F.allow_pickle) for p in F.pth]
    independent = F.arch.startswith("independent") and not F.critic
    if not independent and len(sds) != 1:
        raise ValueError(f"--pth: {F.arch} takes one checkpoint, got {len(sds)}")
    sd = sds if independent else sds[0]
    if F.critic:
        model = convert_critic_state_dict(
            F.arch, sd, image_size=size, n_proteins=F.n_proteins, ndf=F.ndf, batchnorm=F.batchnorm
        )
    else:
        model = convert_state_dict(
            F.arch,
            sd,
            image_size=size,
            n_proteins=F.n_proteins,
            nz=F.nz,
            ngf=F.ngf,
            red_portion=F.red_portion,
        )
    save_keras(model, F.out)
    n_params = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    return dict(arch=F.arch, critic=F.critic, out=F.out, pth=list(F.pth), n_tensors=len(key_map(model)),
                n_params=n_params)  # fmt: skip


if __name__ == "__main__":
    sys.exit(run(sys.argv))

r"""Import reference PyTorch (aosokin/biogans) checkpoints into the Keras models.

    python -m export.from_torch --arch star --pth netG.pth --out G.keras [--image_size 48x80]
        [--n_proteins 6] [--nz 100] [--ngf 64] [--red_portion 0.5]
    python -m export.from_torch --arch independent --pth netG.pth --out G.keras   # all proteins
    python -m export.from_torch --arch independent --pth g0.pth --pth g1.pth ... --out G.keras
    python -m export.from_torch --arch star --critic --pth netD.pth --out D.keras [--batchnorm] \
        [--gan wgan-gp|wgan|gan]

The state_dict keys are those of the reference (as `torch_reference.py info` prints them, e.g.
`main.initial.100-512.convt.weight`, `main.0.convt_green.3.weight`); they are mapped to the
Keras variables explicitly by name. Every key must be used and every shape must match, otherwise a
ValueError names the key. BatchNorm running statistics are imported (`num_batches_tracked`, absent
from PyTorch-0.2 files, is ignored). Layouts: PyTorch ConvTranspose2d `[in, out, kh, kw]` and
Conv2d `[out, in, kh, kw]` both become Keras `[kh, kw, ...]` by the transpose (2, 3, 1, 0).

`independent[-sep]`: either the reference's own checkpoint (one `DCGAN_G_independent` file holding
every protein's generator, keys `main.<c>.main....`) or one DCGAN(-sep) state_dict per protein, in
protein order. `multichannel-sep` honours `--red_portion` in its last layer as the reference
(`int((1 + C) * red_portion)` red outputs: 1 at the paper's 0.143, 3 at 0.5 with C = 6).

Critics: the reference's WGAN / WGAN-GP critic scores real images LOW (it minimises
D(real) - D(fake)); this project's critics score real images high. `--gan wgan|wgan-gp` (the
default) therefore negates each critic's final linear layer on import, so the converted critic
gives exactly minus the reference's scores (the gradient penalty does not change with the sign).
`--gan gan` keeps the weights: the reference's GAN discriminator already gives real images high
logits.

torch is optional: only `load_torch_state_dict` needs it (`pip install -r requirements-torch.txt`);
`convert_state_dict` works on numpy arrays.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING

import numpy as np

from biogans_tf.io_utils import atomic_path

# The models (Keras, TensorFlow) are imported inside the functions that need them, so that
# `biogans-convert --help` answers at once.
if TYPE_CHECKING:
    from biogans_tf.models import DCGANCritic, DCGANGenerator, StarGenerator

ARCH_NAMES = (  # = biogans_tf.models.ARCHS (tests/export/test_from_torch.py checks)
    "dcgan", "dcgan-sep", "multichannel", "multichannel-sep", "star", "independent", "independent-sep",
)  # fmt: skip

_BN_FIELDS = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)
_HINT = "check --arch, --image_size, --n_proteins, --nz, --ngf/--ndf and --red_portion"
# A reference `DCGAN_G_independent` key: `main.<protein>.` before the protein's own DCGAN_G key.
_INDEPENDENT_KEY = re.compile(r"^main\.(\d+)\.(main\..+)$")
# The last (linear, bias-free) conv of a reference `DCGAN_D`, alone or inside a star critic bank.
_CRITIC_FINAL_KEY = re.compile(r"(^|\.)final\.\d+-1\.conv\.weight$")
GANS = ("gan", "wgan", "wgan-gp")


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

    For an `IndependentGenerator` the keys are prefixed `"<protein index>/"` (see
    `independent_parts` for the reference's own single-file layout); for a `CriticBank` they are
    `main.<i>.main....` as the reference's `DCGAN_D_starShaped`.
    """
    from biogans_tf.models import CriticBank, DCGANCritic, DCGANGenerator, IndependentGenerator, StarGenerator

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


def independent_parts(n_proteins: int, state_dict, source="state_dict") -> list[dict]:
    """One generator state_dict per protein, from either layout of a reference independent model.

    Args:
      n_proteins: C.
      state_dict: the reference's own checkpoint (one `DCGAN_G_independent` state_dict, keys
        `main.<c>.main....` for c in 0..C-1), alone or as a one-element list; or a list of C
        per-protein `DCGAN_G` state_dicts in protein order.
      source: name of the checkpoint(s) for error messages.

    Returns:
      C cleaned state_dicts (keys `main....`, numpy arrays), in protein order.

    Raises:
      ValueError: naming `source` when neither layout fits C.
    """
    items = list(state_dict) if isinstance(state_dict, list | tuple) else [state_dict]
    if len(items) == 1:
        flat = _clean(items[0], source)
        parts: dict[int, dict] | None = {}
        for k, v in flat.items():
            m = _INDEPENDENT_KEY.match(k)
            if m is None:
                parts = None  # not the single-file layout: a per-protein DCGAN_G file
                break
            parts.setdefault(int(m.group(1)), {})[m.group(2)] = v
        if parts:
            if sorted(parts) != list(range(n_proteins)):
                raise ValueError(
                    f"{source}: a reference independent checkpoint holding generators {sorted(parts)}; "
                    f"expected 0..{n_proteins - 1} (--n_proteins={n_proteins})"
                )
            return [parts[i] for i in range(n_proteins)]
    if len(items) != n_proteins:
        raise ValueError(
            f"{source}: independent generators need the reference's single checkpoint holding every "
            f"protein's generator, or one reference checkpoint per protein ({n_proteins}, in protein "
            f"order; pass --pth once per protein), got {len(items)} per-protein checkpoint(s)"
        )
    return [_clean(sd, f"{source}[{i}]") for i, sd in enumerate(items)]


def load_weights(model, state_dict, source="state_dict") -> int:
    """Copy a reference state_dict (numpy or torch tensors) into a built Keras model, strictly.

    Args:
      model: a built model from `biogans_tf.models` (generator or critic).
      state_dict: mapping key -> array; for an `IndependentGenerator` the reference's single
        checkpoint or a list with one state_dict per protein (see `independent_parts`).
      source: name of the checkpoint for error messages.

    Returns:
      Number of tensors copied.

    Raises:
      ValueError: naming the missing / unexpected key or the key whose shape does not match.
    """
    from biogans_tf.models import IndependentGenerator

    if isinstance(model, IndependentGenerator):
        flat = {}
        for i, sd in enumerate(independent_parts(model.n_proteins, state_dict, source)):
            flat.update({f"{i}/{k}": v for k, v in sd.items()})
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
      state_dict: key -> numpy array (or torch tensor); for independent archs the reference's
        single checkpoint or a list of C per-protein ones.
      image_size, n_proteins, nz, ngf, red_portion: must describe the checkpoint's model.

    Returns:
      The Keras generator, eval-mode outputs equal to the reference's (z `[B, nz]` instead of
      `[B, nz, 1, 1]`, NHWC instead of NCHW; star `[B, H, W, 1+C]` instead of `[C, B, 2, H, W]`).
    """
    from biogans_tf.models import registry

    g = registry.build_generator(
        arch, image_size=image_size, n_proteins=n_proteins, nz=nz, ngf=ngf, red_portion=red_portion
    )
    load_weights(g, state_dict, source=f"{arch} generator state_dict")
    return g


def to_project_sign(state_dict, gan: str, source="critic state_dict") -> dict:
    """A reference critic state_dict in this project's sign convention (real images score high).

    Args:
      state_dict: a reference `DCGAN_D` or star critic bank state_dict.
      gan: the loss the critic was trained with. "wgan" / "wgan-gp": the reference critic scores
        real images low, so the final conv (linear, no bias) of every critic is negated and the
        scores change sign exactly. "gan": unchanged.

    Returns:
      A cleaned numpy state_dict.

    Raises:
      ValueError: unknown `gan`, or no final critic layer among the keys.
    """
    if gan not in GANS:
        raise ValueError(f"--gan: expected one of {', '.join(GANS)}, got {gan!r}")
    flat = _clean(state_dict, source)
    if gan == "gan":
        return flat
    finals = [k for k in flat if _CRITIC_FINAL_KEY.search(k)]
    if not finals:
        raise ValueError(f"{source}: no final critic layer (`...final.<ndf>-1.conv.weight`) to sign-convert")
    return {k: (-v if k in finals else v) for k, v in flat.items()}


def convert_critic_state_dict(
    arch: str,
    state_dict,
    *,
    image_size=(48, 80),
    n_proteins: int = 6,
    ndf: int = 64,
    batchnorm: bool = False,
    gan: str = "wgan-gp",
):
    """Build the Keras critic of `arch` and load a reference critic (`DCGAN_D` or star bank) into it.

    For independent archs pass the reference star-shaped critic bank's keys (`main.<c>.main....`).
    With `gan` "wgan" / "wgan-gp" the critic is sign-converted (`to_project_sign`): its scores are
    minus the reference's, `[B]` or `[C, B]`.
    """
    from biogans_tf.models import registry

    d = registry.build_critic(
        arch, image_size=image_size, n_proteins=n_proteins, ndf=ndf, batchnorm=batchnorm
    )
    source = f"{arch} critic state_dict"
    load_weights(d, to_project_sign(state_dict, gan, source), source=source)
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


def save_keras(model, path: str, metadata: dict | None = None) -> None:
    """Save `model` to the `.keras` file `path` atomically, with `metadata` inside (biogans_tf.loader)."""
    with atomic_path(path) as tmp:
        # Keras insists on the .keras suffix: save beside the temporary name, then move it over.
        staged = tmp + ".keras"
        try:
            model.save(staged)
            if metadata is not None:
                from biogans_tf.loader import write_metadata

                write_metadata(staged, metadata)
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

    flags.DEFINE_enum("arch", None, list(ARCH_NAMES), "Architecture of the checkpoint.", flag_values=fv)
    flags.DEFINE_multi_string(
        "pth",
        None,
        "Reference checkpoint(s), comma-separated or repeated; one per protein for independent archs.",
        flag_values=fv,
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
    flags.DEFINE_enum(
        "gan",
        "wgan-gp",
        list(GANS),
        "Loss the critic was trained with (--critic): wgan/wgan-gp critics are sign-converted "
        "(the reference's scores real images low, ours high).",
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "allow_pickle", False, "Accept whole pickled modules (trusted files only).", flag_values=fv
    )
    flags.DEFINE_list(
        "proteins",
        None,
        "Comma-separated protein names in the generator's channel order (stored in the .keras file; "
        "the reference's 6-protein models: Alp14,Arp3,Cki2,Mkh1,Sid2,Tea1).",
        flag_values=fv,
    )
    flags.mark_flags_as_required(["arch", "pth", "out"], flag_values=fv)


def run(argv) -> int:
    """Command-line entry point: `argv[0]` is the program name. Returns the exit status.

    Prints one JSON line (arch, out, n_tensors, n_params) on success; on bad flags or a checkpoint
    that does not fit, prints `error: ...` naming the flag / key to stderr and returns 2 / 1.
    """
    from absl import flags

    from biogans_tf.cli import handle_help, quiet_tensorflow

    fv = flags.FlagValues()
    _define_flags(fv)
    quiet_tensorflow()
    handle_help(__doc__, __name__, argv, fv)  # --help: usage and flags on stdout, exit 0
    try:
        fv(list(argv))
    except flags.Error as e:
        print(f"error: {e} (see --help)", file=sys.stderr)
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
    from biogans_tf.cli import split_list

    paths = [p for item in F.pth for p in split_list(item)]  # --pth a,b or --pth a --pth b
    sds = [load_torch_state_dict(p, allow_pickle=F.allow_pickle) for p in paths]
    independent = F.arch.startswith("independent") and not F.critic
    if not independent and len(sds) != 1:
        raise ValueError(f"--pth: {F.arch} takes one checkpoint, got {len(sds)}")
    sd = sds if independent else sds[0]
    if F.critic:
        model = convert_critic_state_dict(
            F.arch,
            sd,
            image_size=size,
            n_proteins=F.n_proteins,
            ndf=F.ndf,
            batchnorm=F.batchnorm,
            gan=F.gan,
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
    meta = None
    if not F.critic:
        if F.proteins is not None and len(F.proteins) != F.n_proteins and not F.arch.startswith("dcgan"):
            raise ValueError(f"--proteins lists {len(F.proteins)} names but --n_proteins={F.n_proteins}")
        meta = {"arch": F.arch, "nz": F.nz, "image_size": list(size), "ngf": F.ngf, "source": "reference"}
        if F.proteins is not None:
            meta["proteins"] = list(F.proteins)
    save_keras(model, F.out, meta)
    n_params = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    return dict(arch=F.arch, critic=F.critic, out=F.out, pth=paths, n_tensors=len(key_map(model)),
                n_params=n_params)  # fmt: skip


def cli():
    """Console script `biogans-convert` (and `python -m export.from_torch`)."""
    sys.exit(run(sys.argv))


if __name__ == "__main__":
    cli()

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

import dataclasses
import json
import sys

import numpy as np

from biogans_tf.cli import define_flags, from_flags
from biogans_tf.conventions import parse_image_size
from biogans_tf.export.torch_keys import key_map
from biogans_tf.export.torch_weights import GANS, load_torch_state_dict, load_weights, to_project_sign
from biogans_tf.failure import failure_line
from biogans_tf.io_utils import write_keras
from biogans_tf.options import option
from biogans_tf.registries import ARCHS

# The models (Keras, TensorFlow) are imported inside the functions that need them, so that
# `biogans-convert --help` answers at once.


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


_PTH_HELP = "Reference checkpoint(s), comma-separated or repeated; one per protein for independent archs."
_GAN_HELP = (
    "Loss the critic was trained with (--critic): wgan/wgan-gp critics "
    "are sign-converted (the reference's scores real images low, ours high)."
)
_PROTEINS_HELP = (
    "Comma-separated protein names in the generator's channel order (stored in the "
    ".keras file; the reference's 6-protein models: Alp14,Arp3,Cki2,Mkh1,Sid2,Tea1)."
)


@dataclasses.dataclass
class ConvertOptions:
    """Every option of `export.from_torch`: each field is the flag of the same name
    (`biogans_tf.cli.define_flags`); --arch, --pth and --out are required."""

    arch: str | None = option(None, "Architecture of the checkpoint.", choices=ARCHS)
    pth: list[str] | None = option(None, _PTH_HELP, multi=True)
    out: str | None = option(None, "Output .keras file (written atomically).")
    image_size: str = option("48x80", "HEIGHTxWIDTH of the images.")
    n_proteins: int = option(6, "Number of proteins C.")
    nz: int = option(100, "Latent size.")
    ngf: int = option(64, "Generator width.")
    ndf: int = option(64, "Critic width (--critic).")
    red_portion: float = option(0.5, "Red fraction of separable layers (reference --red_portion).")
    critic: bool = option(False, "Convert a critic (DCGAN_D / star critic bank) instead of a generator.")
    batchnorm: bool = option(False, "The critic has BatchNorm (GAN / WGAN; not WGAN-GP).")
    gan: str = option("wgan-gp", _GAN_HELP, choices=GANS)
    allow_pickle: bool = option(False, "Accept whole pickled modules (trusted files only).")
    proteins: list[str] | None = option(None, _PROTEINS_HELP)


def _define_flags(fv):
    from absl import flags

    define_flags(ConvertOptions, __name__, fv)
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
        summary = _convert(from_flags(ConvertOptions, fv))
    except (ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # e.g. a TensorFlow op failing: its own message, the traceback in a log
        print(failure_line(e, program="biogans-convert"), file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


def _convert(o: ConvertOptions) -> dict:
    if not o.out.endswith(".keras"):
        raise ValueError(f"--out: expected a path ending in .keras, got {o.out!r}")
    size = parse_image_size(o.image_size)
    from biogans_tf.cli import split_list

    paths = [p for item in o.pth for p in split_list(item)]  # --pth a,b or --pth a --pth b
    sds = [load_torch_state_dict(p, allow_pickle=o.allow_pickle) for p in paths]
    from biogans_tf.models.registry import get_arch

    spec = get_arch(o.arch)
    independent = spec.layout == "per_protein" and not o.critic  # one reference checkpoint per protein
    if not independent and len(sds) != 1:
        raise ValueError(f"--pth: {o.arch} takes one checkpoint, got {len(sds)}")
    sd = sds if independent else sds[0]
    shape = dict(image_size=size, n_proteins=o.n_proteins)
    if o.critic:
        model = convert_critic_state_dict(o.arch, sd, ndf=o.ndf, batchnorm=o.batchnorm, gan=o.gan, **shape)
    else:
        model = convert_state_dict(o.arch, sd, nz=o.nz, ngf=o.ngf, red_portion=o.red_portion, **shape)
    meta = None
    if not o.critic:
        if o.proteins is not None and len(o.proteins) != o.n_proteins and spec.family != "joint":
            raise ValueError(f"--proteins lists {len(o.proteins)} names but --n_proteins={o.n_proteins}")
        meta = {"arch": o.arch, "nz": o.nz, "image_size": list(size), "ngf": o.ngf, "source": "reference"}
        if o.proteins is not None:
            meta["proteins"] = list(o.proteins)
    write_keras(model, o.out, meta)
    n_params = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    return dict(arch=o.arch, critic=o.critic, out=o.out, pth=paths, n_tensors=len(key_map(model)),
                n_params=n_params)  # fmt: skip


def cli():
    """Console script `biogans-convert` (and `python -m export.from_torch`)."""
    sys.exit(run(sys.argv))


if __name__ == "__main__":
    cli()

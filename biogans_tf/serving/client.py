r"""Client for a served biogans generator, on the official TF Serving gRPC stubs.

    python -m serving.client --target localhost:8500 --model_name NAME sample --n 64 --seed 1 --out grid.png
    python -m serving.client --target localhost:8500 --model_name NAME reconstruct --images a.png,b.png \
        --out recon.png
    python -m serving.client --target localhost:8500 --model_name NAME reconstruct --protein Arp3 \
        --images real_arp3_cell.png --out recon.png   # star/multichannel: fit red + Arp3 only
    python -m serving.client --target localhost:8500 --model_name NAME interpolate --seed 3 \
        --interp_steps 16 --out path.gif
    python -m serving.client --target localhost:8500 --model_name NAME metadata

Pictures are made with `biogans_tf.viz` (the same viewers as training); `--out x.ome.tif` / `x.tif`
writes named-channel OME-TIFF / ImageJ hyperstacks instead (`biogans_tf.tiff`), and `reconstruct`
reads TIFF cells as the own-data reader does. Each command prints a JSON summary as its last line.
Works unchanged against the real TF Serving.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import grpc
import numpy as np

from biogans_tf import tiff, viz
from biogans_tf.cli import define_flags, from_flags, renamed_flag_message
from biogans_tf.conventions import PALETTES, RESIZE_POLICIES
from biogans_tf.failure import failure_line
from biogans_tf.options import option
from biogans_tf.serving.cell_files import read_cells
from biogans_tf.serving.grpc_client import ServingClient


def _image_shape(client: ServingClient) -> tuple:
    defs = client.signature_defs()
    dims = defs["reconstruct"].inputs["images"].tensor_shape.dim
    return tuple(int(d.size) for d in dims[1:])


def _protein_channel(client: ServingClient, protein: str, image_shape) -> int:
    """Index on the last image axis of `protein`'s green, for `reconstruct --protein`.

    Raises:
        ValueError: naming --protein when the model cannot fit one protein's channels alone.
    """
    if "reconstruct_masked" not in client.signature_defs():
        raise ValueError(
            f"--protein: model {client.model_name!r} has no reconstruct_masked signature (exported "
            "before it existed); re-export it, or reconstruct without --protein"
        )
    if len(image_shape) != 3:
        raise ValueError(
            f"--protein: this model's cells are {list(image_shape)} (one red/green pair per protein); "
            "reconstruct them without --protein"
        )
    meta = client.metadata()
    if f"green:{protein}" in meta["channels"]:
        return meta["channels"].index(f"green:{protein}")
    if image_shape[-1] == 2 and protein in meta["proteins"]:  # one generic green for every protein
        return 1
    proteins = ", ".join(meta["proteins"])
    raise ValueError(f"--protein={protein!r}: expected one of this model's proteins: {proteins}")


def _observed_cells(cells, image_shape, channel: int):
    """Red + one green `[N, H, W, 2]` -> the model's layout `[N, H, W, c]` and its channel mask `[c]`.

    The unobserved greens are filled with background (-1); `reconstruct_masked` ignores them.
    """
    images = np.full((len(cells), *image_shape), -1.0, np.float32)
    images[..., 0], images[..., channel] = cells[..., 0], cells[..., 1]
    mask = np.zeros([image_shape[-1]], np.float32)
    mask[[0, channel]] = 1.0
    return images, mask


def _frames(images, palette: str = viz.DEFAULT_PALETTE) -> list:
    return [viz.sample_grid(images[i : i + 1], cols=1, palette=palette) for i in range(len(images))]


def _percentiles(text):
    """'0.5,99.5' -> (0.5, 99.5); 'none' -> None (keep the file's values, as own-data reading)."""
    if text is None or str(text).strip().lower() == "none":
        return None
    try:
        lo, hi = (float(t) for t in str(text).split(","))
    except ValueError:
        raise ValueError(f"--percentiles={text!r}: expected LOW,HIGH (e.g. 0.5,99.5) or none") from None
    if not 0.0 <= lo < hi <= 100.0:
        raise ValueError(f"--percentiles={text!r}: expected 0 <= LOW < HIGH <= 100")
    return lo, hi


def _save_tiff(client, args, images, what: str, time_axis: bool = False, rec=None) -> None:
    """Write served images as a named-channel TIFF (`biogans_tf.tiff`); `rec` adds reconstructions."""
    proteins = client.metadata()["proteins"]
    stack, names = tiff.channels_of(images, proteins)
    if rec is not None:
        rec_stack, rec_names = tiff.channels_of(rec, proteins)
        stack = np.concatenate([stack, rec_stack], axis=1)
        names = names + [f"{n} (reconstruction)" for n in rec_names]
    desc = f"biogans-tf {args.model_name}: {what}"
    tiff.write_tiff(args.out, stack, names, time_axis=time_axis, bits=args.bits, description=desc)


def _sample(client: ServingClient, args) -> dict:
    out = client.sample(args.n, args.seed)
    if tiff.is_tiff(args.out):
        _save_tiff(client, args, out["images"], f"samples, seed {args.seed}")
    else:
        proteins = client.metadata()["proteins"]  # column labels of star/multichannel grids
        grid = viz.sample_figure(out["images"], proteins, args.palette, args.scale, args.cols)
        viz.save_png(args.out, grid)
    if args.npy:
        np.save(args.npy, out["images"])
    return {"out": args.out, "n": int(out["images"].shape[0]), "shape": list(out["images"].shape)}


def _interpolate(client: ServingClient, args) -> dict:
    z = client.sample(2, args.seed)["z"]
    out = client.interpolate(z[0], z[1], args.interp_steps)
    if tiff.is_tiff(args.out):
        desc = f"interpolation between sample(2, seed={args.seed}), {args.interp_steps} steps (T)"
        _save_tiff(client, args, out["images"], desc, time_axis=True)
    elif args.out.lower().endswith(".gif"):
        viz.save_gif(args.out, _frames(out["images"], args.palette), scale=args.scale)
    else:
        images = out["images"]
        grid = (
            viz.sample_grid(images, cols=len(images), palette=args.palette)
            if images.ndim == 4 and images.shape[-1] == 2
            else (viz.sample_grid(images, palette=args.palette))
        )
        viz.save_png(args.out, grid, scale=args.scale)
    return {"out": args.out, "steps": int(out["images"].shape[0])}


def _reconstruct(client: ServingClient, args) -> dict:
    shape = _image_shape(client)
    channel = _protein_channel(client, args.protein, shape) if args.protein else None
    images = read_cells(
        args.images, shape if channel is None else (*shape[:-1], 2), args.channel_map,
        _percentiles(args.percentiles), args.resize_policy,
    )  # fmt: skip
    if channel is None:
        out = client.reconstruct(images, args.iterations, args.restarts, args.seed)
    else:  # a real cell shows the red and one protein: fit (and score) only those channels
        images, mask = _observed_cells(images, shape, channel)
        out = client.reconstruct_masked(images, mask, args.iterations, args.restarts, args.seed)
    rec = out["reconstructions"]
    if tiff.is_tiff(args.out):
        _save_tiff(client, args, images, "cells (first channels) and reconstructions", rec=rec)
    else:
        # Originals and reconstructions interleaved: row 2i = cell i, row 2i+1 = its reconstruction.
        pairs = np.stack([images, rec], axis=1).reshape((-1,) + images.shape[1:])
        cols = 2 if images.ndim == 4 and images.shape[-1] == 2 else None
        grid = viz.sample_grid(pairs, cols=cols or 8, palette=args.palette)
        viz.save_png(args.out, grid, scale=args.scale)
    if args.npy:
        np.save(args.npy, out["z"])
    return {
        "out": args.out,
        "l2": out["l2"].tolist(),
        "l2_channels": "all" if channel is None else f"Bgs4+{args.protein}",
        "nll": out["nll"].tolist(),
        "files": args.images,
    }


def _metadata(client: ServingClient, args) -> dict:
    return {"metadata": client.metadata(), "status": client.status()}


_RUNNERS = dict(sample=_sample, interpolate=_interpolate, reconstruct=_reconstruct, metadata=_metadata)


def run_command(args) -> dict:
    """Execute one parsed CLI command; returns the JSON summary."""
    client = ServingClient(args.target, args.model_name, args.version, args.timeout)
    try:
        if args.command not in _RUNNERS:
            raise ValueError(f"unknown command {args.command!r}")
        return _RUNNERS[args.command](client, args)
    finally:
        client.close()


PROG = "biogans-client"
COMMANDS = ("sample", "reconstruct", "interpolate", "metadata")
# Flags that belong to one command or a few (the rest are common), with per-command defaults.
_COMMAND_FLAGS = {
    "n": ("sample",),
    "cols": ("sample",),
    "images": ("reconstruct",),
    "channel_map": ("reconstruct",),
    "percentiles": ("reconstruct",),
    "resize_policy": ("reconstruct",),
    "iterations": ("reconstruct",),
    "restarts": ("reconstruct",),
    "protein": ("reconstruct",),
    "interp_steps": ("interpolate",),
    "seed": ("sample", "reconstruct", "interpolate"),
    "out": ("sample", "reconstruct", "interpolate"),
    "npy": ("sample", "reconstruct"),
    "scale": ("sample", "reconstruct", "interpolate"),
    "bits": ("sample", "reconstruct", "interpolate"),
}
_DEFAULT_OUT = {
    "sample": "samples.png",
    "reconstruct": "reconstructions.png",
    "interpolate": "interpolation.gif",
}


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """The client's settings; each `option` field is a flag (biogans_tf.cli), shared by every command.

    `parse_args` fills the fields without a flag (`command`) and settles `out` (per-command
    default), `images` (plus trailing file names) and `bits` (the flag's text -> int).
    """

    target: str = option("localhost:8500", "gRPC host:port of the server")
    model_name: str | None = option(None, "served model name (required)")
    version: int | None = option(None, "pin a version (default: the served one)", lower_bound=1)
    timeout: float = option(300.0, "seconds per call")
    palette: str = option(
        viz.DEFAULT_PALETTE,
        "PNG/GIF colours: red-green (paper), magenta-green (colour-blind safe), gray (per channel)",
        choices=PALETTES,
    )
    n: int = option(64, "sample: cells to draw", lower_bound=1)
    cols: int = option(8, "sample: cells per row of a .png grid", lower_bound=1)
    seed: int = option(0, "latent seed (interpolate: the endpoints are sample(2, seed))")
    out: str | None = option(
        None, "output: .png, .gif (interpolate), .ome.tif / .tif (channels named); default "
        "samples.png / reconstructions.png / interpolation.gif",
    )  # fmt: skip
    npy: str | None = option(None, "sample: also save the images; reconstruct: the z codes (.npy)")
    images: list[str] | None = option(
        None, "reconstruct: comma-separated RGB PNG (R=red, G=green), TIFF or .npy cells; "
        "more file names may follow as plain arguments",
    )  # fmt: skip
    channel_map: str = option("red=0,green=1", "reconstruct, TIFF: red and green channels")
    percentiles: str = option("0.5,99.5", "reconstruct, TIFF: LOW,HIGH -> 0..255, or none")
    resize_policy: str = option("pad_or_crop", "reconstruct, TIFF input", choices=RESIZE_POLICIES)
    iterations: int = option(50, "reconstruct: L-BFGS iterations", lower_bound=0)
    restarts: int = option(5, "reconstruct: random restarts", lower_bound=1)
    protein: str | None = option(
        None, "reconstruct: the cells show the red and this protein's green (PNG/TIFF, or "
        ".npy [H, W, 2]); fit and score only those channels (reconstruct_masked)",
    )  # fmt: skip
    # Flag --interp_steps; the field's name `steps` (the older flag name) stays an alias.
    interp_steps: int = option(16, "interpolate: points on the path", lower_bound=2)
    scale: int = option(2, "nearest-neighbour upscaling of the picture", lower_bound=1)
    bits: str | int = option("8", "bit depth of a .tif / .ome.tif --out", choices=("8", "16"))
    command: str = ""  # no flag: the first plain argument


def build_flags():
    """A fresh absl `FlagValues` with every flag of every command (`main` may run many times)."""
    from absl import flags

    fv = flags.FlagValues()
    define_flags(ClientOptions, __name__, fv)
    return fv


def parse_args(argv):
    """`argv` (without the program name) -> the command and its settings (`ClientOptions`).

    Raises:
        ValueError: one line naming the flag or command and what was expected.
    """
    from absl import flags

    fv = build_flags()
    try:
        rest = fv([PROG, *argv])[1:]
    except flags.Error as e:  # issue 23 renamed --steps
        raise ValueError(renamed_flag_message(e, {"steps": "interp_steps"}) or f"{e} (see --help)") from None
    if not rest or rest[0] not in COMMANDS:
        got = repr(rest[0]) if rest else "nothing"
        raise ValueError(f"expected a command, one of {', '.join(COMMANDS)}; got {got}")
    command, extra = rest[0], rest[1:]
    if extra and command != "reconstruct":
        raise ValueError(f"{command}: unexpected arguments {extra}")
    if not fv.model_name:
        raise ValueError("--model_name is required")
    for name, commands in _COMMAND_FLAGS.items():
        if fv[name].present and command not in commands:
            raise ValueError(f"--{name} applies to {' / '.join(commands)}, not {command}")
    o = from_flags(ClientOptions, fv)
    values = dict(command=command, bits=int(o.bits), out=o.out or _DEFAULT_OUT.get(command))
    if command == "reconstruct":
        values["images"] = list(o.images or []) + extra
        if not values["images"]:
            raise ValueError("reconstruct: --images is required (comma-separated files)")
    return dataclasses.replace(o, **values)


def main(argv=None) -> int:
    """`serving.client [common flags] COMMAND [command flags]`; returns the exit status."""
    from biogans_tf.cli import handle_help

    argv = list(sys.argv[1:] if argv is None else argv)
    handle_help(__doc__, __name__, [PROG, *argv], build_flags())
    try:
        args = parse_args(argv)
        summary = run_command(args)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # anything else: one line with its cause, the traceback in a log file
        print(failure_line(e, program=PROG), file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


def cli():
    """Console script `biogans-client` (and `python -m serving.client`)."""
    sys.exit(main())


if __name__ == "__main__":
    cli()

"""Client for a served biogans generator, on the official TF Serving gRPC stubs.

    python -m serving.client --target localhost:8500 --model_name NAME sample --n 64 --seed 1 --out grid.png
    python -m serving.client --target localhost:8500 --model_name NAME reconstruct --images a.png b.png \
        --out recon.png
    python -m serving.client --target localhost:8500 --model_name NAME interpolate --seed 3 --steps 16 \
        --out path.gif
    python -m serving.client --target localhost:8500 --model_name NAME metadata

Pictures are made with `biogans_tf.viz` (the same viewers as training). Each command prints a JSON
summary as its last line. Works unchanged against the real TF Serving.
"""

from __future__ import annotations

import json
import os
import sys

import grpc
import numpy as np
from PIL import Image

from biogans_tf import viz

# Generated batches are large (64 cells of 48x80x2 float32 = 2 MB, 1024 = 31 MB): lift gRPC's 4 MB cap.
_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class ServingClient:
    """Typed calls to the exported signatures over gRPC.

    Args:
        target: `host:port` of the gRPC endpoint.
        model_name: served model name.
        version: pin a version (default: the served one).
        timeout: seconds per call.
    """

    def __init__(self, target: str, model_name: str, version: int | None = None, timeout: float = 300.0):
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.model_name = model_name
        self.version = version
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = self.version
        if signature_name:
            spec.signature_name = signature_name

    def predict(self, signature_name: str, inputs: dict) -> dict:
        """Call a signature. `inputs`: name -> numpy value of the exact dtype. Returns name -> numpy."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self.predictions.Predict(request, timeout=self.timeout)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def sample(self, n: int, seed: int) -> dict:
        """`images` `[n, ...]` and `z` `[n, nz]`; same seed, same images."""
        return self.predict("sample", {"n": np.int32(n), "seed": np.int64(seed)})

    def generate(self, z) -> np.ndarray:
        """Images for latent codes `z` float32 `[B, nz]`."""
        return self.predict("generate", {"z": np.asarray(z, np.float32)})["images"]

    def reconstruct(self, images, iterations: int = 50, restarts: int = 5, seed: int = 0) -> dict:
        """`z`, `reconstructions`, `l2`, `nll` for images float32 `[B, ...]` in [-1, 1]."""
        return self.predict(
            "reconstruct",
            {
                "images": np.asarray(images, np.float32),
                "iterations": np.int32(iterations),
                "restarts": np.int32(restarts),
                "seed": np.int64(seed),
            },
        )

    def interpolate(self, z0, z1, steps: int) -> dict:
        """`images` `[steps, ...]` and `z` `[steps, nz]` along the path from z0 to z1 (both `[nz]`)."""
        return self.predict(
            "interpolate",
            {"z0": np.asarray(z0, np.float32), "z1": np.asarray(z1, np.float32), "steps": np.int32(steps)},
        )

    def metadata(self) -> dict:
        """`proteins`, `channels` (lists of str) and `nz` (int) from the `metadata` signature."""
        out = self.predict("metadata", {})
        return {
            "proteins": [p.decode() for p in out["proteins"].tolist()],
            "channels": [c.decode() for c in out["channels"].tolist()],
            "nz": int(out["nz"]),
        }

    def status(self) -> list[dict]:
        """Served versions and their state (ModelService.GetModelStatus)."""
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        response = self.models.GetModelStatus(request, timeout=self.timeout)
        names = get_model_status_pb2.ModelVersionStatus.State.Name
        return [{"version": s.version, "state": names(s.state)} for s in response.model_version_status]

    def signature_defs(self) -> dict:
        """The SignatureDefs (PredictionService.GetModelMetadata), name -> SignatureDef proto."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self.predictions.GetModelMetadata(request, timeout=self.timeout)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return dict(sig_map.signature_def)


def read_cells(paths, image_shape) -> np.ndarray:
    """Read cells for `reconstruct`: RGB PNGs (R = red, G = green, like LIN) or `.npy` arrays.

    Args:
        paths: PNG files (one cell each) and/or `.npy` files (`[H, W, c]` or `[N, H, W, c]`, float in
            [-1, 1] or uint8).
        image_shape: the model's per-cell shape, e.g. `(48, 80, 2)`.

    Returns:
        float32 `[N, *image_shape]` in [-1, 1].
    """
    cells = []
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"{path}: file not found")
        if path.lower().endswith(".npy"):
            arr = np.load(path)
            arr = arr[None] if arr.ndim == len(image_shape) else arr
        else:
            if len(image_shape) != 3 or image_shape[-1] != 2:
                raise ValueError(
                    f"{path}: PNG cells hold red + one green, but this model's cells are "
                    f"{list(image_shape)}; pass .npy arrays of that shape instead"
                )
            rgb = np.asarray(Image.open(path).convert("RGB"))
            arr = rgb[None, :, :, :2]
        if tuple(arr.shape[1:]) != tuple(image_shape):
            raise ValueError(
                f"{path}: expected cells of shape {list(image_shape)}, got {list(arr.shape[1:])}"
            )
        arr = arr.astype(np.float32) / 127.5 - 1.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        cells.append(arr)
    if not cells:
        raise ValueError("--images: give at least one file")
    return np.concatenate(cells, axis=0)


def _image_shape(client: ServingClient) -> tuple:
    defs = client.signature_defs()
    dims = defs["reconstruct"].inputs["images"].tensor_shape.dim
    return tuple(int(d.size) for d in dims[1:])


def _frames(images) -> list:
    return [viz.sample_grid(images[i : i + 1], cols=1) for i in range(len(images))]


def run_command(args) -> dict:
    """Execute one parsed CLI command; returns the JSON summary."""
    client = ServingClient(args.target, args.model_name, args.version, args.timeout)
    try:
        if args.command == "metadata":
            return {"metadata": client.metadata(), "status": client.status()}
        if args.command == "sample":
            out = client.sample(args.n, args.seed)
            viz.save_png(args.out, viz.sample_grid(out["images"], cols=args.cols), scale=args.scale)
            if args.npy:
                np.save(args.npy, out["images"])
            return {"out": args.out, "n": int(out["images"].shape[0]), "shape": list(out["images"].shape)}
        if args.command == "interpolate":
            z = client.sample(2, args.seed)["z"]
            out = client.interpolate(z[0], z[1], args.steps)
            if args.out.lower().endswith(".gif"):
                viz.save_gif(args.out, _frames(out["images"]), scale=args.scale)
            else:
                images = out["images"]
                grid = (
                    viz.sample_grid(images, cols=len(images))
                    if images.ndim == 4 and images.shape[-1] == 2
                    else (viz.sample_grid(images))
                )
                viz.save_png(args.out, grid, scale=args.scale)
            return {"out": args.out, "steps": int(out["images"].shape[0])}
        if args.command == "reconstruct":
            images = read_cells(args.images, _image_shape(client))
            out = client.reconstruct(images, args.iterations, args.restarts, args.seed)
            rec = out["reconstructions"]
            # Originals and reconstructions interleaved: row 2i = cell i, row 2i+1 = its reconstruction.
            pairs = np.stack([images, rec], axis=1).reshape((-1,) + images.shape[1:])
            cols = 2 if images.ndim == 4 and images.shape[-1] == 2 else None
            grid = viz.sample_grid(pairs, cols=cols) if cols else viz.sample_grid(pairs)
            viz.save_png(args.out, grid, scale=args.scale)
            if args.npy:
                np.save(args.npy, out["z"])
            return {
                "out": args.out,
                "l2": out["l2"].tolist(),
                "nll": out["nll"].tolist(),
                "files": args.images,
            }
        raise ValueError(f"unknown command {args.command!r}")
    finally:
        client.close()


def build_parser():
    import argparse

    p = argparse.ArgumentParser(prog="python -m serving.client", description=__doc__.split("\n")[0])
    p.add_argument("--target", default="localhost:8500", help="gRPC host:port")
    p.add_argument("--model_name", required=True)
    p.add_argument("--version", type=int, default=None, help="pin a version (default: the served one)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per call")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="draw n cells from a seed")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cols", type=int, default=8)
    s.add_argument("--out", default="samples.png")
    s.add_argument("--npy", default=None, help="also save the images as .npy")
    r = sub.add_parser("reconstruct", help="find z for real cells")
    r.add_argument("--images", nargs="+", required=True, help="RGB PNG cells (R=red, G=green) or .npy arrays")
    r.add_argument("--iterations", type=int, default=50)
    r.add_argument("--restarts", type=int, default=5)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="reconstructions.png")
    r.add_argument("--npy", default=None, help="also save the z codes as .npy")
    i = sub.add_parser("interpolate", help="walk between two sampled cells")
    i.add_argument("--seed", type=int, default=0, help="the two endpoints are sample(2, seed)")
    i.add_argument("--steps", type=int, default=16)
    i.add_argument("--out", default="interpolation.gif", help=".gif (animation) or .png (strip)")
    sub.add_parser("metadata", help="print proteins, channels, nz and served versions")
    for sp in (s, r, i):
        sp.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling of the picture")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run_command(args)
    except grpc.RpcError as e:
        print(f"serving.client: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"serving.client: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

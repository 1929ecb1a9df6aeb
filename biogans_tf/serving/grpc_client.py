"""`ServingClient`: typed calls to a served biogans generator's signatures over gRPC.

Built on the official TF Serving stubs (`tensorflow-serving-api`), so it works unchanged against
the real TF Serving. TensorFlow and the stubs are imported inside the methods, so that the
command line (`serving.client`) answers `--help` at once.
"""

from __future__ import annotations

import grpc
import numpy as np

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

    def reconstruct_masked(
        self, images, channel_mask, iterations: int = 50, restarts: int = 5, seed: int = 0
    ) -> dict:
        """As `reconstruct`, fitting (and reporting `l2` over) only the channels where the float
        `channel_mask` `[c]` is 1; the others' pixels are ignored."""
        return self.predict(
            "reconstruct_masked",
            {
                "images": np.asarray(images, np.float32),
                "channel_mask": np.asarray(channel_mask, np.float32),
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

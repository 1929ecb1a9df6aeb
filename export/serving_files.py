"""The files TF Serving reads beside a SavedModel: warm-up requests and the model server config.

- `BASE/NAME/<version>/assets.extra/tf_serving_warmup_requests`: a TFRecord of `PredictionLog`s,
  one tiny `PredictRequest` per signature, replayed when a version loads (by TF Serving and by
  `serving.server`), so the first real request does not pay for initialising the large
  reconstruction graph.
- `BASE/models.config`: a `ModelServerConfig` text proto listing every exported model.

TensorFlow is imported inside the functions, so `biogans-export --help` answers at once.
"""

from __future__ import annotations

import os
import re

from biogans_tf.io_utils import atomic_path

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def _warmup_examples(nz: int, image_shape) -> dict:
    """One small valid input dict per signature (`export/signatures.py`), as numpy values."""
    import numpy as np

    images = np.zeros([1, *image_shape], np.float32)
    mask = np.ones([image_shape[-1]], np.float32)
    fit = {"iterations": np.int32(1), "restarts": np.int32(1), "seed": np.int64(0)}
    return {
        "sample": {"n": np.int32(1), "seed": np.int64(0)},
        "generate": {"z": np.zeros([1, nz], np.float32)},
        "interpolate": {
            "z0": np.zeros([nz], np.float32),
            "z1": np.full([nz], 0.1, np.float32),
            "steps": np.int32(2),
        },
        "reconstruct": {"images": images, **fit},
        "reconstruct_masked": {"images": images, "channel_mask": mask, **fit},
        "metadata": {},
    }


def write_warmup_requests(path: str, model_name: str, nz: int, image_shape) -> None:
    """Write TF Serving warm-up records: one tiny PredictRequest per signature (TFRecord of PredictionLog).

    Args:
        path: the warm-up file (`<version>/assets.extra/tf_serving_warmup_requests`).
        model_name: the served model's name (recorded in each request).
        nz: latent size.
        image_shape: per-sample generator output shape, e.g. `(48, 80, 3)`.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for sig, inputs in _warmup_examples(nz, image_shape).items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = sig
            for k, v in inputs.items():
                request.inputs[k].CopyFrom(tf.make_tensor_proto(v))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    os.chmod(path, 0o644)


def write_models_config(base_path: str, models: dict[str, str]) -> str:
    """Write/update `base_path/models.config` (TF Serving `ModelServerConfig` text proto), atomically.

    Args:
        base_path: the folder holding the model folders.
        models: model name -> base path to record for it (entries already in the file for other
            model names are kept).

    Returns:
        The config path.
    """
    path = os.path.join(base_path, "models.config")
    entries: dict[str, str] = {}
    if os.path.isfile(path):
        text = open(path).read()
        for name, bp in re.findall(r'name:\s*"([^"]*)"\s*base_path:\s*"([^"]*)"', text):
            entries[name] = bp
    entries.update(models)
    lines = ["model_config_list {"]
    for name in sorted(entries):
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{entries[name]}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
    return path

"""The files TF Serving reads beside a SavedModel: warm-up requests and the model server config.

- `BASE/NAME/<version>/assets.extra/tf_serving_warmup_requests`: a TFRecord of `PredictionLog`s,
  one tiny `PredictRequest` per signature, replayed when a version loads (by TF Serving and by
  `serving.server`), so the first real request does not pay for initialising the large
  reconstruction graph.
- `BASE/models.config`: a `ModelServerConfig` text proto listing every exported model.

TensorFlow and the protos are imported inside the functions, so `biogans-export --help` answers at once.
"""

from __future__ import annotations

import os

from biogans_tf.io_utils import atomic_path, held_lock

MODELS_CONFIG = "models.config"


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


class ModelsConfigError(ValueError):
    """`BASE/models.config` cannot be read as a `ModelServerConfig` (the message names the file)."""


def read_models_config(base_path: str):
    """The `ModelServerConfig` in `base_path/models.config` (an empty one where there is none).

    Read with TF Serving's own proto and text parser, so every entry, field, label and version
    policy another tool (or a person) wrote survives an update exactly.

    Raises:
        ModelsConfigError: naming the file when it cannot be read or parsed, or holds no
            `model_config_list` (a `custom_model_config` is not ours to change).
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = os.path.join(base_path, MODELS_CONFIG)
    config = model_server_config_pb2.ModelServerConfig()
    if not os.path.exists(path):
        return config
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), config)
    except (OSError, UnicodeDecodeError, text_format.ParseError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelsConfigError(
            f"{path}: not a TF Serving ModelServerConfig text proto ({first}); fix or move it (left "
            "unchanged)"
        ) from None
    if config.WhichOneof("config") not in (None, "model_config_list"):
        raise ModelsConfigError(
            f"{path}: holds a custom_model_config, not a model_config_list; left unchanged"
        )
    return config


def write_models_config(base_path: str, models: dict[str, str]) -> str:
    """Add or update models in `base_path/models.config` (TF Serving `ModelServerConfig`), atomically.

    A model already listed keeps every field but its base path (its version policy, labels,
    logging...); other models' entries stay as they were; a new model gets the TensorFlow platform.

    Args:
        base_path: the folder holding the model folders.
        models: model name -> base path to record for it.

    Returns:
        The config path.

    Raises:
        ModelsConfigError: the existing file cannot be parsed (it is not replaced).
    """
    from google.protobuf import text_format

    path = os.path.join(base_path, MODELS_CONFIG)
    # Read, change and write under a lock: two exports at once must not drop each other's entry.
    with held_lock(os.path.join(base_path, f".{MODELS_CONFIG}.lock")):
        config = read_models_config(base_path)
        entries = config.model_config_list.config
        for name, model_base in models.items():
            entry = next((c for c in entries if c.name == name), None)
            if entry is None:
                entry = entries.add(name=name, model_platform="tensorflow")
            entry.base_path = model_base
        try:
            with atomic_path(path) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text_format.MessageToString(config))
        except OSError as e:
            raise ModelsConfigError(
                f"{path}: cannot write ({e.strerror or e}); the file is left as it was"
            ) from None
    return path

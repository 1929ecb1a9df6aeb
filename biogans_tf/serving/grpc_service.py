"""gRPC services: `tensorflow.serving.PredictionService` (Predict, GetModelMetadata) and
`tensorflow.serving.ModelService` (GetModelStatus), on the official `tensorflow-serving-api` stubs."""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from biogans_tf.serving.errors import ServingError, clip, invalid
from biogans_tf.serving.predictor import Predictor, check_declared

log = logging.getLogger("serving")


def _version(spec) -> int | None:
    if spec.version_label:
        raise invalid(
            f"version labels are not supported (got {clip(spec.version_label)}); name a version number"
        )
    return spec.version.value if spec.HasField("version") else None


def _declared(name: str, proto) -> tuple[tf.DType, tuple]:
    """The dtype and shape a TensorProto declares, without decoding its values."""
    try:
        dtype = tf.as_dtype(proto.dtype)
    except TypeError:
        raise invalid(f"input {clip(name)}: TensorProto has no valid dtype (enum {proto.dtype})") from None
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"input {clip(name)}: TensorProto must declare its shape (unknown_rank is set)")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise invalid(f"input {clip(name)}: TensorProto declares negative dimensions {list(shape)}")
    return dtype, shape


def _fill_spec(out_spec, name: str, version: int, signature_name: str = "") -> None:
    out_spec.name = name
    out_spec.version.value = version
    if signature_name:
        out_spec.signature_name = signature_name


class _Handler:
    """Runs one RPC: turns ServingError into a gRPC status and logs the latency."""

    def __init__(self, method: str):
        self.method = method

    def __call__(self, fn):
        method = self.method

        def wrapped(servicer, request, context):
            t0 = time.perf_counter()
            status = "OK"
            try:
                return fn(servicer, request, context)
            except ServingError as e:
                status = e.code
                context.abort(e.grpc_code, e.message)
            except Exception as e:  # never let a bug kill the worker thread silently
                status = "INTERNAL"
                log.exception("grpc %s failed", method)
                message = ServingError("INTERNAL", f"{type(e).__name__}: {e}").message  # length-capped
                context.abort(grpc.StatusCode.INTERNAL, message)
            finally:
                log.info(
                    "grpc %s model=%s status=%s latency_ms=%.1f",
                    method,
                    clip(request.model_spec.name),
                    status,
                    1000 * (time.perf_counter() - t0),
                )

        return wrapped


class _Servicer:
    """What both services share: the predictor (models, limits, runner) and version lookup."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def _loaded(self, request):
        """The loaded model version that `request.model_spec` names (the served one if unpinned)."""
        return self.predictor.store.get(request.model_spec.name, _version(request.model_spec))


class PredictionService(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata (Classify/Regress/MultiInference stay UNIMPLEMENTED)."""

    @_Handler("Predict")
    def Predict(self, request, context):  # noqa: N802 - the gRPC method name
        limits = self.predictor.limits
        size = request.ByteSize()
        if size > limits.max_request_bytes:
            raise invalid(f"request is {size} bytes, above --max_request_bytes={limits.max_request_bytes}")
        loaded, sig = self.predictor.resolve(
            request.model_spec.name, _version(request.model_spec), request.model_spec.signature_name
        )
        # Bound every tensor by its declaration first: make_ndarray broadcasts a single value to the
        # declared shape, so a 47-byte proto could otherwise allocate gigabytes before being refused.
        check_declared(sig, {name: _declared(name, proto) for name, proto in request.inputs.items()}, limits)
        arrays = {}
        for name, proto in request.inputs.items():
            try:
                arrays[name] = tf.make_ndarray(proto)
            except Exception as e:
                raise invalid(f"input {name!r}: not a valid TensorProto ({e})") from None
        # The client's deadline (None without one) bounds the computation itself, as TF Serving does.
        outputs = self.predictor.run(sig, arrays, list(request.output_filter), context.time_remaining())
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, request.model_spec.name, loaded.version, sig.name)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_Handler("GetModelMetadata")
    def GetModelMetadata(self, request, context):  # noqa: N802 - the gRPC method name
        fields = list(request.metadata_field)
        if fields != ["signature_def"]:
            raise invalid(f"metadata_field must be ['signature_def'], got {fields}")
        loaded = self._loaded(request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for name, sig_def in loaded.signature_defs.items():
            sig_map.signature_def[name].CopyFrom(sig_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, request.model_spec.name, loaded.version)
        response.metadata["signature_def"].Pack(sig_map)
        return response


class ModelService(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (HandleReloadConfigRequest stays UNIMPLEMENTED: versions come from polling)."""

    @_Handler("GetModelStatus")
    def GetModelStatus(self, request, context):  # noqa: N802 - the gRPC method name
        version, state = self.predictor.store.status(request.model_spec.name, _version(request.model_spec))
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = version
        status.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
        status.status.error_code = 0  # OK
        return response


def make_grpc_server(predictor: Predictor, host: str, port: int, workers: int) -> tuple[grpc.Server, int]:
    """Build (not start) the gRPC server. Returns it and the bound port (useful when `port` is 0).

    gRPC's own receive limit is set above `--max_request_bytes` so that a payload just over our limit
    reaches the handler and gets INVALID_ARGUMENT with a clear message; far larger ones are cut off by
    gRPC itself (RESOURCE_EXHAUSTED) before they are buffered.
    """
    limit = predictor.limits.max_request_bytes
    grpc_limit = min(2 * limit + (1 << 20), 2**31 - 1)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", grpc_limit),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(predictor), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(predictor), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind the gRPC port {host}:{port}")
    return server, bound

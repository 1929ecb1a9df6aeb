"""One loaded SavedModel version: a TensorFlow session and its signatures, as TF Serving holds it.

The version is loaded the way TF Serving's C++ loader does it (its `SavedModelBundle`): the MetaGraph
is imported into a graph of its own and the variables are restored by the SavedModel's saver. Each
request is then one `Session.run` of the signature's tensors, with `RunOptions.timeout_in_ms` set from
the request's deadline: when it passes, TensorFlow cancels the step between two ops (an L-BFGS while
loop included) and the call ends with DEADLINE_EXCEEDED, so no CPU is spent on an answer nobody
waits for. `tf.saved_model.load`'s eager functions have no public way to be cancelled.

Loading this way also proves what TF Serving needs of an export: a SavedModel whose signatures read
variables that its saver does not restore is refused here with one line, as it would fail there.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np
import tensorflow as tf

from biogans_tf.conventions import WARMUP_FILE

log = logging.getLogger("serving")

SERVE_TAG = "serve"


class ExportNotServableError(RuntimeError):
    """A SavedModel that graph loaders (TF Serving, this server) cannot run."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """Name, dtype and shape (None = any size; `shape` None = any rank) of one signature tensor."""

    name: str
    dtype: tf.DType
    shape: tuple | None


def _tensor_infos(infos) -> dict:
    """Signature inputs or outputs (`map<string, TensorInfo proto>`) -> name -> `TensorInfo`."""
    out = {}
    for name, info in infos.items():
        shape = tf.TensorShape(info.tensor_shape)
        out[name] = TensorInfo(
            name, tf.as_dtype(info.dtype), tuple(shape.as_list()) if shape.rank is not None else None
        )
    return out


@dataclasses.dataclass(frozen=True)
class Signature:
    """One signature of a loaded version, run in the version's session.

    Attributes:
        name: the signature's key (`sample`, `reconstruct`, ...).
        inputs / outputs: name -> `TensorInfo`.
        session: the version's session.
        feeds / fetches: input / output name -> graph tensor name.
    """

    name: str
    inputs: dict
    outputs: dict
    session: tf.compat.v1.Session
    feeds: dict
    fetches: dict

    def run(self, arrays: dict, outputs=(), timeout_s: float | None = None) -> dict:
        """Run the signature once.

        Args:
            arrays: input name -> numpy array of the input's dtype (every input; checked by the caller).
            outputs: the output names wanted (default: all).
            timeout_s: seconds left before the request's deadline; None = no deadline.

        Returns:
            output name -> numpy array.

        Raises:
            tf.errors.DeadlineExceededError: the deadline passed; the step was cancelled.
            tf.errors.OpError: the graph failed (e.g. an in-graph check: InvalidArgumentError).
        """
        options = None
        if timeout_s is not None:
            # 0 would mean "no timeout" to TensorFlow: a deadline already passed gets the shortest one.
            options = tf.compat.v1.RunOptions(timeout_in_ms=max(int(timeout_s * 1000), 1))
        keys = list(outputs) or list(self.fetches)
        feed = {self.feeds[k]: np.asarray(v, self.inputs[k].dtype.as_numpy_dtype) for k, v in arrays.items()}
        values = self.session.run([self.fetches[k] for k in keys], feed, options=options)
        return dict(zip(keys, values, strict=True))


@dataclasses.dataclass
class LoadedVersion:
    """One loaded SavedModel version."""

    version: int
    path: str
    signatures: dict  # name -> Signature
    signature_defs: dict  # name -> tensorflow.SignatureDef proto (for GetModelMetadata)
    session: tf.compat.v1.Session

    def close(self) -> None:
        self.session.close()


def session_config() -> tf.compat.v1.ConfigProto:
    """The sessions' config: no Grappler on the top-level graph. Whether it rewrites the signatures'
    functions is the export's choice, recorded in each call (`export.saved_model --graph_optimizer`)."""
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


def _check_variables_restored(session: tf.compat.v1.Session, signature_ops, path: str) -> None:
    """Refuse an export whose signatures read variables the SavedModel's saver did not restore."""
    handles = {}
    for op in signature_ops:
        for tensor in op.inputs:
            if tensor.op.type == "VarHandleOp":
                handles[tensor.op.name] = tensor
    if not handles:
        return
    with session.graph.as_default():
        checks = {name: tf.raw_ops.VarIsInitializedOp(resource=t) for name, t in handles.items()}
    missing = sorted(name for name, ok in session.run(checks).items() if not ok)
    if missing:
        raise ExportNotServableError(
            f"{path}: the signatures read {len(missing)} variables the SavedModel does not restore "
            f"(first: {missing[0]}), so TF Serving cannot run it either; it was exported before "
            "export/signatures.py tracked the tf.Variables; export it again with python -m export.saved_model"
        )


def load_version(path: str, version: int) -> LoadedVersion:
    """Load one version folder into a session of its own (the `serve` MetaGraph, as TF Serving).

    Raises:
        ExportNotServableError: the signatures read variables the SavedModel does not restore.
        Exception: whatever TensorFlow raises for a broken or half-copied folder.
    """
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=session_config())
    try:
        with graph.as_default():
            meta_graph = tf.compat.v1.saved_model.load(session, [SERVE_TAG], path)
        sigs, signature_ops = {}, []
        for name, sig_def in meta_graph.signature_def.items():
            if name.startswith("__"):  # `__saved_model_init_op`: run by the loader, not callable
                continue
            feeds = {k: v.name for k, v in sig_def.inputs.items()}
            fetches = {k: v.name for k, v in sig_def.outputs.items()}
            signature_ops += [graph.get_tensor_by_name(t).op for t in fetches.values()]
            sigs[name] = Signature(
                name, _tensor_infos(sig_def.inputs), _tensor_infos(sig_def.outputs), session, feeds, fetches
            )
        _check_variables_restored(session, signature_ops, path)
    except BaseException:
        session.close()
        raise
    return LoadedVersion(version, path, sigs, dict(meta_graph.signature_def), session)


def run_warmup(loaded: LoadedVersion, model_name: str = "") -> int:
    """Replay the version's `assets.extra/tf_serving_warmup_requests` (TF Serving's warm-up convention).

    The first run of a signature initialises its graph, which for the reconstruction graph takes
    seconds; doing it here keeps that off the first client's latency. Each request is logged with its
    time, so a slow start shows where it goes.

    Returns:
        The number of requests replayed; raises (failing the load, as TF Serving) on a bad record.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(loaded.path, WARMUP_FILE)
    if not os.path.isfile(path):
        return 0
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    for i, record in enumerate(records, 1):
        entry = prediction_log_pb2.PredictionLog.FromString(record)
        request = entry.predict_log.request
        name = request.model_spec.signature_name or "serving_default"
        t0 = time.perf_counter()
        loaded.signatures[name].run({k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        log.info("warm-up %s version %d: %s (%d/%d) %.1f s", model_name, loaded.version, name, i,
                 len(records), time.perf_counter() - t0)  # fmt: skip
    return len(records)

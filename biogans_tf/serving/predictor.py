"""Validates a request's tensors against a signature, then runs it. Shared by gRPC and REST.

Everything a client can get wrong is checked here, BEFORE the graph runs, so that the answer is a clear
INVALID_ARGUMENT naming the input and what was expected (rather than a TF stack trace), and a bad
request never costs compute: missing or unexpected inputs, wrong dtype (strict, as TF Serving: an int64
tensor for an int32 input is an error), wrong rank or size, NaN/Inf values, image pixels outside
[-1, 1], empty or oversized batches, and out-of-range scalars (`n`, `steps`, `restarts`, `iterations`).
Dtype, shape and decoded size are checked from the declaration (`check_declared`) before a request's
tensors are materialised.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from biogans_tf.serving.bundle import LoadedVersion, Signature
from biogans_tf.serving.errors import ServingError, clip, clip_names, invalid
from biogans_tf.serving.model_store import ModelStore

DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request limits.

    Attributes:
        max_batch: most images one request may produce or send (`n`, `steps`, batch sizes, and
            `restarts * images` for reconstruction).
        max_iterations: most L-BFGS iterations for `reconstruct`.
        max_request_bytes: largest accepted request payload (serialized proto or HTTP body).
    """

    max_batch: int = 1024
    max_iterations: int = 1000
    max_request_bytes: int = 64 << 20


def shape_str(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _check_scalar_range(name: str, arr: np.ndarray, lo: int, hi: int | None, why: str) -> None:
    value = int(arr)
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise invalid(f"input {name!r} must be {bound} ({why}), got {value}")


def _itemsize(dtype: tf.DType) -> int:
    # Strings become numpy object arrays: a pointer each, plus the bytes (counted by the payload limit).
    return 8 if dtype == tf.string else dtype.size


def check_declared(sig: Signature, declared: dict, limits: Limits) -> None:
    """The checks that need only each input's dtype and shape, run BEFORE any tensor is materialised.

    A TensorProto (or a JSON list) can declare a shape far larger than its payload (one `float_val`
    broadcast to `[4000000, 16]`), so the batch size and the decoded size are bounded here, from the
    declaration alone.

    Args:
        sig: the signature the request is for.
        declared: input name -> `(tf.DType or None if it is converted to the signature's dtype, shape
            tuple of ints)`.
        limits: request limits.

    Raises:
        ServingError: INVALID_ARGUMENT naming the first input that does not fit.
    """
    expected, given = set(sig.inputs), set(declared)
    if expected != given:
        parts = [f"signature {sig.name!r} takes inputs {sorted(expected)}"]
        if expected - given:
            parts.append(f"missing: {sorted(expected - given)}")
        if given - expected:
            parts.append(f"unexpected: {clip_names(given - expected)}")
        raise invalid("; ".join(parts))
    for name, info in sig.inputs.items():
        got, shape = declared[name]
        want = info.dtype
        if got is not None and got != want:
            raise invalid(f"input {name!r}: expected dtype {want.name}, got {got.name}")
        if info.shape is not None:
            ok = len(shape) == len(info.shape) and all(
                w is None or w == g for w, g in zip(info.shape, shape, strict=False)
            )
            if not ok:
                raise invalid(
                    f"input {name!r}: expected shape {shape_str(info.shape)}, got {shape_str(shape)}"
                )
            if info.shape and info.shape[0] is None:
                if not 1 <= shape[0] <= limits.max_batch:
                    raise invalid(
                        f"input {name!r}: batch size must be between 1 and --max_batch={limits.max_batch}, "
                        f"got {shape[0]}"
                    )
        nbytes = int(np.prod(shape, dtype=object)) * _itemsize(want)
        if nbytes > limits.max_request_bytes:
            raise invalid(
                f"input {name!r}: shape {shape_str(shape)} is {nbytes} bytes decoded, above "
                f"--max_request_bytes={limits.max_request_bytes}"
            )


def check_inputs(sig: Signature, arrays: dict, limits: Limits) -> None:
    """Raise INVALID_ARGUMENT unless `arrays` (name -> numpy array) fits `sig` and the limits."""
    check_declared(
        sig,
        {k: (tf.as_dtype(a.dtype) if a.dtype != object else tf.string, a.shape) for k, a in arrays.items()},
        limits,
    )
    for name, info in sig.inputs.items():
        arr = arrays[name]
        if info.dtype.is_floating and not np.all(np.isfinite(arr)):
            raise invalid(f"input {name!r}: contains NaN or Inf values")
    # Image inputs (only `reconstruct` takes one) are generator outputs: tanh range, see
    # export/signatures.py. Values outside it cannot be reconstructed and would only burn L-BFGS time.
    images = arrays.get("images")
    if images is not None and images.size and sig.inputs["images"].dtype.is_floating:
        lo, hi = float(images.min()), float(images.max())
        if lo < -1.0 or hi > 1.0:
            raise invalid(
                f"input 'images': pixel values must lie in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]"
            )
    # Scalars with a meaning in this project's signatures (export/signatures.py).
    for name in ("n", "steps"):
        if name in arrays and arrays[name].ndim == 0:
            _check_scalar_range(name, arrays[name], 1, limits.max_batch, "number of images; see --max_batch")
    if "iterations" in arrays and arrays["iterations"].ndim == 0:
        _check_scalar_range(
            "iterations", arrays["iterations"], 0, limits.max_iterations, "see --max_iterations"
        )
    if "restarts" in arrays and arrays["restarts"].ndim == 0:
        images = arrays.get("images")
        batch = images.shape[0] if images is not None and images.ndim else 1
        hi = max(limits.max_batch // max(batch, 1), 0)
        if hi < 1:
            raise invalid(
                f"input 'restarts': {batch} images x restarts exceeds --max_batch={limits.max_batch}"
            )
        _check_scalar_range(
            "restarts", arrays["restarts"], 1, hi, f"restarts x {batch} images <= --max_batch"
        )


class Predictor:
    """Resolves model/version/signature and runs validated requests.

    Args:
        store: the model store.
        limits: request limits.
    """

    def __init__(self, store: ModelStore, limits: Limits):
        self.store = store
        self.limits = limits

    def resolve(
        self, model_name: str, version: int | None, signature_name: str
    ) -> tuple[LoadedVersion, Signature]:
        loaded = self.store.get(model_name, version)
        name = signature_name or DEFAULT_SIGNATURE
        sig = loaded.signatures.get(name)
        if sig is None:
            raise invalid(f"signature {clip(name)} not found; available: {sorted(loaded.signatures)}")
        return loaded, sig

    def run(self, sig: Signature, arrays: dict, output_filter=(), timeout_s: float | None = None) -> dict:
        """Validate and run; returns output name -> numpy array.

        Args:
            sig: the signature.
            arrays: input name -> numpy array.
            output_filter: the outputs wanted (default: all).
            timeout_s: seconds left before the request's deadline (None: none). When it passes, the
                computation is cancelled and the answer is DEADLINE_EXCEEDED.
        """
        check_inputs(sig, arrays, self.limits)
        unknown = sorted(set(output_filter) - set(sig.outputs))
        if unknown:
            raise invalid(
                f"output_filter names unknown outputs {clip_names(unknown)}; "
                f"{sig.name!r} has {sorted(sig.outputs)}"
            )
        if timeout_s is not None and timeout_s <= 0:
            raise ServingError("DEADLINE_EXCEEDED", f"{sig.name}: the deadline passed before the call ran")
        try:
            return sig.run(arrays, output_filter, timeout_s)
        except tf.errors.DeadlineExceededError:
            raise ServingError(
                "DEADLINE_EXCEEDED", f"{sig.name}: the deadline passed after {timeout_s:.3g} s; cancelled"
            ) from None
        except tf.errors.InvalidArgumentError as e:
            raise invalid(f"{sig.name}: {e.message}") from None
        except tf.errors.OpError as e:
            raise ServingError("INTERNAL", f"{sig.name}: {e.message}") from None

"""Validates a request's tensors against a signature, then runs it. Shared by gRPC and REST.

Everything a client can get wrong is checked here, BEFORE the graph runs, so that the answer is a clear
INVALID_ARGUMENT naming the input and what was expected (rather than a TF stack trace), and a bad
request never costs compute: missing or unexpected inputs, wrong dtype (strict, as TF Serving: an int64
tensor for an int32 input is an error), wrong rank or size, NaN/Inf values, empty or oversized batches,
and out-of-range scalars (`n`, `steps`, `restarts`, `iterations`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from serving.errors import ServingError, invalid
from serving.model_store import LoadedVersion, ModelStore, Signature

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


def check_inputs(sig: Signature, arrays: dict, limits: Limits) -> None:
    """Raise INVALID_ARGUMENT unless `arrays` (name -> numpy array) fits `sig` and the limits."""
    expected, given = set(sig.inputs), set(arrays)
    if expected != given:
        parts = [f"signature {sig.name!r} takes inputs {sorted(expected)}"]
        if expected - given:
            parts.append(f"missing: {sorted(expected - given)}")
        if given - expected:
            parts.append(f"unexpected: {sorted(given - expected)}")
        raise invalid("; ".join(parts))
    for name, info in sig.inputs.items():
        arr = arrays[name]
        want = info.dtype
        got = tf.as_dtype(arr.dtype) if arr.dtype != object else tf.string
        if got != want:
            raise invalid(f"input {name!r}: expected dtype {want.name}, got {got.name}")
        if info.shape is not None:
            ok = arr.ndim == len(info.shape) and all(
                w is None or w == g for w, g in zip(info.shape, arr.shape, strict=False)
            )
            if not ok:
                raise invalid(
                    f"input {name!r}: expected shape {shape_str(info.shape)}, got {shape_str(arr.shape)}"
                )
            if info.shape and info.shape[0] is None:
                if not 1 <= arr.shape[0] <= limits.max_batch:
                    raise invalid(
                        f"input {name!r}: batch size must be between 1 and --max_batch={limits.max_batch}, "
                        f"got {arr.shape[0]}"
                    )
        if want.is_floating and not np.all(np.isfinite(arr)):
            raise invalid(f"input {name!r}: contains NaN or Inf values")
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
            raise invalid(f"signature {name!r} not found; available: {sorted(loaded.signatures)}")
        return loaded, sig

    def run(self, sig: Signature, arrays: dict, output_filter=()) -> dict:
        """Validate and run; returns output name -> numpy array."""
        check_inputs(sig, arrays, self.limits)
        unknown = sorted(set(output_filter) - set(sig.outputs))
        if unknown:
            raise invalid(
                f"output_filter names unknown outputs {unknown}; {sig.name!r} has {sorted(sig.outputs)}"
            )
        try:
            out = sig.fn(**{k: tf.constant(v, dtype=sig.inputs[k].dtype) for k, v in arrays.items()})
        except tf.errors.InvalidArgumentError as e:
            raise invalid(f"{sig.name}: {e.message}") from None
        except tf.errors.OpError as e:
            raise ServingError("INTERNAL", f"{sig.name}: {e.message}") from None
        keys = list(output_filter) or list(out)
        return {k: out[k].numpy() for k in keys}

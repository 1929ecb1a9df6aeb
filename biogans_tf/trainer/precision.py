"""Numeric precision of a training run: `--precision=float32|bf16|mixed_float16|auto`.

`bf16` is Keras' `mixed_bfloat16` policy: convolutions and matmuls in bfloat16; weights, optimiser
state, BatchNorm statistics and the whole gradient penalty (interpolates, input gradient, norm) in
float32 (`biogans_tf.losses.wgan_gp`, `biogans_tf.losses.r1`). `auto` picks `bf16` where the
hardware computes bfloat16 natively and `float32` elsewhere:

- CPUs that report `avx512_bf16` or `amx_bf16` (`/proc/cpuinfo`): oneDNN runs bfloat16
  convolutions there ~1.6-2x faster than float32 (benchmarks/RESULTS.md); not where
  `TF_ENABLE_ONEDNN_OPTS=0` leaves TensorFlow's Eigen kernels, which only emulate bfloat16, nor
  where `ONEDNN_MAX_CPU_ISA` caps oneDNN below AVX512_CORE_BF16 (the way to run as an older CPU);
- GPUs of compute capability >= 8.0 (Ampere and newer: bfloat16 tensor cores).

A run's `config.json` stores the precision that was used (`bf16` or `float32`), never `auto`,
so a resumed run keeps its numerics on any machine.
"""

from __future__ import annotations

from biogans_tf.cpu import ONEDNN_VARIABLE, cpu_flags, isa_limit_blocks_bf16, onednn_enabled, onednn_isa_limit

PRECISIONS = ("float32", "bf16", "mixed_float16", "auto")

# --precision -> Keras mixed-precision policy.
POLICIES = {"float32": "float32", "bf16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}

# /proc/cpuinfo flags of CPUs with native bfloat16 dot products (AVX512_BF16: Cooper Lake, Zen 4+;
# AMX: Sapphire Rapids+).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def bf16_hardware(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """Why this machine computes bfloat16 natively (e.g. 'CPU flag amx_bf16'), or None."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return f"GPU of compute capability {capability[0]}.{capability[1]}"
    if tf.config.list_physical_devices("GPU"):
        return None  # an older GPU runs the model; its bfloat16 is emulated
    flags = cpu_flags(cpuinfo)
    for flag in BF16_CPU_FLAGS:
        # Only oneDNN's kernels use the bfloat16 instructions (Eigen's emulate bfloat16 slowly),
        # and only when no ISA ceiling keeps oneDNN below them.
        if flag in flags and onednn_enabled(cpuinfo=cpuinfo) and not isa_limit_blocks_bf16():
            return f"CPU flag {flag}"
    return None


def resolve_precision(name: str, cpuinfo: str = "/proc/cpuinfo") -> tuple[str, str]:
    """The concrete precision for `--precision=name` and the reason for it.

    Returns:
        (`float32` | `bf16` | `mixed_float16`, a short reason for the log).
    """
    if name != "auto":
        return name, "requested"
    reason = bf16_hardware(cpuinfo)
    if reason:
        return "bf16", f"auto: {reason}"
    if set(BF16_CPU_FLAGS) & cpu_flags(cpuinfo) and not onednn_enabled(cpuinfo=cpuinfo):
        return "float32", f"auto: {ONEDNN_VARIABLE}=0 turns off oneDNN, whose kernels bfloat16 needs"
    if set(BF16_CPU_FLAGS) & cpu_flags(cpuinfo) and isa_limit_blocks_bf16():
        return (
            "float32",
            f"auto: ONEDNN_MAX_CPU_ISA={onednn_isa_limit()} keeps oneDNN below its bfloat16 kernels",
        )
    return "float32", "auto: no native bfloat16 on this machine"

"""What this machine's CPU offers TensorFlow, and the one process setting we take from it: oneDNN.

TensorFlow's x86 wheel carries two CPU kernel sets: Eigen's (always compiled in) and oneDNN's,
which its graph rewrites swap in when `TF_ENABLE_ONEDNN_OPTS` is on. Left unset, TF 2.21 turns
oneDNN on only for CPUs that report one of `ONEDNN_DEFAULT_FLAGS` (AVX-512 VNNI / BF16, AVX-VNNI,
AMX), so an AVX2-only CPU (a common cloud EPYC) trains on Eigen. Measured there
(benchmarks/RESULTS.md, "CPU kinds"): float32 WGAN-GP training 2.2x faster with oneDNN, and
Eigen's `Conv2DBackpropFilter` cannot train grouped convolutions at all. The programs therefore
turn oneDNN on where TensorFlow would leave it off and the user has not chosen (`prefer_onednn`).

This module imports nothing beyond the standard library: it must run before TensorFlow's import,
which reads the variable once.
"""

from __future__ import annotations

import os
import platform

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"

# /proc/cpuinfo flags for which TensorFlow enables oneDNN by default (any one suffices).
ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")

# oneDNN's instruction-set ceilings (its dispatcher documentation), oldest first, up to the last
# one below AVX512_CORE_BF16: a ceiling among these leaves no bfloat16 dot-product kernel.
ISA_LIMIT_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The feature flags of the first CPU in `cpuinfo` (empty where the file does not exist)."""
    if not os.path.isfile(cpuinfo):
        return set()
    with open(cpuinfo) as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The first CPU's model name (`lscpu`'s 'Model name'); speed figures are stated with it.

    Falls back to what `platform` knows, else 'unknown CPU'.
    """
    if os.path.isfile(cpuinfo):
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def onednn_isa_limit(environ=os.environ) -> str | None:
    """The instruction-set ceiling the user set for oneDNN's kernels (e.g. 'AVX2'), or None.

    oneDNN reads `ONEDNN_MAX_CPU_ISA` (older releases: `DNNL_MAX_CPU_ISA`) once, at its first
    kernel; it is how one CPU runs the kernels another, older one would (benchmarks/RESULTS.md
    emulates an AVX2-only CPU this way).
    """
    for name in ISA_LIMIT_VARIABLES:
        value = environ.get(name, "").strip().upper()
        if value and value not in ("ALL", "DEFAULT"):
            return value
    return None


def isa_limit_blocks_bf16(environ=os.environ) -> bool:
    """Whether the oneDNN ISA ceiling in `environ` rules out the CPU's native bfloat16 kernels."""
    return onednn_isa_limit(environ) in ISAS_WITHOUT_BF16


def kernel_set(environ=os.environ, cpuinfo: str = "/proc/cpuinfo") -> str:
    """What a benchmark line names: 'oneDNN' (with its ISA limit, if any) or 'Eigen (oneDNN off)'."""
    if not onednn_enabled(environ, cpuinfo):
        return "Eigen (oneDNN off)"
    limit = onednn_isa_limit(environ)
    return f"oneDNN (ONEDNN_MAX_CPU_ISA={limit})" if limit else "oneDNN"


def onednn_on_by_default(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether TensorFlow, left to itself, runs its oneDNN kernels on this CPU."""
    return bool(cpu_flags(cpuinfo) & set(ONEDNN_DEFAULT_FLAGS))


def onednn_enabled(environ=os.environ, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether a TensorFlow imported with `environ` runs oneDNN kernels (the variable, else TF's rule)."""
    value = environ.get(ONEDNN_VARIABLE, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return onednn_on_by_default(cpuinfo)


def prefer_onednn(environ=os.environ, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """Turn oneDNN on where TensorFlow would leave it off and `environ` does not say; call before TF.

    Returns:
        One line for the log when this changed the setting, else None (the user set the variable,
        or TensorFlow turns oneDNN on here anyway).
    """
    if ONEDNN_VARIABLE in environ or onednn_on_by_default(cpuinfo):
        return None
    environ[ONEDNN_VARIABLE] = "1"
    return (
        f"oneDNN: on ({ONEDNN_VARIABLE}=1; TensorFlow leaves it off on this CPU, where training runs "
        f"~2x faster with it; set {ONEDNN_VARIABLE}=0 to keep TensorFlow's default)"
    )

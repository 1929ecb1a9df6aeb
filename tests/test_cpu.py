"""`biogans_tf.cpu`: TensorFlow's oneDNN rule per CPU kind, and the programs' opt-in where it is off."""

import os
import subprocess
import sys

import pytest

from biogans_tf import cpu
from tests.conftest import ROOT

# The three CPU kinds seen on these machines (shared/design/platform_facts.md), by their flags.
AVX2_EPYC = "fpu sse2 avx fma avx2 bmi2"
AVX512_EPYC = AVX2_EPYC + " avx512f avx512bw avx512_vnni avx512_bf16"
AMX_XEON = AVX2_EPYC + " avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8"


def _cpuinfo(tmp_path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: {flags}\n\n")
    return str(path)


@pytest.mark.parametrize("flags, default_on", [(AVX2_EPYC, False), (AVX512_EPYC, True), (AMX_XEON, True)])
def test_prefer_onednn_turns_it_on_only_where_tensorflow_leaves_it_off(tmp_path, flags, default_on):
    info = _cpuinfo(tmp_path, flags)
    assert cpu.onednn_on_by_default(info) is default_on
    env = {}
    line = cpu.prefer_onednn(env, info)
    if default_on:
        assert line is None and env == {}
    else:
        assert env == {cpu.ONEDNN_VARIABLE: "1"} and cpu.onednn_enabled(env, info)
        assert line.startswith("oneDNN: on") and f"{cpu.ONEDNN_VARIABLE}=0" in line and "\n" not in line


@pytest.mark.parametrize("value, enabled", [("0", False), ("1", True), ("false", False), ("true", True)])
def test_the_users_choice_is_never_overridden(tmp_path, value, enabled):
    for flags in (AVX2_EPYC, AMX_XEON):
        info = _cpuinfo(tmp_path, flags)
        env = {cpu.ONEDNN_VARIABLE: value}
        assert cpu.prefer_onednn(env, info) is None and env == {cpu.ONEDNN_VARIABLE: value}
        assert cpu.onednn_enabled(env, info) is enabled


def test_cpu_model_and_missing_cpuinfo(tmp_path):
    assert cpu.cpu_model(_cpuinfo(tmp_path, AVX2_EPYC)) == "Test CPU 9000"
    absent = str(tmp_path / "absent")
    assert cpu.cpu_flags(absent) == set() and cpu.cpu_model(absent) == "unknown CPU"
    assert not cpu.onednn_on_by_default(absent)


@pytest.mark.e2e
def test_the_rule_matches_what_tensorflow_does_on_this_machine():
    # TensorFlow logs "oneDNN custom operations are on" at import exactly when it runs them.
    env = {k: v for k, v in os.environ.items() if k not in (cpu.ONEDNN_VARIABLE, "TF_CPP_MIN_LOG_LEVEL")}
    p = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"),
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert ("oneDNN custom operations are on" in p.stderr) is cpu.onednn_on_by_default(), p.stderr[-2000:]


def test_the_isa_ceiling_is_read_from_either_variable_and_named_by_benchmarks(tmp_path):
    info = _cpuinfo(tmp_path, AVX512_EPYC)
    assert cpu.onednn_isa_limit({}) is None and not cpu.isa_limit_blocks_bf16({})
    assert cpu.onednn_isa_limit({"ONEDNN_MAX_CPU_ISA": "all"}) is None
    assert cpu.onednn_isa_limit({"DNNL_MAX_CPU_ISA": "avx2"}) == "AVX2"
    assert cpu.isa_limit_blocks_bf16({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    assert not cpu.isa_limit_blocks_bf16({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})
    env = {"ONEDNN_MAX_CPU_ISA": "avx2"}
    assert cpu.kernel_set(env, info) == "oneDNN (ONEDNN_MAX_CPU_ISA=AVX2)"
    assert cpu.kernel_set({**env, cpu.ONEDNN_VARIABLE: "0"}, info) == "Eigen (oneDNN off)"

"""--precision (`auto`, resume, a bf16 step on CPU with the penalty in float32) and --critic_bank."""

import dataclasses
import math

import keras
import pytest
import tensorflow as tf

from biogans_tf.cpu import ONEDNN_VARIABLE
from biogans_tf.losses.wgan_gp import INTERPOLATES_SCOPE, NORM_SCOPE
from biogans_tf.models.critic_bank import grouped_training_error
from biogans_tf.trainer.config import ConfigError, merge_for_resume, resolve
from biogans_tf.trainer.precision import resolve_precision
from biogans_tf.trainer.setup import configure_process, resolve_critic_bank
from tests.trainer.util import dataset, make_trainer


def _cpuinfo(tmp_path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return str(path)


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("avx512f amx_tile amx_bf16", "bf16"),
        ("avx512f avx512_bf16", "bf16"),
        ("avx512f avx512_vnni", "float32"),
    ],
)
def test_auto_follows_the_cpu_flags(tmp_path, flags, expected, monkeypatch):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU decides `auto` before the CPU flags")
    monkeypatch.delenv(ONEDNN_VARIABLE, raising=False)  # TensorFlow's own oneDNN rule
    got, why = resolve_precision("auto", _cpuinfo(tmp_path, flags))
    assert got == expected
    assert why.startswith("auto:") and (expected == "float32" or why.split()[-1] in flags.split())


def test_auto_keeps_float32_where_onednn_is_turned_off(tmp_path, monkeypatch):
    # Eigen's kernels (TF_ENABLE_ONEDNN_OPTS=0) only emulate bfloat16, even on a CPU that has it.
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU decides `auto` before the CPU flags")
    monkeypatch.setenv(ONEDNN_VARIABLE, "0")
    got, why = resolve_precision("auto", _cpuinfo(tmp_path, "avx512f avx512_bf16 amx_bf16"))
    assert got == "float32" and f"{ONEDNN_VARIABLE}=0" in why


@pytest.mark.parametrize(
    "limit, blocks", [("AVX2", True), ("avx512_core_vnni", True), ("AVX512_CORE_BF16", False)]
)
def test_auto_keeps_float32_where_onednn_is_capped_below_bfloat16(tmp_path, monkeypatch, limit, blocks):
    # ONEDNN_MAX_CPU_ISA makes oneDNN run as an older CPU would: without its bfloat16 kernels.
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU decides `auto` before the CPU flags")
    monkeypatch.setenv(ONEDNN_VARIABLE, "1")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    got, why = resolve_precision("auto", _cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert got == ("float32" if blocks else "bf16")
    assert (f"ONEDNN_MAX_CPU_ISA={limit.upper()}" in why) == blocks


def test_auto_without_cpuinfo_is_float32_and_explicit_values_pass_through(tmp_path):
    if not tf.config.list_physical_devices("GPU"):
        assert resolve_precision("auto", str(tmp_path / "absent"))[0] == "float32"
    for name in ("float32", "bf16", "mixed_float16"):
        assert resolve_precision(name, str(tmp_path / "absent")) == (name, "requested")
    with pytest.raises(ConfigError, match="--precision"):
        resolve({"run_dir": "x", "precision": "fp8"})


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_configure_process_records_what_auto_chose(restore_policy):
    cfg = resolve({"run_dir": "x", "precision": "auto"})
    assert cfg.precision == "auto"  # resolved by the process setup, on the machine that trains
    configure_process(cfg)
    expected = resolve_precision("auto")[0]
    assert cfg.precision == expected and cfg.to_json()["precision"] == expected
    assert keras.mixed_precision.global_policy().name == {"bf16": "mixed_bfloat16"}.get(expected, expected)


def test_resume_with_auto_compares_what_auto_chooses_here():
    here = resolve_precision("auto")[0]
    other = "float32" if here == "bf16" else "bf16"
    saved = resolve({"run_dir": "run", "precision": here})
    assert merge_for_resume(saved, {"precision": "auto"}, "run/config.json").precision == here
    saved = dataclasses.replace(saved, precision=other)
    with pytest.raises(ConfigError, match="--precision='auto'.*differs"):
        merge_for_resume(saved, {"precision": "auto"}, "run/config.json")


def _float_outputs(ops):
    return [t for op in ops for t in op.outputs if t.dtype.is_floating]


@pytest.mark.parametrize("arch", ["dcgan-sep", "star"])
def test_bf16_step_keeps_the_penalty_in_float32(restore_policy, arch):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    t = make_trainer(arch, "wgan-gp", n_critic=2)
    ds = dataset(arch)
    step = tf.function(lambda data: t.run_step(data, None))
    graph = step.get_concrete_function(ds.element_spec).graph
    ops = graph.get_operations()
    interp = [op for op in ops if f"{INTERPOLATES_SCOPE}/" in op.name]
    norm = [op for op in ops if f"{NORM_SCOPE}/" in op.name]
    # The forward ops of the penalty and their gradients (the critic update's double backward).
    assert len(_float_outputs(interp)) >= 4 and len(_float_outputs(norm)) >= 6
    dtypes = {t.dtype for t in _float_outputs(interp + norm)}
    assert dtypes == {tf.float32}, sorted(str(d) for d in dtypes)
    # ... while the critic's convolutions between them do run in bfloat16.
    convs = [op for op in ops if op.type in ("Conv2D", "_FusedConv2D", "Conv2DBackpropInput")]
    assert convs and any(op.outputs[0].dtype == tf.bfloat16 for op in convs)

    logs = [step(batch) for batch in ds.take(4)]
    assert int(t.step.numpy()) == 2
    for row in logs:
        assert row["gp"].dtype == tf.float32
        assert all(math.isfinite(float(row[k])) for k in ("d_loss", "g_loss", "gp", "wdist"))


def test_critic_bank_flag_is_checked():
    assert resolve({"run_dir": "x", "critic_bank": "grouped"}).critic_bank == "grouped"
    with pytest.raises(ConfigError, match="--critic_bank=grouped needs --critic_norm=none"):
        resolve({"run_dir": "x", "critic_bank": "grouped", "critic_norm": "spectral"})
    with pytest.raises(ConfigError, match="--critic_bank='stacked'"):
        resolve({"run_dir": "x", "critic_bank": "stacked"})
    assert resolve({"run_dir": "x", "critic_bank": "auto", "critic_norm": "spectral"}).critic_bank == "auto"


@pytest.mark.cpu_kinds
def test_auto_bank_is_grouped_exactly_where_the_probe_trains_it(restore_policy):
    trains = grouped_training_error() is None
    cfg = resolve({"run_dir": "x", "arch": "star", "critic_bank": "auto"})
    configure_process(cfg)
    assert cfg.critic_bank == ("grouped" if trains else "loop")
    assert cfg.to_json()["critic_bank"] == cfg.critic_bank
    for arch, norm in (("dcgan-sep", "none"), ("star", "spectral")):  # no bank / per-critic kernels
        other = resolve({"run_dir": "x", "arch": arch, "critic_bank": "auto", "critic_norm": norm})
        assert resolve_critic_bank(other)[0] == "loop"
    grouped = resolve({"run_dir": "x", "arch": "star", "critic_bank": "grouped"})
    if trains:
        assert resolve_critic_bank(grouped) == ("grouped", None)
    else:
        with pytest.raises(ConfigError, match=r"--critic_bank=grouped cannot train.*--critic_bank=loop"):
            resolve_critic_bank(grouped)


def test_resume_with_auto_bank_keeps_the_recorded_bank():
    for bank in ("loop", "grouped"):
        saved = resolve({"run_dir": "run", "arch": "star", "critic_bank": bank})
        assert merge_for_resume(saved, {"critic_bank": "auto"}, "run/config.json").critic_bank == bank
    saved = resolve({"run_dir": "run", "arch": "star", "critic_bank": "loop"})
    with pytest.raises(ConfigError, match="--critic_bank='grouped' differs"):
        merge_for_resume(saved, {"critic_bank": "grouped"}, "run/config.json")

"""The README's main command on both of TensorFlow's CPU kernel sets (issue 21).

TensorFlow runs oneDNN kernels on CPUs with AVX-512 VNNI/BF16 or AMX and Eigen's elsewhere (an
AVX2-only EPYC); `TF_ENABLE_ONEDNN_OPTS=0|1` picks either set on any machine, so these tests cover
a CPU unlike the one they run on.
"""

import json
import re
import subprocess
import sys

import pytest

from biogans_tf.cpu import ONEDNN_VARIABLE, cpu_flags
from biogans_tf.failure import LOG_NAME
from biogans_tf.trainer.precision import BF16_CPU_FLAGS
from tests.conftest import subprocess_env

pytestmark = pytest.mark.e2e

# What Eigen's kernels say about a grouped convolution's gradients; which of the two gradient ops
# runs (and fails) first depends on the op scheduling, so either may be reported.
EIGEN_COMPLAINT = (
    r"Conv2DBackpropInput failed .*Gradients for grouped convolutions are not supported on CPU"
    r"|Conv2DBackpropFilter failed .*filter_size does not have enough elements"
)
README_COMMAND = ["-m", "training.run", "--arch=star", "--preset=cpu-demo"]
TINY = [
    "--arch=star", "--image_size=24x40", "--ngf=8", "--ndf=8", "--nz=16", "--batch_size=4",
    "--data=sim:8", "--proteins=Alp14,Arp3", "--n_critic=1", "--log_every=1",
]  # fmt: skip


def _run(args, onednn: str, tmp_path, **extra_env):
    env = subprocess_env(**extra_env)
    env[ONEDNN_VARIABLE] = onednn
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )


def bf16_cpu() -> bool:
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def _errors(p):
    return [line for line in p.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.cpu_kinds
@pytest.mark.parametrize("onednn", ["0", "1"])
def test_readme_main_command_trains_on_both_kernel_sets(tmp_path, onednn):
    run = tmp_path / "run"
    p = _run([*README_COMMAND, "--steps=2", "--sample_every=2", f"--run_dir={run}"], onednn, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok" and result["step"] == 2
    config = json.loads((run / "config.json").read_text())
    # Eigen's kernels cannot train grouped convolutions, so `auto` falls back to the loop there.
    assert config["critic_bank"] == ("grouped" if onednn == "1" else "loop")
    assert f"critic bank: {config['critic_bank']} (auto: " in p.stderr
    bf16 = onednn == "1" and bf16_cpu()
    assert config["precision"] == ("bf16" if bf16 else "float32")
    assert (run / "generator_ema.keras").is_file() and (run / "samples" / "step_0000002.png").is_file()


@pytest.mark.cpu_kinds
def test_readme_main_command_as_an_avx2_cpu_runs_it_and_resumes_with_the_preset(tmp_path):
    # ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN to what an AVX2-only CPU has: no native bfloat16, so
    # `auto` trains float32 (as on that CPU), which a resume with the preset keeps.
    run, avx2 = tmp_path / "run", {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    args = [*README_COMMAND, "--sample_every=1", "--checkpoint_every=1", "--steps=1", f"--run_dir={run}"]
    p = _run(args, "1", tmp_path, **avx2)
    assert p.returncode == 0, p.stderr[-3000:]
    why = "ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN below" if bf16_cpu() else "no native bfloat16"
    assert f"precision: float32 (auto: {why}" in p.stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["precision"], config["critic_bank"], config["steps"]) == ("float32", "grouped", 1)
    p = _run([*README_COMMAND, "--resume", "--steps=2", f"--run_dir={run}"], "1", tmp_path, **avx2)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert (result["start_step"], result["step"], result["critic_steps"]) == (1, 2, 4)
    assert json.loads((run / "config.json").read_text())["precision"] == "float32"


@pytest.mark.cpu_kinds
def test_explicit_grouped_bank_is_refused_before_training_where_it_cannot_train(tmp_path):
    run = tmp_path / "run"
    args = ["-m", "training.run", *TINY, "--steps=1", "--critic_bank=grouped", f"--run_dir={run}"]
    p = _run(args, "0", tmp_path)
    assert p.returncode == 2, p.stderr[-3000:]
    (line,) = _errors(p)
    assert "--critic_bank=grouped cannot train" in line and "--critic_bank=loop" in line
    assert re.search(EIGEN_COMPLAINT, line) and "Traceback" not in p.stderr
    assert not run.exists()  # refused before the run folder was made


@pytest.mark.cpu_kinds
def test_a_failure_inside_the_graph_step_prints_the_ops_own_message(tmp_path):
    run = tmp_path / "run"
    args = ["-m", "tests.training.unprobed_run", *TINY, "--steps=2", "--critic_bank=grouped"]
    args.append(f"--run_dir={run}")
    p = _run(args, "0", tmp_path)
    assert p.returncode == 1, p.stderr[-3000:]
    (line,) = _errors(p)
    # The kernel's own complaint and the op, not TensorFlow's bare "Graph execution error:" header.
    assert re.search(EIGEN_COMPLAINT, line), line
    assert "Graph execution error" not in line
    log = run / LOG_NAME
    assert f"full traceback in {log}" in line and "Traceback" not in p.stderr
    assert "Traceback (most recent call last)" in log.read_text()
    # Failed in the first step: no checkpoint exists yet, so the line promises none.
    assert not (run / "checkpoints").exists() and "--resume" not in line

"""What the tests share: a quiet CPU-only TensorFlow, the subprocess environment, tiny training
settings, `run_cli`, and one tiny star run trained in-process once per session.

Markers (pyproject.toml): `slow` (minutes), `e2e` (a program run as a user runs it is the subject:
a command line in a subprocess, a server's start, stop and reload, a kill and resume), `browser` (a
real headless chromium), `packaging` (builds and installs the wheel). The default `pytest` leaves
out all four; `.ci/run` runs them too (README, "Tests"). Tests whose subject is library code run
in-process, also when a real server on 127.0.0.1 is their fixture (tests/serving/conftest.py).
"""

import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The smallest training settings every architecture accepts (seconds per run on 2 cores).
TINY = dict(
    image_size=(24, 40), ngf=8, ndf=8, nz=16, batch_size=4, data="sim:8", proteins=("Alp14", "Arp3"),
)  # fmt: skip


def tiny_flags(**settings) -> list[str]:
    """`TINY` with `settings` on top, as `training.run` flags (`True` -> `--x`, `False` -> `--nox`)."""
    flags = []
    for name, value in {**TINY, **settings}.items():
        if value is True or value is False:
            flags.append(f"--{name}" if value else f"--no{name}")
        elif name == "image_size":
            flags.append(f"--image_size={value[0]}x{value[1]}")
        elif isinstance(value, list | tuple):
            flags.append(f"--{name}={','.join(map(str, value))}")
        else:
            flags.append(f"--{name}={value}")
    return flags


def subprocess_env(**extra) -> dict:
    """The environment of a program under test: this checkout first on the path, CPU only, quiet."""
    return dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", **extra)


def run_cli(module: str, *args, timeout: float = 600, cwd=ROOT, env=None, **kwargs):
    """`python -m module args...` as a user runs it; the `subprocess.CompletedProcess` (text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env or subprocess_env(),
        capture_output=True, text=True, timeout=timeout, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_star_run(tmp_path_factory) -> str:
    """A finished tiny `star` run folder (2 steps, EMA, a sample and a checkpoint per step, TensorBoard
    scalars per step), trained in this process.

    Read it; do not change it (it is shared by every test of the session).
    """
    from biogans_tf.trainer.config import resolve
    from biogans_tf.training.train import train

    run_dir = str(tmp_path_factory.mktemp("tiny_star") / "run")
    cfg = resolve(dict(TINY, arch="star", steps=2, n_critic=1, ema=True, sample_every=1, checkpoint_every=1,
                       log_every=1, run_dir=run_dir))  # fmt: skip
    results = train(cfg)
    assert results["status"] == "ok", results
    return run_dir


def forge_run(path, generator, config: dict, generator_ema=None) -> str:
    """A run folder as training writes one, from a built generator and its config (no training).

    Writes the config, the protein order and `generator.keras` (+ `generator_ema.keras`) where
    `biogans_tf.runs.folder.RunFolder` says they go; returns the folder.
    """
    from biogans_tf.io_utils import write_json
    from biogans_tf.runs.folder import RunFolder

    run = RunFolder(str(path))
    os.makedirs(run.path, exist_ok=True)
    write_json(run.config, config)
    if config.get("proteins") is not None:
        write_json(run.proteins, list(config["proteins"]))
    generator.save(run.generator())
    if generator_ema is not None:
        generator_ema.save(run.generator(ema=True))
    return run.path

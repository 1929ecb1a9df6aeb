"""The README's explorer commands, run literally after its main command (issue 23: the EMA export).

The demo preset trains with an EMA generator, and the README serves `models/cells_ema`. The run's
`generator.keras` says of itself "not the EMA copy" (`"ema": false` in its metadata); that fact about
the file used to override the run's `"ema": true`, so the export wrote no `cells_ema` and the
README's server command had nothing to serve.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.e2e

# The main command at 1 step, at a tiny size (the flags given override the preset's).
TINY = ["--steps=1", "--sample_every=1", "--image_size=24x40", "--ngf=8", "--ndf=8", "--batch_size=4",
        "--data=sim:8"]  # fmt: skip


def _readme_explorer_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    block = re.search(r"Open it for the README's demo run.*?```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_the_demo_runs_ema_generator_is_exported_and_served_as_the_readme_says(tmp_path):
    env = subprocess_env()
    train = subprocess.run(
        [sys.executable, "-m", "training.run", "--arch=star", "--preset=cpu-demo", *TINY],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    export, serve = _readme_explorer_commands()
    python = os.path.join(".venv", "bin", "python")
    assert export.startswith(python) and serve.startswith(python)
    done = subprocess.run(
        ["bash", "-c", export.replace(python, sys.executable, 1)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # What the README's server command serves: --model_base_path models/cells_ema.
    served = re.search(r"--model_base_path (\S+)", serve).group(1)
    assert os.path.isfile(tmp_path / served / "1" / "saved_model.pb"), sorted(os.listdir(tmp_path / "models"))
    assert os.path.isfile(tmp_path / "models" / "cells" / "1" / "saved_model.pb")

"""Every command module imports into one process (the test suite, a notebook) without a flag clash.

absl flags live in one global registry: two commands that define `--data` or `--run_dir` at import
time raise `DuplicateFlagError` in whichever is imported second.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]

# The console scripts' modules plus the data tools; the order puts training.run last, which used to
# fail after training.evaluate had defined --data.
COMMAND_MODULES = [
    "training.evaluate",
    "training.sample",
    "training.data",
    "export.saved_model",
    "export.from_torch",
    "serving.server",
    "serving.client",
    "biogans_tf.training.data_simulate",
    "biogans_tf.training.data_neighbours",
    "biogans_tf.training.data_calibrate",
    "biogans_tf.training.data_inspect",
    "training.run",
]


@pytest.mark.e2e  # a fresh process: absl's one flag registry
def test_all_command_modules_import_together_in_one_process():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')\n"
    env = subprocess_env()
    p = subprocess.run(
        [sys.executable, "-c", code, *COMMAND_MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "ok"


def test_each_checkout_entry_point_runs_its_programs_cli():
    """`python -m training.run` (and the others) start the program of the installed package."""
    import export.from_torch
    import export.saved_model
    import serving.client
    import serving.server
    import training.data
    import training.evaluate
    import training.run
    import training.sample
    from biogans_tf.export import from_torch, saved_model
    from biogans_tf.serving import client, server
    from biogans_tf.training import data, evaluate, run, sample

    pairs = [
        (training.run, run), (training.evaluate, evaluate), (training.sample, sample), (training.data, data),
        (export.saved_model, saved_model), (export.from_torch, from_torch), (serving.server, server),
        (serving.client, client),
    ]  # fmt: skip
    for entry, program in pairs:
        assert entry.cli is program.cli, entry.__name__

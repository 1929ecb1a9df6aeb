"""The commands docs/RESULTS.md records still parse with today's flags (a reader copies them).

Each program is checked in its own process: `training.run` and `training.evaluate` both define
`--run_dir`, so their flags cannot live in one absl registry.
"""

import pathlib
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

REPORT = pathlib.Path(ROOT) / "docs" / "RESULTS.md"

# Parses every `python -m training.<program> ...` line of the report with the program's flags and
# prints one line per command that does not parse.
CHECK = """
import shlex, sys
from absl import flags
from biogans_tf.cli import define_flags
program, path = sys.argv[1], sys.argv[2]
if program == "evaluate":
    from biogans_tf.training import evaluate
    define_flags(evaluate.EvalOptions, evaluate.__name__)
else:
    from biogans_tf.training import run  # defines its flags on import
count = 0
for line in open(path, encoding="utf-8"):
    line = line.strip().strip("`")
    if not line.startswith(f"python -m training.{program} "):
        continue
    count += 1
    try:
        flags.FLAGS(shlex.split(line)[2:])
    except flags.Error as e:
        print(f"BAD {e}: {line[:120]}")
    finally:
        flags.FLAGS.unparse_flags()
print(f"COUNT {count}")
"""


@pytest.mark.parametrize("program", ["run", "evaluate"])
def test_every_recorded_command_parses(program):
    assert any(f"python -m training.{program} " in line for line in REPORT.read_text().splitlines())
    p = subprocess.run(
        [sys.executable, "-c", CHECK, program, str(REPORT)],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert [line for line in lines if line.startswith("BAD")] == []
    assert int(lines[-1].split()[1]) >= 1  # the report's commands were found and checked


def test_the_check_catches_a_flag_that_no_longer_exists(tmp_path):
    report = tmp_path / "RESULTS.md"
    report.write_text("python -m training.evaluate --task=c2st_real --steps=300\n")
    p = subprocess.run(
        [sys.executable, "-c", CHECK, "evaluate", str(report)],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert lines[0].startswith("BAD") and "steps" in lines[0] and lines[-1] == "COUNT 1"

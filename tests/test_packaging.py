"""Packaging: the wheel, its console scripts, and every command's --help (fast, exit 0, quiet).

`--help` target: under 3 s. Measured on the 2-core machine with the training job running: 0.4-2.3 s
(`biogans-data simulate` and `calibrate` are the slowest: numpy + scipy). The timing assertion
allows HELP_LIMIT_S because this machine is shared by several test runs; the load-independent check
is that `--help` imports neither TensorFlow nor Keras.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
import zipfile

import pytest
import tomllib

from tests.conftest import ROOT

pytestmark = pytest.mark.packaging

HELP_LIMIT_S = 10.0  # generous: see the module docstring (target 3 s on an idle machine)

with open(os.path.join(ROOT, "pyproject.toml"), "rb") as _f:
    PYPROJECT = tomllib.load(_f)
SCRIPTS = PYPROJECT["project"]["scripts"]
# The modules behind the scripts, named here as well (tools/gen_build.py makes them Bazel deps).
SCRIPT_MODULES = {
    "biogans_tf.training.run", "biogans_tf.training.evaluate", "biogans_tf.training.sample",
    "biogans_tf.training.data", "biogans_tf.export.saved_model", "biogans_tf.export.from_torch",
    "biogans_tf.serving.server", "biogans_tf.serving.client",
}  # fmt: skip

# (console script, extra arguments before --help, a flag its help must list)
HELP_CASES = [
    ("biogans-train", [], "--run_dir"),
    ("biogans-evaluate", [], "--task"),
    ("biogans-sample", [], "--generator"),
    ("biogans-export", [], "--base_path"),
    ("biogans-convert", [], "--pth"),
    ("biogans-serve", [], "--model_base_path"),
    ("biogans-client", [], "--interp_steps"),
    ("biogans-data", [], "neighbours"),
    ("biogans-data", ["simulate"], "--n_train"),
    ("biogans-data", ["inspect"], "--verify"),
    ("biogans-data", ["neighbours"], "--cache_dir"),
    ("biogans-data", ["calibrate"], "--figure"),
]

_RUNNER = """
import importlib, json, sys
module, func = sys.argv[1].split(":")
sys.argv = [sys.argv[2]] + sys.argv[3:]
try:
    getattr(importlib.import_module(module), func)()
    code = None
except SystemExit as e:
    code = e.code
sys.stdout.flush()
loaded = {"tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}
print("\\nRESULT " + json.dumps({"code": code, **loaded}))
"""


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, **extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the programs must quiet TensorFlow themselves
    return env


def test_every_console_script_names_an_existing_function():
    expected = {"biogans-train", "biogans-evaluate", "biogans-sample", "biogans-data", "biogans-export",
                "biogans-convert", "biogans-serve", "biogans-client"}  # fmt: skip
    assert set(SCRIPTS) == expected
    assert {target.split(":")[0] for target in SCRIPTS.values()} == SCRIPT_MODULES
    for name, target in SCRIPTS.items():
        module, func = target.split(":")
        p = subprocess.run(
            [sys.executable, "-c", f"import {module} as m; assert callable(m.{func})"],
            env=_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert p.returncode == 0, f"{name} -> {target}: {p.stderr[-500:]}"


@pytest.mark.parametrize("script, args, flag", HELP_CASES, ids=[" ".join([c[0], *c[1]]) for c in HELP_CASES])
def test_help_is_fast_exits_0_and_imports_no_tensorflow(script, args, flag, tmp_path):
    start = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _RUNNER, SCRIPTS[script], script, *args, "--help"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    result = json.loads(p.stdout.rsplit("RESULT ", 1)[1])
    assert result["code"] in (0, None), p.stdout[-1000:] + p.stderr[-1000:]
    assert not result["tf"] and not result["keras"], f"{script} --help imported TensorFlow/Keras"
    assert flag in p.stdout, p.stdout[:2000]
    assert p.stderr == "", p.stderr[-1000:]
    assert seconds < HELP_LIMIT_S, f"{script} {args} --help took {seconds:.1f} s"


@pytest.mark.parametrize("module", ["export.from_torch", "training.run", "serving.client"])
def test_python_dash_m_help_works(module, tmp_path):
    p = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0 and "flags:" in p.stdout and p.stderr == "", p.stderr[-1000:]


def test_test_hooks_are_not_flags_of_the_program(tmp_path):
    # Issue 13 moved the test hooks out of the program (tests inject NaN through the data and
    # slow a run down with tests/training/slow_run.py), so neither help lists them any more.
    def run(arg):
        return subprocess.run([sys.executable, "-m", "training.run", arg], cwd=tmp_path, env=_env(),
                              capture_output=True, text=True, timeout=120).stdout  # fmt: skip

    assert "debug_nan_at" not in run("--help")
    assert "debug_nan_at" not in run("--helpfull") and "--resume" in run("--helpfull")


def _copy_tree(dst):
    """The checkout's source files (what a fresh clone has), without the top runs/ or build outputs."""
    patterns = shutil.ignore_patterns(".git", ".venv", "bazel-*", "__pycache__", "*.egg-info", "build")

    def ignore(folder, names):
        top_runs = {"runs"} if os.path.samefile(folder, ROOT) else set()  # biogans_tf/runs/ is code
        return set(patterns(folder, names)) | (top_runs & set(names))

    shutil.copytree(ROOT, dst, ignore=ignore)


def test_wheel_contents_and_installed_commands_outside_the_checkout(tmp_path):
    """Build the wheel from a copy of the tree, install it (no deps: the test venv lends them),
    run console scripts from a folder outside the checkout, and import the installed package."""
    if not all(
        os.path.exists(os.path.join(ROOT, f))
        for f in ("README.md", "LICENSE", "biogans_tf/serving/explorer/static")
    ):
        pytest.skip("needs the whole source tree (Bazel's runfiles hold only this test's deps)")
    src = tmp_path / "src"
    _copy_tree(src)
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("biogans_tf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    static = [
        f"biogans_tf/serving/explorer/static/{f}" for f in ("index.html", "explorer.js", "explorer.css")
    ]
    for needed in ["biogans_tf/__init__.py", "biogans_tf/data/sim/render.py", "biogans_tf/training/run.py",
                   "biogans_tf/export/from_torch.py", "biogans_tf/serving/server.py", *static]:  # fmt: skip
        assert needed in names, needed
    # One top-level package: the checkout's training/, export/, serving/ entry points stay out of
    # site-packages, where they would collide with another project's.
    top = {n.split("/", 1)[0] for n in names if not n.startswith("biogans_tf-")}
    assert top == {"biogans_tf"}, top
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(meta).decode()
    assert all(f"{name} = {target}" in entry_points for name, target in SCRIPTS.items())
    assert any(n.endswith("licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    # The dependencies come from the test interpreter's site-packages (a .pth line), not the network.
    with open(os.path.join(purelib, "test-deps.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    vpy = str(venv / "bin" / "python")
    p = subprocess.run(
        [sys.executable, "-m", "pip", "--python", vpy, "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    for script in ("biogans-train", "biogans-serve", "biogans-data"):
        p = subprocess.run([str(venv / "bin" / script), "--help"], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert p.returncode == 0 and p.stdout, f"{script}: {p.stderr[-1000:]}"
    p = subprocess.run(
        [vpy, "-c", "import biogans_tf, biogans_tf.serving.explorer as e, os; print(biogans_tf.__file__); "
         "print(os.path.isfile(os.path.join(os.path.dirname(e.__file__), 'static', 'index.html')))"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-1000:]
    installed, has_static = p.stdout.split()
    assert installed.startswith(str(venv)) and has_static == "True"

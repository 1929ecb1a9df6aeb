"""The Bazel BUILD files cover the tree: every test file has a py_test, and nothing is stale.

Runs under plain pytest and under ``bazel test`` alike. Under Bazel this file is a symlink into
the source tree, so resolving it finds the real checkout, where a test file added without a BUILD
target (invisible to Bazel's runfiles) can still be seen.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import gen_build

ROOT = Path(__file__).resolve().parents[1]


def _py_tests(build_file: Path) -> dict[str, dict]:
    """Parse a BUILD file (Starlark is Python syntax here) into ``{name: attrs}`` of its py_test rules."""
    tree = ast.parse(build_file.read_text(), filename=str(build_file))
    rules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "py_test":
            attrs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
            rules[attrs["name"]] = attrs
    return rules


def _test_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "tests").rglob("test_*.py") if "__pycache__" not in p.parts)


def test_top_level_build_and_workspace_exist():
    for name in ("BUILD", "WORKSPACE", ".bazelrc", ".bazelignore", ".bazelversion"):
        assert (ROOT / name).is_file(), f"{name} is missing from the workspace root {ROOT}"
    # Debian's /usr/bin/bazel wrapper runs /usr/bin/bazel-<version>; the package installs bazel-4.
    assert (ROOT / ".bazelversion").read_text().strip() == "4"
    assert (
        "pyproject.toml" in (ROOT / "BUILD").read_text()
    ), "//:pyproject.toml (pytest config) is not exported"


def test_every_test_file_has_a_py_test_target():
    files = _test_files(ROOT)
    assert ROOT / "tests" / "test_bazel_targets.py" in files
    missing = []
    for path in files:
        build = path.parent / "BUILD"
        rules = _py_tests(build) if build.exists() else {}
        rule = rules.get(path.stem)
        if (
            rule is None
            or path.name not in rule.get("srcs", [])
            or rule.get("args") != [f"$(rootpath {path.name})"]
        ):
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"test files without a matching py_test (run `python tools/gen_build.py`): {missing}"


def test_build_files_are_up_to_date():
    problems = gen_build.diff(ROOT)
    assert not problems, "BUILD files differ from the tree (run `python tools/gen_build.py`):\n" + "\n".join(
        problems
    )


def _copy_checkout(dst: Path) -> Path:
    """Copy the Python sources, BUILD files and workspace files of the checkout (not .venv/runs)."""
    for name in ("WORKSPACE", ".bazelignore", "pyproject.toml"):
        shutil.copy(ROOT / name, dst / name)
    for top in ("biogans_tf", "tests", "tools"):
        shutil.copytree(ROOT / top, dst / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


@pytest.mark.e2e
def test_check_catches_a_test_without_target_and_generation_fixes_it(tmp_path):
    root = _copy_checkout(tmp_path)
    gen_build.write(root)
    assert gen_build.diff(root) == []
    new = root / "tests" / "zz_new" / "test_fresh.py"
    new.parent.mkdir()
    (new.parent / "__init__.py").write_text("")
    body = (
        "import numpy as np\n\nfrom biogans_tf.data import cellset\n\n\ndef test_x():\n    assert cellset\n"
    )
    new.write_text(body)
    assert "tests/zz_new/BUILD: missing" in gen_build.diff(root)
    cli = [sys.executable, str(ROOT / "tools" / "gen_build.py"), "--root", str(root), "--check"]
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 1

    gen_build.write(root)
    rule = _py_tests(root / "tests" / "zz_new" / "BUILD")["test_fresh"]
    # numpy and biogans_tf.data.cellset, but importing biogans_tf runs its __init__, whose Keras
    # registration names the model modules (loaded once Keras is): the closure holds TensorFlow.
    assert rule["size"] == "medium" and rule["tags"] == ["tf"]
    assert "//biogans_tf/data" in rule["deps"] and ":zz_new" in rule["deps"]
    assert rule["main"] == "//tests:bazel_pytest_main.py"
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 0

    # Removing the folder's Python files makes its generated BUILD stale; writing removes it.
    shutil.rmtree(new.parent / "__pycache__", ignore_errors=True)
    new.unlink()
    (new.parent / "__init__.py").unlink()
    assert "tests/zz_new/BUILD: stale (its folder has no Python files)" in gen_build.diff(root)
    gen_build.write(root)
    assert not (new.parent / "BUILD").exists()


def test_generator_refuses_to_overwrite_hand_written_build(tmp_path):
    root = _copy_checkout(tmp_path)
    (root / "tools" / "BUILD").write_text("# hand-written\n")
    with pytest.raises(SystemExit, match="tools/BUILD is hand-written"):
        gen_build.write(root)
    assert (root / "tools" / "BUILD").read_text() == "# hand-written\n"


def test_import_cycle_between_packages_becomes_no_bazel_cycle(tmp_path):
    root = tmp_path
    (root / "WORKSPACE").write_text("")
    for pkg, body in {"a": "from b import y\n", "b": "import a\n"}.items():
        (root / pkg).mkdir()
        (root / pkg / "__init__.py").write_text(body)
    (root / "a" / "cli.py").write_text("import a\n\nif __name__ == '__main__':\n    pass\n")
    builds = gen_build.render(root)
    assert "deps" not in builds["a/BUILD"].split("py_library(")[1].split(")")[0]
    entry = builds["a/BUILD"].split("py_entry_point(")[1]
    assert '"//b"' in entry and '":a"' in entry  # the binary still gets both sides of the cycle


def _run_pytest_main(tmp_path: Path, body: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_case.py").write_text(body)
    cmd = [sys.executable, str(ROOT / "tests" / "bazel_pytest_main.py"), "test_case.py", *extra]
    # Under `bazel test` this test's own TEST_TMPDIR holds tmp_path; the inner run must not use it.
    env = {k: v for k, v in os.environ.items() if k != "TEST_TMPDIR"}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_pytest_main_exit_codes(tmp_path):
    slow_only = "import pytest\n\n\n@pytest.mark.slow\ndef test_s():\n    pass\n"
    # A file whose tests are all deselected (e.g. only slow tests) passes ...
    done = _run_pytest_main(tmp_path, slow_only, "-m", "not slow")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deselected" in done.stdout
    # ... a file with no tests at all does not, and neither does a failing test.
    assert _run_pytest_main(tmp_path, "X = 1\n").returncode == 5
    failed = _run_pytest_main(tmp_path, "def test_f():\n    assert 1 == 2\n")
    assert failed.returncode == 1 and "1 failed" in failed.stdout
    missing = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bazel_pytest_main.py"), "nope.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "nope.py" in missing.stderr


@pytest.mark.e2e
def test_subprocess_module_strings_and_tensorflow_set_deps_and_size(tmp_path):
    root = tmp_path
    (root / "WORKSPACE").write_text("")
    for folder in ("a", "training", "tests", "tests/training"):
        (root / folder).mkdir()
        (root / folder / "__init__.py").write_text("")
    (root / "a" / "cli.py").write_text(
        "import tensorflow as tf\n\nif __name__ == '__main__':\n    print(tf)\n"
    )
    (root / "training" / "run.py").write_text("import a.cli\n")
    (root / "tests" / "test_cli.py").write_text(
        "import subprocess, sys\n\ndef test_cli():\n    subprocess.run([sys.executable, '-m', 'a.cli'])\n"
    )
    (root / "tests" / "training" / "test_run.py").write_text("from training import run\n")
    builds = gen_build.render(root)
    cli = builds["tests/BUILD"].split('name = "test_cli"')[1]
    assert '"//a"' in cli and 'size = "medium"' in cli and '"tf"' in cli
    run = builds["tests/training/BUILD"].split('name = "test_run"')[1]
    assert 'size = "large"' in run and '"//training"' in run
    assert 'module = "a.cli"' in builds["a/BUILD"]

"""Entry point of every Bazel ``py_test``: run pytest on one test file, exit with pytest's code.

The generated BUILD files (tools/gen_build.py) give each ``tests/**/test_*.py`` a ``py_test``
whose ``main`` is this file and whose first argument is the test file's runfiles path, so
``bazel test //...`` runs exactly the tests ``pytest`` runs, with the same configuration
(``pyproject.toml`` is a data dependency, so its ``addopts``, markers and filters apply).
Extra arguments are passed on to pytest, e.g. ``bazel test //tests/... --test_arg=-m --test_arg=slow``.

Usage (what Bazel runs):
    bazel_pytest_main.py tests/data/test_cellset.py [pytest options...]
"""

from __future__ import annotations

import os
import sys

# pytest's exit code when every collected test was deselected (a file of only slow tests).
NO_TESTS_COLLECTED = 5


class _Deselections:
    """pytest plugin that counts deselected tests, to tell "all slow" from "no tests at all"."""

    def __init__(self) -> None:
        self.deselected = 0

    def pytest_deselected(self, items) -> None:
        self.deselected += len(items)


def main(argv: list[str]) -> int:
    """Run pytest on ``argv[0]`` with the remaining arguments; return the process exit code.

    Args:
      argv: ``[test_file, *pytest_args]``; ``test_file`` is relative to the runfiles root, which
        is the working directory Bazel runs tests in.

    Returns:
      pytest's exit code, except that a file whose tests were all deselected (e.g. only
      ``@pytest.mark.slow`` tests) counts as passing.
    """
    if not argv or not argv[0].endswith(".py"):
        print(f"bazel_pytest_main: expected a test file as first argument, got {argv!r}", file=sys.stderr)
        return 2
    if not os.path.isfile(argv[0]):
        print(f"bazel_pytest_main: test file {argv[0]!r} not found under {os.getcwd()}", file=sys.stderr)
        return 2

    import pytest

    # -n 0: one test file per target, in this process (the suite's -n 2 is for a whole run).
    args = [argv[0], "-q", "-p", "no:cacheprovider", "-n", "0", *argv[1:]]
    tmp = os.environ.get("TEST_TMPDIR")
    if tmp:
        # Bazel gives each test a private scratch folder; keep pytest's tmp_path and the caches of
        # matplotlib / Keras there instead of a read-only $HOME or the shared /tmp.
        args.append(f"--basetemp={os.path.join(tmp, 'pytest')}")
        os.environ.setdefault("MPLCONFIGDIR", os.path.join(tmp, "matplotlib"))
        os.environ.setdefault("KERAS_HOME", os.path.join(tmp, "keras"))
    counter = _Deselections()
    code = int(pytest.main(args, plugins=[counter]))
    if code == NO_TESTS_COLLECTED and counter.deselected:
        print(f"bazel_pytest_main: all {counter.deselected} test(s) in {argv[0]} were deselected; passing")
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

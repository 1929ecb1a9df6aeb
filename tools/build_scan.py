"""The source-tree analysis behind tools/gen_build.py: packages, imports, import cycles.

`scan` finds every folder that becomes a Bazel package; `analyse` parses each Python file's
imports into the package folders and project files it loads; `cyclic` and `closure` work on the
resulting package graph (Bazel forbids cyclic deps, so the renderer drops edges on cycles).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

TESTS_DIR = "tests"
# Folders never scanned, besides hidden ones, bazel-* output links and .bazelignore entries.
SKIP_DIRS = {"__pycache__", "third_party", "node_modules"}
# Third-party modules that make a test load TensorFlow (seconds of import, several threads).
HEAVY_MODULES = {"tensorflow", "keras", "tensorflow_datasets", "tensorflow_probability", "torch", "tf_keras"}
SKIP_FILE_SUFFIXES = (".pyc", ".pyo", ".swp", "~")


@dataclasses.dataclass
class Package:
    """One folder that becomes a Bazel package.

    Attributes:
      rel: path relative to the workspace root, "/"-separated ("" for the root).
      sources: non-test ``.py`` file names in the folder (sorted).
      tests: ``test_*.py`` file names (only under ``tests/``; sorted).
      data: non-Python files of the folder and of its non-package subfolders, relative to it.
      bzl: ``.bzl`` file names in the folder (exported for ``load``).
    """

    rel: str
    sources: list[str]
    tests: list[str]
    data: list[str]
    bzl: list[str]

    @property
    def name(self) -> str:
        """The library's target name: the folder's base name."""
        return self.rel.rsplit("/", 1)[-1] if self.rel else "root"

    @property
    def label(self) -> str:
        """Absolute label of the package's library, in short form when it matches the folder."""
        return f"//{self.rel}" if self.rel else "//:root"

    @property
    def is_tests(self) -> bool:
        return self.rel == TESTS_DIR or self.rel.startswith(TESTS_DIR + "/")


def ignored_dirs(root: Path) -> set[str]:
    """Workspace-relative folders listed in ``.bazelignore`` (Bazel would not see them either)."""
    path = root / ".bazelignore"
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip().strip("/") for line in path.read_text().splitlines())
    return {line for line in lines if line}


def skip_dir(rel: str, name: str, ignored: set[str]) -> bool:
    return name.startswith(".") or name.startswith("bazel-") or name in SKIP_DIRS or rel in ignored


def scan(root: Path) -> dict[str, Package]:
    """Find every folder with Python files; return them keyed by workspace-relative path."""
    ignored = ignored_dirs(root)
    found: dict[str, Package] = {}

    def visit(folder: Path, rel: str, owner: Package | None) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        files = [p for p in entries if p.is_file() and not p.is_symlink()]
        py = [p.name for p in files if p.suffix == ".py"]
        package = owner
        if py or not rel:  # the root is always a package (it holds the top-level BUILD)
            in_tests = rel == TESTS_DIR or rel.startswith(TESTS_DIR + "/")
            tests = [n for n in py if in_tests and n.startswith("test_")]
            package = Package(rel, [n for n in py if n not in tests], tests, [], [])
            package.bzl = [p.name for p in files if p.suffix == ".bzl"]
            found[rel] = package
        for p in files:
            if p.suffix in (".py", ".bzl") or p.name in ("BUILD", "BUILD.bazel") or p.name.startswith("."):
                continue
            if p.name.endswith(SKIP_FILE_SUFFIXES) or package is None:
                continue
            package.data.append(p.relative_to(root / package.rel).as_posix() if package.rel else p.name)
        for p in entries:
            sub_rel = f"{rel}/{p.name}" if rel else p.name
            if p.is_dir() and not p.is_symlink() and not skip_dir(sub_rel, p.name, ignored):
                visit(p, sub_rel, package if rel else None)

    visit(root, "", None)
    return found


def module_name(rel_file: str) -> str:
    parts = rel_file[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def module_index(packages: dict[str, Package]) -> dict[str, str]:
    """Map every project module name (``biogans_tf.data.cellset``) to its package's folder."""
    index: dict[str, str] = {}
    for rel, package in packages.items():
        for name in package.sources + package.tests:
            index[module_name(f"{rel}/{name}" if rel else name)] = rel
    return index


def imported_modules(path: Path, module: str) -> tuple[set[str], set[str], bool]:
    """Parse a file's imports.

    Args:
      path: the ``.py`` file.
      module: its dotted module name (used to resolve relative imports).

    Returns:
      (absolute module names it may import; string constants that look like module names or
      ``.py`` paths, e.g. ``"training.run"`` in ``[sys.executable, "-m", "training.run"]``, as
      dotted names; whether it has an ``if __name__ == "__main__":`` block).
    """
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as err:
        raise SystemExit(f"gen_build: cannot parse {path}: {err}") from err
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    strings: set[str] = set()
    has_main = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            text = node.value.strip()
            if text.endswith(".py") and "/" in text and " " not in text:
                strings.add(text[: -len(".py")].replace("/", "."))
            elif "." in text and all(part.isidentifier() for part in text.split(".")):
                strings.add(text)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                # `from ..x import y` inside a.b.c (or a.b.c/__init__.py) -> a.x (or a.b.x ...).
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            if base:
                names.add(base)
                # `from pkg import name` may import the submodule pkg.name.
                names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            has_main = True
    return names, strings, has_main


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _resolve(name: str, index: dict[str, str]) -> str | None:
    """The package folder providing module ``name`` (or its longest known prefix), else None."""
    parts = name.split(".")
    while parts:
        hit = index.get(".".join(parts))
        if hit is not None:
            return hit
        parts.pop()
    return None


@dataclasses.dataclass
class FileInfo:
    deps: set[str]  # package folders imported
    files: set[str]  # project files imported (with the __init__.py files Python runs first)
    heavy: bool  # imports a HEAVY_MODULES library directly
    has_main: bool


def analyse(root: Path, packages: dict[str, Package]) -> dict[str, FileInfo]:
    index = module_index(packages)
    file_of: dict[str, str] = {}  # module name -> workspace-relative file
    for rel, package in packages.items():
        for name in package.sources + package.tests:
            rel_file = f"{rel}/{name}" if rel else name
            file_of[module_name(rel_file)] = rel_file

    def files_for(name: str) -> set[str]:
        parts = name.split(".")
        while parts and ".".join(parts) not in file_of:
            parts.pop()
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        return {file_of[m] for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in file_of}

    info: dict[str, FileInfo] = {}
    for rel, package in packages.items():
        for name in package.sources + package.tests:
            rel_file = f"{rel}/{name}" if rel else name
            names, strings, has_main = imported_modules(root / rel_file, module_name(rel_file))
            # Modules named in strings (run in a subprocess, imported by name) count only when
            # they name a project module exactly.
            names |= {n for n in strings if n in file_of}
            deps = {d for d in (_resolve(n, index) for n in names) if d is not None}
            files = set().union(*(files_for(n) for n in names)) if names else set()
            heavy = any(n.split(".")[0] in HEAVY_MODULES for n in names)
            info[rel_file] = FileInfo(deps, files - {rel_file}, heavy, has_main)
    return info


def file_closure(start: str, info: dict[str, FileInfo]) -> set[str]:
    """Every project file that importing ``start`` may load (module-level, not package-level)."""
    return closure({start}, {f: i.files for f, i in info.items()})


def parent_package(rel: str, packages: dict[str, Package]) -> str | None:
    """The nearest enclosing package folder that Python imports first (has ``__init__.py``)."""
    if "/" not in rel:
        return None
    parent = rel.rsplit("/", 1)[0]
    if parent in packages and "__init__.py" in packages[parent].sources:
        return parent
    return None


def cyclic(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Edges lying on a cycle (both ends in one strongly connected component; Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}
    counter = [0, 0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component[w] = counter[1]
                if w == v:
                    break
            counter[1] += 1

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return {(a, b) for a, targets in graph.items() for b in targets if component[a] == component[b]}


def closure(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph.get(v, ()))
    return seen

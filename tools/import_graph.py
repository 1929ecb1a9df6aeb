"""The project's import graph, every import counted; its circles and layers: `python tools/import_graph.py`.

Counts what a module may import: module-level and function-level `import` statements, and strings
that name a project module (`"biogans_tf.models.archs:STAR"` registry targets, `-m training.run`
commands, `importlib` names). `from pkg import name` counts `pkg.name` when that is a module, else
`pkg` (Python runs a package's `__init__` before its submodules, which is no circle). Prints each
circle (a strongly connected set of modules) and exits 1 if there is one, for every top-level
package of the checkout (biogans_tf, training, export, serving, benchmarks, scripts, tools).

It also checks the layers of docs/DESIGN.md (`LAYERS`): a library module imports (by `import`
statement) only modules of its own or a lower layer. Registry target strings are lazy references
and do not count there; `biogans_tf/__init__.py`'s `load_generator` is the package's front door
and may forward to the loader.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python tools/import_graph.py`: the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import build_scan  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("biogans_tf", "training", "export", "serving", "benchmarks", "scripts", "tools")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every `.py` file of the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _string_target(text: str) -> str | None:
    """The module a string names: `"pkg.mod"` or `"pkg.mod:attribute"` (a bare word is not one)."""
    name = text.split(":", 1)[0] if text.count(":") == 1 else text
    dotted = "." in name and all(p.isidentifier() for p in name.split("."))
    return name if dotted else None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `module` may import (see the module docstring)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts and ".".join(parts) != module:
            out.add(".".join(parts))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            name = _string_target(node.value.strip())
            if name and name in known:
                add(name)
    return out


# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS = (
    ("foundation", ("biogans_tf.conventions", "biogans_tf.named", "biogans_tf.registries",
                    "biogans_tf.options", "biogans_tf.io_utils", "biogans_tf.failure", "biogans_tf.cpu",
                    "biogans_tf.progress", "biogans_tf.viz", "biogans_tf.tiff",
                    "biogans_tf.keras_registration", "biogans_tf.data.errors", "biogans_tf.runs",
                    "biogans_tf.runs.folder")),
    ("data", ("biogans_tf.data",)),
    ("models", ("biogans_tf.models",)),
    ("losses", ("biogans_tf.losses",)),
    ("trainer", ("biogans_tf.trainer",)),
    ("eval", ("biogans_tf.eval",)),
    ("loader", ("biogans_tf.runs.generator",)),
    ("export", ("biogans_tf.export",)),
    ("serving", ("biogans_tf.serving",)),
    # The programs: flags -> options -> library calls (their modules may hold library functions too).
    ("command line", ("biogans_tf.cli", "biogans_tf.training", "biogans_tf.export.saved_model",
                      "biogans_tf.export.from_torch", "biogans_tf.serving.server",
                      "biogans_tf.serving.client")),
    ("front door", ("biogans_tf",)),
)  # fmt: skip


def layer(module: str) -> int | None:
    """Index into `LAYERS` of a `biogans_tf` module (None for modules outside the package)."""
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (i, len(prefix))
    return None if best is None else best[0]


def statement_imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `module` imports by `import` statements (any level; no strings)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]  # fmt: skip
        for name in names:
            parts = name.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != module:
                out.add(".".join(parts))
    return out


def layer_violations(root: Path = ROOT) -> list[str]:
    """`"a (layer) imports b (higher layer)"` for each upward import inside `biogans_tf`."""
    known = modules(root)
    found = []
    for module, path in sorted(known.items()):
        here = layer(module)
        if here is None or module == "biogans_tf":
            continue
        for target in sorted(statement_imports(module, path, known)):
            there = layer(target)
            if there is not None and there > here:
                found.append(f"{module} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: imports_of(m, p, known) for m, p in known.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: sets of modules that import each other, directly or not (sorted).

    `build_scan.cyclic` (the BUILD generator's Tarjan) gives the edges that lie on a cycle; the
    modules they connect form the circles.
    """
    group = {}

    def root(v: str) -> str:
        while group.get(v, v) != v:
            v = group[v]
        return v

    for a, b in build_scan.cyclic(g):
        group.setdefault(a, a)
        group.setdefault(b, b)
        group[root(a)] = root(b)
    found: dict[str, list[str]] = {}
    for v in group:
        found.setdefault(root(v), []).append(v)
    return sorted(sorted(c) for c in found.values() if len(c) > 1)


def main() -> int:
    found = circles(graph())
    for component in found:
        print("import circle: " + " <-> ".join(component))
    if not found:
        print(f"no import circle in {', '.join(PACKAGES)}")
    upward = layer_violations()
    for line in upward:
        print("upward import: " + line)
    if not upward:
        print("no library module imports a higher layer (" + " < ".join(n for n, _ in LAYERS) + ")")
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main())

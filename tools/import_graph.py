"""The project's import graph, every import counted, and its circles: `python tools/import_graph.py`.

Counts what a module may import: module-level and function-level `import` statements, and strings
that name a project module (`"biogans_tf.models.archs:STAR"` registry targets, `-m training.run`
commands, `importlib` names). `from pkg import name` counts `pkg.name` when that is a module, else
`pkg` (Python runs a package's `__init__` before its submodules, which is no circle). Prints each
circle (a strongly connected set of modules) and exits 1 if there is one, for every top-level
package of the checkout (biogans_tf, training, export, serving, benchmarks, scripts, tools).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

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


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: imports_of(m, p, known) for m, p in known.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of more than one module (or a module importing itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(found)


def main() -> int:
    found = circles(graph())
    for component in found:
        print("import circle: " + " <-> ".join(component))
    if not found:
        print(f"no import circle in {', '.join(PACKAGES)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

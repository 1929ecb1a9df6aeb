"""The house rules, read from the code itself: no import circle, layers only downward, one module
that spells the run folder's file names, a command-line layer the library never imports, and a
place in docs/DESIGN.md for every file."""

import ast
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tools import import_graph

REPO = Path(ROOT)


def test_no_import_circle_counting_function_level_imports_and_registry_strings():
    graph = import_graph.graph()
    assert import_graph.circles(graph) == []
    # The graph does see what a circle would be made of: a registry's lazy target, a program
    # started by name, a function-level import.
    assert "biogans_tf.models.archs" in graph["biogans_tf.registries"]
    assert "biogans_tf.training.run" in graph["training.run"]
    assert "biogans_tf.runs.generator" in graph["biogans_tf"]


def test_circle_detection_finds_a_circle():
    assert import_graph.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_library_layers_import_only_downward():
    assert import_graph.layer_violations() == []


def test_the_library_never_imports_the_command_line_layer():
    library = ("data", "models", "losses", "trainer", "eval", "runs")
    known = import_graph.modules()
    for module, path in known.items():
        if module.split(".")[:2][-1] in library and module.startswith("biogans_tf."):
            imported = import_graph.statement_imports(module, path, known)
            assert not {
                m for m in imported if m == "biogans_tf.cli" or m.startswith("biogans_tf.training")
            }, module


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_bytes())) if isinstance(n, ast.Constant)}


def test_the_run_folder_file_names_are_spelled_in_one_module():
    files = [p for p in REPO.glob("biogans_tf/**/*.py")] + [p for p in REPO.glob("scripts/*.py")]
    spelling = {p.relative_to(REPO).as_posix() for p in files if "config.json" in _string_literals(p)}
    assert spelling == {"biogans_tf/runs/folder.py"}


def test_every_file_has_a_place_in_design_md():
    design = (REPO / "docs" / "DESIGN.md").read_text()
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout
    files = [rel for rel in tracked.split() if not rel.startswith(("tests/", "third_party/"))]
    missing = [rel for rel in files if not rel.endswith("__init__.py") and f"`{rel}`" not in design]
    assert missing == []

"""The core's imports, read from its source (AST; module-level and function-level alike): no cycle,
and nothing from the experiments, TensorFlow/Keras or the book."""

from __future__ import annotations

from pathlib import Path

import pytest

from import_graph import cycles, graph, imported_modules

CORE = Path(__file__).resolve().parents[1] / "cca_core"
FORBIDDEN = ("cca_core.experiments", "tensorflow", "keras", "book")


def core_files() -> list[Path]:
    return [p for p in sorted(CORE.rglob("*.py")) if "experiments" not in p.relative_to(CORE).parts]


def test_the_core_has_no_import_cycle():
    edges = graph(CORE)
    core = {m: {t for t in e if not t.startswith("cca_core.experiments")} for m, e in edges.items()
            if not m.startswith("cca_core.experiments")}
    assert "cca_core.moments" in core and "cca_core.pairs" in core["cca_core"]  # the graph was read
    assert cycles(core) == []


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_imports_no_experiments_tensorflow_or_book(path):
    bad = [(mod, line) for mod, _, line in imported_modules(path, CORE)
           if any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.name} imports {bad}"


def test_the_graph_sees_function_level_imports_and_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    edges = graph(pkg)
    assert edges["pkg.b"] == {"pkg.a"} and edges["pkg.c"] == {"pkg.a"}
    assert cycles(edges) == [["pkg.a", "pkg.b"]]

"""The package's arrows, read from the source (AST): what may import what.

- the core (``cca_core`` outside ``experiments``) imports nothing from ``cca_core.experiments``, the book,
  TensorFlow or Keras;
- the experiments import no private (``_``-prefixed) module or name of the core;
- the experiments' rooms point down: report -> verdicts -> analysis -> training -> the base modules
  (paths, files, cluster), never up or sideways into a higher room;
- the notebooks import ``cca_core`` only through its two facades, ``cca_core`` and ``cca_core.experiments``;
- no import cycle among the modules of ``cca_core`` (imports inside functions count; imports under
  ``if TYPE_CHECKING:`` do not, they never run).

Each rule is also run on a small synthetic package that breaks it, so that the checks can fail.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cca_core"
NOTEBOOKS = ROOT / "notebooks"

#: Rooms of the experiments, lowest first: a module may import its own room and the rooms below.
ROOMS = ("base", "training", "analysis", "verdicts", "report")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(source: str, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` for every import that runs (anywhere in the file,
    except under ``if TYPE_CHECKING:``), relative imports resolved against ``module``."""
    out: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, None) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.extend((target, a.name) for a in child.names)
            visit(child)

    visit(ast.parse(source))
    return out


def import_graph(root: Path, package: str = "cca_core") -> dict[str, list[tuple[str, str | None]]]:
    """Module -> its imports, for every ``.py`` file of ``root/package``."""
    graph = {}
    for path in sorted((root / package).rglob("*.py")):
        name = module_name(path, root)
        graph[name] = imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return graph


def _resolve(target: str, name: str | None, modules: set[str]) -> str | None:
    """The module of ``cca_core`` that an import loads (``from pkg import submodule`` loads the submodule)."""
    if name and f"{target}.{name}" in modules:
        return f"{target}.{name}"
    return target if target in modules else None


def cycles(graph: dict[str, list[tuple[str, str | None]]]) -> list[list[str]]:
    """Import cycles among the modules of ``graph`` (a package's ``__init__`` importing its own
    submodules is not a cycle through the package: submodules importing the package name only are
    ignored, since ``import a.b`` runs ``a`` first anyway)."""
    modules = set(graph)
    edges = {m: sorted({r for t, n in graph[m] if (r := _resolve(t, n, modules)) and r != m
                        and not m.startswith(r + ".")}) for m in graph}
    found, state, stack = [], {}, []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                dfs(n)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            dfs(m)
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["cca_core", "experiments"] or len(parts) == 2:
        return None  # the core, or the facade (which may import every room, lazily)
    return parts[2] if parts[2] in ROOMS else "base"


def violations(graph: dict[str, list[tuple[str, str | None]]]) -> list[str]:
    """Every broken rule of the module docstring (cycles aside), one line each."""
    bad = []
    for m, deps in graph.items():
        core = not m.startswith("cca_core.experiments")
        for target, name in deps:
            top = target.split(".")[0]
            if core and (target.startswith("cca_core.experiments") or top in {"tensorflow", "keras", "book"}):
                bad.append(f"{m}: the core imports {target}")
            if not core and target.startswith("cca_core") and not target.startswith("cca_core.experiments"):
                private = [p for p in target.split(".")[1:] if p.startswith("_")]
                if private or (name or "").startswith("_"):
                    bad.append(f"{m}: imports the core's private {target}{'.' + name if name else ''}")
            src, dst = room(m), room(target if target != "cca_core.experiments" or not name
                                      else f"{target}.{name}")
            if src and dst and ROOMS.index(dst) > ROOMS.index(src):
                bad.append(f"{m} ({src}) imports {target} ({dst}), a room above it")
    return bad


def notebook_violations(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for target, _ in imports(source, "__main__", False):
                if target.startswith("cca_core") and target not in {"cca_core", "cca_core.experiments"}:
                    bad.append(f"{path.name}: imports {target} past the facades")
    return bad


# ------------------------------------------------------------------------------------------ the project


def test_the_core_and_the_rooms_keep_their_arrows():
    assert violations(import_graph(ROOT)) == []


def test_no_import_cycle():
    assert cycles(import_graph(ROOT)) == []


def test_notebooks_import_only_the_facades():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert paths
    assert notebook_violations(paths) == []


def test_every_module_is_seen():
    graph = import_graph(ROOT)
    assert {"cca_core.measures", "cca_core.experiments.training.cnn", "cca_core.experiments.report.tables"} <= set(graph)


# ------------------------------------------------------------------------- the checks on broken packages


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / "cca_core" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_checks_find_a_cycle_even_through_a_function_level_import(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from .b import f\n",
                               "b.py": "def f():\n    from . import a\n",
                               "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"})
    found = cycles(import_graph(root))
    assert found and set(found[0]) == {"cca_core.a", "cca_core.b"}


@pytest.mark.parametrize("rel, text, message", [
    ("pairs.py", "import tensorflow as tf\n", "the core imports tensorflow"),
    ("pairs.py", "from cca_core.experiments.training import cnn\n", "the core imports cca_core.experiments"),
    ("experiments/analysis/x.py", "from cca_core.stats import _check_seed\n", "private cca_core.stats._check_seed"),
    ("experiments/analysis/x.py", "from ..._threads import single_blas_thread\n", "private cca_core._threads"),
    ("experiments/training/x.py", "from ..analysis import compare\n", "a room above it"),
    ("experiments/analysis/x.py", "from cca_core.experiments.verdicts.findings import Evidence\n", "a room above it"),
    ("experiments/paths.py", "from .report.tables import show_table\n", "a room above it"),
])
def test_checks_find_each_broken_rule(tmp_path, rel, text, message):
    files = {"__init__.py": "", "experiments/__init__.py": "", rel: text}
    assert any(message in v for v in violations(import_graph(_package(tmp_path, files))))


def test_checks_find_a_notebook_importing_past_the_facade(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n", "from cca_core.experiments.training.cnn import train\n"]},
                    {"cell_type": "code", "source": ["from cca_core.experiments import train\n", "import cca_core\n"]}]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert notebook_violations([path]) == ["x.ipynb: imports cca_core.experiments.training.cnn past the facades"]


if __name__ == "__main__":  # python tests/test_architecture.py: the rules' state, for a closing note
    found = import_graph(ROOT)
    print(f"{len(found)} modules; cycles: {cycles(found) or 'none'}")
    print("broken rules:", *(violations(found) + notebook_violations(sorted(NOTEBOOKS.glob('*.ipynb'))) or ["none"]),
          sep="\n  ")

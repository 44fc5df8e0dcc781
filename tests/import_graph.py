"""The import graph of a package read from its source (AST): every import, module-level or inside a function.

``python tests/import_graph.py [package_dir]`` (default ``cca_core``, its top-level modules only, the
core) prints each module's imports within the package and the cycles among them ("cycles: none"
when there are none); exit status 1 when there is a cycle. :mod:`test_core_imports` asserts the same.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """``cca_core/stats/networks.py`` -> ``cca_core.stats.networks`` (``__init__`` is its package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> list[tuple[str, list[str] | None, int]]:
    """``(absolute module, names or None, line)`` of every import in ``path``, relative ones resolved:
    ``import m`` gives ``(m, None)``, ``from m import a, b`` gives ``(m, [a, b])``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, list[str] | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((a.name, None, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def graph(root: Path, recursive: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (``root`` the package directory)."""
    files = sorted(root.rglob("*.py") if recursive else root.glob("*.py"))
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        if not recursive:  # a subpackage counts as one node (its __init__ and modules)
            files.extend(sorted(sub.rglob("*.py")))
    names = {module_name(f, root): f for f in files}

    def node(mod: str) -> str | None:
        if mod in names:
            return mod if recursive else _top(mod, root.name)
        return None

    edges: dict[str, set[str]] = {}
    for mod, f in names.items():
        src = mod if recursive else _top(mod, root.name)
        edges.setdefault(src, set())
        for mod_, what, _ in imported_modules(f, root):
            # ``from m import a``: the submodule m.a when there is one, else m itself.
            targets = [mod_] if what is None else [f"{mod_}.{a}" if f"{mod_}.{a}" in names else mod_ for a in what]
            for target in targets:
                dst = node(target)
                if dst is not None and dst != src:
                    edges[src].add(dst)
    return edges


def _top(mod: str, package: str) -> str:
    """``cca_core.stats.networks`` -> ``cca_core.stats``: subpackages of the core are one node."""
    parts = mod.split(".")
    return ".".join(parts[:2]) if parts[0] == package and len(parts) > 1 else mod


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1] / "cca_core")
    edges = graph(root)
    for mod in sorted(edges):
        if not mod.startswith(f"{root.name}.experiments"):  # the core (experiments: one node)
            print(f"{mod} -> {', '.join(sorted(edges[mod])) or '-'}")
    found = cycles(edges)
    print("cycles: " + ("none" if not found else "; ".join(" <-> ".join(c) for c in found)))
    for comp in found:  # the arrows that tie each group together
        print("  within: " + ", ".join(f"{a} -> {b}" for a in comp for b in sorted(edges[a]) if b in comp))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The notebook templates follow notebooks/README.md (their execution is checked by nbval in `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

TEMPLATES = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_template_layout(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "first cell must be a '# Title'"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [1], f"exactly one parameters cell, the second one; found at {tagged}"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i} has outputs: commit templates clean"
    assert any("report_findings(" in c.source and "findings_path" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_every_parameter_is_typed_and_seen_by_papermill(path: Path) -> None:
    """Each assignment of the parameters cell is annotated and papermill parses it (an '=' in a comment
    breaks papermill's parser, and then `pipeline.py run -p` would reject the parameter)."""
    papermill = pytest.importorskip("papermill")
    nb = nbformat.read(path, as_version=4)
    source = nb.cells[1].source
    assigned = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.AnnAssign), f"line {node.lineno}: parameters are written `name: type = value`"
        assigned[node.target.id] = ast.unparse(node.annotation)
    assert "findings_path" in assigned
    for line in source.splitlines():
        if ":" in line and "#" in line.split("=", 1)[-1]:
            assert "=" not in line.split("#", 1)[1], f"'=' in the comment of: {line!r}"
    seen = papermill.inspect_notebook(str(path))
    assert set(seen) == set(assigned), f"papermill sees {sorted(seen)}, the cell assigns {sorted(assigned)}"

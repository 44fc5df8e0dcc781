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


#: Parameters whose values are free: paths, names checked against the model, seeds (any integer).
FREE = {"cache_dir", "findings_path", "layer", "pair_layers"}
HIDDEN = {"remove-input", "hide-input", "remove-cell", "hide-cell"}


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_the_parameters_cell_states_every_rule_and_the_notebook_checks_it(path: Path) -> None:
    """Validation is the cell's comments (cca_core.experiments.report.parameters), not a block per template."""
    from cca_core.experiments.report.parameters import check_parameters, parse_parameters

    nb = nbformat.read(path, as_version=4)
    spec = parse_parameters(nb.cells[1].source)
    check_parameters({}, spec)  # the defaults obey the cell's own rules
    for p in spec.values():
        if p.name in FREE or p.name == "seed" or p.name.endswith("_seed") or p.kind == "bool":
            continue
        assert p.rules, f"{p.name}: its comment states no rule the checker can read: {p.comment!r}"
    first = next(c for c in nb.cells[2:] if c.cell_type == "code")
    assert "check_notebook_parameters()" in first.source, "the first code cell after the parameters checks them"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def _is_int" not in code and "literal_eval" not in code, "hand-written parameter checks remain"


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_pages_read_as_papers(path: Path) -> None:
    """Visible code (cells not hidden by a MyST-NB tag) is at most the prose; set-up and parameter
    cells are hidden; a Findings section precedes the Details."""
    nb = nbformat.read(path, as_version=4)
    code = prose = 0
    for cell in nb.cells:
        lines = sum(1 for line in cell.source.splitlines() if line.strip())
        if cell.cell_type == "markdown":
            prose += lines
        elif not HIDDEN & set(cell.metadata.get("tags", [])):
            code += lines
    assert code <= prose, f"{code} visible code lines for {prose} lines of prose"
    assert HIDDEN & set(nb.cells[1].metadata.get("tags", [])), "the parameters cell is hidden (the how-made box lists them)"
    headings = [line.strip() for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    assert "## Findings" in headings, headings
    if "## Details" in headings:
        assert headings.index("## Findings") < headings.index("## Details"), headings

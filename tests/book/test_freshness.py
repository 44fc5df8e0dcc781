"""Every executed page in book/ matches its template, its parameter set and the cca_core code.

When one of these tests fails, regenerate the page it names with
``python book/pipeline.py build --only <page>`` (or ``make book``) and commit the result.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import nbformat
import pytest

from pipeline_module import load_pipeline

PIPELINE = load_pipeline()
PAGES = PIPELINE.load_pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_is_fresh(page: object, pipeline: ModuleType) -> None:
    why = pipeline.staleness(page)
    assert not why, (f"book/{page.name}.ipynb is stale ({'; '.join(why)}); regenerate it with "
                     f"`python book/pipeline.py build --only {page.name}` and commit it")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_cells_are_the_templates(page: object) -> None:
    """Independent of the recorded hashes: the executed code and prose are the template's, cell by cell,
    with only papermill's injected-parameters cell and the pipeline's "How this page was made" cell
    (the last one, tagged how-made) added."""
    if not page.output_path.exists():
        pytest.fail(f"book/{page.name}.ipynb does not exist; run `python book/pipeline.py build --only {page.name}`")
    executed = nbformat.read(page.output_path, as_version=4)
    template = nbformat.read(page.template_path, as_version=4)
    # the page's own title, introduction and rerun hint (book/experiments.yml), as the pipeline puts them
    PIPELINE._prepare_for_book(template, page.template, page.name, page.heading)
    added = {"injected-parameters", PIPELINE.HOW_MADE_TAG}
    cells = [(c.cell_type, c.source) for c in executed.cells
             if not added & set(c.metadata.get("tags", []))]
    assert cells == [(c.cell_type, c.source) for c in template.cells], (
        f"book/{page.name}.ipynb's cells differ from {page.template_path.name}; regenerate the page")
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if page.parameters:
        assert len(injected) == 1, f"book/{page.name}.ipynb should have one injected-parameters cell"
        for key in page.parameters:
            assert f"{key} = " in injected[0].source, f"parameter {key} is not in book/{page.name}.ipynb"
    how_made = [c for c in executed.cells if PIPELINE.HOW_MADE_TAG in c.metadata.get("tags", [])]
    assert len(how_made) == 1 and how_made[0] is executed.cells[-1] and how_made[0].cell_type == "markdown", (
        f"book/{page.name}.ipynb should end with one 'How this page was made' cell; regenerate the page")
    recorded = executed.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):  # no build machine in the page
        assert not Path(str(recorded.get(key, ""))).is_absolute(), f"book/{page.name}.ipynb: papermill {key} is absolute"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_ran_without_errors(page: object) -> None:
    if not page.output_path.exists():
        pytest.skip("reported by test_page_cells_are_the_templates")
    executed = nbformat.read(page.output_path, as_version=4)
    for i, cell in enumerate(executed.cells):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"book/{page.name}.ipynb cell {i} holds an error: {out.get('ename')}"

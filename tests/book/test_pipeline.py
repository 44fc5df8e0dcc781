"""The papermill pipeline on tiny notebooks: skip-unchanged, failure handling, reruns, scorecard.

The pipeline's directories are module globals; each test points them at a temporary book.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

PARAMS = "scale: float = 1.0  # multiplies the answer\nfail: bool = False\nfindings_path: str = \"\""

BODY = """
from cca_core.experiments.findings import Finding, report_findings
if fail:
    raise ZeroDivisionError("asked to fail")
value = 2.0 * scale
report_findings([Finding("two times scale", "2", f"{value:g}", "reproduced" if value == 2 else "partly")],
                notebook="tiny", title="Tiny", scale=f"scale {scale:g}", path=findings_path)
"""


def make_template(path: Path, body: str = BODY) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def book(pipeline: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    root = tmp_path
    (root / "notebooks").mkdir()
    (root / "book").mkdir()
    make_template(root / "notebooks" / "tiny.ipynb")
    for name, value in {"ROOT": root, "BOOK": root / "book", "NOTEBOOKS": root / "notebooks",
                        "EXPERIMENTS": root / "book" / "experiments.yml", "FINDINGS": root / "book" / "findings",
                        "FAILED": root / "book" / "_failed", "RERUNS": root / "book" / "reruns",
                        "SCRATCH": root / "book" / "_build" / ".exec"}.items():
        monkeypatch.setattr(pipeline, name, value)
    write_pages(pipeline, {"tiny": {"template": "tiny", "parameters": {"scale": 1.0}}})
    return pipeline


def write_pages(pipeline: ModuleType, pages: dict) -> None:
    import yaml

    pipeline.EXPERIMENTS.write_text(yaml.safe_dump({"pages": pages}))


def test_build_executes_records_and_then_skips(book: ModuleType, capsys: pytest.CaptureFixture) -> None:
    (page,) = book.load_pages()
    assert book.staleness(page) == ["never executed"]
    book.build_pages([page])
    nb = nbformat.read(page.output_path, as_version=4)
    record = nb.metadata[book.METADATA_KEY]
    assert record["parameters"] == {"scale": 1.0}
    assert record["template_sha256"] == book.template_sha256(page.template_path)
    assert record["cca_core_sha256"] == book.code_sha256()
    findings = json.loads(page.findings_path.read_text())
    assert findings["findings"][0]["ours"] == "2"
    # parameter cells are hidden in the rendered book
    tags = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    assert any("injected-parameters" in t and book.HIDE_TAG in t for t in tags)
    assert book.staleness(page) == []
    mtime = page.output_path.stat().st_mtime_ns
    capsys.readouterr()
    book.build_pages([page])
    assert page.output_path.stat().st_mtime_ns == mtime
    assert "1 up to date, 0 to execute" in capsys.readouterr().err


def test_staleness_names_each_cause(book: ModuleType) -> None:
    (page,) = book.load_pages()
    book.build_pages([page])
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 3.0}}})
    (changed,) = book.load_pages()
    assert book.staleness(changed) == ["parameters in book/experiments.yml changed"]
    make_template(page.template_path, BODY + "\nprint('more')\n")
    assert book.staleness(changed) == ["template notebooks/tiny.ipynb changed", "parameters in book/experiments.yml changed"]
    assert book.staleness(page, code="0" * 64) == ["template notebooks/tiny.ipynb changed", "cca_core code changed"]
    page.findings_path.unlink()
    assert "missing" in book.staleness(page)[0]


def test_failure_names_cell_and_keeps_existing_pages(book: ModuleType) -> None:
    (page,) = book.load_pages()
    book.build_pages([page])
    before = page.output_path.read_bytes(), page.findings_path.read_bytes()
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 1.0, "fail": True}}})
    (failing,) = book.load_pages()
    with pytest.raises(book.PageFailed) as err:
        book.build_pages([failing])
    message = str(err.value)
    assert "tiny" in message and "cell" in message and "ZeroDivisionError: asked to fail" in message
    assert (page.output_path.read_bytes(), page.findings_path.read_bytes()) == before
    assert (book.FAILED / "tiny.ipynb").exists()


def test_run_writes_a_separate_page(book: ModuleType) -> None:
    (page,) = book.load_pages()
    out = book.BOOK / "reruns" / "x.ipynb"
    assert book.main(["run", "tiny", "-p", "scale=2.5", "-o", str(out)]) == 0
    assert not page.output_path.exists()
    assert json.loads(out.with_suffix(".json").read_text())["findings"][0]["ours"] == "5"
    assert nbformat.read(out, as_version=4).metadata[book.METADATA_KEY]["parameters"] == {"scale": 2.5}


def test_overrides_are_yaml_typed_and_checked(book: ModuleType) -> None:
    template = book.NOTEBOOKS / "tiny.ipynb"
    assert book.parse_overrides(["scale=3", "fail=true"], template) == {"scale": 3, "fail": True}
    with pytest.raises(book.UsageError, match="no parameter 'widht'.*scale"):
        book.parse_overrides(["widht=3"], template)
    with pytest.raises(book.UsageError, match="KEY=VALUE"):
        book.parse_overrides(["scale"], template)


def test_scorecard_lists_every_finding_with_its_chapter(book: ModuleType) -> None:
    (page,) = book.load_pages()
    book.build_pages([page])
    text = book.scorecard_markdown([page])
    assert "| two times scale | 2 | 2 | - | **reproduced** |" in text  # a finding without evidence
    assert "| Chapter | Reproduced | Partly | Not reproduced | Inconclusive |" in text
    assert "| [Tiny](tiny.ipynb) | 1 | 0 | 0 | 0 |" in text and "Scale: scale 1." in text
    assert "1 claims: 1 reproduced, 0 partly, 0 not reproduced, 0 inconclusive" in text


def test_scorecard_counts_inconclusive_and_renders_evidence(book: ModuleType) -> None:
    from cca_core.experiments.findings import Evidence, Finding, above, judge, report_findings, significant

    (page,) = book.load_pages()
    gap = Evidence("gap", 0.3, (0.2, 0.4), n={"networks": [5, 5], "pairs": 20})
    few = Evidence("sep", 0.1, p_value=0.1, min_p_value=0.1, n={"networks": [3, 3]})
    report_findings([Finding("c1", "p", f"{gap:.2f}", judge(above(gap, 0.0))),
                     Finding("c2", "p", "0.1", judge(significant(few)))],
                    notebook="tiny", title="Tiny", scale="s", path=page.findings_path)
    text = book.scorecard_markdown([page])
    assert "| [Tiny](tiny.ipynb) | 1 | 0 | 0 | 1 |" in text
    assert "2 claims: 1 reproduced, 0 partly, 0 not reproduced, 1 inconclusive" in text
    assert "0.30 [0.20, 0.40]" in text and "networks 5+5, pairs 20" in text
    assert "p = 0.1 (min 0.1)" in text and "smallest p-value this test can give is 0.1" in text


def test_experiments_yml_names_existing_templates(pipeline: ModuleType) -> None:
    pages = pipeline.load_pages()
    assert len({p.name for p in pages}) == len(pages)
    for p in pages:
        assert p.template_path.exists()


def test_figure_labels_are_unique_per_page(pipeline: ModuleType) -> None:
    """One template executed for two pages must not define the same figure label twice in the book."""
    def executed() -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("plot()")
        cell.metadata["mystnb"] = {"figure": {"name": "tiny-curve", "caption": "A curve."}}
        nb.cells = [cell]
        return nb

    same, other = executed(), executed()
    pipeline._prepare_for_book(same, "tiny", "tiny")
    pipeline._prepare_for_book(other, "tiny", "tiny_wikitext2")
    assert same.cells[0].metadata["mystnb"]["figure"]["name"] == "tiny-curve"
    assert other.cells[0].metadata["mystnb"]["figure"]["name"] == "tiny_wikitext2-curve"
    assert other.cells[0].metadata["mystnb"]["figure"]["caption"] == "A curve."

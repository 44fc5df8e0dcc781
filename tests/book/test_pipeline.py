"""The papermill pipeline on tiny notebooks: skip-unchanged, failure handling, reruns, scorecard.

The pipeline's directories are module globals; each test points them at a temporary book.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

PARAMS = "scale: float = 1.0  # multiplies the answer (> 0)\nfail: bool = False\nfindings_path: str = \"\""

BODY = """
from cca_core.experiments import Finding, report_findings
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


@pytest.mark.parametrize("argv", [["build"], ["run", "tiny"]])
def test_unreachable_scheduler_stops_before_any_work(book: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture, argv: list[str]) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("CCA_CORE_SCHEDULER", address)
    before = sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*"))
    capsys.readouterr()
    assert book.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and address in err and "CCA_CORE_SCHEDULER" in err
    assert sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*")) == before  # nothing executed or written


def overrides(book: ModuleType, template: Path, args: list[str], start: dict | None = None) -> dict:
    """What ``run`` executes ``template`` with: ``start`` updated by the ``-p`` arguments ``args``, checked."""
    spec = book.template_spec(template)
    return book.check_values(template, spec, dict(start or {}, **book.parse_overrides(args, template, spec)))


def test_overrides_are_yaml_typed_and_checked(book: ModuleType) -> None:
    template = book.NOTEBOOKS / "tiny.ipynb"
    out = overrides(book, template, ["scale=3", "fail=true"])
    assert out == {"scale": 3.0, "fail": True} and type(out["scale"]) is float
    with pytest.raises(book.UsageError, match=r"^notebooks/tiny\.ipynb: widht: no such parameter; the parameters "
                                              r"cell declares scale, fail, findings_path$"):
        overrides(book, template, ["widht=3"])
    with pytest.raises(book.UsageError, match="^notebooks/tiny.ipynb: scal: no such parameter; did you mean 'scale'\\?$"):
        overrides(book, template, ["scal=3"])
    with pytest.raises(book.UsageError, match="^notebooks/tiny.ipynb: -p expects KEY=VALUE"):
        overrides(book, template, ["scale"])


def test_scorecard_lists_every_finding_with_its_chapter(book: ModuleType) -> None:
    (page,) = book.load_pages()
    book.build_pages([page])
    text = book.scorecard_markdown([page])
    assert "## [Tiny](tiny.ipynb)" in text and "Scale: scale 1." in text
    assert "1. **reproduced** · two times scale — ours: 2 *(not in the figure)*" in text  # no evidence: no row
    assert "**1 claim: 1 reproduced, 0 partly, 0 not reproduced, 0 inconclusive.**" in text
    assert "{figure}" not in text  # nothing to draw
    assert book.scorecard_figure([page], book.BOOK / "f.png") == 0 and not (book.BOOK / "f.png").exists()


def test_scorecard_counts_inconclusive_and_draws_the_undecided_claim(book: ModuleType) -> None:
    from cca_core.experiments import Evidence, Finding, above, judge, report_findings
    from cca_core.experiments.verdicts.findings import significant

    (page,) = book.load_pages()
    gap = Evidence("gap", 0.3, (0.2, 0.4), n={"networks": [5, 5], "pairs": 20})
    wide = Evidence("wide", 0.1, (-0.1, 0.3), n={"networks": [5, 5], "pairs": 20})
    few = Evidence("sep", 0.1, p_value=0.1, min_p_value=0.1, n={"networks": [3, 3]})
    report_findings([Finding("c1", "p", f"{gap:.2f}", judge(above(gap, 0.0))),
                     Finding("c2", "p", "0.1", judge(significant(few))),
                     Finding("c3", "p", "0.1", judge(above(wide, 0.0)))],
                    notebook="tiny", title="Tiny", scale="s", path=page.findings_path)
    text = book.scorecard_markdown([page])
    assert "**3 claims: 1 reproduced, 0 partly, 0 not reproduced, 2 inconclusive.**" in text
    assert ":::{figure} scorecard_figure.png" in text and "(2 of 3)" in text  # c1, c3: one estimate, one threshold
    assert "3. **inconclusive** · c3 — ours: 0.1" in text and "c3 — ours: 0.1 *(not" not in text
    assert "1 claim whose verdict rests on a requirement that is not met" in text  # c2
    assert book.scorecard_figure([page], book.BOOK / "f.png") == 2 and (book.BOOK / "f.png").stat().st_size > 0
    assert "gap" not in text  # the evidence stays in the chapter
    table = book.findings_table(page.findings_path, width=100)
    assert "why: the smallest p-value this test can give is 0.1, above the significance level 0.05" in table.replace(
        "sep: ", "")
    assert "why: the interval cannot decide wide 0.10 [-0.10, 0.30] > 0" in table
    assert book.verdict_counts(page.findings_path) == "1 reproduced, 2 inconclusive"


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


def test_a_page_sharing_a_template_gets_its_own_title_introduction_and_rerun_hint(pipeline: ModuleType) -> None:
    """Issue 17: the WikiText-2 page had the Penn Treebank page's title and introduction."""
    def executed() -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# Generic title\n\n**Question.** Why?\nRerun: `make page NB=tiny P=\"a=1\"`"),
                    nbformat.v4.new_markdown_cell("Also `make page NB=tiny` and NB=tiny_other stays.")]
        return nb

    own = executed()
    pipeline._prepare_for_book(own, "tiny", "tiny_wikitext2", {"title": "Tiny: WikiText-2",
                                                               "introduction": "**This page: WikiText-2.**"})
    assert own.cells[0].source.splitlines()[:4] == ["# Tiny: WikiText-2", "", "**This page: WikiText-2.**", ""]
    assert "**Question.** Why?" in own.cells[0].source
    assert "NB=tiny_wikitext2 P=" in own.cells[0].source and "`make page NB=tiny_wikitext2`" in own.cells[1].source
    assert "NB=tiny_other" in own.cells[1].source
    plain = executed()
    pipeline._prepare_for_book(plain, "tiny", "tiny")  # the template's own page: untouched
    assert plain.cells[0].source == executed().cells[0].source


def test_titles_in_experiments_yml_are_checked_and_make_a_page_stale(pipeline: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "experiments.yml"
    path.write_text("pages:\n  width:\n    template: width\n    title: ''\n")
    with pytest.raises(pipeline.UsageError, match="title must be non-empty text"):
        pipeline.load_pages(path)
    path.write_text("pages:\n  width:\n    template: width\n    subtitle: x\n")
    with pytest.raises(pipeline.UsageError, match="unknown keys.*allowed: template, parameters, title, introduction"):
        pipeline.load_pages(path)
    path.write_text("pages:\n  width:\n    template: width\n    title: Width\n")
    (page,) = pipeline.load_pages(path)
    assert page.heading == {"title": "Width"} and pipeline.provenance(page, "x")["heading"] == {"title": "Width"}


# ----------------------------------------------------------------------------------------------------
# reruns: parameters, the page they start from, the terminal, the files written


LISTS = ('sizes: list[int] = [1, 2]  # sizes\nrate: float = 0.1  # positive\nlabel: str = "x"  # text\n'
         'flag: bool = False\nfindings_path: str = ""')


def write_lists_template(book: ModuleType) -> Path:
    template = book.NOTEBOOKS / "lists.ipynb"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(LISTS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Lists"), cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, template)
    return template


def test_parameters_take_yaml_mappings_and_key_value_pairs_with_spaces(book: ModuleType) -> None:
    template = write_lists_template(book)
    def parse(args: list[str]) -> dict:
        return overrides(book, template, args)

    expected = {"sizes": [2, 4, 8], "rate": 0.001, "label": "a b"}
    assert parse(["sizes=[2, 4, 8] rate=1e-3 label=a b"]) == expected  # the split list
    assert parse(["sizes: [2, 4, 8], rate: 1.0e-3, label: a b"]) == expected
    assert parse(["{sizes: [2, 4, 8]}", "rate=0.001", "label='a b'"]) == expected
    assert parse(["label=12 flag=true rate=2"]) == {"label": "12", "flag": True, "rate": 2.0}  # text as typed
    assert parse(["label=007"]) == {"label": "007"}
    assert parse(['label="x=1 y"']) == {"label": "x=1 y"}  # quoted: not cut at " y"
    assert parse(["sizes=[2.0, 4]"]) == {"sizes": [2, 4]}  # integral numbers are integers
    with pytest.raises(book.UsageError, match=r"^notebooks/lists\.ipynb: sizes = 3: must be a list of integers$"):
        parse(["sizes=3"])
    with pytest.raises(book.UsageError, match=r"^notebooks/lists\.ipynb: sizes\[1\] = 2\.5: must be an integer$"):
        parse(["sizes: [1, 2.5]"])
    with pytest.raises(book.UsageError, match=r"^notebooks/lists\.ipynb: label = 12: must be text$"):
        parse(["label: 12"])  # a YAML mapping is YAML: quote text that looks like a number


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(("arg", "says"), [
    ("scale=[2, 4", "scale = '[2, 4': not a YAML value"),
    ("scale: [2, 4", "-p 'scale: [2, 4': not KEY=VALUE nor a YAML mapping"),
    ("scale=abc", "scale = 'abc': must be a number"),
    ("fail=maybe", "fail = 'maybe': must be True or False"),
    ("findings_path=elsewhere.json", "findings_path: not a parameter you can set here"),
    ("nope=1", "nope: no such parameter; the parameters cell declares scale, fail, findings_path"),
    ("scal=2", "scal: no such parameter; did you mean 'scale'?"),
    ("=1", "-p expects KEY=VALUE or a YAML mapping"),
    ("scale=-1", "scale = -1.0: must be > 0 (the parameters cell: '> 0')"),  # the cell's own rule
])
def test_bad_parameters_are_one_line_and_exit_2(book: ModuleType, capsys: pytest.CaptureFixture,
                                                arg: str, says: str) -> None:
    before = sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*"))
    capsys.readouterr()
    assert book.main(["run", "tiny", "-p", arg]) == 2
    assert _one_line_error(capsys).startswith(f"error: notebooks/tiny.ipynb: {says}")  # one prefix for all
    assert sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*")) == before  # nothing executed or written


def test_a_list_parameter_error_names_the_item_and_its_position(book: ModuleType, capsys: pytest.CaptureFixture) -> None:
    write_lists_template(book)
    before = sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*"))
    capsys.readouterr()
    assert book.main(["run", "lists", "-p", "sizes: [2, 4.5]"]) == 2
    assert _one_line_error(capsys) == "error: notebooks/lists.ipynb: sizes[1] = 4.5: must be an integer\n"
    assert book.main(["run", "lists", "-p", "size=[2]"]) == 2
    assert _one_line_error(capsys) == "error: notebooks/lists.ipynb: size: no such parameter; did you mean 'sizes'?\n"
    assert sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*")) == before


def test_build_checks_the_books_parameters_before_executing_any_page(book: ModuleType,
                                                                    capsys: pytest.CaptureFixture) -> None:
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 1.0}},
                       "tiny_bad": {"template": "tiny", "parameters": {"scael": 2.0}}})
    capsys.readouterr()
    assert book.main(["build", "--no-html"]) == 2
    assert _one_line_error(capsys).endswith(
        "error: notebooks/tiny.ipynb: scael: no such parameter; did you mean 'scale'? "
        "(page 'tiny_bad' in book/experiments.yml)\n")
    assert not book.FINDINGS.exists() and not (book.BOOK / "tiny.ipynb").exists()  # not even the good page


def test_a_rerun_parses_the_parameters_cell_once_and_checks_once(book: ModuleType,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill

    from cca_core.experiments.report import parameters

    calls = {"template_parameters": 0, "check_parameters": 0}
    for name in calls:
        original = getattr(parameters, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(parameters, name, counted)

    def no_inspection(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pipeline parses the parameters cell itself, once")

    monkeypatch.setattr(papermill, "inspect_notebook", no_inspection)
    out = book.RERUNS / "once.ipynb"
    assert book.main(["run", "tiny", "-p", "scale=2.5", "-o", str(out)]) == 0
    assert calls == {"template_parameters": 1, "check_parameters": 1}  # in the pipeline; the kernel checks its own


def test_experiments_yml_may_not_set_findings_path(book: ModuleType) -> None:
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"findings_path": "x.json"}}})
    with pytest.raises(book.UsageError, match=r"^notebooks/tiny\.ipynb: findings_path: not a parameter you can set "
                                              r"here: .* \(page 'tiny' in book/experiments\.yml\)$"):
        book.load_pages()


def test_run_starts_from_the_book_page_unless_defaults(book: ModuleType, capsys: pytest.CaptureFixture) -> None:
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 3.0}},
                       "tiny_big": {"template": "tiny", "parameters": {"scale": 10.0}}})
    out = book.RERUNS / "a.ipynb"
    capsys.readouterr()
    assert book.main(["run", "tiny", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "starting from the parameters of book page 'tiny'" in err and "--defaults" in err and "tiny_big" in err
    assert json.loads(out.with_suffix(".json").read_text())["findings"][0]["ours"] == "6"
    assert book.main(["run", "tiny", "--defaults", "-o", str(out)]) == 0
    assert "starting from the template's defaults (--defaults)" in capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["findings"][0]["ours"] == "2"
    pages = book.load_pages()
    template, page, said = book.rerun_start("tiny_big", pages, None, False)  # a page's name: its template
    assert (template.name, page.name) == ("tiny.ipynb", "tiny_big")
    assert book.rerun_start("tiny", pages, "tiny_big", False)[1].name == "tiny_big"
    assert book.rerun_start("tiny", pages, None, True)[1] is None
    with pytest.raises(book.UsageError, match="unknown page"):
        book.rerun_start("tiny", pages, "nope", False)


CHATTY = '''
import os
from cca_core.experiments.training.sweeps import SequentialExecutor, sweep
from cca_core.experiments import Finding, report_findings


class Config:
    def __init__(self, name):
        self.name = name

    def short(self):
        return self.name


class Result:
    cached = False


sweep([Config("net-a"), Config("net-b")], "cache", lambda c, d: Result(), lambda c, d: None, lambda r: "done in 0.0 s",
      SequentialExecutor())
os.write(2, NOISE.encode() + b"\\n")
os.write(2, b"C-level news\\n")
print("cwd", os.getcwd())
print("cache", os.environ.get("CCA_CORE_CACHE_DIR"))
report_findings([Finding("claim one", "1", "1", "reproduced", details=os.environ.get("CCA_CORE_CACHE_DIR", ""))],
                notebook="chatty", title="Chatty", scale="s", path=findings_path)
'''

TF_NOISE = ("E0000 00:00:1796160103.090457   10072 node_def_util.cc:682] NodeDef mentions attribute "
            "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>")


@pytest.fixture()
def chatty(book: ModuleType) -> ModuleType:
    make_template(book.NOTEBOOKS / "chatty.ipynb", f"NOISE = {TF_NOISE!r}\n" + CHATTY)
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 1.0}},
                       "chatty": {"template": "chatty", "parameters": {}}})
    return book


def test_run_terminal_shows_progress_not_noise_and_ends_with_the_findings(
        chatty: ModuleType, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    out = chatty.RERUNS / "c.ipynb"
    old = os.umask(0o022)
    try:
        capsys.readouterr()
        assert chatty.main(["run", "chatty", "-o", str(out)]) == 0
    finally:
        os.umask(old)
    captured = capsys.readouterr()
    err = captured.err
    assert "    sweep: 2 networks, 0 cached, 2 to train" in err
    assert "    [1/2] training net-a ..." in err and "    [1/2] done in 0.0 s" in err
    assert "    [2/2] done in 0.0 s" in err and "    sweep done: 2 trained" in err
    assert "C-level news" in err  # the kernel process's own stderr reaches the terminal ...
    assert "use_unbounded_threadpool" not in err and "without encryption" not in err  # ... less the noise
    table = captured.out.strip().splitlines()
    assert table[0].split() == ["claim", "|", "ours", "|", "verdict"] and "claim one" in table[-2]
    assert table[-2].endswith("| reproduced") and table[-1].startswith("  why: ")  # the verdict's reason
    for path in (out, out.with_suffix(".json")):  # the user's umask, not mkstemp's 0600
        assert path.stat().st_mode & 0o777 == 0o644, oct(path.stat().st_mode)


def test_built_pages_hold_no_build_machine_and_say_how_they_were_made(
        chatty: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("CCA_CORE_CACHE_DIR", raising=False)  # as without make: the repository's cache
    pages = chatty.load_pages()
    old = os.umask(0o022)
    try:
        chatty.build_pages(pages)
    finally:
        os.umask(old)
    page = next(p for p in pages if p.name == "chatty")
    data = json.loads(page.findings_path.read_text())
    assert data["findings"][0]["details"] == str(chatty.ROOT / ".experiment-cache")  # what the kernel got
    text = page.output_path.read_text()
    assert str(chatty.ROOT) not in text  # no absolute path of this machine
    nb = nbformat.read(page.output_path, as_version=4)
    assert nb.metadata.papermill.input_path == "notebooks/chatty.ipynb"
    assert nb.metadata.papermill.output_path == "book/chatty.ipynb"
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "cwd book/_build/.exec/chatty" in printed and "cache $CCA_CORE_CACHE_DIR" in printed
    injected = [c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert not any("findings_path" in s for s in injected)  # no path that a run in place could write through
    for path in (page.output_path, page.findings_path):
        assert path.stat().st_mode & 0o777 == 0o644
    tiny = nbformat.read(book_page(chatty, "tiny"), as_version=4)
    (how,) = [c for c in tiny.cells if chatty.HOW_MADE_TAG in c.metadata.get("tags", [])]
    assert tiny.cells[-1] is how and how.cell_type == "markdown"
    assert how.source.startswith("```{admonition} How this page was made\n:class: dropdown")
    assert "`book/pipeline.py build` executed the template `notebooks/tiny.ipynb`" in how.source
    assert "`scale: 1.0`" in how.source and "page `tiny` in `book/experiments.yml`" in how.source
    assert 'To rerun it with other parameters: `make page NB=tiny P="key=value ..."`' in how.source
    assert "pipeline.py run" not in how.source
    import cca_core

    assert f"cca_core {cca_core.__version__}, not from a git checkout." in how.source


def book_page(pipeline: ModuleType, name: str) -> Path:
    return pipeline.BOOK / f"{name}.ipynb"


def git_repository(book: ModuleType) -> Callable[..., str]:
    """Make the temporary book a git checkout with everything committed; return a ``git`` caller."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("no git")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(book.ROOT), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (book.ROOT / "cca_core").mkdir(exist_ok=True)
    (book.ROOT / "cca_core" / "a.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    return git


def test_git_commit_names_head_and_uncommitted_sources(book: ModuleType) -> None:
    git_repository(book)
    sha, dirty = book.git_commit()
    assert sha and len(sha) >= 7 and not dirty
    (book.ROOT / "book" / "reruns").mkdir()
    (book.ROOT / "book" / "reruns" / "x.ipynb").write_text("{}")  # outputs do not count
    (book.ROOT / "notebooks" / "scratch.ipynb").write_text("{}")  # nor an untracked notebook
    assert book.git_state() == (sha, [])
    (book.ROOT / "cca_core" / "new.py").write_text("y = 1\n")  # new code does: the code hash includes it
    assert book.git_state() == (sha, ["cca_core/new.py"])
    (book.ROOT / "cca_core" / "new.py").unlink()
    (book.ROOT / "cca_core" / "a.py").write_text("x = 2\n")
    assert book.git_commit() == (sha, True)
    cell = book.how_made_cell("book/pipeline.py run", "notebooks/tiny.ipynb", {}, "", (sha, True))
    assert f"git commit `{sha}` + uncommitted changes." in cell.source and "the template's defaults" in cell.source
    assert 'make page NB=tiny P="key=value ..."' in cell.source


def test_build_refuses_uncommitted_sources_unless_allowed(book: ModuleType, capsys: pytest.CaptureFixture) -> None:
    git = git_repository(book)
    sha = git("rev-parse", "--short", "HEAD").strip()
    for changed in ("cca_core/a.py", "notebooks/tiny.ipynb", "book/experiments.yml"):
        path = book.ROOT / changed
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        capsys.readouterr()
        assert book.main(["build", "--no-html"]) == 2
        err = _one_line_error(capsys)
        assert err.startswith(f"error: uncommitted changes to {changed}: pages built now would not match commit {sha}")
        assert "--allow-dirty" in err
        assert not (book.BOOK / "tiny.ipynb").exists() and not book.FINDINGS.exists()  # nothing executed or written
        path.write_bytes(original)
    (book.ROOT / "cca_core" / "a.py").write_text("x = 2\n")
    assert book.main(["build", "--no-html", "--allow-dirty"]) == 0
    how = nbformat.read(book.BOOK / "tiny.ipynb", as_version=4).cells[-1].source
    assert f"git commit `{sha}` + uncommitted changes." in how  # allowed, and said


def test_a_book_built_from_a_clean_tree_never_says_uncommitted(book: ModuleType) -> None:
    git = git_repository(book)
    (book.ROOT / "notebooks" / "scratch.ipynb").write_text("{}")  # untracked: not a source of any page
    assert book.main(["build", "--no-html"]) == 0
    how = nbformat.read(book.BOOK / "tiny.ipynb", as_version=4).cells[-1].source
    assert f"git commit `{git('rev-parse', '--short', 'HEAD').strip()}`." in how and "uncommitted" not in how
    assert 'To rerun it with other parameters: `make page NB=tiny P="key=value ..."`' in how


# ----------------------------------------------------------------------------------------------------
# the Makefile's `page` target: the rerun hint of every page


@pytest.fixture()
def fake_venv(tmp_path: Path) -> Path:
    """A virtual environment whose python prints its arguments, one per line in brackets."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    python = tmp_path / "venv" / "bin" / "python"
    python.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    python.chmod(0o755)
    return tmp_path / "venv"


def make(*args: str, venv: Path | None = None) -> subprocess.CompletedProcess:
    """``make -s ARGS`` in the repository; with ``venv``, its python stands in for the project's."""
    from pipeline_module import ROOT

    extra = [f"VENV={venv}", f"BIN={venv}/bin", "-o", f"{venv}/.installed"] if venv else []
    return subprocess.run(["make", "-s", "-C", str(ROOT), *extra, *args], capture_output=True, text=True, timeout=60)


def test_make_page_passes_p_as_one_dash_p_argument(fake_venv: Path) -> None:
    done = make("-n", "page", "NB=width", "P=epochs=3")
    assert done.returncode == 0 and 'book/pipeline.py run "$NB" -p "$P"' in done.stdout
    assert "--defaults" not in done.stdout and "-p" not in make("-n", "page", "NB=width").stdout.split("run", 1)[1]
    done = make("page", "NB=width", 'P=widths: [2, 4, 8], seeds: "3" x=1', "DEFAULTS=1", venv=fake_venv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[book/pipeline.py]", "[run]", "[width]", "[-p]",
                                        '[widths: [2, 4, 8], seeds: "3" x=1]', "[--defaults]"]
    done = make("page", venv=fake_venv)
    assert done.returncode == 2 and "usage: make page NB=" in done.stdout


def test_make_book_passes_allow_dirty(fake_venv: Path) -> None:
    assert make("book", venv=fake_venv).stdout.splitlines() == ["[book/pipeline.py]", "[build]"]
    assert make("book", "ALLOW_DIRTY=1", venv=fake_venv).stdout.splitlines() == [
        "[book/pipeline.py]", "[build]", "[--allow-dirty]"]


def test_how_made_box_gives_the_training_time_recorded_with_the_networks(book: ModuleType) -> None:
    cell = book.how_made_cell("book/pipeline.py build", "notebooks/tiny.ipynb", {}, "", ("abc1234", False),
                              {"networks": 20, "seconds": 754.2})
    assert "Training: 20 networks, 12.6 min in all, as recorded when each was trained" in cell.source
    one = book.how_made_cell("c", "t", {}, "", (None, False), {"networks": 1, "seconds": 42.0})
    assert "Training: 1 network, 42 s in all" in one.source
    for nothing in (None, {"networks": 0, "seconds": 0.0}):
        assert "Training" not in book.how_made_cell("c", "t", {}, "", (None, False), nothing).source


def test_a_page_that_reports_its_networks_shows_their_training_time(book: ModuleType) -> None:
    body = BODY.replace("path=findings_path)", "path=findings_path, trained=[Net(30.0), Net(45.5)])")
    make_template(book.NOTEBOOKS / "tiny.ipynb", "class Net:\n    def __init__(self, s):\n        self.train_seconds = s\n" + body)
    (page,) = book.load_pages()
    book.build_pages([page])
    assert json.loads(page.findings_path.read_text())["training"] == {"networks": 2, "seconds": 75.5}
    how = [c for c in nbformat.read(page.output_path, as_version=4).cells if "how-made" in c.metadata.get("tags", [])]
    assert len(how) == 1 and "Training: 2 networks, 76 s in all" in how[0].source


def test_a_page_run_in_place_never_writes_the_books_findings(book: ModuleType, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As `pytest --nbval book/tiny.ipynb` or Jupyter would: the executed page, run in book/."""
    import papermill

    monkeypatch.delenv("CCA_CORE_FINDINGS_PATH", raising=False)
    (page,) = book.load_pages()
    book.build_pages([page])
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in book.FINDINGS.iterdir()}
    papermill.execute_notebook(str(page.output_path), str(tmp_path / "again.ipynb"), cwd=str(book.BOOK),
                               kernel_name="python3", progress_bar=False)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in book.FINDINGS.iterdir()} == before


def test_report_findings_refuses_the_books_findings_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages executed before the pipeline stopped injecting a path hold findings_path = "findings/<page>.json"."""
    from cca_core.experiments import Finding, report_findings
    from cca_core.experiments.paths import BOOK_FINDINGS

    monkeypatch.delenv("CCA_CORE_FINDINGS_PATH", raising=False)
    monkeypatch.chdir(BOOK_FINDINGS.parent)
    name = "never-written-by-a-test.json"
    before = sorted(p.name for p in BOOK_FINDINGS.iterdir()) if BOOK_FINDINGS.exists() else []
    for path in (f"findings/{name}", BOOK_FINDINGS / name):
        with pytest.warns(UserWarning, match="written only by `book/pipeline.py build`"):
            report_findings([Finding("c", "p", "o", "reproduced")], notebook="t", title="T", scale="s", path=path)
    assert (sorted(p.name for p in BOOK_FINDINGS.iterdir()) if BOOK_FINDINGS.exists() else []) == before


def test_kernel_environment_defaults_as_the_makefile(pipeline: ModuleType, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.setattr(pipeline, "ROOT", root)
    for var in ("CCA_CORE_CACHE_DIR", "CCA_CORE_DATA_DIR", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    assert pipeline.kernel_environment() == {"CCA_CORE_CACHE_DIR": str(root / ".experiment-cache"),
                                             "TF_CPP_MIN_LOG_LEVEL": "3"}
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert pipeline.kernel_environment()["CCA_CORE_DATA_DIR"] == str((tmp_path / "shared" / "data").resolve())
    monkeypatch.setenv("CCA_CORE_CACHE_DIR", "/elsewhere")
    monkeypatch.setenv("CCA_CORE_DATA_DIR", "")  # empty counts as unset, as in the Makefile's ?=
    env = pipeline.kernel_environment()
    assert "CCA_CORE_CACHE_DIR" not in env and "CCA_CORE_DATA_DIR" in env


def test_sweep_progress_and_kernel_noise_filters(pipeline: ModuleType, capsys: pytest.CaptureFixture) -> None:
    progress = pipeline.SweepProgress(indent="")
    capsys.readouterr()
    for chunk in ["sweep: 3 networks, 1 cached, 2 to train (cache c)\n[1/3] a ... cached\n[2/3] train",
                  "ing b ...", " done in 1.0 s, test acc 0.9\n", "UserWarning: noise\n",
                  "[3/3] training c ...", "/x.py:1: a warning in the middle\n", "sweep done: 2 trained\n"]:
        progress.write(chunk)
    assert capsys.readouterr().err.splitlines() == [
        "sweep: 3 networks, 1 cached, 2 to train (cache c)", "[2/3] training b ...",
        "[2/3] done in 1.0 s, test acc 0.9", "[3/3] training c ...", "sweep done: 2 trained"]
    noise = [TF_NOISE, "W0000 00:00:1796160103.1   10072 cpu_feature_guard.cc:1] oneDNN",
             "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...",
             "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel."]
    news = ["[IPKernelApp] ERROR | Exception in message handler:", "E0000 00:00:1796160103.1   10072 some.cc:3] a real error", "Segmentation fault", "C-level news"]
    def is_noise(line: str) -> bool:
        return any(p.search(line) for p in pipeline.KERNEL_NOISE)

    assert [is_noise(s) for s in noise] == [True] * len(noise)
    assert [is_noise(s) for s in news] == [False] * len(news)


# ----------------------------------------------------------------------------------------------------
# issue 17, reruns that talk: an interrupt, a misspelt notebook, a repeated parameter, the sweep's lines


SLOW = '''
import time
from cca_core.experiments.training.sweeps import SequentialExecutor, sweep


class Config:
    def __init__(self, name):
        self.name = name

    def short(self):
        return self.name


def train(config, cache_dir):
    time.sleep(300)


sweep([Config("net-a"), Config("net-b")], "cache", train, lambda c, d: None, lambda r: "done", SequentialExecutor())
'''


def test_ctrl_c_ends_with_one_line_no_traceback_and_status_130(tmp_path: Path) -> None:
    """Ctrl-C sends SIGINT to the terminal's process group: the pipeline (the kernel runs in a session
    of its own) stops the running cell, and the terminal gets the sweep's line, no traceback."""
    import os
    import shutil
    import signal
    import sys

    from pipeline_module import ROOT

    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copyfile(ROOT / "book" / "pipeline.py", tmp_path / "book" / "pipeline.py")
    make_template(tmp_path / "notebooks" / "slow.ipynb", SLOW)
    (tmp_path / "book" / "experiments.yml").write_text("pages:\n  slow:\n    template: slow\n")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "book").rglob("*") if p.is_file())
    env = dict(os.environ, PYTHONPATH=str(ROOT), CCA_CORE_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CCA_CORE_SCHEDULER", None)
    proc = subprocess.Popen([sys.executable, "book/pipeline.py", "run", "slow"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + 180
        while b"[1/2] training net-a ..." not in seen:  # the kernel is in the long cell
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk and time.monotonic() < deadline, seen.decode(errors="replace")
            seen += chunk
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    tail = (seen + err).decode(errors="replace").split("[1/2] training net-a ...", 1)[1]
    lines = [ln.strip() for ln in re.split(r"[\r\n]", tail)
             if ln.strip() and not ln.strip().startswith("Executing:")]  # papermill's progress bar, redrawn
    assert proc.returncode == 130, tail
    assert "Traceback" not in tail and len(lines) <= 3, tail
    assert lines == ["interrupted: 0 of 2 network(s) trained and cached; rerun to continue"], tail
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "book").rglob("*") if p.is_file()) == before


def test_an_interrupt_outside_a_sweep_is_the_pipelines_own_line(book: ModuleType, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    before = sorted(p.relative_to(book.ROOT) for p in book.BOOK.rglob("*") if p.is_file())
    capsys.readouterr()
    assert book.main(["run", "tiny", "-o", str(book.RERUNS / "x.ipynb")]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("interrupted: ") and err[-1].endswith(
        "x.ipynb was not written; networks already trained are cached; rerun to continue")
    assert not any("Traceback" in line for line in err)
    assert sorted(p.relative_to(book.ROOT) for p in book.BOOK.rglob("*") if p.is_file()) == before


def test_kernel_stderr_after_an_interrupt_passes_only_the_interrupted_line(
        pipeline: ModuleType, capsys: pytest.CaptureFixture) -> None:
    import os

    with pipeline.KernelStderr() as pump:
        os.write(pump.fd, b"before\n")
        time.sleep(0.3)
        pump.interrupted.set()
        os.write(pump.fd, b"Traceback (most recent call last):\n  File x\nKeyboardInterrupt\n"
                          b"interrupted: 1 of 3 network(s) trained and cached; rerun to continue\n")
    assert capsys.readouterr().err.splitlines() == [
        "before", "interrupted: 1 of 3 network(s) trained and cached; rerun to continue"]


def test_an_unknown_notebook_suggests_the_closest_name(book: ModuleType, capsys: pytest.CaptureFixture) -> None:
    write_pages(book, {"tiny": {"template": "tiny", "parameters": {"scale": 1.0}},
                       "tiny_dynamics": {"template": "tiny", "parameters": {"scale": 2.0}}})
    capsys.readouterr()
    assert book.main(["run", "tiny_dynamic"]) == 2
    assert _one_line_error(capsys) == ("error: no template notebooks/tiny_dynamic.ipynb and no book page "
                                       "'tiny_dynamic'; did you mean 'tiny_dynamics'?\n")
    assert book.main(["run", "elsewhere"]) == 2  # nothing close: the list
    err = _one_line_error(capsys)
    assert "did you mean" not in err and "templates: tiny; pages: tiny, tiny_dynamics" in err


@pytest.mark.parametrize("arg", ["scale=3 scale=4", "scale: 3, scale: 4", "{scale: 3, fail: true, scale: 4}"])
def test_a_repeated_parameter_is_one_line_and_exit_2(book: ModuleType, capsys: pytest.CaptureFixture,
                                                     arg: str) -> None:
    before = sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*"))
    capsys.readouterr()
    assert book.main(["run", "tiny", "-p", arg]) == 2
    assert _one_line_error(capsys) == "error: notebooks/tiny.ipynb: scale: given twice; give each parameter once\n"
    assert book.main(["run", "tiny", "-p", "scale=3", "-p", "scale: 4"]) == 2  # across -p arguments too
    assert "scale: given twice" in _one_line_error(capsys)
    assert sorted(p.relative_to(book.ROOT) for p in book.ROOT.rglob("*")) == before


def test_sweep_progress_leaves_out_submitted_lines(pipeline: ModuleType, capsys: pytest.CaptureFixture) -> None:
    progress = pipeline.SweepProgress(indent="")
    capsys.readouterr()
    for chunk in ["sweep: 2 networks, 0 cached, 2 to train (cache c)\n",
                  "training on 2 local process(es), one thread each\n",
                  "[1/2] training a ...", " submitted\n", "[2/2] training b ...", " submitted\n",
                  "[2/2] b ... done in 2.0 s, test acc 0.9\n", "[1/2] a ... done in 3.0 s, test acc 0.8\n",
                  "sweep done: 2 trained, 0 cached, 3.1 s\n"]:
        progress.write(chunk)
    assert capsys.readouterr().err.splitlines() == [
        "sweep: 2 networks, 0 cached, 2 to train (cache c)", "[1/2] training a ...", "[2/2] training b ...",
        "[2/2] b ... done in 2.0 s, test acc 0.9", "[1/2] a ... done in 3.0 s, test acc 0.8",
        "sweep done: 2 trained, 0 cached, 3.1 s"]
    assert not progress.said_interrupted
    progress.write("\ninterrupted: 0 of 2 network(s) trained and cached; rerun to continue\n")
    assert capsys.readouterr().err.splitlines() == [
        "interrupted: 0 of 2 network(s) trained and cached; rerun to continue"]
    assert progress.said_interrupted


def test_asyncios_task_destroyed_warning_at_kernel_shutdown_is_noise(pipeline: ModuleType) -> None:
    lines = ["Task was destroyed but it is pending!",
             "task: <Task pending name='Task-2' coro=<Kernel.dispatch_control() running at /x/ipykernel/"
             "kernelbase.py:311> wait_for=<Future pending cb=[Task.task_wakeup()]>>"]
    assert all(any(p.search(line) for p in pipeline.KERNEL_NOISE) for line in lines)


def test_a_rerun_refused_for_a_value_of_the_book_page_says_where_it_came_from(book: ModuleType,
                                                                             capsys: pytest.CaptureFixture) -> None:
    """The page's own decay_after, valid with its epochs, breaks the rule with a rerun's fewer epochs: the
    one line says which values came from the book page and how to start from the template's defaults."""
    template = book.NOTEBOOKS / "decay.ipynb"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("epochs: int = 3  # at least 1\nlr_decay: float = 1.0  # in (0, 1]\n"
                                     "decay_after: int = 0  # (non-negative, < epochs unless lr_decay is 1)\n"
                                     "findings_path: str = \"\"")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Decay"), cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, template)
    write_pages(book, {"decay": {"template": "decay", "parameters": {"epochs": 60, "lr_decay": 0.5, "decay_after": 50}}})
    capsys.readouterr()
    assert book.main(["run", "decay", "-p", "epochs=20"]) == 2
    assert _one_line_error(capsys) == (
        "error: notebooks/decay.ipynb: decay_after = 50: must be < epochs = 20 unless lr_decay is 1 (the parameters "
        "cell: '< epochs unless lr_decay is 1') (decay_after=50, lr_decay=0.5 from book page 'decay': give them too, "
        "or start from the template's defaults with --defaults, make page DEFAULTS=1)\n")
    capsys.readouterr()
    assert book.main(["run", "decay", "-p", "epochs=20 lr_decay=1", "-o", str(book.BOOK / "reruns" / "x.ipynb")]) in (0, 1)
    assert "must be < epochs" not in capsys.readouterr().err  # with lr_decay 1 the rule does not apply

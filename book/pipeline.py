"""Execute the book's notebooks with papermill, skip what is unchanged, and build the HTML.

Commands (run from anywhere; paths are relative to the repository)::

    python book/pipeline.py build [--only PAGE ...] [--force] [--no-html]
        Execute every page of book/experiments.yml whose template, parameters or cca_core code
        changed since its last execution, then generate the scorecard and build the HTML with
        jupyter-book (warnings are errors). This is what `make book` runs.
    python book/pipeline.py run NOTEBOOK [-p KEY=VALUE ...] [-o OUTPUT]
        Execute one template with parameter overrides into a separate page (default
        book/reruns/<notebook>-<hash>.ipynb, findings beside it). The book's pages are not touched.
    python book/pipeline.py status
        Say, page by page, whether it is up to date and if not, why.
    python book/pipeline.py html [--build-dir DIR]
        Only generate the scorecard and build the HTML (into DIR/html, default book/_build/html).

Each executed page records what it was built from in its metadata (``cca_core_book``): the
template's SHA-256 (cell types, sources and metadata), the parameters, and the SHA-256 of the
``cca_core`` package source. A page is re-executed when any of them differs, and the freshness test
(tests/book/test_freshness.py) fails on the same condition.

A notebook is executed in a scratch directory and moved into ``book/`` only when it succeeded, so a
failure leaves every existing page (and its findings) as it was; the failed notebook, with its
traceback, is kept in ``book/_failed/`` and the error names the page, the cell and the exception.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from cca_core.experiments.runs import atomic_write

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "cca_core"
EXPERIMENTS = BOOK / "experiments.yml"
FINDINGS = BOOK / "findings"
FAILED = BOOK / "_failed"
RERUNS = BOOK / "reruns"
SCRATCH = BOOK / "_build" / ".exec"
METADATA_KEY = "cca_core_book"
#: Tags given to parameter cells of executed pages so the book hides them (click to show).
HIDE_TAG = "hide-cell"


# ----------------------------------------------------------------------------------------------------
# what a page is built from


class UsageError(ValueError):
    """Bad book/experiments.yml, unknown page or template, bad ``-p`` override."""


@dataclass(frozen=True)
class Page:
    """One page of the book: a template executed with a parameter set."""

    name: str
    template: str
    parameters: dict[str, Any]

    @property
    def template_path(self) -> Path:
        return NOTEBOOKS / f"{self.template}.ipynb"

    @property
    def output_path(self) -> Path:
        return BOOK / f"{self.name}.ipynb"

    @property
    def findings_path(self) -> Path:
        return FINDINGS / f"{self.name}.json"


def load_pages(path: Path | None = None) -> list[Page]:
    """The pages listed in ``book/experiments.yml``, in order, with their templates checked."""
    path = EXPERIMENTS if path is None else path
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("pages")
    if not isinstance(entries, dict) or not entries:
        raise UsageError(f"{path}: expected a non-empty mapping 'pages: {{page: {{template, parameters}}}}'")
    pages = []
    for name, entry in entries.items():
        entry = entry or {}
        unknown = set(entry) - {"template", "parameters"}
        if unknown:
            raise UsageError(f"{path}: page {name!r} has unknown keys {sorted(unknown)} (allowed: template, parameters)")
        page = Page(name=str(name), template=str(entry.get("template", name)),
                    parameters=dict(entry.get("parameters") or {}))
        if not page.template_path.exists():
            raise UsageError(f"{path}: page {name!r} names template {page.template!r}, "
                             f"but {page.template_path.relative_to(ROOT)} does not exist")
        pages.append(page)
    return pages


def template_sha256(path: Path) -> str:
    """SHA-256 of a template's cells (type, source, metadata); outputs and notebook metadata ignored."""
    nb = nbformat.read(path, as_version=4)
    cells = [{"cell_type": c.cell_type, "source": c.source, "metadata": c.get("metadata", {})} for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


def code_sha256(package: Path | None = None) -> str:
    """SHA-256 over every ``.py`` file of the ``cca_core`` package (relative path and bytes)."""
    package = PACKAGE if package is None else package
    h = hashlib.sha256()
    for p in sorted(package.rglob("*.py")):
        rel = p.relative_to(package).as_posix()
        data = p.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode() + data)
    return h.hexdigest()


def provenance(page: Page, code: str | None = None) -> dict[str, Any]:
    """What ``page`` is built from, as recorded in its metadata."""
    return {"page": page.name, "template": f"notebooks/{page.template}.ipynb",
            "template_sha256": template_sha256(page.template_path), "parameters": page.parameters,
            "cca_core_sha256": code if code is not None else code_sha256()}


def staleness(page: Page, code: str | None = None) -> list[str]:
    """Why ``page`` must be re-executed (empty when it is up to date)."""
    if not page.output_path.exists():
        return ["never executed"]
    if not page.findings_path.exists():
        return [f"findings file {page.findings_path.relative_to(ROOT)} is missing"]
    recorded = nbformat.read(page.output_path, as_version=4).metadata.get(METADATA_KEY)
    if not recorded:
        return ["no build record in its metadata"]
    expected = provenance(page, code)
    reasons = []
    if recorded.get("template_sha256") != expected["template_sha256"] or recorded.get("template") != expected["template"]:
        reasons.append(f"template {expected['template']} changed")
    if recorded.get("parameters") != expected["parameters"]:
        reasons.append("parameters in book/experiments.yml changed")
    if recorded.get("cca_core_sha256") != expected["cca_core_sha256"]:
        reasons.append("cca_core code changed")
    return reasons


# ----------------------------------------------------------------------------------------------------
# execution


class PageFailed(RuntimeError):
    """A notebook raised (the message names the page, the cell and the error), or the HTML build failed."""


def parse_overrides(pairs: list[str], template: Path) -> dict[str, Any]:
    """``["key=value", ...]`` as parameters; values are YAML (``3``, ``0.01``, ``[8, 16]``, ``true``, text).

    Keys must be parameters of ``template`` (its ``parameters`` cell)."""
    import papermill

    known = papermill.inspect_notebook(str(template))
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"-p expects KEY=VALUE, got {pair!r}")
        if key not in known:
            raise UsageError(f"{template.name} has no parameter {key!r}; its parameters are: {', '.join(known)}")
        params[key] = yaml.safe_load(value) if value.strip() else ""
    return params


def _prepare_for_book(nb: nbformat.NotebookNode, template: str, page: str) -> None:
    """Hide the parameter cells, and give figures labels unique to the page: a template executed for
    two pages (two corpora, say) would otherwise define each figure label twice in the book."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and HIDE_TAG not in tags:
            cell.metadata["tags"] = [*tags, HIDE_TAG]
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        name = figure.get("name")
        if name and page != template:
            base = name[len(template) + 1:] if name.startswith(f"{template}-") else name
            figure["name"] = f"{page}-{base}"


def execute(template: Path, output: Path, findings: Path, parameters: dict[str, Any],
            record: dict[str, Any] | None, label: str) -> float:
    """Execute ``template`` with ``parameters`` into ``output`` and its findings JSON into ``findings``.

    Runs in a scratch directory; ``output`` and ``findings`` are replaced only on success. Returns the
    wall time in seconds. Raises :class:`PageFailed` naming the cell and the error.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    scratch = SCRATCH / output.stem
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    scratch_nb = scratch / output.name
    scratch_findings = Path("findings") / findings.name  # relative to the scratch cwd
    params = dict(parameters, findings_path=str(scratch_findings))
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(template), str(scratch_nb), parameters=params, cwd=str(scratch),
                                   kernel_name="python3", progress_bar=True,
                                   request_save_on_cell_execute=False, log_output=False,
                                   # C-level stderr (TensorFlow's start-up banner) goes to this terminal,
                                   # not into the page; Python-level output is captured as usual.
                                   extra_arguments=["--IPKernelApp.capture_fd_output=False"])
    except PapermillExecutionError as err:
        FAILED.mkdir(parents=True, exist_ok=True)
        kept = FAILED / output.name
        if scratch_nb.exists():
            shutil.copyfile(scratch_nb, kept)
        first_line = err.source.strip().splitlines()[0] if err.source.strip() else ""
        raise PageFailed(f"{label}: {template.relative_to(ROOT)} failed in cell {err.cell_index} "
                         f"(execution count {err.exec_count}, starting {first_line!r}): "
                         f"{err.ename}: {err.evalue}\n  the executed notebook with the traceback: "
                         f"{kept.relative_to(ROOT)}") from None
    seconds = time.perf_counter() - start
    if not (scratch / scratch_findings).exists():
        raise PageFailed(f"{label}: {template.relative_to(ROOT)} ran but wrote no findings; its last cells must call "
                         f"report_findings(..., path=findings_path)")
    nb = nbformat.read(scratch_nb, as_version=4)
    _prepare_for_book(nb, template.stem, output.stem)
    if record is not None:
        nb.metadata[METADATA_KEY] = dict(record, seconds=round(seconds, 1))
    findings_bytes = (scratch / scratch_findings).read_bytes()
    atomic_write(findings, lambda f: f.write(findings_bytes))
    text = nbformat.writes(nb).rstrip("\n") + "\n"  # as nbformat.write lays a file out
    atomic_write(output, lambda f: f.write(text.encode("utf-8")))
    shutil.rmtree(scratch, ignore_errors=True)
    return seconds


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_pages(pages: list[Page], force: bool = False) -> None:
    """Execute the pages that are stale (all of them with ``force``), in order, with progress."""
    code = code_sha256()
    todo = [(p, ["--force"] if force else staleness(p, code)) for p in pages]
    todo = [(p, why) for p, why in todo if why]
    _say(f"book: {len(pages)} pages, {len(pages) - len(todo)} up to date, {len(todo)} to execute")
    start = time.perf_counter()
    for i, (page, why) in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {page.name}"
        _say(f"{label}: executing {page.template_path.relative_to(ROOT)} ({'; '.join(why)})")
        seconds = execute(page.template_path, page.output_path, page.findings_path, page.parameters,
                          provenance(page, code), label)
        _say(f"{label}: done in {seconds:.0f} s (total {time.perf_counter() - start:.0f} s)")


# ----------------------------------------------------------------------------------------------------
# scorecard and HTML


def scorecard_markdown(pages: list[Page]) -> str:
    """The scorecard page: the four verdicts counted per chapter, then every finding with its
    evidence (intervals, p-values with their minimum, sample sizes) and verdict, by chapter."""
    from cca_core.experiments.findings import VERDICTS, evidence_text, load_findings

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    summary = ["| Chapter | " + " | ".join(v.capitalize() for v in VERDICTS) + " |",
               "|---|" + "---:|" * len(VERDICTS)]
    sections, totals = [], dict.fromkeys(VERDICTS, 0)
    for page in pages:
        if not page.findings_path.exists():
            continue
        data = load_findings(page.findings_path)
        counts = dict.fromkeys(VERDICTS, 0)
        rows = ["| Claim | Paper | Ours | Evidence (interval, p, n) | Verdict |", "|---|---|---|---|---|"]
        for f in data["findings"]:
            counts[f["verdict"]] += 1
            ours = f["ours"] if not f["details"] or f["verdict"] != "inconclusive" else f"{f['ours']} ({f['details']})"
            rows.append(f"| {cell(f['claim'])} | {cell(f['paper'])} | {cell(ours)} | "
                        f"{cell(evidence_text(f['evidence']))} | **{f['verdict']}** |")
        for v in VERDICTS:
            totals[v] += counts[v]
        link = f"[{cell(data['title'])}]({page.name}.ipynb)"
        summary.append(f"| {link} | " + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
        sections += [f"## {data['title']}", "", f"Chapter: {link}. Scale: {data['scale']}.", "", *rows, ""]
    n = sum(totals.values())
    overall = ", ".join(f"{k} {v}" for v, k in totals.items())
    return "\n".join([
        "# Scorecard", "",
        "Every claim of the paper that a chapter tests: the paper's value, ours with its 95% interval, the",
        "evidence behind it, and the verdict the chapter's rule computed from it (*reproduced*, *partly*,",
        "*not reproduced*, or *inconclusive* when the evidence cannot tell: too few networks or checkpoints,",
        "networks that did not fit their labels, an interval across the rule's threshold, a test that cannot",
        "reach the significance level) at the scale we ran. Intervals resample networks (or, for one trained",
        "network compared with itself, datapoints); see {doc}`methods`. Generated by `book/pipeline.py`",
        "from `book/findings/*.json`; do not edit.", "",
        f"**{n} claims: {overall}.**", "", *summary, "", *sections])


def build_html(pages: list[Page], build_dir: Path | None = None) -> Path:
    """Write ``book/scorecard.md`` and build the HTML with jupyter-book; return the HTML directory."""
    (BOOK / "scorecard.md").write_text(scorecard_markdown(pages), encoding="utf-8")
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe if exe.exists() else "jupyter-book"), "build", str(BOOK), "-W", "-n", "--keep-going"]
    if build_dir is not None:
        cmd += ["--path-output", str(build_dir)]
    _say("book: building HTML: " + " ".join(cmd[1:]))
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        raise PageFailed(f"jupyter-book build failed (exit {result.returncode}); see the messages above")
    html = (build_dir if build_dir is not None else BOOK) / "_build" / "html"
    _say(f"book: HTML in {html / 'index.html'}")
    return html


# ----------------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    # Kernels inherit this: TensorFlow's C++ log lines (tf.data attribute notices at every epoch) would
    # otherwise flood the progress on the terminal; Python-level errors are unaffected.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(prog="book/pipeline.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute stale pages, then build the HTML")
    b.add_argument("--only", nargs="+", metavar="PAGE", help="consider only these pages")
    b.add_argument("--force", action="store_true", help="execute even pages that are up to date")
    b.add_argument("--no-html", action="store_true", help="do not build the HTML")
    r = sub.add_parser("run", help="execute one template with overrides into a separate page")
    r.add_argument("notebook", help="template name in notebooks/ (e.g. memorization)")
    r.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (YAML value); repeatable")
    r.add_argument("-o", "--output", type=Path, help="output notebook (default book/reruns/<notebook>-<hash>.ipynb)")
    r.add_argument("--book-parameters", metavar="PAGE",
                   help="start from this book page's parameters instead of the template's defaults")
    sub.add_parser("status", help="which pages are stale and why")
    h = sub.add_parser("html", help="only generate the scorecard and build the HTML")
    h.add_argument("--build-dir", type=Path, help="directory for _build (default book/)")
    args = parser.parse_args(argv)

    try:
        pages = load_pages()
        if args.command == "build":
            selected = pages
            if args.only:
                names = {p.name for p in pages}
                missing = [n for n in args.only if n not in names]
                if missing:
                    raise UsageError(f"unknown page(s) {missing}; pages: {', '.join(sorted(names))}")
                selected = [p for p in pages if p.name in args.only]
            build_pages(selected, force=args.force)
            if not args.no_html:
                build_html(pages)
        elif args.command == "run":
            template = NOTEBOOKS / f"{args.notebook}.ipynb"
            if not template.exists():
                known = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
                raise UsageError(f"no template notebooks/{args.notebook}.ipynb; templates: {', '.join(known)}")
            base: dict[str, Any] = {}
            if args.book_parameters:
                match = [p for p in pages if p.name == args.book_parameters]
                if not match:
                    raise UsageError(f"unknown page {args.book_parameters!r}; pages: {', '.join(p.name for p in pages)}")
                base = dict(match[0].parameters)
            params = dict(base, **parse_overrides(args.parameter, template))
            digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
            output = (args.output or RERUNS / f"{args.notebook}-{digest}.ipynb").resolve()
            if output.parent == BOOK and output.stem in {p.name for p in pages}:
                raise UsageError(f"{output} is a page of the book; choose another output path")
            _say(f"run: {template.relative_to(ROOT)} with {params or 'its defaults'} -> {output}")
            record = provenance(Page(name=output.stem, template=args.notebook, parameters=params))
            seconds = execute(template, output, output.with_suffix(".json"), params, record, f"run {args.notebook}")
            _say(f"run: done in {seconds:.0f} s; notebook {output}, findings {output.with_suffix('.json')}")
        elif args.command == "status":
            code = code_sha256()
            for p in pages:
                why = staleness(p, code)
                print(f"{p.name:24s} {'up to date' if not why else 'stale: ' + '; '.join(why)}")
        elif args.command == "html":
            build_html(pages, args.build_dir)
    except UsageError as err:
        _say(f"error: {err}")
        return 2
    except PageFailed as err:
        _say(f"FAILED {err}")
        _say("Pages executed before this one, and every existing page, are intact.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

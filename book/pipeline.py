"""Execute the book's notebooks with papermill, skip what is unchanged, and build the HTML.

Commands (run from anywhere; paths are relative to the repository)::

    python book/pipeline.py build [--only PAGE ...] [--force] [--no-html] [--allow-dirty]
        Execute every page of book/experiments.yml whose template, parameters or cca_core code
        changed since its last execution, then generate the scorecard and build the HTML with
        jupyter-book (warnings are errors). This is what `make book` runs. It refuses (one line,
        exit status 2, before anything runs) to execute pages while tracked files under cca_core/,
        notebooks/ or book/experiments.yml differ from the commit, so no page of the book says
        "uncommitted changes"; --allow-dirty (`make book ALLOW_DIRTY=1`) executes them anyway.
    python book/pipeline.py run NOTEBOOK [-p PARAMETERS ...] [--defaults | --book-parameters PAGE] [-o OUTPUT]
        Execute one template (or the template of the book page NOTEBOOK) into a separate page
        (default book/reruns/<notebook>-<hash>.ipynb, its findings JSON beside it) and end with its
        findings table. It starts from the parameters of the book page of that template (the page of
        the same name if several use it; --book-parameters PAGE chooses one), or from the template's
        defaults with --defaults or when no page uses it. Each -p is either KEY=VALUE pairs separated
        by spaces (``-p "seeds=3 epochs=5"``) or a YAML mapping (``-p "widths: [2, 4, 8], seeds: 3"``);
        values are YAML, checked against the template's parameters cell. The book's pages are not
        touched. `make page NB=NOTEBOOK P="..."` runs this with ``-p "..."``.
    python book/pipeline.py status
        Say, page by page, whether it is up to date and if not, why.
    python book/pipeline.py --experiments book/experiments.paper.yml build ...
        The same with another parameter set: the paper's scale (`make book
        EXPERIMENTS=book/experiments.paper.yml`), for a machine with a GPU; it executes the same
        pages, in place, at those parameters (every page whose parameters differ is stale).
    python book/pipeline.py html [--build-dir DIR]
        Only generate the scorecard and build the HTML (into DIR/html, default book/_build/html).

Each executed page records what it was built from in its metadata (``cca_core_book``): the
template's SHA-256 (cell types, sources and metadata), the parameters, and the SHA-256 of the
``cca_core`` package source. A page is re-executed when any of them differs, and the freshness test
(tests/book/test_freshness.py) fails on the same condition. The pipeline adds one Markdown cell at the
end of each page (tag ``how-made``): how it was made (command, template, parameters, how to rerun it
with ``make page``, cca_core version, git commit), and it keeps the build machine out of the page: papermill's ``input_path`` and
``output_path`` are relative to the repository, and in the outputs' text the cache directory reads
``$CCA_CORE_CACHE_DIR`` and paths under the repository are relative to it.

The kernels get the Makefile's environment whether or not ``make`` started the pipeline: the cache
``CCA_CORE_CACHE_DIR`` defaults to the repository's ``.experiment-cache/`` and the data directory
``CCA_CORE_DATA_DIR`` to ``../shared/data`` when it exists. The findings JSON goes to a scratch file
named by ``CCA_CORE_FINDINGS_PATH`` (set for the kernel only), so no path is injected into a page, and
``book/findings/`` is written only by ``build`` (``report_findings`` refuses to write there).

On the terminal: papermill's cell counter, each sweep's progress (one line per network trained, from
the kernel's stderr as it arrives), and the kernel process's own stderr less known noise
(TensorFlow's messages logged before its logging is set up, the kernel's "running over TCP without
encryption" warning, asyncio's "Task was destroyed but it is pending!" at kernel shutdown). Files are
written with the user's umask.

Ctrl-C (SIGINT): the kernel runs in a session of its own, so the pipeline passes the interrupt on to
its process group (the kernel and its training processes), as Jupyter's interrupt button does; the
running cell stops, and the terminal gets one line and no traceback: the sweep's own ("interrupted: 1
of 3 network(s) trained and cached; rerun to continue") or, when no sweep was training, the
pipeline's ("interrupted: <page> was not written; networks already trained are cached; rerun to
continue"). Exit status 130; the page being executed is not written and its scratch directory is
removed. A second Ctrl-C kills the kernel.

A notebook name that is neither a template nor a page gets the closest name (``did you mean
'rnn_training_dynamics'?``); a parameter given twice (``-p "epochs=3 epochs=4"``, ``-p "epochs: 3,
epochs: 4"``, or in two ``-p``) is one line naming it and exit status 2.

Parameters: the template's ``parameters`` cell is parsed once and the values (a book page's, with the
``-p`` overrides) are checked once, before a kernel starts, by
:func:`cca_core.experiments.report.parameters.check_parameters` (names, one type coercion, the rules its
comments state; the notebook's first cell runs the same check). A bad parameter (unknown, reserved
such as ``findings_path``, malformed YAML, wrong type, against a rule) is one line on stderr in one
form, ``error: notebooks/<template>.ipynb: <problem>``, naming the bad item of a list and its position
(``widths[1] = 4.5: must be an integer``) and the closest name for an unknown one (``epoch: no such
parameter; did you mean 'epochs'?``); exit status 2, and nothing in ``book/`` is touched.

A notebook is executed in a scratch directory and moved into ``book/`` only when it succeeded, so a
failure leaves every existing page (and its findings) as it was; the failed notebook, with its
traceback, is kept in ``book/_failed/`` and the error names the page, the cell and the exception.

On a Dask cluster: with ``CCA_CORE_SCHEDULER=tcp://host:8786`` set, ``build`` and ``run`` first check
that the scheduler answers (one line and exit status 2 if not, before anything is executed or
written), and the notebook kernels, which inherit the variable, train their networks on its workers
(``sweep_executor()``). The cache directory (``CCA_CORE_CACHE_DIR``) must then be storage that the
workers and this machine share.
"""

from __future__ import annotations

import argparse
import hashlib
import difflib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from cca_core.experiments.files import atomic_write
from cca_core.experiments.paths import CACHE_ENV, DATA_ENV, FINDINGS_ENV

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
#: Tag of the Markdown cell "How this page was made" that the pipeline appends to every executed page.
HOW_MADE_TAG = "how-made"
#: Parameters that the pipeline sets itself: ``-p`` and book/experiments.yml may not.
RESERVED = {"findings_path": "the pipeline collects the findings itself and writes them beside the output "
                             "notebook (choose that with -o)"}
#: What a page is made from: ``build`` refuses to execute pages while tracked files here differ from
#: the commit (or new ``.py`` files lie under ``cca_core/``, which the code hash includes), unless
#: ``--allow-dirty``; the page's box then says "+ uncommitted changes".
SOURCES = ("cca_core", "notebooks", "book/experiments.yml", "book/experiments.paper.yml")


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
    #: The page's own title and introduction (a Markdown paragraph put under the title), for pages
    #: that share a template: ``None`` keeps the template's.
    title: str | None = None
    introduction: str | None = None
    #: The parameter set it comes from, relative to the repository (``--experiments``).
    origin: str = "book/experiments.yml"

    @property
    def heading(self) -> dict[str, str] | None:
        """The title and introduction set for this page in its parameter set, or ``None``."""
        own = {k: v for k, v in (("title", self.title), ("introduction", self.introduction)) if v}
        return own or None

    @property
    def template_path(self) -> Path:
        return NOTEBOOKS / f"{self.template}.ipynb"

    @property
    def output_path(self) -> Path:
        return BOOK / f"{self.name}.ipynb"

    @property
    def findings_path(self) -> Path:
        return FINDINGS / f"{self.name}.json"

    @property
    def source(self) -> str:
        """Where its parameters are written, as an error message names it."""
        return f"page {self.name!r} in {self.origin}"


def load_pages(path: Path | None = None) -> list[Page]:
    """The pages listed in ``book/experiments.yml``, in order, with their templates checked."""
    path = EXPERIMENTS if path is None else Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such parameter set (the book's are book/experiments.yml and "
                         "book/experiments.paper.yml)")
    try:
        origin = str(path.resolve().relative_to(ROOT.resolve()))
    except ValueError:
        origin = str(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("pages")
    if not isinstance(entries, dict) or not entries:
        raise UsageError(f"{path}: expected a non-empty mapping 'pages: {{page: {{template, parameters}}}}'")
    pages = []
    for name, entry in entries.items():
        entry = entry or {}
        unknown = set(entry) - {"template", "parameters", "title", "introduction"}
        if unknown:
            raise UsageError(f"{path}: page {name!r} has unknown keys {sorted(unknown)} "
                             f"(allowed: template, parameters, title, introduction)")
        for key in ("title", "introduction"):
            if entry.get(key) is not None and not (isinstance(entry[key], str) and entry[key].strip()):
                raise UsageError(f"{path}: page {name!r}: {key} must be non-empty text, got {entry[key]!r}")
        page = Page(name=str(name), template=str(entry.get("template", name)),
                    parameters=dict(entry.get("parameters") or {}),
                    title=(entry.get("title") or "").strip() or None,
                    introduction=(entry.get("introduction") or "").strip() or None, origin=origin)
        if not page.template_path.exists():
            raise UsageError(f"{path}: page {name!r} names template {page.template!r}, "
                             f"but {page.template_path.relative_to(ROOT)} does not exist")
        for key in sorted(set(page.parameters) & set(RESERVED)):
            raise parameter_error(page.template_path, f"{key}: not a parameter you can set here: {RESERVED[key]}",
                                  page.source)
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
            "heading": page.heading, "cca_core_sha256": code if code is not None else code_sha256()}


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
        reasons.append(f"parameters in {page.origin} changed")
    if recorded.get("heading") != expected["heading"]:
        reasons.append(f"title or introduction in {page.origin} changed")
    if recorded.get("cca_core_sha256") != expected["cca_core_sha256"]:
        reasons.append("cca_core code changed")
    return reasons


# ----------------------------------------------------------------------------------------------------
# execution


class PageFailed(RuntimeError):
    """A notebook raised (the message names the page, the cell and the error), or the HTML build failed."""


class Interrupted(Exception):
    """Ctrl-C (SIGINT) while a page executed: the message is the one line :func:`main` prints (unless
    the kernel's sweep already said how many networks it trained, ``said``); exit status 130."""

    def __init__(self, message: str, said: bool = False) -> None:
        super().__init__(message)
        self.said = said


_KEY = re.compile(r"[A-Za-z_]\w*")


def split_parameters(text: str) -> dict[str, Any] | list[tuple[str, str]]:
    """One ``-p`` argument: ``KEY=VALUE`` pairs, or a YAML mapping.

    ``"seeds=3 widths=[2, 4, 8]"`` gives ``[("seeds", "3"), ("widths", "[2, 4, 8]")]``: the text is cut
    at spaces that precede ``KEY=`` outside brackets and quotes, so a value may hold spaces (but not
    ``" KEY="``). Text that does not start with ``KEY=`` is a YAML mapping, braces optional
    (``"widths: [2, 4, 8], seeds: 3"``), and gives a dict of parsed values. :class:`UsageError` (one
    line) if it is neither.
    """
    stripped = text.strip()
    match = _KEY.match(stripped)
    if match and stripped[match.end():match.end() + 1] == "=" and stripped[match.end():match.end() + 2] != "==":
        pairs, start, depth, quote = [], 0, 0, ""
        for i, ch in enumerate(stripped):
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "[{(":
                depth += 1
            elif ch in "]})":
                depth = max(depth - 1, 0)
            elif ch.isspace() and depth == 0:
                nxt = _KEY.match(stripped, i + 1)
                if nxt and stripped[nxt.end():nxt.end() + 1] == "=":
                    pairs.append(stripped[start:i])
                    start = i + 1
        pairs.append(stripped[start:])
        out = []
        for pair in pairs:
            key, _, value = pair.strip().partition("=")
            if key.strip() in {k for k, _ in out}:
                raise UsageError(f"{key.strip()}: given twice; give each parameter once")
            out.append((key.strip(), value.strip()))
        return out
    if ":" not in stripped:
        raise UsageError(f"-p expects KEY=VALUE or a YAML mapping such as 'widths: [2, 4], seeds: 3', got {text!r}")
    source = stripped if stripped.startswith("{") else "{" + stripped + "}"
    try:
        mapping = yaml.load(source, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        raise UsageError(f"-p {text!r}: not KEY=VALUE nor a YAML mapping ({_yaml_problem(err)})") from None
    if (not isinstance(mapping, dict) or not mapping
            or not all(isinstance(k, str) and _KEY.fullmatch(k) for k in mapping)):
        raise UsageError(f"-p expects KEY=VALUE or a YAML mapping such as 'widths: [2, 4], seeds: 3', got {text!r}")
    return mapping


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping that repeats a key (``epochs: 3, epochs: 4``)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) or key is None:
            if key in seen:
                raise UsageError(f"{key}: given twice; give each parameter once")
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _yaml_problem(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    return f"{context}, {problem}" if context else str(problem)


def parameter_error(template: Path, problem: str, source: str = "") -> UsageError:
    """The one form of every parameter error: ``notebooks/<template>.ipynb: <problem>`` (``source``:
    where the values came from, when not the command line), printed by :func:`main` as
    ``error: ...`` on one line."""
    return UsageError(f"{_relative(template)}: {problem}" + (f" ({source})" if source else ""))


def template_spec(template: Path) -> dict[str, Any]:
    """The parameters of ``template``: its ``parameters`` cell parsed once
    (:func:`cca_core.experiments.report.parameters.template_parameters`: names, types, rules)."""
    from cca_core.experiments.report.parameters import ParameterSpecError, template_parameters

    try:
        return template_parameters(template)
    except ParameterSpecError as err:
        raise parameter_error(template, f"its parameters cell cannot be read: {err}") from None


def parse_overrides(args: list[str], template: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """``-p`` arguments as values: ``KEY=VALUE`` pairs or YAML mappings (see :func:`split_parameters`).
    Values are YAML (``3``, ``0.01``, ``[8, 16]``, ``true``, text), except that a ``KEY=VALUE`` of a text
    parameter of ``spec`` is the text as typed unless quoted (``label=12`` is ``"12"``). Names, types and
    rules are checked later, once, by :func:`check_values`; here only :data:`RESERVED` keys are refused.
    Every problem is a one-line :func:`parameter_error`."""
    params: dict[str, Any] = {}
    for arg in args:
        try:
            parsed = split_parameters(arg)
        except UsageError as err:
            raise parameter_error(template, str(err)) from None
        if isinstance(parsed, dict):
            items = list(parsed.items())
        else:
            items = []
            for key, raw in parsed:
                if not key:
                    raise parameter_error(template, "-p expects KEY=VALUE or a YAML mapping such as "
                                                    f"'widths: [2, 4], seeds: 3', got {arg!r}")
                try:
                    value = yaml.safe_load(raw) if raw else ""
                except yaml.YAMLError as err:
                    raise parameter_error(template, f"{key} = {raw!r}: not a YAML value ({_yaml_problem(err)})") from None
                if key in spec and spec[key].kind == "str" and not isinstance(value, (str, list, dict)):
                    value = raw  # -p layer=12: the text as typed
                items.append((key, value))
        for key, value in items:
            if key in params:
                raise parameter_error(template, f"{key}: given twice; give each parameter once")
            if key in RESERVED:
                raise parameter_error(template, f"{key}: not a parameter you can set here: {RESERVED[key]}")
            params[key] = value
    return params


def check_values(template: Path, spec: dict[str, Any], values: dict[str, Any], source: str = "") -> dict[str, Any]:
    """The one check of ``values`` against ``template``'s parameters cell (``spec``, from
    :func:`template_spec`): names (the closest one suggested for a typo), types (one coercion,
    :func:`cca_core.experiments.report.parameters.coerce`) and the rules its comments state, by
    :func:`cca_core.experiments.report.parameters.check_parameters`. Returns ``values`` as their
    declared types (only the names given); :func:`parameter_error` (one line) on any problem. The
    notebook's first cell checks the same rules again when it runs, with the same code."""
    from cca_core.experiments.report.parameters import ParameterError, check_parameters

    try:
        checked = check_parameters(values, spec)
    except ParameterError as err:
        raise parameter_error(template, str(err), source) from None
    return {k: checked[k] for k in values}


def _prepare_for_book(nb: nbformat.NotebookNode, template: str, page: str,
                      heading: dict[str, str] | None = None) -> None:
    """Hide the parameter cells, and give figures labels unique to the page: a template executed for
    two pages (two corpora, say) would otherwise define each figure label twice in the book. With
    ``heading`` (:attr:`Page.heading`), the first Markdown cell's ``# title`` becomes the page's title
    and its introduction is put under it; a page that is not its template's namesake gets rerun hints
    (``make page NB=<template>``) naming the page."""
    heading = heading or {}
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is not None and heading:
        lines = first.source.split("\n")
        at = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        if at is None:
            lines, at = ["# " + heading.get("title", page)] + lines, 0
        if "title" in heading:
            lines[at] = "# " + heading["title"]
        if "introduction" in heading:
            lines[at + 1:at + 1] = ["", heading["introduction"]]
        first.source = "\n".join(lines)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and page != template:
            cell.source = re.sub(rf"\bNB={re.escape(template)}\b", f"NB={page}", cell.source)
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and HIDE_TAG not in tags:
            cell.metadata["tags"] = [*tags, HIDE_TAG]
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        name = figure.get("name")
        if name and page != template:
            base = name[len(template) + 1:] if name.startswith(f"{template}-") else name
            figure["name"] = f"{page}-{base}"


# ----------------------------------------------------------------------------------------------------
# what the kernel gets, and what reaches the terminal


def kernel_environment() -> dict[str, str]:
    """Variables the kernels get on top of this process's environment: the Makefile's defaults for the
    cache and data directories where they are unset or empty, and TensorFlow's C++ log level 3."""
    env = {}
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip():
        # TensorFlow's C++ log lines (tf.data attribute notices at every epoch) would otherwise flood the
        # progress on the terminal; Python-level errors are unaffected.
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not os.environ.get(CACHE_ENV, "").strip():
        env[CACHE_ENV] = str(ROOT / ".experiment-cache")
    shared = ROOT.parent / "shared" / "data"
    if not os.environ.get(DATA_ENV, "").strip() and shared.is_dir():
        env[DATA_ENV] = str(shared.resolve())
    return env


def _shown(path: str | Path) -> str:
    """``path`` relative to the current directory when it lies below it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(p)


def describe_environment(env: dict[str, str]) -> str:
    """One line: the cache and data directories the kernels use, and where each setting comes from."""
    parts = []
    for var, what in ((CACHE_ENV, "cache"), (DATA_ENV, "data")):
        value = env.get(var) or os.environ.get(var, "").strip()
        if not value:
            parts.append(f"{what} directory none ({var} unset, no ../shared/data)")
        else:
            parts.append(f"{what} {_shown(value)} ({var}{', default' if var in env else ''})")
    return ", ".join(parts)


#: The kernel process's own stderr lines (not the notebook's) that are noise, not news.
KERNEL_NOISE = (
    # TensorFlow >= 2.18 logs these through absl before its logging is set up, so TF_CPP_MIN_LOG_LEVEL
    # does not reach them: at every fit, "NodeDef mentions attribute use_unbounded_threadpool ...".
    # Before absl is initialised the time stamp is seconds since the epoch: "E0000 00:00:1796160103.090457".
    re.compile(r"^[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "),
    re.compile(r"^E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*use_unbounded_threadpool"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    # ipykernel >= 7 on the loopback TCP transport that nbclient uses
    re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption"),
    # ipykernel, when nbclient shuts the kernel down after the last cell
    re.compile(r"^\[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel"),
    # asyncio, in the kernel as it shuts down: ipykernel's pending dispatch_control task
    re.compile(r"^Task was destroyed but it is pending!$"),
    re.compile(r"^task: <Task pending name=.*dispatch_control"),
)


class KernelStderr:
    """A pipe for the kernel process's stderr (C-level output: TensorFlow, the kernel's own log): a
    thread writes its lines to the terminal as they come, less :data:`KERNEL_NOISE`. Use as a
    context manager; :attr:`fd` is the pipe's write end to give the kernel."""

    def __init__(self) -> None:
        self._read, self.fd = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="kernel-stderr", daemon=True)
        #: Set on Ctrl-C: from then on only a line starting ``interrupted:`` passes (the tracebacks of
        #: the interrupted kernel and its training processes do not).
        self.interrupted = threading.Event()

    def __enter__(self) -> "KernelStderr":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # the kernel has exited: the reader sees the end of the pipe
        self._thread.join(timeout=5)

    def _pump(self) -> None:
        with os.fdopen(self._read, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if self.interrupted.is_set() and not line.lstrip().startswith("interrupted:"):
                    continue
                if line.strip() and not any(p.search(line) for p in KERNEL_NOISE):
                    _say(line)


class SweepProgress:
    """Receives the notebook's stderr as papermill reads it (``stderr_file``) and puts each training
    sweep's lines on the terminal: the sweep's summary, each network as it starts and as it ends
    (``[3/20] training ... `` then ``[3/20] done in 12.3 s, test acc 0.97``); networks loaded from the
    cache are counted in the summary, not listed. Other stderr output (warnings) stays in the page."""

    _LINE = re.compile(r"^(sweep(?: done)?: |\[\d+/\d+\] |interrupted: )")
    _STARTED = re.compile(r"^(\[\d+/\d+\]) training .* \.\.\.$")
    _OUTCOME = re.compile(r"^(done|failed|cached)\b")

    def __init__(self, indent: str = "    ") -> None:
        self.indent = indent
        self._buffer = ""
        self._started: str | None = None
        #: Whether the sweep said ``interrupted: ...`` (how many networks it trained and cached).
        self.said_interrupted = False

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._line(line.rsplit("\r", 1)[-1])
        if self._started is None and self._STARTED.match(self._buffer):
            self._started = self._buffer
            _say(self.indent + self._buffer)
        return len(text)

    def _line(self, line: str) -> None:
        started, self._started = self._started, None
        if started is not None and line.startswith(started):
            rest = line[len(started):].strip()
            if self._OUTCOME.match(rest):
                _say(f"{self.indent}{started.split(' ', 1)[0]} {rest}")
            return
        if self._LINE.match(line) and not line.endswith("... cached"):
            self.said_interrupted = self.said_interrupted or line.startswith("interrupted: ")
            _say(self.indent + line)

    def flush(self) -> None:
        pass


class _Kernel:
    """The kernel's process group, as :func:`_kernel_manager_class` starts it (jupyter_client starts
    each kernel in a session of its own, so Ctrl-C on the terminal does not reach it): :meth:`signal`
    sends it a signal, now or, when it has not started yet, as soon as it has."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pgid: int | None = None
        self._pending: int | None = None

    def started(self, pgid: int | None) -> None:
        with self._lock:
            self._pgid, pending = pgid, self._pending
        if pending is not None:
            self.signal(pending)

    def signal(self, signum: int) -> None:
        with self._lock:
            pgid = self._pgid
            if pgid is None:
                self._pending = signum
                return
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _kernel_manager_class(env: dict[str, str], stderr_fd: int, kernel: _Kernel | None = None) -> type:
    """A jupyter_client kernel manager that starts the kernel with ``env`` added to this process's
    environment and its stderr on ``stderr_fd``, and tells ``kernel`` its process group; nbclient
    creates it (``kernel_manager_class``)."""
    from jupyter_client.manager import AsyncKernelManager

    class PipelineKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            kw.setdefault("stderr", stderr_fd)
            started = await super().start_kernel(**kw)
            if kernel is not None:
                provisioner = getattr(self, "provisioner", None)
                kernel.started(getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None))
            return started

    return PipelineKernelManager


# ----------------------------------------------------------------------------------------------------
# what a page says about how it was made


def git_state() -> tuple[str | None, list[str]]:
    """The short hash of the checkout's HEAD (``None`` outside a git checkout, or when the repository
    is not the checkout's top) and the paths of :data:`SOURCES` that differ from it: tracked files
    changed (staged or not), and untracked ``.py`` files under ``cca_core/`` (the code hash includes
    them). Untracked notebooks and outputs (``book/reruns/``) do not count."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != ROOT.resolve():
        return None, []
    commit = (git("rev-parse", "--short", "HEAD") or "").strip() or None
    changed = []
    for line in (git("status", "--porcelain", "--untracked-files=all", "--", *SOURCES) or "").splitlines():
        code, path = line[:2], line[3:].split(" -> ")[-1].strip('"')
        if code == "??" and not (path.startswith("cca_core/") and path.endswith(".py")):
            continue
        changed.append(path)
    return commit, changed


def git_commit() -> tuple[str | None, bool]:
    """:func:`git_state` as the how-made box uses it: the short hash, and whether any source changed."""
    commit, changed = git_state()
    return commit, bool(changed)


def _version() -> str:
    try:
        import cca_core
    except ImportError:  # pragma: no cover - the pipeline runs in the package's environment
        return "unknown"
    return str(getattr(cca_core, "__version__", "unknown"))


def training_sentence(training: dict[str, Any] | None) -> str:
    """The how-made box's sentence on training, from the findings JSON's ``"training"`` record
    (:func:`cca_core.experiments.report.findings.training_record`); ``""`` when the page trains nothing."""
    if not training or not training.get("networks"):
        return ""
    n, seconds = int(training["networks"]), float(training["seconds"])
    took = f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
    return (f"Training: {n} network{'s' if n != 1 else ''}, {took} in all, as recorded when each was trained "
            "(summed over networks; a later build loads them from the cache).")


def how_made_cell(command: str, template: str, parameters: dict[str, Any], origin: str,
                  commit: tuple[str | None, bool], training: dict[str, Any] | None = None,
                  page: str | None = None) -> nbformat.NotebookNode:
    """The Markdown cell (tag :data:`HOW_MADE_TAG`) that ends every executed page: a MyST dropdown
    with the command, the template, the parameters (``origin``: a sentence on where they come from, or
    ``""``), the training time recorded with the networks (``training``: see :func:`training_sentence`),
    how to rerun it (``make page NB=<page> P="key=value ..."``; ``page`` defaults to the template's
    name), the cca_core version and the git commit (short hash, "+ uncommitted changes" when the
    sources of :data:`SOURCES` differ from it, which ``build`` allows only with ``--allow-dirty``)."""
    shown = ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in parameters.items())
    params = (f"Parameters: {shown}; the others at the template's defaults." if parameters
              else "Parameters: the template's defaults.")
    sha, dirty = commit
    trained = training_sentence(training)
    nb_name = page or Path(template).stem
    hint = (f'To rerun it with other parameters: `make page NB={nb_name} P="key=value ..."` (a new page in '
            "`book/reruns/`; the book is untouched).")
    revision = (f"git commit `{sha}`" + (" + uncommitted changes" if dirty else "")) if sha else "not from a git checkout"
    text = "\n".join([
        "```{admonition} How this page was made",
        ":class: dropdown note",
        f"`{command}` executed the template `{template}` with papermill. {params}" + (f" {origin}" if origin else ""),
        "",
        *([trained, ""] if trained else []),
        hint,
        "",
        f"cca_core {_version()}, {revision}.",
        "```",
    ])
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [HOW_MADE_TAG]
    return cell


def _scrub(nb: nbformat.NotebookNode, replacements: list[tuple[str, str]]) -> None:
    """Replace build-machine paths (``(old, new)`` pairs, applied in order) in the text of the outputs:
    streams, text/plain, text/markdown and text/html."""
    def fix(text: Any) -> Any:
        if isinstance(text, list):
            return [fix(t) for t in text]
        if isinstance(text, str):
            for old, new in replacements:
                text = text.replace(old, new)
        return text

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = fix(out["text"])
            for mime in ("text/plain", "text/markdown", "text/html"):
                if mime in out.get("data", {}):
                    out["data"][mime] = fix(out["data"][mime])


def _relative(path: Path) -> str:
    """``path`` relative to the repository, or only its name when it lies outside."""
    try:
        return path.resolve().relative_to(ROOT.resolve()).as_posix()
    except ValueError:
        return path.name


# ----------------------------------------------------------------------------------------------------
# executing a page


def execute(template: Path, output: Path, findings: Path, parameters: dict[str, Any],
            record: dict[str, Any] | None, label: str, *, command: str = "book/pipeline.py build",
            origin: str = "", commit: tuple[str | None, bool] | None = None, page: str | None = None) -> float:
    """Execute ``template`` with ``parameters`` (checked by the caller: :func:`check_values`) into
    ``output`` and its findings JSON into ``findings``.

    Runs in a scratch directory; ``output`` and ``findings`` are replaced only on success. The page
    gets the "How this page was made" cell (``command``, ``origin`` of the parameters, ``commit``:
    :func:`git_commit` when not given, ``page``: the ``NB`` of its rerun hint, default the template's
    name). Returns the wall time in seconds. Raises :class:`PageFailed` naming the cell and the error.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    scratch = SCRATCH / output.stem
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    scratch_nb = scratch / output.name
    scratch_findings = scratch / "findings" / findings.name
    env = dict(kernel_environment(), **{FINDINGS_ENV: str(scratch_findings)})
    start = time.perf_counter()
    progress = SweepProgress()
    try:
        with KernelStderr() as kernel_stderr:
            kernel = _Kernel()
            _run_interruptibly(lambda: papermill.execute_notebook(
                str(template), str(scratch_nb), parameters=dict(parameters), cwd=str(scratch),
                kernel_name="python3", progress_bar=True, request_save_on_cell_execute=False, log_output=False,
                stderr_file=progress, kernel_manager_class=_kernel_manager_class(env, kernel_stderr.fd, kernel),
                # C-level stderr (TensorFlow's start-up banner) goes to the terminal, through
                # KernelStderr, not into the page; Python-level output is captured as usual.
                extra_arguments=["--IPKernelApp.capture_fd_output=False"]), kernel, kernel_stderr)
    except Interrupted:
        shutil.rmtree(scratch, ignore_errors=True)
        raise Interrupted(f"interrupted: {_shown(output)} was not written; networks already trained are cached; "
                          "rerun to continue", said=progress.said_interrupted) from None
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
    if not scratch_findings.exists():
        raise PageFailed(f"{label}: {template.relative_to(ROOT)} ran but wrote no findings; its last cells must call "
                         f"report_findings(..., path=findings_path)")
    nb = nbformat.read(scratch_nb, as_version=4)
    _prepare_for_book(nb, template.stem, output.stem, (record or {}).get("heading"))
    cache = env.get(CACHE_ENV) or os.environ.get(CACHE_ENV, "").strip()
    replacements = [(str(Path(cache).expanduser().resolve()), f"${CACHE_ENV}"), (cache, f"${CACHE_ENV}")] if cache else []
    replacements += [(str(ROOT.resolve()) + os.sep, ""), (str(ROOT) + os.sep, "")]
    replacements += [(sysconfig.get_paths()[k], "site-packages") for k in ("purelib", "platlib")]  # warnings' file names
    _scrub(nb, sorted(set(replacements), key=lambda r: -len(r[0])))
    nb.metadata.setdefault("papermill", {}).update(input_path=_relative(template), output_path=_relative(output))
    findings_bytes = scratch_findings.read_bytes()
    training = json.loads(findings_bytes).get("training")
    nb.cells.append(how_made_cell(command, f"notebooks/{template.name}", parameters, origin,
                                  git_commit() if commit is None else commit, training, page or template.stem))
    if record is not None:
        nb.metadata[METADATA_KEY] = dict(record, seconds=round(seconds, 1))
    atomic_write(findings, lambda f: f.write(findings_bytes))
    text = nbformat.writes(nb).rstrip("\n") + "\n"  # as nbformat.write lays a file out
    atomic_write(output, lambda f: f.write(text.encode("utf-8")))
    shutil.rmtree(scratch, ignore_errors=True)
    return seconds


def _run_interruptibly(work: Any, kernel: _Kernel, kernel_stderr: KernelStderr) -> None:
    """Run ``work()`` (papermill executing a notebook) in a thread, so that nbclient installs no signal
    handler of its own, while this thread waits for Ctrl-C. On the first, the kernel's process group
    (the kernel and its training processes) gets SIGINT, as Jupyter's interrupt button sends it: the
    running cell stops (a sweep says how many networks it trained and cached), papermill shuts the
    kernel down, and :class:`Interrupted` is raised, whatever ``work`` raised meanwhile. A second
    Ctrl-C, or a kernel that has not stopped within 30 s, gets SIGKILL. From the interrupt on, the
    kernel's stderr shows only an ``interrupted:`` line and asyncio's logger is silenced."""
    outcome: dict[str, BaseException] = {}

    finished = threading.Event()  # not Thread.join: an interrupted join can leave is_alive() wrong

    def target() -> None:
        try:
            work()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = err
        finally:
            finished.set()

    thread = threading.Thread(target=target, name="papermill", daemon=True)
    thread.start()
    interrupted, deadline = False, None
    while not finished.is_set():
        try:
            finished.wait(timeout=0.2)
            if deadline is not None and time.monotonic() > deadline:
                kernel.signal(signal.SIGKILL)
                deadline = None
        except KeyboardInterrupt:
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
            kernel_stderr.interrupted.set()
            if not interrupted:
                interrupted, deadline = True, time.monotonic() + 30
                kernel.signal(signal.SIGINT)
            else:
                kernel.signal(signal.SIGKILL)
                deadline = None
    error = outcome.get("error")
    if interrupted or isinstance(error, KeyboardInterrupt) or getattr(error, "ename", None) == "KeyboardInterrupt":
        kernel_stderr.interrupted.set()
        raise Interrupted("interrupted")
    if error is not None:
        raise error


def _say(msg: str) -> None:
    """A line on stderr that does not break papermill's progress bar (tqdm redraws it below)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - papermill depends on tqdm
        print(msg, file=sys.stderr, flush=True)
        return
    tqdm.write(msg, file=sys.stderr)
    sys.stderr.flush()


def findings_table(path: Path, width: int | None = None) -> str:
    """The findings of ``path`` (a findings JSON) as plain text for the terminal: the rows of the page's
    findings table (claim, ours, verdict), each with its verdict's reason in one line, wrapped to
    ``width`` columns (default: the terminal's)."""
    from cca_core.experiments.report.findings import findings_text, load_findings

    return findings_text(load_findings(path)["findings"], width)


def verdict_counts(path: Path) -> str:
    """``"2 reproduced, 1 partly"``: the verdicts of a findings JSON, counted, strongest first."""
    from cca_core.experiments.report.findings import load_findings
    from cca_core.experiments.verdicts.findings import VERDICTS

    verdicts = [f["verdict"] for f in load_findings(path)["findings"]]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS if v in verdicts)


def check_cluster() -> None:
    """Say where the sweeps will run; :class:`UsageError` (one line) if ``CCA_CORE_SCHEDULER`` names a
    scheduler that does not answer. Imports Dask only when the variable is set."""
    from cca_core.experiments.cluster import SCHEDULER_ENV, SchedulerUnreachable, check_scheduler, scheduler_address

    if scheduler_address() is None:
        return
    try:
        address = check_scheduler()
    except (SchedulerUnreachable, ModuleNotFoundError) as err:
        raise UsageError(str(err)) from None
    _say(f"book: training sweeps run on the Dask cluster at {address} ({SCHEDULER_ENV}); the cache directory "
         f"must be shared with its workers")


def build_pages(pages: list[Page], force: bool = False, allow_dirty: bool = False) -> None:
    """Execute the pages that are stale (all of them with ``force``), in order, with progress.

    Before any is executed, the parameters of each are checked (:func:`check_values`) and the sources
    a page is made from (:data:`SOURCES`) must be committed: :class:`UsageError` (one line) naming the
    changed files otherwise, unless ``allow_dirty`` (then each page's box says "+ uncommitted changes").
    """
    code = code_sha256()
    todo = [(p, ["--force"] if force else staleness(p, code)) for p in pages]
    todo = [(p, why) for p, why in todo if why]
    for page, _ in todo:
        check_values(page.template_path, template_spec(page.template_path), page.parameters, page.source)
    sha, changed = git_state() if todo else (None, [])
    if changed and not allow_dirty:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise UsageError(f"uncommitted changes to {shown}: pages built now would not match commit {sha}; "
                         f"commit them, or pass --allow-dirty (make book ALLOW_DIRTY=1) to build anyway")
    _say(f"book: {len(pages)} pages, {len(pages) - len(todo)} up to date, {len(todo)} to execute")
    if not todo:
        return
    commit = (sha, bool(changed))
    _say(f"book: {describe_environment(kernel_environment())}")
    start = time.perf_counter()
    for i, (page, why) in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {page.name}"
        _say(f"{label}: executing {page.template_path.relative_to(ROOT)} ({'; '.join(why)})")
        seconds = execute(page.template_path, page.output_path, page.findings_path, page.parameters,
                          provenance(page, code), label, command="book/pipeline.py build",
                          origin=f"They are those of page `{page.name}` in `{page.origin}`." if page.parameters
                          else "", commit=commit, page=page.name)
        _say(f"{label}: done in {seconds:.0f} s (total {time.perf_counter() - start:.0f} s); findings: "
             f"{verdict_counts(page.findings_path)}")


def rerun_start(notebook: str, pages: list[Page], book_parameters: str | None,
                defaults: bool) -> tuple[Path, Page | None, str]:
    """Which template ``run NOTEBOOK`` executes, the book page whose parameters it starts from (``None``:
    the template's defaults) and a sentence that says so. ``NOTEBOOK`` names a template, or a page
    (its template, from its parameters)."""
    by_name = {p.name: p for p in pages}
    template = NOTEBOOKS / f"{notebook}.ipynb"
    named_page = None
    if not template.exists():
        if notebook not in by_name:
            known = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
            close = difflib.get_close_matches(notebook, sorted(set(known) | set(by_name)), n=1)
            if close:
                raise UsageError(f"no template notebooks/{notebook}.ipynb and no book page {notebook!r}; "
                                 f"did you mean {close[0]!r}?")
            raise UsageError(f"no template notebooks/{notebook}.ipynb and no book page {notebook!r}; "
                             f"templates: {', '.join(known)}; pages: {', '.join(by_name)}")
        named_page = by_name[notebook]
        template = named_page.template_path
    users = [p for p in pages if p.template == template.stem]
    if defaults:
        return template, None, "run: starting from the template's defaults (--defaults)"
    if book_parameters:
        if book_parameters not in by_name:
            raise UsageError(f"unknown page {book_parameters!r}; pages: {', '.join(by_name)}")
        page = by_name[book_parameters]
        if page.template != template.stem:
            raise UsageError(f"book page {page.name!r} is made from notebooks/{page.template}.ipynb, not "
                             f"{template.relative_to(ROOT)}; pages of this template: "
                             f"{', '.join(p.name for p in users) or 'none'}")
        return template, page, f"run: starting from the parameters of book page {page.name!r} (--book-parameters)"
    if not users:
        return template, None, "run: starting from the template's defaults (no book page uses this template)"
    page = named_page or by_name.get(template.stem) or users[0]
    others = [p.name for p in users if p is not page]
    also = f"; other pages of this template: {', '.join(others)} (--book-parameters PAGE)" if others else ""
    return template, page, (f"run: starting from the parameters of book page {page.name!r} ({page.origin})"
                            f"{also}; --defaults starts from the template's defaults")


def rerun(args: argparse.Namespace, pages: list[Page]) -> None:
    """``run``: one template with overrides into a separate page, ending with its findings table."""
    template, page, said = rerun_start(args.notebook, pages, args.book_parameters, args.defaults)
    spec = template_spec(template)  # the parameters cell, parsed once
    overrides = parse_overrides(args.parameter, template, spec)
    values = dict(page.parameters if page else {}, **overrides)
    try:
        params = check_values(template, spec, values)  # checked once
    except UsageError as err:  # say which of the values named came from the book page, not the command line
        named = [k for k in values if k not in overrides and page and re.search(rf"\b{re.escape(k)}\b", str(err))]
        if not named:
            raise
        given = ", ".join(f"{k}={values[k]!r}" for k in named)
        raise UsageError(f"{err} ({given} from book page {page.name!r}: give {'it' if len(named) == 1 else 'them'} "
                         f"too, or start from the template's defaults with --defaults, make page DEFAULTS=1)") from None
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    output = (args.output or RERUNS / f"{template.stem}-{digest}.ipynb").resolve()
    if output.suffix != ".ipynb":
        raise UsageError(f"-o {args.output}: the output must be a .ipynb file")
    if output.parent == BOOK.resolve() and output.stem in {p.name for p in pages}:
        raise UsageError(f"{_shown(output)} is a page of the book; choose another output path")
    findings = output.with_suffix(".json")
    _say(said)
    changed = ", ".join(f"{k}: {json.dumps(params[k])}" for k in overrides)
    _say(f"run: {template.relative_to(ROOT)}" + (f" with {changed}" if changed else "") + f" -> {_shown(output)}")
    _say(f"run: {describe_environment(kernel_environment())}")
    origin = ""
    if page is not None:
        changed_keys = [k for k in overrides if page.parameters.get(k, object()) != params[k]]
        origin = (f"They are those of book page `{page.name}` (`{page.origin}`)"
                  + (" with " + ", ".join(f"`{k}`" for k in changed_keys) + " changed." if changed_keys else "."))
    record = provenance(Page(name=output.stem, template=template.stem, parameters=params))
    seconds = execute(template, output, findings, params, record, f"run {template.stem}",
                      command="book/pipeline.py run", origin=origin, page=args.notebook)
    _say(f"run: done in {seconds:.0f} s: {_shown(output)}, findings {_shown(findings)}")
    print(findings_table(findings), flush=True)


# ----------------------------------------------------------------------------------------------------
# scorecard and HTML


#: The scorecard's figure, written beside ``book/scorecard.md`` (both generated, neither committed).
SCORECARD_FIGURE = "scorecard_figure.png"


def _chapters(pages: list[Page]) -> list[Any]:
    from cca_core.experiments.report.findings import load_findings
    from cca_core.experiments.report.scorecard import Chapter

    return [Chapter.from_json(p.name, load_findings(p.findings_path)) for p in pages if p.findings_path.exists()]


def scorecard_markdown(pages: list[Page], figure: str | None = SCORECARD_FIGURE) -> str:
    """The scorecard page from the pages' findings JSON: the verdicts counted, the forest plot
    (``figure``, a file beside the page; None: without it), then one line per claim by chapter with a
    link to each (:func:`cca_core.experiments.report.scorecard.scorecard_markdown`)."""
    from cca_core.experiments.report.scorecard import scorecard_markdown as markdown

    return markdown(_chapters(pages), figure)


def scorecard_figure(pages: list[Page], path: Path) -> int:
    """Draw the scorecard's forest plot into ``path``; the number of claims drawn (0: no file)."""
    from cca_core.experiments.report.scorecard import scorecard_figure as draw

    return draw(_chapters(pages), path)


def build_html(pages: list[Page], build_dir: Path | None = None) -> Path:
    """Write ``book/scorecard.md`` and its figure, and build the HTML with jupyter-book; return the HTML
    directory."""
    figure = BOOK / SCORECARD_FIGURE
    drawn = scorecard_figure(pages, figure)
    if not drawn:
        figure.unlink(missing_ok=True)
    (BOOK / "scorecard.md").write_text(scorecard_markdown(pages, SCORECARD_FIGURE if drawn else None),
                                       encoding="utf-8")
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
    parser = argparse.ArgumentParser(prog="book/pipeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=Path, default=None, metavar="YAML",
                        help="the book's parameter set (default book/experiments.yml; the paper's scale, for a machine "
                             "with a GPU: book/experiments.paper.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute stale pages, then build the HTML")
    b.add_argument("--only", nargs="+", metavar="PAGE", help="consider only these pages")
    b.add_argument("--force", action="store_true", help="execute even pages that are up to date")
    b.add_argument("--no-html", action="store_true", help="do not build the HTML")
    b.add_argument("--allow-dirty", action="store_true",
                   help="execute pages even with uncommitted changes to cca_core/, notebooks/ or "
                        "book/experiments.yml (their boxes then say so)")
    r = sub.add_parser("run", help="execute one template with overrides into a separate page")
    r.add_argument("notebook", help="template name in notebooks/ (e.g. memorization), or a book page's name")
    r.add_argument("-p", "--parameter", action="append", default=[], metavar="PARAMETERS",
                   help="KEY=VALUE pairs separated by spaces, or a YAML mapping 'key: value, key2: value2' "
                        "(values are YAML); repeatable")
    r.add_argument("-o", "--output", type=Path, help="output notebook (default book/reruns/<notebook>-<hash>.ipynb)")
    start = r.add_mutually_exclusive_group()
    start.add_argument("--book-parameters", metavar="PAGE",
                       help="start from this book page's parameters (default: the page of this template)")
    start.add_argument("--defaults", action="store_true",
                       help="start from the template's defaults, not from its book page's parameters")
    sub.add_parser("status", help="which pages are stale and why")
    h = sub.add_parser("html", help="only generate the scorecard and build the HTML")
    h.add_argument("--build-dir", type=Path, help="directory for _build (default book/)")
    args = parser.parse_args(argv)

    try:
        pages = load_pages(args.experiments)
        if args.command in ("build", "run"):
            check_cluster()
        if args.command == "build":
            selected = pages
            if args.only:
                names = {p.name for p in pages}
                missing = [n for n in args.only if n not in names]
                if missing:
                    raise UsageError(f"unknown page(s) {missing}; pages: {', '.join(sorted(names))}")
                selected = [p for p in pages if p.name in args.only]
            build_pages(selected, force=args.force, allow_dirty=args.allow_dirty)
            if not args.no_html:
                build_html(pages)
        elif args.command == "run":
            rerun(args, pages)
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
    except Interrupted as err:
        if not err.said:
            _say(str(err))
        return 130
    except KeyboardInterrupt:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        _say("interrupted: no page was being written; networks already trained are cached; rerun to continue")
        return 130
    except PageFailed as err:
        _say(f"FAILED {err}")
        _say("Pages executed before this one, and every existing page, are intact.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fixtures for the book's tests: the pipeline module and the HTML built from the committed pages."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import ModuleType

import pytest
from pipeline_module import load_pipeline


@pytest.fixture(scope="session")
def pipeline() -> ModuleType:
    return load_pipeline()


@pytest.fixture(scope="session")
def book_html(pipeline: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built by jupyter-book (warnings are errors) from the committed executed pages, once per test
    run: under pytest-xdist (``make test``) the worker processes share one build, made by the first that
    asks under a lock while the others wait. Two builds at once would cost about 2 minutes more and race
    on ``book/scorecard.md``, which every build rewrites."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, shared by the workers (each has its own below it)
    build_dir = base / "book-html"
    with open(base / "book-html.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        html = build_dir / "_build" / "html"
        if not (build_dir / "built").exists():  # a failed build leaves no mark: the next worker builds again
            build_dir.mkdir(exist_ok=True)
            html = pipeline.build_html(pipeline.load_pages(), build_dir=build_dir)
            (build_dir / "built").touch()
    assert (html / "index.html").exists()
    return html

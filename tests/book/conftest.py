"""Fixtures for the book's tests: the pipeline module and the HTML built from the committed pages."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from pipeline_module import load_pipeline


@pytest.fixture(scope="session")
def pipeline() -> ModuleType:
    return load_pipeline()


@pytest.fixture(scope="session")
def book_html(pipeline: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built by jupyter-book (warnings are errors) from the committed executed pages."""
    build_dir = tmp_path_factory.mktemp("book")
    html = pipeline.build_html(pipeline.load_pages(), build_dir=build_dir)
    assert (html / "index.html").exists()
    return html

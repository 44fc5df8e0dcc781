"""The built book, opened page by page in headless Chromium with the network cut off.

Every page of ``book/_toc.yml`` (and ``index.html``) must show its figures, typeset its formulas with
the MathJax shipped in the build, log no console error, raise no script error and ask for nothing
outside ``file://``. The checker itself is tested first on a page made to fail each check.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` package (extra
``book``; its own browser download is never used). Without them the tests are skipped, except under
CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import base64
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import book_pages, check_page, find_chromium, launch

BOOK_SOURCES = Path(__file__).resolve().parents[2] / "book"


def _toc_docnames(toc: Path) -> list[str]:
    """The root and every file of a jupyter-book ``_toc.yml`` (parts/chapters/sections), in order."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    names = [str(data["root"])]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries or []:
            if "file" in entry:
                names.append(str(entry["file"]))
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(data.get("parts", []))
    walk(data.get("chapters", []))
    return [Path(n).with_suffix("").as_posix() for n in names]


PAGES = ["index", *_toc_docnames(BOOK_SOURCES / "_toc.yml")]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system, through playwright; skipped (failed under CI) when absent.

    Module scope, not session: playwright's sync API keeps an asyncio loop running in the main
    thread while it is open, and a session-long one made every later ``asyncio.run`` fail.
    """
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[book]')"
    if missing is None and find_chromium() is None:
        missing = "no chromium executable (Debian: apt-get install -y chromium; or set $CHROMIUM)"
    if missing is not None:
        if _in_ci():
            pytest.fail(f"browser checks cannot run under CI: {missing}")
        pytest.skip(f"browser checks skipped: {missing}")
    with launch() as b:
        yield b


# ------------------------------------------------------------------------------------ the checker


TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_checker_finds_each_problem(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "ok.png").write_bytes(TINY_PNG)
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><head>"
        '<script src="https://cdn.example.invalid/mathjax.js"></script>'
        "</head><body>"
        '<img src="ok.png"><img src="missing.png">'
        '<p>Inline <span class="math notranslate nohighlight">\\(x^2\\)</span> left untypeset.</p>'
        "<p>Raw $\\rho_i$ in the text.</p><pre>$HOME is fine in code</pre>"
        "<script>console.error('boom'); undefined_function();</script>"
        "</body></html>", encoding="utf-8")
    report = check_page(browser, page, timeout_s=2)
    text = "\n".join(report.problems)
    assert report.images == 2 and report.math_elements == 1
    assert "missing.png" in text and "ok.png" not in text
    assert "MathJax did not load" in text
    assert "1 of 1 math elements not typeset" in text
    assert "raw TeX in the text: 'Raw $\\\\rho_i$ in the text.'" in text
    assert "$HOME" not in text
    assert report.external_requests == ["https://cdn.example.invalid/mathjax.js"]
    assert "request outside file:// (blocked): https://cdn.example.invalid/mathjax.js" in text
    assert "console error: boom" in text
    assert "page error: " in text and "undefined_function" in text


def test_checker_passes_a_clean_page(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "ok.png").write_bytes(TINY_PNG)
    page = tmp_path / "good.html"
    page.write_text('<!doctype html><html><body><p>Costs $5 and $6.</p><img src="ok.png"></body></html>',
                    encoding="utf-8")
    report = check_page(browser, page, timeout_s=2)
    assert report.problems == [], report.problems
    assert report.images == 1


def _offline_mathjax() -> Path | None:
    """``tex-chtml.js`` of the MathJax that the book ships (package sphinx-mathjax-offline), if installed."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js"
    return path if path.is_file() else None


def test_checker_finds_tex_errors_with_the_shipped_mathjax(browser: Any, tmp_path: Path) -> None:
    mathjax = _offline_mathjax()
    if mathjax is None:
        (pytest.fail if _in_ci() else pytest.skip)("sphinx-mathjax-offline (extra book) is not installed")
    page = tmp_path / "tex.html"
    page.write_text(
        "<!doctype html><html><head>"
        '<script>window.MathJax = {tex: {packages: {"[-]": ["noundefined"]}}};</script>'
        f'<script defer src="{mathjax.as_uri()}"></script></head><body>'
        '<p><span class="math">\\(\\rho_i \\in [0, 1]\\)</span> is fine,'
        ' <span class="math">\\(\\undefinedmacro x\\)</span> is not.</p>'
        '<div class="math">\\[\\sum_i \\alpha_i = 1\\]</div>'
        "</body></html>", encoding="utf-8")
    report = check_page(browser, page, timeout_s=20)
    assert report.math_elements == 3
    assert report.problems == ["TeX error (1x): Undefined control sequence \\undefinedmacro"], report.problems


# ------------------------------------------------------------------------------------ the book


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline(browser: Any, book_html: Path, name: str) -> None:
    path = book_html / f"{name}.html"
    assert path.is_file(), f"{name}.html is missing from the built book {book_html}"
    report = check_page(browser, path, html_dir=book_html)
    assert report.ok, f"{name}.html ({report.url}):\n  " + "\n  ".join(report.problems)
    if name == "methods":  # the page that is mostly formulas: they must be there to be checked
        assert report.math_elements > 20, report.math_elements


def test_every_built_page_is_checked(book_html: Path) -> None:
    built = {p.stem for p in book_pages(book_html)}
    assert built <= set(PAGES), f"pages built but not in _toc.yml, so not checked: {sorted(built - set(PAGES))}"


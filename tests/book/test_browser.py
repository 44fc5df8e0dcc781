"""The built book, opened page by page in headless Chromium with the network cut off.

Every page of ``book/_toc.yml`` (and ``index.html``) must show its figures, typeset its formulas with
the MathJax shipped in the build, log no console error, raise no script error and ask for nothing
outside ``file://``; and everything on it must fit the content column: no box or line of text
beyond it (tables may scroll inside their own box), no sideways scrolling, and every figure shown at
no less than ``min_display_scale()`` of its natural width, so that its smallest text (STYLE's
legend, 9.5 pt at 110 dpi = 14.5 px) is at least 10 px. The checker itself is tested first on pages
made to fail each check, and the book's CSS (``book/_static/*.css``) and figure sizes
(``new_axes``) on a synthetic page shaped like the theme's.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` package (extra
``book``; its own browser download is never used). Without them the tests are skipped, except under
CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import book_pages, check_page, find_chromium, launch

from cca_core.experiments.report.plots import COLUMN_WIDTH_PX, min_display_scale

BOOK_SOURCES = Path(__file__).resolve().parents[2] / "book"
BOOK_CSS = sorted((BOOK_SOURCES / "_static").glob("*.css"))


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


def _png(width: int, height: int) -> bytes:
    """A white RGB PNG of ``width`` x ``height`` pixels, written from the format's definition."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_checker_finds_what_does_not_fit_the_column(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(_png(1200, 4))
    (tmp_path / "narrow.png").write_bytes(_png(300, 4))
    page = tmp_path / "wide.html"
    page.write_text(
        '<!doctype html><html><body style="margin:0">'
        '<article class="bd-article" style="width:600px;padding:0 20px">'
        '<img src="wide.png" style="max-width:100%"><img src="narrow.png">'
        '<table id="wide" style="border-spacing:0">'
        '<tr><td style="min-width:900px;padding:0">wide table</td></tr></table>'
        '<div style="overflow-x:auto"><table><tr><td style="min-width:900px">scrolls in its box</td></tr></table></div>'
        '<pre id="long" style="white-space:pre;overflow:visible">' + "x" * 200 + "</pre>"
        '<pre style="overflow:auto">' + "y" * 200 + "</pre>"
        "<p>" + "z" * 300 + "</p>"
        "<p>short words that wrap " * 30 + "</p>"
        '<details><summary>more</summary><div id="hidden" style="width:1500px">hidden until opened</div></details>'
        '<aside class="margin" style="width:900px">margin note</aside>'
        '<p>' + "w " * 20 + '<a style="visibility:hidden;position:absolute;left:1000px">invisible</a></p>'
        "</article></body></html>", encoding="utf-8")
    report = check_page(browser, page, timeout_s=5, min_image_scale=0.69)
    text = "\n".join(report.layout_problems)
    assert report.problems == [], report.problems
    assert report.column_width == pytest.approx(600)
    assert dict(report.image_scales) == pytest.approx({"wide.png": 0.5, "narrow.png": 1.0})
    assert "image shown at 0.50 of its natural width (600 of 1200 px; at least 0.69" in text and "wide.png" in text
    assert "narrow.png" not in text
    assert "box 300 px beyond the 600-px content column (900 px wide): table#wide" in text
    assert "scrolls in its box" not in text and "yyy" not in text and "margin note" not in text
    assert "invisible" not in text
    assert "text " in text and 'pre#long "xxx' in text
    assert '"zzz' in text
    assert "short words" not in text
    assert "div#hidden" in text  # measured with the <details> opened
    assert "the page scrolls sideways" in text
    assert len(report.scrolling) == 2 and all(line.startswith(("div ", "pre ")) for line in report.scrolling), \
        report.scrolling
    # one line per offender: the table's row and cell are not listed again
    assert sum("wide table" in line for line in report.layout_problems) == 1
    clean = check_page(browser, page, timeout_s=5, layout=False)
    assert clean.layout_problems == [] and clean.column_width == 0
    with pytest.raises(ValueError, match="min_image_scale"):
        check_page(browser, page, min_image_scale=1.5)


def _figure_png(ncols: int, nrows: int, size: tuple[float, float], *, width: float | None = None) -> bytes:
    """A labelled figure from ``new_axes`` saved as Jupyter's inline backend saves it (tight box);
    ``width`` (inches) forces the old, unbounded size instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from cca_core.experiments.report.plots import label_axes, new_axes

    fig, axes = new_axes(ncols=ncols, nrows=nrows, size=size)
    if width is not None:
        fig.set_size_inches(width, fig.get_size_inches()[1] * width / fig.get_size_inches()[0])
    x = np.linspace(0, 10, 25)
    for i, ax in enumerate(np.ravel(axes)):
        ax.plot(x, np.sin(x + i), label="layer 1")
        ax.plot(x, np.cos(x + i), label="layer 2")
        label_axes(ax, "epoch", "PWCCA similarity", f"panel {i}", legend=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _theme_css() -> list[Path]:
    """The installed stylesheets of the book's theme and of myst-nb (without them the page is bare HTML)."""
    found = []
    for module, rel in (("pydata_sphinx_theme", "theme/pydata_sphinx_theme/static/styles/pydata-sphinx-theme.css"),
                        ("sphinx_book_theme", "theme/sphinx_book_theme/static/styles/sphinx-book-theme.css"),
                        ("myst_nb", "static/mystnb.css")):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None and (Path(spec.origin).parent / rel).is_file():
            found.append(Path(spec.origin).parent / rel)
    return found


def _theme_like_page(tmp_path: Path, css: list[Path]) -> Path:
    """The elements the book's pages are made of, in sphinx-book-theme's and myst-nb's structure, sized
    as issue 17 found them (a 715-px table, 840-1,350 px code and stdout lines) with figures from
    ``new_axes`` and one drawn 10 in wide at 110 dpi as before; styled by ``css`` only."""
    figures = {"one.png": (1, 1, (5.0, 3.6)), "three.png": (3, 1, (3.3, 3.2)), "grid.png": (2, 2, (4.5, 3.0)),
               "wide.png": (1, 1, (9.0, 5.0))}
    for name, (ncols, nrows, size) in figures.items():
        (tmp_path / name).write_bytes(_figure_png(ncols, nrows, size))
    (tmp_path / "legacy.png").write_bytes(_figure_png(2, 1, (5.0, 3.6), width=10.0))
    code = "result = run_the_experiment(" + ", ".join(f"parameter_{i}={i}" for i in range(12)) + ")"
    stdout = "epoch 1/5: " + " ".join(f"loss={i}.123456" for i in range(60)) + " " + "/long/path" * 30
    cells = "".join(f"<th>relu_{i}_layer</th>" for i in range(9))
    links = "".join(f'<link rel="stylesheet" href="{p.as_uri()}">' for p in css)
    # a figure in a cell's output is indented by 1 em (measured in the built book: 672 px in the 688-px column)
    figs = "".join(f'<div class="cell_output docutils container" style="padding-left:16px">'
                   f'<figure class="align-default"><img src="{name}">'
                   f"<figcaption><p>{name}</p></figcaption></figure></div>" for name in [*figures, "legacy.png"])
    page = tmp_path / "theme.html"
    page.write_text(
        f'<!doctype html><html data-theme="light"><head>{links}</head><body>'
        '<div class="bd-main"><div class="bd-content"><div class="bd-article-container">'
        f'<article class="bd-article" style="box-sizing:content-box;width:{COLUMN_WIDTH_PX}px;padding:0 32px">'
        '<section><div class="cell docutils container">'
        f'<div class="cell_input docutils container"><div class="highlight"><pre>{code}</pre></div></div>'
        '<div class="cell_output docutils container">'
        '<div class="output stream highlight-myst-ansi notranslate">'
        f'<div class="highlight"><pre>{stdout}</pre></div></div>'
        f'<div class="output text_html"><table class="dataframe"><tr>{cells}</tr></table></div>'
        f'<div class="pst-scrollable-table-container"><table class="table"><tr>{cells}</tr></table></div>'
        "</div></div>"
        f'<table id="bare"><tr>{cells}</tr></table>'
        f"{figs}</section></article></div></div></div></body></html>", encoding="utf-8")
    return page


def test_book_css_and_figure_sizes_fit_a_theme_like_page(browser: Any, tmp_path: Path) -> None:
    assert BOOK_CSS, f"no CSS in {BOOK_SOURCES / '_static'}"
    theme = _theme_css()
    without = check_page(browser, _theme_like_page(tmp_path, theme), timeout_s=10, min_image_scale=min_display_scale())
    # the theme alone: a table outside its scrolling box sticks out, code and stdout scroll sideways
    assert any("table#bare" in line for line in without.layout_problems), without.layout_problems
    assert any(line.startswith('pre "epoch 1/5') for line in without.scrolling), without.scrolling
    assert any(line.startswith('pre "result = run_the_experiment') for line in without.scrolling), without.scrolling
    report = check_page(browser, _theme_like_page(tmp_path, theme + BOOK_CSS), timeout_s=10,
                        min_image_scale=min_display_scale())
    assert report.problems == [], report.problems
    assert report.column_width == pytest.approx(COLUMN_WIDTH_PX)
    scales = dict(report.image_scales)
    # new_axes's figures are shown at their natural size; one drawn 10 in wide is shrunk below 0.69
    assert all(scales[n] == pytest.approx(1.0) for n in ("one.png", "three.png", "grid.png", "wide.png")), scales
    assert scales["legacy.png"] < min_display_scale()
    assert len(report.layout_problems) == 1, report.layout_problems
    assert report.layout_problems[0].startswith("image shown at 0.6") and "legacy.png" in report.layout_problems[0]
    # with the book's CSS code and stdout wrap; the tables scroll, each inside its own box
    assert not any(line.startswith("pre ") for line in report.scrolling), report.scrolling
    assert sum(line.startswith(("table", "div.pst-scrollable-table-container", "div.output.text_html"))
               for line in report.scrolling) == 3, report.scrolling


# ------------------------------------------------------------------------------------ the book


_REPORTS: dict[tuple[Path, str], Any] = {}


def _page_report(browser: Any, book_html: Path, name: str) -> Any:
    """``check_page`` of one built page with the layout measured, once per page for both tests below."""
    key = (book_html, name)
    if key not in _REPORTS:
        path = book_html / f"{name}.html"
        assert path.is_file(), f"{name}.html is missing from the built book {book_html}"
        _REPORTS[key] = check_page(browser, path, html_dir=book_html, min_image_scale=min_display_scale())
    return _REPORTS[key]


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline(browser: Any, book_html: Path, name: str) -> None:
    report = _page_report(browser, book_html, name)
    assert report.ok, f"{name}.html ({report.url}):\n  " + "\n  ".join(report.problems)
    if name == "methods":  # the page that is mostly formulas: they must be there to be checked
        assert report.math_elements > 20, report.math_elements


@pytest.mark.parametrize("name", PAGES)
def test_page_fits_the_column(browser: Any, book_html: Path, name: str) -> None:
    """Nothing beyond the content column, no sideways scrolling, every figure's text >= 10 px."""
    report = _page_report(browser, book_html, name)
    # The scorecard's forest plot is drawn at twice the column's resolution with text that is 12 px as
    # shown (tests/book/test_figures.py checks its size and text): its scale is by design, not a shrink.
    problems = [p for p in report.layout_problems
                if not (name == "scorecard" and p.startswith("image shown") and "scorecard_figure" in p)]
    assert problems == [], (
        f"{name}.html ({report.url}), content column {report.column_width:.0f} px:\n  " + "\n  ".join(problems))


def test_every_built_page_is_checked(book_html: Path) -> None:
    built = {p.stem for p in book_pages(book_html)}
    assert built <= set(PAGES), f"pages built but not in _toc.yml, so not checked: {sorted(built - set(PAGES))}"


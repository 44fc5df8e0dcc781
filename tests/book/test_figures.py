"""Every figure of a chapter has a caption in the built HTML (cell metadata ``mystnb.figure.caption``),
and is drawn narrow enough for the book's column that its text is at least 10 px where it is shown
(read from the PNG's header, no browser needed; tests/book/test_browser.py measures it as rendered)."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pipeline_module import load_pipeline

from cca_core.experiments.report.plots import COLUMN_WIDTH_PX, min_display_scale

CHAPTERS = [p.name for p in load_pipeline().load_pages()]


class _Figures(HTMLParser):
    """Counts images, and images inside a <figure> that also has a <figcaption>."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # nesting inside <figure>
        self.images = 0
        self.current: list[int] = []  # images and captions of the open figure
        self.captioned = 0
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "figure":
            self.depth += 1
            self.current = [0, 0]
        elif tag == "img":
            self.images += 1
            self.sources.append(dict(attrs).get("src") or "")
            if self.depth:
                self.current[0] += 1
        elif tag == "figcaption" and self.depth:
            self.current[1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self.depth:
            self.depth -= 1
            if self.current[1]:
                self.captioned += self.current[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_has_a_caption(book_html: Path, chapter: str) -> None:
    parser = _Figures()
    parser.feed((book_html / f"{chapter}.html").read_text(encoding="utf-8"))
    assert parser.images > 0, f"{chapter}: no figure at all"
    assert parser.captioned == parser.images, (
        f"{chapter}: {parser.images - parser.captioned} of {parser.images} images have no caption; give the cell "
        "metadata {'mystnb': {'figure': {'name': ..., 'caption': ...}}}")


#: Room for a figure in a cell's output: the column less myst-nb's 1-em (16 px) indent.
FIGURE_ROOM_PX = COLUMN_WIDTH_PX - 16


def _png_width(path: Path) -> int | None:
    """Width in pixels from a PNG's IHDR chunk (bytes 16-20), None for another format."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">I", head[16:20])[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_is_legible_in_the_column(book_html: Path, chapter: str) -> None:
    """A figure wider than the room is shrunk to it; its smallest text must stay >= 10 px."""
    parser = _Figures()
    parser.feed((book_html / f"{chapter}.html").read_text(encoding="utf-8"))
    widest = FIGURE_ROOM_PX / min_display_scale()  # about 975 px
    too_wide = []
    for src in parser.sources:
        path = (book_html / src).resolve()
        width = _png_width(path) if path.is_file() else None
        if width is not None and width > widest:
            too_wide.append(f"{src}: {width} px, shown at {FIGURE_ROOM_PX / width:.2f}")
    assert not too_wide, (f"{chapter}: figures wider than {widest:.0f} px are shown at less than "
                          f"{min_display_scale():.2f} of their size, their text under 10 px (draw them with "
                          "new_axes, at most MAX_FIGURE_WIDTH inches):\n  " + "\n  ".join(too_wide))


def test_scorecard_opens_with_one_figure_drawn_for_the_column_then_one_line_per_claim(book_html: Path) -> None:
    """The forest plot comes first, is shown 690 px wide from a file drawn for that width (about two
    image pixels per CSS pixel, so its 9-point text is 12 px as shown); the chapters' tables are not
    repeated: no table, one list item per claim."""
    import json

    html = (book_html / "scorecard.html").read_text(encoding="utf-8")
    assert html.count("<figure") == 1 and 'id="scorecard-forest"' in html
    assert html.index("<figure") < html.index("<ol")
    assert "<table" not in html
    img = re.search(r'<img[^>]*src="([^"]+scorecard_figure[^"]*)"[^>]*style="width: (\d+)px;"', html)
    assert img, "the scorecard's figure is not shown at a fixed width"
    shown = int(img[2])
    natural = _png_width(book_html / img[1])
    assert shown == 690 and 1.8 <= natural / shown <= 2.2, (natural, shown)
    findings = sorted((Path(__file__).resolve().parents[2] / "book" / "findings").glob("*.json"))
    n_claims = sum(len(json.loads(p.read_text())["findings"]) for p in findings)
    assert html.count("<li>") >= n_claims

"""Every figure of a chapter has a caption in the built HTML (cell metadata ``mystnb.figure.caption``),
and is drawn narrow enough for the book's column that its text is at least 10 px where it is shown
(read from the PNG's header, no browser needed; tests/book/test_browser.py measures it as rendered)."""

from __future__ import annotations

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

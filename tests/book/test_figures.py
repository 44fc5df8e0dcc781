"""Every figure of a chapter has a caption in the built HTML (cell metadata ``mystnb.figure.caption``)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from pipeline_module import load_pipeline

CHAPTERS = [p.name for p in load_pipeline().load_pages()]


class _Figures(HTMLParser):
    """Counts images, and images inside a <figure> that also has a <figcaption>."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # nesting inside <figure>
        self.images = 0
        self.current: list[int] = []  # images and captions of the open figure
        self.captioned = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "figure":
            self.depth += 1
            self.current = [0, 0]
        elif tag == "img":
            self.images += 1
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

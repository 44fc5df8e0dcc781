"""Tables shown as Markdown tables (cca_core.experiments.report.tables), read back by a Markdown parser."""

from __future__ import annotations

import pytest

from cca_core.experiments.report.tables import format_cell, markdown_table, show_table

markdown_it = pytest.importorskip("markdown_it")


def parsed(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """Header cells, body rows and column alignments, as CommonMark+GFM tables parse them."""
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    header, rows, align, row, section = [], [], [], None, None
    for i, t in enumerate(tokens):
        if t.type in ("thead_open", "tbody_open"):
            section = t.type
        elif t.type == "tr_open":
            row = []
        elif t.type in ("th_open", "td_open"):
            row.append(tokens[i + 1].content)
            if t.type == "th_open":
                align.append((t.attrGet("style") or "").replace("text-align:", ""))
        elif t.type == "tr_close":
            (header.extend(row) if section == "thead_open" else rows.append(row))
    return header, rows, align


def test_cells_rows_and_alignment_survive_a_markdown_parser():
    text = markdown_table(["width", "layer", "PWCCA [95%]", "accuracy"],
                          [[2, "relu_6", (0.5123, 0.48, 0.54), 0.91234], [32, "a|b", (float("nan"), 0, 0), float("nan")]])
    header, rows, align = parsed(text)
    assert header == ["width", "layer", "PWCCA [95%]", "accuracy"]
    assert rows == [["2", "relu_6", "0.512 [0.480, 0.540]", "0.912"], ["32", "a|b", "-", "-"]]
    assert align == ["right", "left", "right", "right"]


def test_digits_and_explicit_alignment():
    header, rows, align = parsed(markdown_table(["x"], [[1 / 3]], digits=5, align="c"))
    assert rows == [["0.33333"]] and align == ["center"]
    assert format_cell(True) == "True" and format_cell(7) == "7"


@pytest.mark.parametrize("kwargs,match", [({"rows": [[1, 2]]}, "row 0 has 2 cells"),
                                          ({"rows": [[1]], "align": "rr"}, "one of l, r, c per column"),
                                          ({"rows": [[1]], "align": "x"}, "one of l, r, c per column")])
def test_bad_tables_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        markdown_table(["only"], **kwargs)


def test_show_table_outside_a_notebook_prints_with_its_caption(capsys):
    assert show_table(["a"], [[1]], caption="Counts") is None  # a cell ending with it shows the table once
    assert capsys.readouterr().out.strip() == "**Counts**\n\n" + markdown_table(["a"], [[1]])

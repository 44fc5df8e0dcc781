"""Tables in a notebook's page: shown as rendered tables (Markdown), printed as text elsewhere.

A page's numbers belong in tables the book renders, not in text printed by a loop. :func:`show_table`
takes a header and rows of cells (numbers are formatted with ``digits`` decimals), displays a
Markdown table in IPython (MyST-NB renders it as an HTML table) and returns its text.
:func:`escape_cell` is the one escaper of a table cell's text, for every table the package writes
(these tables, the findings tables of :mod:`~cca_core.experiments.report.findings`, the scorecard).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from cca_core.experiments.numbers import format_decimals, format_estimate, format_number

__all__ = ["markdown_table", "show_table", "format_cell", "escape_cell"]


def escape_cell(text: Any) -> str:
    """A Markdown table cell's text: ``|`` escaped, line breaks as spaces, outer spaces stripped."""
    return " ".join(str(text).replace("|", "\\|").splitlines()).strip()


def format_cell(value: Any, digits: int = 3) -> str:
    """One cell's text: integers grouped by thousands (``1,797``), other numbers with ``digits``
    decimals (``nan``: "-", never a negative zero),
    ``(estimate, low, high)`` triples as ``"0.512 [0.480, 0.540]"`` (decimals set by the interval's
    width, :func:`~cca_core.experiments.numbers.format_estimate`), anything else as ``str``
    (escaped by :func:`escape_cell`)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return format_number(value)
    if isinstance(value, Real):
        return format_decimals(float(value), digits)
    if isinstance(value, tuple) and len(value) == 3 and all(isinstance(v, Real) for v in value):
        est, lo, hi = (float(v) for v in value)
        if math.isnan(est):
            return "-"
        if math.isnan(lo) or math.isnan(hi):
            return format_estimate(est)
        return format_estimate(est, lo, hi)
    return escape_cell(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 3,
                   align: str | None = None) -> str:
    """A Markdown pipe table.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequences
        One sequence of cells per row, as long as ``header``; cells go through :func:`format_cell`.
    digits : int
        Decimals of non-integer numbers.
    align : str, optional
        One letter per column, ``l``, ``r`` or ``c``; default: numbers right, text left (first row).

    Raises
    ------
    ValueError
        A row's length differs from the header's, or ``align`` has the wrong length or letters.
    """
    header = [str(h) for h in header]
    rows = [list(r) for r in rows]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise ValueError(f"row {i} has {len(r)} cells, the header {len(header)}")
    if align is None:
        first = rows[0] if rows else [""] * len(header)
        align = "".join("r" if isinstance(v, (Real, tuple)) and not isinstance(v, bool) else "l" for v in first)
    if len(align) != len(header) or set(align) - set("lrc"):
        raise ValueError(f"align needs one of l, r, c per column ({len(header)}), got {align!r}")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(format_cell(h) for h in header) + " |",
             "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(format_cell(v, digits) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def show_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str | None = None,
               digits: int = 3, align: str | None = None) -> None:
    """Display :func:`markdown_table` (with ``caption`` as a bold line above it) in a notebook, or print
    it elsewhere. Returns nothing, so that a cell ending with it shows the table once (use
    :func:`markdown_table` for the text)."""
    text = markdown_table(header, rows, digits=digits, align=align)
    if caption:
        text = f"**{caption}**\n\n{text}"
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with the notebooks' environment
        print(text)
        return
    if get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)

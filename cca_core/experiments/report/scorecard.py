"""The scorecard: every claim of the book at a glance, built from the chapters' findings JSON.

It opens with one figure, a forest plot (:func:`scorecard_figure`): a row per claim whose rule
compares one estimate with a threshold, the estimate and its interval against that threshold,
marked by verdict (colour and marker), grouped by chapter, drawn for the book's column (about 690 px,
no text under 10 px as shown). Then one line per claim (:func:`scorecard_markdown`), chapter by
chapter with a link to each; the chapters' tables are not repeated.

A claim gets a row when its verdict rests on one decisive single check, a comparison of one estimate
(or its interval) with a threshold: the ``"checks"`` its rule recorded, those marked ``"decisive"``
(:meth:`~cca_core.experiments.verdicts.findings.Judgement.records`: ``{"evidence": name, "op": ">=",
"threshold": 0.05, "on": "interval", "level": "reproduced", "holds": true, "decisive": true}``), or, in
files written before checks were recorded, the statements an inconclusive verdict could not decide.
The others are listed under the figure, counted by the reason they have no row (a rule that weighs
several estimates, a requirement that is not met, a verdict that rests on a p-value, a file that
records no check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cca_core.experiments.report.findings import CheckRead, FindingView, finding_view, shorten
from cca_core.experiments.numbers import plural
from cca_core.experiments.report.tables import escape_cell

__all__ = ["VERDICT_STYLE", "Chapter", "Row", "forest_rows", "forest_figure", "scorecard_figure",
           "scorecard_markdown", "FIGURE_WIDTH_PX", "MIN_FONT_PT"]

#: The verdicts, strongest first (as :data:`cca_core.experiments.verdicts.findings.VERDICTS`).
_VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")
#: Colour (Okabe-Ito, distinguishable with colour-blindness) and marker of each verdict.
VERDICT_STYLE: dict[str, tuple[str, str]] = {"reproduced": ("#009E73", "o"), "partly": ("#E69F00", "s"),
                                             "not reproduced": ("#D55E00", "X"), "inconclusive": ("#6b6b6b", "D")}
#: Width of the book's text column, in CSS pixels: the figure is drawn for it.
FIGURE_WIDTH_PX = 690
#: Resolution of the figure file: twice the column's pixels, for sharp text on high-density screens.
_DPI = 200
#: Smallest font size used in the figure, in points; shown at FIGURE_WIDTH_PX it is 9 * 96 / 72 = 12 px.
MIN_FONT_PT = 9
#: Longest claim label of a row, in characters.
_LABEL = 46


@dataclass(frozen=True)
class Chapter:
    """A chapter's findings file: its page name (for links), title, scale and findings."""

    page: str
    title: str
    scale: str
    findings: tuple[FindingView, ...]

    @classmethod
    def from_json(cls, page: str, data: Mapping[str, Any]) -> "Chapter":
        """From a findings dict as :func:`~cca_core.experiments.report.findings.load_findings` returns it."""
        return cls(page, str(data["title"]), str(data.get("scale", "")),
                   tuple(finding_view(f) for f in data["findings"]))


@dataclass(frozen=True)
class Row:
    """A claim in the figure: chapter, number in its chapter, label, verdict and the check it rests on."""

    chapter: str
    number: int
    label: str
    verdict: str
    check: CheckRead


#: Why a claim has no row in the figure, by kind (the text follows a count of claims).
_NO_ROW = {"several": "whose verdict rests on several estimates, each against its own threshold (one row could "
                      "not show the rule)",
           "p_value": "whose verdict rests on a significance test (a p-value, not an estimate against a threshold)",
           "requirement": "whose verdict rests on a requirement that is not met (networks that did not learn, too "
                          "few of them)",
           "unrecorded": "whose findings file records no check of their rule (a file written before checks were "
                         "recorded, or a verdict given by hand): rerun the chapter to draw them"}


def _headline(view: FindingView) -> tuple[CheckRead | None, str]:
    """The one check a finding's verdict rests on, or None and the kind of reason it has no row
    (a key of ``_NO_ROW``)."""
    names = {c.evidence.name for c in view.checks}
    usable = [c for c in view.checks if c.drawable]
    if len(names) > 1:
        return None, "several"
    if usable:
        return usable[0], ""
    if names:
        return None, "p_value"
    if view.verdict == "inconclusive" and view.reasons:
        return None, "requirement"
    return None, "unrecorded"


def forest_rows(chapters: Sequence[Chapter]) -> tuple[list[Row], list[tuple[Chapter, int, str]]]:
    """The figure's rows, and the claims without one as ``(chapter, number, kind of reason)``."""
    rows, missing = [], []
    for ch in chapters:
        for i, view in enumerate(ch.findings, 1):
            check, why = _headline(view)
            if check is None:
                missing.append((ch, i, why))
            else:
                rows.append(Row(ch.title, i, shorten(view.claim, _LABEL), view.verdict, check))
    return rows, missing


def scorecard_figure(chapters: Sequence[Chapter], path: str | Path) -> int:
    """Draw the forest plot of ``chapters`` into ``path`` (PNG drawn for a column of
    :data:`FIGURE_WIDTH_PX` CSS pixels, at about twice that resolution); return the number of rows
    (0: nothing to draw, no file written).

    Every row: the estimate (marker by verdict) and its interval (line), the rule's threshold as a
    black bar with a wedge towards the side the claim needs (two bars for "within")."""
    fig = forest_figure(chapters)
    if fig is None:
        return 0
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return len(forest_rows(chapters)[0])


def forest_figure(chapters: Sequence[Chapter]) -> Any:
    """The matplotlib Figure of :func:`scorecard_figure` (None when no claim has a row): width
    :data:`FIGURE_WIDTH_PX` / 96 inches, so that shown at that many CSS pixels a point of text is
    96/72 pixels and the smallest text (:data:`MIN_FONT_PT`) 12 pixels."""
    rows, _ = forest_rows(chapters)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    # layout: rows top to bottom, a header line before each chapter
    items: list[tuple[str, Any]] = []
    for title in dict.fromkeys(r.chapter for r in rows):
        items.append(("chapter", title))
        items += [("row", r) for r in rows if r.chapter == title]
    n = len(items)
    width_in = FIGURE_WIDTH_PX / 96  # CSS pixels are 1/96 inch
    height_in = 1.3 + 0.3 * n
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=_DPI, layout="constrained")
    values = []
    for k, (kind, item) in enumerate(items):
        y = n - 1 - k
        if kind == "chapter":
            continue
        ev = item.check.evidence
        colour, marker = VERDICT_STYLE[item.verdict]
        if ev.interval is not None and item.check.on == "interval":
            ax.plot(list(ev.interval), [y, y], color=colour, lw=2.2, solid_capstyle="butt", zorder=2)
            values += list(ev.interval)
        ax.plot([ev.estimate], [y], marker=marker, color=colour, markersize=7, markeredgecolor="white",
                markeredgewidth=0.6, zorder=3, linestyle="none")
        values.append(ev.estimate)
        thresholds = item.check.threshold if item.check.op == "in" else (item.check.threshold,)
        for t in thresholds:
            ax.plot([t, t], [y - 0.38, y + 0.38], color="black", lw=1.4, zorder=4)
            values.append(t)
        if item.check.op != "in":
            side = 1 if item.check.op in (">", ">=") else -1
            ax.plot([thresholds[0]], [y + 0.3], marker=">" if side > 0 else "<", color="black", markersize=4,
                    zorder=4, linestyle="none")
    lo, hi = min(values), max(values)
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.7, n - 0.3)
    labels, ticks = [], []
    for k, (kind, item) in enumerate(items):
        y = n - 1 - k
        if kind == "chapter":
            if k:
                ax.axhline(y + 0.5, color="#cccccc", lw=0.6, zorder=0)
            ax.annotate(shorten(item, 60), xy=(0, y), xycoords=("axes fraction", "data"), xytext=(-4, 0),
                        textcoords="offset points", ha="right", va="center", fontsize=10, fontweight="bold")
        else:
            ticks.append(y)
            labels.append(f"{item.number}. {item.label}")
    ax.set_yticks(ticks, labels, fontsize=MIN_FONT_PT)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=MIN_FONT_PT + 1)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6, zorder=0)
    ax.set_xlabel("estimate and 95% interval", fontsize=MIN_FONT_PT + 1)
    handles = [Line2D([], [], color=VERDICT_STYLE[v][0], marker=VERDICT_STYLE[v][1], lw=2.2, markersize=7,
                      markeredgecolor="white", label=v) for v in _VERDICTS]
    handles.append(Line2D([], [], color="black", marker="|", lw=0, markersize=12, markeredgewidth=1.4,
                          label="threshold"))
    fig.legend(handles=handles, loc="outside upper center", ncols=5, fontsize=MIN_FONT_PT + 1, frameon=False,
               handlelength=1.6, columnspacing=1.0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def _counts(views: Sequence[FindingView]) -> str:
    counts = {v: sum(f.verdict == v for f in views) for v in _VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no claims"


def scorecard_markdown(chapters: Sequence[Chapter], figure: str | None = "scorecard_figure.png") -> str:
    """The scorecard page (MyST Markdown): the verdicts counted, the forest plot (``figure``: its file
    name beside the page; None: no figure), the claims without a row, then one line per claim by
    chapter, with a link to each chapter (``<page>.ipynb``)."""
    views = [f for ch in chapters for f in ch.findings]
    rows, missing = forest_rows(chapters)
    total = {v: sum(f.verdict == v for f in views) for v in _VERDICTS}
    out = ["# Scorecard", "",
           "Every claim of the paper that a chapter tests, with the verdict its chapter's rule computed: "
           "*reproduced*, *partly*, *not reproduced*, or *inconclusive* when the evidence cannot tell (too few "
           "networks or checkpoints, networks that did not fit or learn, an interval across the threshold, a test "
           "that cannot reach the significance level), at the scale we ran. Intervals are 95% and resample "
           "networks (or, for one network compared with itself, datapoints); see {doc}`methods`. Each chapter "
           "gives its numbers and evidence in full. Generated by `book/pipeline.py` from `book/findings/*.json`; "
           "do not edit.", "",
           f"**{plural(len(views), 'claim')}: " + ", ".join(f"{n} {v}" for v, n in total.items()) + ".**", ""]
    if figure is not None and rows:
        out += [f":::{{figure}} {figure}", ":name: scorecard-forest", f":width: {FIGURE_WIDTH_PX}px",
                f":alt: Forest plot of {plural(len(rows), 'claim')}: each estimate with its 95% interval against the "
                "threshold of its rule, coloured by verdict", "",
                f"The claims whose verdict rests on one estimate and one threshold ({len(rows)} of {len(views)}), "
                "by chapter: the estimate (marker and colour by verdict) with its 95% interval, and the rule's "
                "threshold (black bar; the wedge points to the side the claim needs).", ":::", ""]
    if missing:
        kinds = [k for k in _NO_ROW if any(why == k for _, _, why in missing)]
        out += [f"Not in the figure, and marked so below ({len(missing)} of {len(views)}): "
                + "; ".join(f"{plural(sum(why == k for _, _, why in missing), 'claim')} {_NO_ROW[k]}" for k in kinds)
                + ".", ""]
    no_row = {(ch.page, i): why for ch, i, why in missing}
    for ch in chapters:
        out += [f"## [{escape_cell(ch.title)}]({ch.page}.ipynb)", "",
                f"{_counts(ch.findings)}. Scale: {ch.scale}.", ""]
        for i, f in enumerate(ch.findings, 1):
            line = f"**{f.verdict}** · {shorten(f.claim, 140)}"
            if f.ours:
                line += f" — ours: {shorten(f.ours, 100)}"
            if (ch.page, i) in no_row:
                line += " *(not in the figure)*"
            out.append(f"{i}. {line}")
        out.append("")
    return "\n".join(out)

"""A notebook's findings as readers meet them: the page's table, the JSON file the scorecard is built from.

Every notebook ends with :func:`report_findings`. Under ``book/pipeline.py`` the JSON goes where the
pipeline says (``$CCA_CORE_FINDINGS_PATH``), and the pipeline moves it to ``book/findings/<page>.json``,
from which the scorecard page is generated; elsewhere it goes to the ``findings_path`` parameter, and
with an empty path (a notebook's default) the table is only shown. The findings themselves
(:class:`~cca_core.experiments.verdicts.findings.Finding`, their evidence and verdicts) are made in
:mod:`cca_core.experiments.verdicts.findings`; the JSON layout is described there.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cca_core.experiments.files import atomic_write
from cca_core.experiments.paths import findings_target
from cca_core.experiments.numbers import (format_estimate, format_interval, format_number, format_p, format_sizes,
                                          format_threshold)
from cca_core.experiments.report.tables import escape_cell
from cca_core.experiments.verdicts.findings import Evidence, Finding

__all__ = ["MAX_CELL", "FindingView", "CheckRead", "finding_view", "shorten", "evidence_text", "findings_table",
           "findings_text", "training_record", "report_findings", "load_findings"]


#: Longest text of a visible table cell; longer text is shortened there and given in full behind
#: the finding's toggle.
MAX_CELL = 300
#: Longest "ours" shown in a table: the first clause of a longer one, the whole behind the toggle.
MAX_OURS = 140
#: Longest reason shown next to a verdict.
MAX_REASON = 220

_OPS = (">=", "<=", ">", "<")
_CHECK_END = re.compile(r"^(?P<value>.+?) (?P<op>>=|<=|>|<) (?P<t>[-+0-9.eEinfa]+)(?P<on> \(estimate\))?$")
_WITHIN_END = re.compile(r"^(?P<value>.+?) in \[(?P<lo>[-+0-9.eEinfa]+), (?P<hi>[-+0-9.eEinfa]+)\]$")
_WHY = {"reproduced": "the evidence clears the rule's bar for 'reproduced'",
        "partly": "the evidence clears the rule's bar for 'partly', not for 'reproduced'",
        "not reproduced": "the evidence falls short of the rule's bar, even for 'partly'",
        "inconclusive": "the evidence cannot decide the rule"}


def _evidence_tuple(value: Iterable[Evidence | Mapping[str, Any]]) -> tuple[Evidence, ...]:
    return tuple(e if isinstance(e, Evidence) else Evidence.from_dict(e) for e in value)


def _clauses(text: str, sep: str = "; ") -> list[str]:
    """``text`` split at ``sep`` outside brackets and parentheses."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            out.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    out.append(text[start:])
    return [c.strip() for c in out if c.strip()]


def shorten(text: str, limit: int) -> str:
    """``text`` if at most ``limit`` characters, else its leading clauses (or words) that fit, with
    ``" …"``; the full text belongs behind the finding's toggle."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    kept = ""
    for clause in _clauses(text):
        candidate = f"{kept}; {clause}" if kept else clause
        if len(candidate) + 2 > limit:
            break
        kept = candidate
    if not kept:
        kept = text[: limit - 2].rsplit(" ", 1)[0].rstrip(",;:")
    return kept + " …"


# ---------------------------------------------------------------------------------------- a finding read
@dataclass(frozen=True)
class CheckRead:
    """A statement of a verdict rule about one piece of evidence, read back from a findings file:
    ``evidence op threshold`` (``op`` one of ``>``, ``>=``, ``<``, ``<=``), or ``low <= evidence <= high``
    (``op == "in"``, ``threshold == (low, high)``)."""

    evidence: Evidence
    op: str
    threshold: float | tuple[float, float]
    on: str = "interval"
    holds: bool | None = None
    decisive: bool = False

    @property
    def drawable(self) -> bool:
        """Whether the check compares a number with its threshold (an interval that exists, or the
        estimate): a row of the scorecard's figure. A p-value check is not."""
        return self.on == "estimate" or (self.on == "interval" and self.evidence.interval is not None)

    def outcome(self, holds: bool | None = None) -> str:
        """What the check found, in our numbers: ``"gap: the interval [0.30, 0.45] lies above 0.05"``
        (``holds`` True), ``"... lies at or below 0.05"`` (False), ``"... straddles 0.05"`` (None);
        the estimate alone for ``on="estimate"``, ``p = ...`` for a p-value. ``holds`` defaults to the
        recorded value."""
        holds = self.holds if holds is None else holds
        ev = self.evidence
        if self.on == "p_value":
            p = "p = -" if ev.p_value is None else f"p = {format_number(ev.p_value, 2)}"
            relation = {True: "at most", False: "above", None: "against"}[holds]
            return f"{ev.name}: {p}, {relation} the significance level {format_threshold(self.threshold)}"
        if self.op == "in":
            lo, hi = self.threshold  # type: ignore[misc]
            where = {True: "within", False: "outside", None: "across an end of"}[holds]
            bound = f"[{format_threshold(lo)}, {format_threshold(hi)}]"
        else:
            same = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}
            opposite = {">": "at or below", ">=": "below", "<": "at or above", "<=": "above"}
            where = same[self.op] if holds is True else opposite[self.op] if holds is False else "across"
            bound = format_threshold(self.threshold)
        exact = ev.method.startswith("exact")
        if self.on == "estimate" or ev.interval is None or exact:
            what = "the exact value" if exact else "the estimate"
            verb = {"within": "is within", "outside": "is outside"}.get(where, "is " + where)
            return f"{ev.name}: {what} {format_number(ev.estimate)} {verb} {bound}"
        verb = "straddles" if holds is None and self.op != "in" else "lies " + where
        return f"{ev.name}: the interval {format_interval(*ev.interval)} {verb} {bound}"

    def text(self) -> str:
        """The statement with the number written by the one formatter."""
        ev = self.evidence
        if self.on == "p_value":
            p = "-" if ev.p_value is None else format_number(ev.p_value, 2)
            return f"{ev.name}: p = {p} ≤ {format_threshold(self.threshold)}"
        if self.on == "estimate":
            value = format_estimate(ev.estimate)
        else:
            value = format_estimate(ev.estimate, *ev.interval) if ev.interval is not None else format_estimate(ev.estimate)
        if self.op == "in":
            lo, hi = self.threshold  # type: ignore[misc]
            return f"{ev.name} {value} within [{format_threshold(lo)}, {format_threshold(hi)}]"
        op = {">=": "≥", "<=": "≤"}.get(self.op, self.op)
        return f"{ev.name} {value} {op} {format_threshold(self.threshold)}" + (" (estimate)" if self.on == "estimate" else "")


def _read_check(statement: str, evidence: Sequence[Evidence]) -> CheckRead | None:
    """The check a statement of :mod:`~cca_core.experiments.verdicts.findings` states
    (``"<name> <estimate> [<low>, <high>] >= 0.05"``), on the evidence of the same name; None when
    the statement is not one of an interval check."""
    for ev in sorted(evidence, key=lambda e: -len(e.name)):
        if not statement.startswith(ev.name + " "):
            continue
        rest = statement[len(ev.name) + 1:]
        m = _WITHIN_END.match(rest)
        try:
            if m:
                return CheckRead(ev, "in", (float(m["lo"]), float(m["hi"])))
            m = _CHECK_END.match(rest)
            if m:
                return CheckRead(ev, m["op"], float(m["t"]), "estimate" if m["on"] else "interval")
        except ValueError:
            return None
    return None


def _checks_recorded(finding: Mapping[str, Any], evidence: Sequence[Evidence]) -> list[tuple[str, CheckRead]]:
    """The rule's checks a findings file records (key ``"checks"``, written by
    :meth:`~cca_core.experiments.verdicts.findings.Finding.to_dict`: ``{"evidence": name, "op": ..,
    "threshold": .., "on": .., "level": "reproduced" | "partly", "holds": .., "decisive": ..}``), as
    ``(level, check)``; records of evidence the finding does not carry are skipped."""
    by_name = {e.name: e for e in evidence}
    out = []
    for c in finding.get("checks") or ():
        ev = by_name.get(c.get("evidence"))
        if ev is None or c.get("op") not in (*_OPS, "in") or c.get("on", "interval") not in ("interval", "estimate",
                                                                                            "p_value"):
            continue
        t = c.get("threshold")
        threshold = (float(t[0]), float(t[1])) if c["op"] == "in" else float(t)
        out.append((str(c.get("level", "reproduced")),
                    CheckRead(ev, c["op"], threshold, c.get("on", "interval"), c.get("holds"),
                              bool(c.get("decisive", False)))))
    return out


def _decisive_read(verdict: str, recorded: Sequence[tuple[str, CheckRead]]) -> list[CheckRead]:
    """The recorded checks that decided ``verdict``: those marked ``decisive``; in a file that marks
    none, the checks of the level that decides (reproduced: "reproduced"; partly and not reproduced:
    "partly", or "reproduced" for a two-way rule), with the value the verdict implies when the
    file does not give it."""
    marked = [c for _, c in recorded if c.decisive]
    if marked or verdict == "inconclusive":
        return marked
    levels = {lv for lv, _ in recorded}
    level = "reproduced" if verdict == "reproduced" or "partly" not in levels else "partly"
    implied = verdict != "not reproduced"
    return [c if c.holds is not None else CheckRead(c.evidence, c.op, c.threshold, c.on, implied, True)
            for lv, c in recorded if lv == level]


@dataclass(frozen=True)
class FindingView:
    """A finding as every table shows it: the claim, the paper's number, ours in one short line, the
    verdict and its reason in one sentence; and, for the toggle, everything in full.

    ``reason``: for "inconclusive", the first unmet requirement or undecided statement (and how many
    more); otherwise the check that decided, in our numbers (``"gap: the interval [0.30, 0.45] lies
    above 0.05"``), when the file records the rule's checks, else a generic sentence. ``checks``: the
    checks the verdict rests on (the recorded decisive ones; in older files, the statements an
    inconclusive verdict could not decide).

    Built by :func:`finding_view` from a :class:`Finding` or its JSON dict."""

    claim: str
    paper: str
    ours: str
    ours_full: str
    verdict: str
    reason: str
    reasons: tuple[str, ...]
    details: str
    evidence: tuple[Evidence, ...]
    checks: tuple[CheckRead, ...]

    def evidence_lines(self) -> list[str]:
        """One line per piece of evidence: name, estimate [interval] (level), p, sample sizes, method."""
        lines = []
        for ev in self.evidence:
            exact = ev.method.startswith("exact")
            if ev.interval is not None and not exact:
                value = f"{format_estimate(ev.estimate, *ev.interval)} ({ev.confidence_level:.0%} interval)"
            else:
                value = format_estimate(ev.estimate) + (" (exact)" if exact else "")
            parts = [f"{ev.name}: {value}"]
            if ev.p_value is not None:
                parts.append(format_p(ev.p_value, ev.min_p_value))
            if ev.n:
                parts.append(format_sizes(ev.n))
            if ev.method and not exact:
                parts.append(ev.method)
            elif exact:
                parts.append(ev.method.removeprefix("exact: "))
            if ev.note:
                parts.append(ev.note)
            lines.append("; ".join(parts))
        return lines


def _split_details(details: str) -> tuple[str, list[str], int]:
    """``(the page's own details, the judge's reasons, how many more reasons it did not list)``."""
    marker = "inconclusive: "
    i = details.find(marker)
    if i < 0 or (i > 0 and not details[:i].rstrip().endswith(";")):
        return details.strip(), [], 0
    own = details[:i].rstrip().rstrip(";").strip()
    reasons = _clauses(details[i + len(marker):])
    more = 0
    if reasons and (m := re.fullmatch(r"and (\d+) more", reasons[-1])):
        more = int(m[1])
        reasons = reasons[:-1]
    return own, reasons, more


def finding_view(finding: Finding | Mapping[str, Any]) -> FindingView:
    """The :class:`FindingView` of a finding (a :class:`Finding` or its JSON dict)."""
    data = finding.to_dict() if isinstance(finding, Finding) else dict(finding)
    evidence = _evidence_tuple(data.get("evidence") or ())
    own, reasons, more = _split_details(str(data.get("details") or ""))
    verdict = str(data["verdict"])
    checks: list[CheckRead] = []
    rewritten = []
    for r in reasons:  # "the interval cannot decide <statement>": the statement in our numbers
        prefix = "the interval cannot decide "
        read = _read_check(r[len(prefix):], evidence) if r.startswith(prefix) else None
        if read is not None:
            checks.append(read)
            rewritten.append(prefix + read.text())
        else:
            rewritten.append(r)
    recorded = _checks_recorded(data, evidence)
    decisive = _decisive_read(verdict, recorded)
    if recorded and (decisive or verdict != "inconclusive" or not reasons):
        checks = decisive
    if verdict == "inconclusive" and rewritten:
        reason = rewritten[0] + (f" (and {len(rewritten) - 1 + more} more)" if len(rewritten) - 1 + more else "")
    elif decisive and verdict != "inconclusive":
        # the check that decided, in our numbers: "gap: the interval [0.30, 0.45] lies above 0.05"
        reason = decisive[0].outcome() + (f" (and {_more_checks(len(decisive) - 1)})" if len(decisive) > 1 else "")
    else:
        reason = _WHY[verdict]
    ours = str(data.get("ours") or "")
    clauses = _clauses(ours)
    short = ours if len(ours) <= MAX_OURS or len(clauses) < 2 else clauses[0] + " …"
    return FindingView(claim=str(data["claim"]), paper=str(data.get("paper") or ""),
                       ours=shorten(short, MAX_OURS),
                       ours_full=ours, verdict=verdict, reason=shorten(reason, MAX_REASON),
                       reasons=tuple(rewritten) + ((f"and {more} more",) if more else ()),
                       details=own, evidence=evidence, checks=tuple(checks))


def _more_checks(n: int) -> str:
    """``"1 more check"``, ``"2 more checks"``."""
    return f"{n} more check" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------------------------- tables
def evidence_text(evidence: Iterable[Evidence | Mapping[str, Any]]) -> str:
    """The evidence of a finding in one line: each number with its interval or p-value (with its
    minimum) and its sample sizes; ``"-"`` for none."""
    items = _evidence_tuple(list(evidence))
    view = FindingView("", "", "", "", "reproduced", "", (), "", items, ())
    return "; ".join(view.evidence_lines()) if items else "-"


def _views(findings: Iterable[Finding | Mapping[str, Any]]) -> list[FindingView]:
    return [f if isinstance(f, FindingView) else finding_view(f) for f in findings]


def findings_table(findings: Sequence[Finding | Mapping[str, Any]], *, evidence: bool = True) -> str:
    """The findings as a page shows them (MyST Markdown): a table of claim | paper | ours | verdict
    and its reason, no cell longer than :data:`MAX_CELL` characters; then, with ``evidence``, one
    toggle (``<details>``, which the book and JupyterLab both show folded) per finding with ours in full, how it was computed, every reason and
    every piece of evidence (interval and its level, p-value and the smallest possible, sample sizes,
    method)."""
    views = _views(findings)
    lines = ["| # | Claim | Paper | Ours | Verdict |", "|---:|---|---|---|---|"]
    for i, v in enumerate(views, 1):
        cells = [str(i), v.claim, v.paper or "-", v.ours or "-"]
        cells = [escape_cell(shorten(c, MAX_CELL)) for c in cells]
        verdict = escape_cell(shorten(f"**{v.verdict}**: {v.reason}", MAX_CELL))
        lines.append("| " + " | ".join(cells) + f" | {verdict} |")
    if not evidence:
        return "\n".join(lines)
    for i, v in enumerate(views, 1):
        lines += ["", "<details>", f"<summary>Claim {i}: ours in full, reasons and evidence</summary>", ""]
        lines += [f"**Claim.** {v.claim}", "", f"**Paper.** {v.paper or '-'}", "", f"**Ours.** {v.ours_full or '-'}", ""]
        if v.details:
            lines += [f"**How.** {v.details}", ""]
        lines += [f"**Verdict: {v.verdict}.**" + ("" if v.reasons else f" {v.reason[0].upper()}{v.reason[1:]}."), ""]
        lines += [f"- {r}" for r in v.reasons] + ([""] if v.reasons else [])
        if v.evidence:
            lines += ["**Evidence.**", ""] + [f"- {e}" for e in v.evidence_lines()] + [""]
        lines.append("</details>")
    return "\n".join(lines)


def findings_text(findings: Sequence[Finding | Mapping[str, Any]], width: int | None = None) -> str:
    """The findings for a terminal: the same rows as :func:`findings_table` (claim, ours, verdict) in
    plain text wrapped to ``width`` columns (default: the terminal's), each followed by the verdict's
    reason ("why: ...", wrapped to the width, never cut)."""
    import shutil
    import textwrap

    views = _views(findings)
    width = width or shutil.get_terminal_size((120, 24)).columns
    width = max(width, 60)
    verdict_w = max(len("verdict"), *(len(v.verdict) for v in views))
    text_w = max(20, (width - verdict_w - 6) // 2)
    lines = [f"{'claim':<{text_w}} | {'ours':<{text_w}} | verdict",
             f"{'-' * text_w}-+-{'-' * text_w}-+-{'-' * verdict_w}"]
    for v in views:
        a, b = textwrap.wrap(v.claim, text_w) or [""], textwrap.wrap(v.ours, text_w) or [""]
        for i in range(max(len(a), len(b))):
            lines.append(f"{a[i] if i < len(a) else '':<{text_w}} | {b[i] if i < len(b) else '':<{text_w}} | "
                         f"{v.verdict if i == 0 else ''}".rstrip())
        lines += textwrap.wrap(v.reason, width, initial_indent="  why: ", subsequent_indent="       ") or ["  why:"]
    return "\n".join(lines)


def training_record(trained: Iterable[Any]) -> dict[str, Any]:
    """``{"networks": n, "seconds": s}``: how many results and the sum of their recorded
    ``train_seconds`` (the time each took when it was trained, not when it was loaded from the cache).

    Raises
    ------
    TypeError
        An item has no ``train_seconds``.
    """
    items = list(trained)
    for r in items:
        if not hasattr(r, "train_seconds"):
            raise TypeError(f"trained= takes training results (with train_seconds), got {type(r).__name__}")
    return {"networks": len(items), "seconds": round(float(sum(float(r.train_seconds) for r in items)), 1)}


def report_findings(findings: Sequence[Finding], *, notebook: str, title: str, scale: str,
                    path: str | os.PathLike | None = None, trained: Iterable[Any] | None = None) -> str:
    """Show ``findings`` as a table (:func:`findings_table`: one short line per finding, its evidence
    behind a toggle) and, when ``path`` is non-empty, write them as JSON there.

    Parameters
    ----------
    findings : sequence of Finding
    notebook : str
        Template name (``"memorization"``), recorded for the scorecard.
    title : str
        The chapter's title.
    scale : str
        What was run, in a phrase: dataset, number of networks, depth, epochs.
    path : path or str, optional
        Where to write the JSON (parent directories are created). ``None`` or ``""``: not written.
        Ignored when ``$CCA_CORE_FINDINGS_PATH`` is set (by ``book/pipeline.py``); a path in the book's
        ``book/findings/`` is not written (with a warning): see
        :func:`~cca_core.experiments.paths.findings_target`.
    trained : iterable, optional
        The page's trained networks (results with ``train_seconds``, as ``train_many`` and
        ``train_lm_many`` return them, cached or not): their number and the training time recorded
        when each was trained (seconds, summed) go into the JSON as ``"training"``, which the book's
        "How this page was made" box shows.

    Returns
    -------
    str
        The Markdown of :func:`findings_table` (displayed in a notebook; elsewhere the same rows are
        printed as :func:`findings_text`).
    """
    findings = list(findings)
    if not findings:
        raise ValueError("report_findings needs at least one Finding")
    for f in findings:
        if not isinstance(f, Finding):
            raise TypeError(f"expected Finding objects, got {type(f).__name__}")
    table = findings_table(findings)
    path = findings_target(path)  # $CCA_CORE_FINDINGS_PATH under the pipeline; never into book/findings/
    if path is not None and str(path).strip():
        payload: dict[str, Any] = {"notebook": notebook, "title": title, "scale": scale,
                                   "findings": [f.to_dict() for f in findings]}
        if trained is not None:
            payload["training"] = training_record(trained)
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
        atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside IPython
        print(findings_text(findings))
    else:
        if get_ipython() is not None:
            display(Markdown(table))
        else:
            print(findings_text(findings))
    return table


def load_findings(path: str | os.PathLike) -> dict[str, Any]:
    """Read a findings JSON file written by :func:`report_findings`, checking its layout.

    Files without ``evidence`` (written before it existed) load with an empty list."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("notebook", "title", "scale", "findings"):
        if key not in data:
            raise ValueError(f"{path}: findings file lacks {key!r}")
    data["findings"] = [Finding(**f).to_dict() for f in data["findings"]]
    return data

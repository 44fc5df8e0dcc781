"""A notebook's findings, claim by claim, next to the paper's: with their evidence, judged by stated rules.

Every notebook ends with :func:`~cca_core.experiments.report.findings.report_findings`, which shows
the findings and writes them as JSON (the layout below); tables and JSON live in
:mod:`cca_core.experiments.report.findings`.

Evidence and verdicts
    A :class:`Finding` carries its numbers as :class:`Evidence`: an estimate with its interval (and
    the confidence level and the resampling behind it), or a p-value with the smallest p-value the
    test could give, and the sample sizes (networks, pairs, checkpoints, ...). A verdict is computed
    by :func:`judge` from :class:`Check` objects, each a statement about one piece of evidence
    (:func:`above`, :func:`below`, :func:`at_least`, :func:`at_most`, :func:`within`,
    :func:`significant`) or a requirement (:func:`enough`, :func:`premise`). A check is true, false
    or *undecided* (the interval straddles the threshold), combined with ``&``, ``|`` and ``~`` in
    three-valued (Kleene) logic; a requirement that is not met -- too few networks or checkpoints,
    networks that did not fit their training labels, no interval at all, a test whose smallest
    attainable p-value is above the significance level -- makes the verdict **inconclusive**
    whatever the numbers say.

JSON layout (one file per executed notebook)::

    {"notebook": "memorization",            # template name
     "title": "Generalizing vs memorizing networks",
     "scale": "digits, 5 + 5 networks, 6 conv layers, 40 epochs",
     "findings": [{"claim": ..., "paper": ..., "ours": ..., "verdict": "reproduced", "details": ...,
                   "evidence": [{"name": ..., "estimate": 0.38, "interval": [0.30, 0.45],
                                 "confidence_level": 0.95, "p_value": null, "min_p_value": null,
                                 "n": {"networks": [5, 5], "pairs": 20}, "method": ..., "note": ""}]}]}

The rule's checks are recorded too (``"checks"``), one per single statement about one piece of
evidence, flattened out of ``&``/``|``/``~``/:func:`at_least_fraction`::

    "checks": [{"evidence": "gap", "op": ">=", "threshold": 0.05, "on": "interval",
                "level": "reproduced", "holds": true, "decisive": true}, ...]

``op`` is one of ``>``, ``>=``, ``<``, ``<=`` (``on``: ``"interval"`` or ``"estimate"``; ``"p_value"``
for :func:`significant`, ``p <= alpha``) or ``"in"`` (``threshold``: ``[low, high]``, :func:`within`);
``level`` the rule it belongs to (``"reproduced"`` or ``"partly"``); ``holds`` its value (``null``:
undecided); ``decisive`` marks the checks that decided the verdict (:attr:`Judgement.decisive`).

Files written before ``evidence`` or ``checks`` existed (no such key) still load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cca_core.experiments.evidence import (Evidence, NetworkGroups, _fmt, _number, _sizes,  # noqa: F401
                                           mean_interval, mean_intervals, replicates_to_decide)
from cca_core.experiments.numbers import format_threshold

__all__ = ["VERDICTS", "Evidence", "Check", "Judgement", "Finding", "above", "below", "at_least",
           "at_most", "within", "significant", "enough", "premise", "all_of", "any_of",
           "at_least_fraction", "singles", "decisive", "judge", "NetworkGroups", "mean_interval", "mean_intervals"]

#: The verdicts a finding may carry, strongest first; "inconclusive": the evidence cannot tell.
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not reproduced", "inconclusive")


# ---------------------------------------------------------------------------------------- checks
def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _union(*groups: Iterable[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for g in groups:
        for item in g:
            if not any(item is o or (isinstance(item, str) and item == o) for o in out):
                out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Check:
    """One statement about the evidence: true, false, or undecided (``None``), with what it needs.

    Attributes
    ----------
    value : bool or None
        True: the statement holds over the whole interval; False: it fails over the whole interval;
        None: the interval straddles the threshold (the evidence cannot tell).
    text : str
        The statement with its numbers, e.g. ``"gap 0.38 [0.30, 0.45] > 0.05"``.
    unmet : tuple of str
        Requirements that are not met (too few networks, no interval, a test that cannot reach the
        significance level, a premise that fails). Any unmet requirement makes :func:`judge` return
        ``"inconclusive"``.
    undecided : tuple of str
        The statements (of this check or the checks it combines) whose value is None.
    evidence : tuple of Evidence
        The evidence the statement is about.
    op, threshold, on : str, float or (float, float), str
        For a single check (``kind == "single"``, made by :func:`above`, :func:`at_least`,
        :func:`below`, :func:`at_most`, :func:`within`, :func:`significant`): the comparison
        (``">"``, ``">="``, ``"<"``, ``"<="``, or ``"in"`` with ``threshold == (low, high)``), its
        threshold, and what is compared (``"interval"``, ``"estimate"`` or ``"p_value"``).
    kind : str
        ``"single"``; ``"and"``, ``"or"``, ``"not"``, ``"fraction"`` for a combination (its checks in
        ``parts``); ``""`` for a requirement (:func:`enough`, :func:`premise`) or a constant.
    parts : tuple of Check
        The checks a combination is made of.

    ``a & b``, ``a | b`` and ``~a`` combine checks in three-valued (Kleene) logic: false and
    undecided is false, true or undecided is true; requirements and evidence are pooled.
    """

    value: bool | None
    text: str
    unmet: tuple[str, ...] = ()
    undecided: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    op: str = ""
    threshold: Any = None
    on: str = ""
    kind: str = ""
    parts: tuple["Check", ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.value is not None and not isinstance(self.value, (bool, np.bool_)):
            raise TypeError(f"Check.value must be True, False or None, got {self.value!r}")
        if self.value is not None:
            object.__setattr__(self, "value", bool(self.value))
        if self.value is None and not self.undecided and not self.unmet:
            object.__setattr__(self, "undecided", (self.text,))

    def _combine(self, other: "Check", value: bool | None, op: str) -> "Check":
        if not isinstance(other, Check):
            return NotImplemented
        parts = tuple(p for c in (self, other) for p in (c.parts if c.kind == op else (c,)))  # associative
        return Check(value, f"({self.text}) {op} ({other.text})", _union(self.unmet, other.unmet),
                     _union(self.undecided, other.undecided), _union(self.evidence, other.evidence),
                     kind=op, parts=parts)

    def __and__(self, other: "Check") -> "Check":
        return self._combine(other, _and(self.value, other.value), "and")

    def __or__(self, other: "Check") -> "Check":
        return self._combine(other, _or(self.value, other.value), "or")

    def __invert__(self) -> "Check":
        value = None if self.value is None else not self.value
        if self.kind == "single" and self.op in _NEGATED and self.on != "p_value":
            # not (x > t) over an interval is x <= t over it, in three values: still a single check
            return Check(value, f"not ({self.text})", self.unmet, self.undecided, self.evidence,
                         _NEGATED[self.op], self.threshold, self.on, "single")
        return Check(value, f"not ({self.text})", self.unmet, self.undecided, self.evidence, kind="not",
                     parts=(self,))

    def __bool__(self) -> bool:
        raise TypeError("a Check is three-valued: combine checks with &, | and ~ (not and/or/not), "
                        "and read .value")


#: The comparison that is true exactly where another is false, over an interval as over a number.
_NEGATED = {">": "<=", "<=": ">", ">=": "<", "<": ">="}


def _interval_check(ev: Evidence, threshold: float, op: str, on: str = "interval") -> Check:
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    if on not in ("interval", "estimate"):
        raise ValueError(f"on must be 'interval' or 'estimate', got {on!r}")
    t = float(threshold)
    single = dict(op=op, threshold=t, on=on, kind="single")
    if on == "estimate":
        text = f"{ev.name} {_fmt(ev.estimate, '')} {op} {format_threshold(t)} (estimate)"
        lo = hi = ev.estimate
    else:
        text = f"{ev.name} {ev} {op} {format_threshold(t)}"
        if ev.interval is None:
            why = ev.note or "no interval"
            return Check(None, text, unmet=(f"{ev.name}: {why}",), evidence=(ev,), **single)
        lo, hi = ev.interval
    value = {">": (True if lo > t else False if hi <= t else None),
             ">=": (True if lo >= t else False if hi < t else None),
             "<": (True if hi < t else False if lo >= t else None),
             "<=": (True if hi <= t else False if lo > t else None)}[op]
    return Check(value, text, evidence=(ev,), **single)


def above(ev: Evidence, threshold: float, on: str = "interval") -> Check:
    """``ev > threshold``: true when the interval lies above it, false when at or below it, else undecided.

    Needs an interval (an :meth:`Evidence.point` for exact values); without one the requirement is
    unmet and the verdict inconclusive. ``on="estimate"`` compares the estimate alone, for a size
    condition whose uncertainty another check carries (a significance test of the same statistic)."""
    return _interval_check(ev, threshold, ">", on)


def at_least(ev: Evidence, threshold: float, on: str = "interval") -> Check:
    """``ev >= threshold`` over the whole interval (true), nowhere in it (false), or undecided."""
    return _interval_check(ev, threshold, ">=", on)


def below(ev: Evidence, threshold: float, on: str = "interval") -> Check:
    """``ev < threshold``: true when the interval lies below it, false when at or above it."""
    return _interval_check(ev, threshold, "<", on)


def at_most(ev: Evidence, threshold: float, on: str = "interval") -> Check:
    """``ev <= threshold`` over the whole interval (true), nowhere in it (false), or undecided."""
    return _interval_check(ev, threshold, "<=", on)


def within(ev: Evidence, low: float, high: float) -> Check:
    """``low <= ev <= high``: true when the interval lies inside, false when it lies outside."""
    if not float(low) <= float(high):
        raise ValueError(f"within needs low <= high, got {low!r}, {high!r}")
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    single = dict(op="in", threshold=(float(low), float(high)), on="interval", kind="single")
    text = f"{ev.name} {ev} in [{format_threshold(low)}, {format_threshold(high)}]"
    if ev.interval is None:
        return Check(None, text, unmet=(f"{ev.name}: {ev.note or 'no interval'}",), evidence=(ev,), **single)
    lo, hi = ev.interval
    value = True if lo >= float(low) and hi <= float(high) else False if hi < float(low) or lo > float(high) else None
    return Check(value, text, evidence=(ev,), **single)


def significant(ev: Evidence, alpha: float = 0.05) -> Check:
    """``p <= alpha``. Needs a p-value whose attainable minimum is at most ``alpha``: a test that
    cannot reach the significance level (3 vs 3 networks: p >= 0.1) cannot support or refute the
    claim, and the requirement is unmet."""
    if not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    single = dict(op="<=", threshold=float(alpha), on="p_value", kind="single")
    if ev.p_value is None:
        return Check(None, f"{ev.name}: p <= {alpha:g}", unmet=(f"{ev.name}: no p-value",), evidence=(ev,), **single)
    text = f"{ev.name}: p = {ev.p_value:.2g} <= {alpha:g}"
    if ev.min_p_value > alpha:
        return Check(None, text, evidence=(ev,), unmet=(
            f"{ev.name}: the smallest p-value this test can give is {ev.min_p_value:.2g}, above the "
            f"significance level {alpha:g} ({_sizes_text(ev)})",), **single)
    return Check(ev.p_value <= alpha, text, evidence=(ev,), **single)


def _sizes_text(ev: Evidence) -> str:
    return ", ".join(f"{k} {'+'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in ev.n.items()) or "n unknown"


def enough(ev: Evidence, **minimum: int) -> Check:
    """A requirement on sample sizes: ``enough(ev, networks=3, pairs=3)`` is unmet when any of
    ``ev.n[key]`` (every entry of a list, e.g. networks per group) is below its minimum, or absent."""
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    unmet = []
    for key, need in minimum.items():
        have = ev.n.get(key)
        values = have if isinstance(have, tuple) else (have,)
        if have is None or min(values) < need:
            shown = "none" if have is None else "+".join(map(str, values))
            unmet.append(f"{ev.name}: {shown} {key.replace('_', ' ')}, the rule needs at least {need}"
                         + (" each" if isinstance(have, tuple) else ""))
    text = f"{ev.name}: at least " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in minimum.items())
    return Check(True, text, unmet=tuple(unmet), evidence=(ev,))


def premise(condition: bool, statement: str, failure: str = "") -> Check:
    """A premise of the claim (``"every network fits its training labels"``): unmet when false.

    ``failure`` says what happened instead (``"the memorizing networks reach 29% training
    accuracy"``); it becomes the reason the verdict is inconclusive."""
    ok = bool(condition)
    return Check(True, statement, unmet=() if ok else (failure or f"not met: {statement}",))


def all_of(checks: Iterable[Check]) -> Check:
    """Every check (Kleene and); true for no checks."""
    checks = list(checks)
    if not checks:
        return Check(True, "nothing to check")
    out = checks[0]
    for c in checks[1:]:
        out = out & c
    return out


def any_of(checks: Iterable[Check]) -> Check:
    """At least one check (Kleene or); false for no checks."""
    checks = list(checks)
    if not checks:
        return Check(False, "nothing to check")
    out = checks[0]
    for c in checks[1:]:
        out = out | c
    return out


def at_least_fraction(checks: Iterable[Check], fraction: float, text: str = "") -> Check:
    """At least ``fraction`` of the checks hold: true when the true ones are enough, false when the
    true and undecided ones together are too few, else undecided."""
    checks = list(checks)
    need = float(fraction) * len(checks)
    n_true = sum(c.value is True for c in checks)
    n_open = sum(c.value is None for c in checks)
    value = True if n_true >= need else False if n_true + n_open < need else None
    pooled = all_of(checks) if checks else Check(True, "")
    text = text or f"at least {fraction:.0%} of {len(checks)} checks hold ({n_true} do, {n_open} undecided)"
    return Check(value, text, pooled.unmet, () if value is not None else (text,), pooled.evidence,
                 kind="fraction", parts=tuple(checks))


def singles(check: Check) -> tuple[Check, ...]:
    """The single checks (``kind == "single"``) a check is made of, in order (requirements left out)."""
    if check.kind == "single":
        return (check,)
    return _union(*(singles(p) for p in check.parts))


def decisive(check: Check, value: bool | None) -> tuple[Check, ...]:
    """The single checks that make ``check`` take ``value`` (True, False or None, undecided).

    A single check: itself when its value is ``value``. ``a & b`` true: every part; false: the parts
    that are false; undecided: the undecided parts. ``a | b`` true: the parts that are true; false:
    every part; undecided: the undecided parts. ``~a``: the checks that make ``a`` take the opposite
    value. :func:`at_least_fraction`: the parts whose value is ``value``. Requirements: none."""
    if check.kind == "single":
        return (check,) if check.value is value else ()
    if check.kind == "not":
        return decisive(check.parts[0], None if value is None else not value)
    every = (check.kind == "and" and value is True) or (check.kind == "or" and value is False)
    picked = check.parts if every else tuple(p for p in check.parts if p.value is value)
    return _union(*(decisive(p, value) for p in picked))


def _record(check: Check, level: str, holds_decisive: bool) -> dict[str, Any]:
    t = check.threshold
    return {"evidence": check.evidence[0].name, "op": check.op,
            "threshold": [float(t[0]), float(t[1])] if check.op == "in" else float(t), "on": check.on,
            "level": level, "holds": check.value, "decisive": holds_decisive}


# ---------------------------------------------------------------------------------------- judgement
@dataclass(frozen=True)
class Judgement:
    """A verdict with its reasons.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    reasons : tuple of str
        For "inconclusive": the unmet requirements, or the statements the intervals could not decide.
    rule : str
        The checks behind "reproduced" and "partly", as stated.
    evidence : tuple of Evidence
    checks : tuple of (str, Check)
        The rule's checks by level: ``("reproduced", check)`` and, for a three-way rule,
        ``("partly", check)``.
    decisive : tuple of (str, Check)
        The single checks that decided the verdict, with the level they belong to (see
        :func:`decisive`): "reproduced" -- what made the "reproduced" check true; "partly" -- what made
        the "partly" check true; "not reproduced" -- what made the "partly" check (of a two-way rule:
        the only one) false; "inconclusive" -- the undecided single checks, or none when a
        requirement is unmet.
    """

    verdict: str
    reasons: tuple[str, ...]
    rule: str
    evidence: tuple[Evidence, ...]
    checks: tuple[tuple[str, Check], ...] = field(default=(), compare=False, repr=False)
    decisive: tuple[tuple[str, Check], ...] = field(default=(), compare=False, repr=False)

    def records(self) -> list[dict[str, Any]]:
        """The rule's single checks as the findings JSON records them (see the module's docstring):
        each level's, flattened, without repeats within a level; ``decisive`` marks those of
        :attr:`decisive`."""
        out: list[dict[str, Any]] = []
        for level, check in self.checks:
            seen: set[tuple[Any, ...]] = set()
            for c in singles(check):
                if not c.evidence or not np.all(np.isfinite(c.threshold)):  # strict JSON: no NaN thresholds
                    continue
                key = (c.evidence[0].name, c.op, c.threshold, c.on)
                if key in seen:
                    continue
                seen.add(key)
                hit = any(lv == level and (d is c or (d.evidence[0].name, d.op, d.threshold, d.on) == key)
                          for lv, d in self.decisive)
                out.append(_record(c, level, hit))
        return out

    def explain(self) -> str:
        """``"inconclusive: <reasons>"`` or ``""``."""
        if self.verdict != "inconclusive":
            return ""
        shown = list(self.reasons[:3])
        if len(self.reasons) > 3:
            shown.append(f"and {len(self.reasons) - 3} more")
        return f"inconclusive: {'; '.join(shown)}"


def judge(reproduced: Check, partly: Check | None = None, *, requires: Iterable[Check] = ()) -> Judgement:
    """The verdict a rule gives on the evidence.

    Parameters
    ----------
    reproduced : Check
        What must hold for the claim to be reproduced (e.g. ``above(gap, 0.05)``).
    partly : Check, optional
        What must hold for "partly" (e.g. ``above(gap, 0)``); default: the same as ``reproduced``
        (a two-way rule).
    requires : iterable of Check
        Requirements (:func:`enough`, :func:`premise`) beyond those of the checks themselves.

    Returns
    -------
    Judgement
        In this order: **inconclusive** when any requirement of ``requires``, ``reproduced`` or
        ``partly`` is unmet; **reproduced** when ``reproduced`` is true; **partly** when ``partly``
        is true (so an interval that straddles the "reproduced" threshold but clears the "partly"
        one gives partly); **not reproduced** when both are false; otherwise **inconclusive**
        (an interval straddles the threshold between holding and not holding).
    """
    requires = list(requires)
    for c in [reproduced, partly, *requires]:
        if c is not None and not isinstance(c, Check):
            raise TypeError(f"judge takes Check objects, got {type(c).__name__}")
    part = reproduced if partly is None else partly
    unmet = _union(*(c.unmet for c in requires), reproduced.unmet, part.unmet)
    evidence = _union(reproduced.evidence, part.evidence, *(c.evidence for c in requires))
    rule = f"reproduced if {reproduced.text}" + ("" if partly is None else f"; partly if {partly.text}")
    if requires:
        rule += "; needs " + "; ".join(c.text for c in requires)
    levels = (("reproduced", reproduced),) + (() if partly is None else (("partly", partly),))
    part_level = "reproduced" if partly is None else "partly"

    def why(level: str, check: Check, value: bool | None) -> tuple[tuple[str, Check], ...]:
        return tuple((level, c) for c in decisive(check, value))

    if unmet:
        return Judgement("inconclusive", unmet, rule, evidence, levels)
    if reproduced.value is True:
        return Judgement("reproduced", (), rule, evidence, levels, why("reproduced", reproduced, True))
    if part.value is True:
        return Judgement("partly", (), rule, evidence, levels, why("partly", part, True))
    if part.value is False and reproduced.value is False:
        return Judgement("not reproduced", (), rule, evidence, levels, why(part_level, part, False))
    undecided = _union(reproduced.undecided if reproduced.value is None else (),
                       part.undecided if part.value is None else ())
    open_checks = (why("reproduced", reproduced, None) if reproduced.value is None else ()) + (
        why(part_level, part, None) if part.value is None and partly is not None else ())
    return Judgement("inconclusive", tuple(_undecided_reason(u, open_checks) for u in undecided), rule, evidence,
                     levels, open_checks)


def _undecided_reason(text: str, open_checks: tuple[tuple[str, Check], ...]) -> str:
    """"the interval cannot decide <text>", and how many replicates would decide it at the spread observed
    (:func:`~cca_core.experiments.evidence.replicates_to_decide`) when the check's interval is a Student t."""
    reason = f"the interval cannot decide {text}"
    for _, check in open_checks:
        if check.text == text and check.on == "interval" and check.op in (">", ">=", "<", "<=") and check.evidence:
            need = replicates_to_decide(check.evidence[0], check.threshold)
            if need is not None:
                return f"{reason} (about {need[0]} {need[1]} would decide it, at the spread observed)"
    return reason


# ---------------------------------------------------------------------------------------- findings
def _evidence_tuple(value: Any) -> tuple[Evidence, ...]:
    if value is None:
        return ()
    if isinstance(value, (Evidence, Mapping)):
        value = [value]
    out = []
    for ev in value:
        if isinstance(ev, Mapping):
            ev = Evidence.from_dict(ev)
        if not isinstance(ev, Evidence):
            raise TypeError(f"Finding.evidence must hold Evidence objects, got {type(ev).__name__}")
        out.append(ev)
    return tuple(out)


@dataclass(frozen=True)
class Finding:
    """One claim of the paper and what this notebook found.

    Parameters
    ----------
    claim : str
        The paper's claim in one sentence.
    paper : str
        The paper's value(s) with their context, e.g. ``"0.42-0.45 (generalizing) vs 0.60"``.
    ours : str
        Our value(s) with their intervals, e.g. ``f"gen {gen:.2f} vs mem {mem:.2f}"`` with
        :class:`Evidence` values (``"gen 0.27 [0.25, 0.30] vs mem 0.65 [0.60, 0.70]"``).
    verdict : str or Judgement
        One of :data:`VERDICTS`, or the :class:`Judgement` of :func:`judge` (then ``evidence``
        defaults to the judgement's, and an inconclusive judgement's reasons are added to
        ``details``).
    details : str, optional
        How ``ours`` was computed or why the verdict (one or two sentences).
    evidence : sequence of Evidence (or their dicts), optional
        The numbers behind the verdict, with intervals or p-values and sample sizes.
    checks : sequence of dict, optional
        The rule's single checks as the JSON records them (see the module's docstring); defaults to
        the judgement's (:meth:`Judgement.records`).

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type, an unknown verdict, an empty claim, a malformed check record.
    """

    claim: str
    paper: str
    ours: str
    verdict: Any
    details: str = ""
    evidence: tuple[Evidence, ...] = ()
    checks: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.verdict, Judgement):
            j = self.verdict
            object.__setattr__(self, "verdict", j.verdict)
            if not self.evidence:
                object.__setattr__(self, "evidence", j.evidence)
            if not self.checks:
                object.__setattr__(self, "checks", tuple(j.records()))
            if j.explain():
                details = self.details if isinstance(self.details, str) else ""
                object.__setattr__(self, "details", f"{details}; {j.explain()}" if details else j.explain())
        for name in ("claim", "paper", "ours", "verdict", "details"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Finding.{name} must be a str, got {type(getattr(self, name)).__name__}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.claim.strip():
            raise ValueError("Finding.claim must not be empty")
        object.__setattr__(self, "evidence", _evidence_tuple(self.evidence))
        object.__setattr__(self, "checks", tuple(_check_record(c) for c in (self.checks or ())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the module's layout), with the rule's checks under ``"checks"``."""
        return {"claim": self.claim, "paper": self.paper, "ours": self.ours, "verdict": self.verdict,
                "details": self.details, "evidence": [e.to_dict() for e in self.evidence],
                "checks": [dict(c) for c in self.checks]}


_RECORD_OPS = (">", ">=", "<", "<=", "in")
_RECORD_ON = ("interval", "estimate", "p_value")


def _check_record(c: Any) -> dict[str, Any]:
    """A check record (see the module's docstring), checked and completed with its defaults."""
    if not isinstance(c, Mapping):
        raise TypeError(f"Finding.checks must hold dicts, got {type(c).__name__}")
    name, op, on = c.get("evidence"), c.get("op"), c.get("on", "interval")
    level = c.get("level", "reproduced")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a check record needs the evidence's name, got {c!r}")
    if op not in _RECORD_OPS or on not in _RECORD_ON or level not in ("reproduced", "partly"):
        raise ValueError(f"a check record needs op in {_RECORD_OPS}, on in {_RECORD_ON} and level 'reproduced' "
                         f"or 'partly', got {c!r}")
    t = c.get("threshold")
    try:
        threshold: Any = [float(t[0]), float(t[1])] if op == "in" else float(t)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"a check record's threshold must be a number ([low, high] for 'in'), got {t!r}") from None
    holds = c.get("holds")
    if holds is not None and not isinstance(holds, bool):
        raise ValueError(f"a check record's holds must be true, false or null, got {holds!r}")
    return {"evidence": name, "op": op, "threshold": threshold, "on": on, "level": level, "holds": holds,
            "decisive": bool(c.get("decisive", False))}

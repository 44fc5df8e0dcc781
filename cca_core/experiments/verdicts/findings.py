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

Files written before ``evidence`` existed (no such key) still load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["VERDICTS", "Evidence", "Check", "Judgement", "Finding", "above", "below", "at_least",
           "at_most", "within", "significant", "enough", "premise", "all_of", "any_of",
           "at_least_fraction", "judge", "NetworkGroups", "mean_interval", "mean_intervals"]

#: The verdicts a finding may carry, strongest first; "inconclusive": the evidence cannot tell.
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not reproduced", "inconclusive")


# ---------------------------------------------------------------------------------------- evidence
def _number(name: str, value: Any, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Evidence.{name} must be a number{' or None' if allow_none else ''}, got {value!r}")
    return float(value)


def _sizes(n: Any) -> dict[str, int | tuple[int, ...]]:
    if not isinstance(n, Mapping):
        raise TypeError(f"Evidence.n must be a mapping of sample sizes, got {type(n).__name__}")
    out: dict[str, int | tuple[int, ...]] = {}
    for key, value in n.items():
        if not isinstance(key, str):
            raise TypeError(f"Evidence.n keys must be str, got {key!r}")
        values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Evidence.n[{key!r}] must be a count (int >= 0) or a list of counts, got {value!r}")
        out[key] = tuple(int(v) for v in values) if isinstance(value, (list, tuple)) else int(value)
    return out


def _fmt(value: float, spec: str) -> str:
    if not math.isfinite(value):
        return str(value)
    if not spec:  # three decimals for the usual range of similarities, p-values and fractions
        spec = ".3f" if value == 0 or 1e-3 <= abs(value) < 1e3 else ".3g"
    return format(value, spec)


@dataclass(frozen=True)
class Evidence:
    """A number behind a finding, with its uncertainty and the sample sizes behind it.

    Parameters
    ----------
    name : str
        What the number is, e.g. ``"memorizing - generalizing PWCCA distance, relu_5-relu_6, train"``.
    estimate : float
        The value on all the data.
    interval : (float, float), optional
        ``(low, high)`` at ``confidence_level``; None when there is none (then ``note`` says why).
    confidence_level : float, optional
        Of ``interval`` (default 0.95 when an interval is given).
    p_value, min_p_value : float, optional
        A test's p-value and the smallest p-value the test can give at these sample sizes (for a
        permutation test ``1 / (n_permutations + 1)``, or ``1 / n_partitions`` when exact: 0.1 at 3
        vs 3 networks). A p-value needs its minimum.
    n : mapping str -> int or list of int
        Sample sizes: ``{"networks": [5, 5], "pairs": 25}``, ``{"checkpoints": 11}``, ...
    method : str
        How the interval or p-value was obtained (``"network bootstrap, 9999 resamples"``).
    note : str
        Why an interval or p-value is missing, or a caveat.

    Formatting: ``f"{ev:.2f}"`` gives ``"0.38 [0.30, 0.45]"`` (the estimate and its interval), or
    ``"0.38"`` when there is no interval.
    """

    name: str
    estimate: float
    interval: tuple[float, float] | None = None
    confidence_level: float | None = None
    p_value: float | None = None
    min_p_value: float | None = None
    n: Mapping[str, Any] = field(default_factory=dict)
    method: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Evidence.name must be a non-empty str, got {self.name!r}")
        object.__setattr__(self, "estimate", _number("estimate", self.estimate, allow_none=False))
        if self.interval is not None:
            if len(self.interval) != 2:
                raise ValueError(f"Evidence.interval must be (low, high), got {self.interval!r}")
            lo, hi = (_number("interval", v, allow_none=False) for v in self.interval)
            if not lo <= hi:
                raise ValueError(f"Evidence.interval must have low <= high, got {self.interval!r}")
            object.__setattr__(self, "interval", (lo, hi))
            cl = 0.95 if self.confidence_level is None else _number("confidence_level", self.confidence_level)
            if not 0 < cl < 1:
                raise ValueError(f"Evidence.confidence_level must be in (0, 1), got {cl!r}")
            object.__setattr__(self, "confidence_level", cl)
        elif self.confidence_level is not None:
            raise ValueError("Evidence.confidence_level is given without an interval")
        p = _number("p_value", self.p_value)
        mp = _number("min_p_value", self.min_p_value)
        if p is not None and mp is None:
            raise ValueError(f"Evidence {self.name!r}: a p-value needs its attainable minimum (min_p_value)")
        for label, v in (("p_value", p), ("min_p_value", mp)):
            if v is not None and not 0 <= v <= 1:
                raise ValueError(f"Evidence.{label} must be in [0, 1], got {v!r}")
        object.__setattr__(self, "p_value", p)
        object.__setattr__(self, "min_p_value", mp)
        object.__setattr__(self, "n", _sizes(self.n))
        for label in ("method", "note"):
            if not isinstance(getattr(self, label), str):
                raise TypeError(f"Evidence.{label} must be a str")

    # -------------------------------------------------------------- constructors
    @classmethod
    def point(cls, name: str, value: float, *, n: Mapping[str, Any] | None = None, why: str) -> "Evidence":
        """A value without sampling error (computed exactly, or a count): its interval is the value.

        ``why`` says why no resampling is needed; it becomes ``method``."""
        return cls(name, value, (float(value), float(value)), n=n or {}, method=f"exact: {why}")

    @classmethod
    def from_group_interval(cls, name: str, result: Any) -> "Evidence":
        """From :class:`cca_core.stats.GroupInterval` (a network bootstrap of a group's mean distance)."""
        n: dict[str, Any] = {"networks": list(result.n_networks) if len(result.n_networks) > 1
                             else result.n_networks[0], "pairs": result.n_pairs}
        ci = result.confidence_interval
        return cls(name, result.statistic, (ci.low, ci.high), result.confidence_level, n=n,
                   method=f"network bootstrap ({result.method}, {result.n_used} of {result.n_resamples} "
                          "resamples with a pair)")

    @classmethod
    def from_permutation(cls, name: str, result: Any, *, n: Mapping[str, Any] | None = None) -> "Evidence":
        """From a permutation test result: :class:`cca_core.stats.GroupPermutationResult`,
        :class:`cca_core.stats.PermutationTestResult` or
        :class:`cca_core.experiments.analysis.clustering.PermutationResult` (estimate: its statistic)."""
        stat = getattr(result, "statistic", None)
        if stat is None:
            stat = result.observed
        sizes = dict(n or {})
        per_group = getattr(result, "n_per_group", None)
        if per_group and "networks" not in sizes:
            sizes["networks"] = [int(v) for v in per_group.values()]
        exact = getattr(result, "exact", None)
        count = getattr(result, "n_permutations", None)
        if count is None:
            count = len(getattr(result, "null", ()))
        how = "every labeling" if exact else f"{count} random permutations"
        p_value = getattr(result, "pvalue", None)  # scipy's name (cca_core.stats); clustering's results: p_value
        if p_value is None:
            p_value = result.p_value
        return cls(name, stat, p_value=p_value, min_p_value=result.min_p_value, n=sizes,
                   method=f"permutation test ({how})")

    # -------------------------------------------------------------- output
    @property
    def low(self) -> float | None:
        return None if self.interval is None else self.interval[0]

    @property
    def high(self) -> float | None:
        return None if self.interval is None else self.interval[1]

    def __format__(self, spec: str) -> str:
        text = _fmt(self.estimate, spec)
        if self.interval is not None and not self.method.startswith("exact"):
            text += f" [{_fmt(self.interval[0], spec)}, {_fmt(self.interval[1], spec)}]"
        return text

    def __str__(self) -> str:
        return self.__format__("")

    def summary(self, spec: str = "") -> str:
        """One line for a table: name, estimate [interval] (level), p (min), sample sizes."""
        parts = [f"{self.name}: {self:{spec}}"]
        if self.interval is not None and not self.method.startswith("exact"):
            parts[0] += f" ({self.confidence_level:.0%})"
        if self.p_value is not None:
            parts.append(f"p = {self.p_value:.2g} (min {self.min_p_value:.2g})")
        if self.n:
            parts.append("n: " + ", ".join(
                f"{k} {'+'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.n.items()))
        if self.interval is None and self.p_value is None and self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        return {"name": self.name, "estimate": self.estimate if math.isfinite(self.estimate) else None,
                "interval": None if self.interval is None else list(self.interval),
                "confidence_level": self.confidence_level, "p_value": self.p_value,
                "min_p_value": self.min_p_value,
                "n": {k: list(v) if isinstance(v, tuple) else v for k, v in self.n.items()},
                "method": self.method, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Evidence":
        data = dict(data)
        if data.get("estimate") is None:  # NaN is written as null (strict JSON)
            data["estimate"] = float("nan")
        if data.get("interval") is not None:
            data["interval"] = tuple(data["interval"])
        return cls(**data)


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

    ``a & b``, ``a | b`` and ``~a`` combine checks in three-valued (Kleene) logic: false and
    undecided is false, true or undecided is true; requirements and evidence are pooled.
    """

    value: bool | None
    text: str
    unmet: tuple[str, ...] = ()
    undecided: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()

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
        return Check(value, f"({self.text}) {op} ({other.text})", _union(self.unmet, other.unmet),
                     _union(self.undecided, other.undecided), _union(self.evidence, other.evidence))

    def __and__(self, other: "Check") -> "Check":
        return self._combine(other, _and(self.value, other.value), "and")

    def __or__(self, other: "Check") -> "Check":
        return self._combine(other, _or(self.value, other.value), "or")

    def __invert__(self) -> "Check":
        return Check(None if self.value is None else not self.value, f"not ({self.text})", self.unmet,
                     self.undecided, self.evidence)

    def __bool__(self) -> bool:
        raise TypeError("a Check is three-valued: combine checks with &, | and ~ (not and/or/not), "
                        "and read .value")


def _interval_check(ev: Evidence, threshold: float, op: str, on: str = "interval") -> Check:
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    if on not in ("interval", "estimate"):
        raise ValueError(f"on must be 'interval' or 'estimate', got {on!r}")
    t = float(threshold)
    if on == "estimate":
        text = f"{ev.name} {_fmt(ev.estimate, '')} {op} {t:g} (estimate)"
        lo = hi = ev.estimate
    else:
        text = f"{ev.name} {ev} {op} {t:g}"
        if ev.interval is None:
            why = ev.note or "no interval"
            return Check(None, text, unmet=(f"{ev.name}: {why}",), evidence=(ev,))
        lo, hi = ev.interval
    value = {">": (True if lo > t else False if hi <= t else None),
             ">=": (True if lo >= t else False if hi < t else None),
             "<": (True if hi < t else False if lo >= t else None),
             "<=": (True if hi <= t else False if lo > t else None)}[op]
    return Check(value, text, evidence=(ev,))


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
    text = f"{ev.name} {ev} in [{float(low):g}, {float(high):g}]"
    if ev.interval is None:
        return Check(None, text, unmet=(f"{ev.name}: {ev.note or 'no interval'}",), evidence=(ev,))
    lo, hi = ev.interval
    value = True if lo >= float(low) and hi <= float(high) else False if hi < float(low) or lo > float(high) else None
    return Check(value, text, evidence=(ev,))


def significant(ev: Evidence, alpha: float = 0.05) -> Check:
    """``p <= alpha``. Needs a p-value whose attainable minimum is at most ``alpha``: a test that
    cannot reach the significance level (3 vs 3 networks: p >= 0.1) cannot support or refute the
    claim, and the requirement is unmet."""
    if not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(ev, Evidence):
        raise TypeError(f"expected Evidence, got {type(ev).__name__}")
    if ev.p_value is None:
        return Check(None, f"{ev.name}: p <= {alpha:g}", unmet=(f"{ev.name}: no p-value",), evidence=(ev,))
    text = f"{ev.name}: p = {ev.p_value:.2g} <= {alpha:g}"
    if ev.min_p_value > alpha:
        return Check(None, text, evidence=(ev,), unmet=(
            f"{ev.name}: the smallest p-value this test can give is {ev.min_p_value:.2g}, above the "
            f"significance level {alpha:g} ({_sizes_text(ev)})",))
    return Check(ev.p_value <= alpha, text, evidence=(ev,))


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
    return Check(value, text, pooled.unmet, () if value is not None else (text,), pooled.evidence)


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
    """

    verdict: str
    reasons: tuple[str, ...]
    rule: str
    evidence: tuple[Evidence, ...]

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
    if unmet:
        return Judgement("inconclusive", unmet, rule, evidence)
    if reproduced.value is True:
        return Judgement("reproduced", (), rule, evidence)
    if part.value is True:
        return Judgement("partly", (), rule, evidence)
    if part.value is False and reproduced.value is False:
        return Judgement("not reproduced", (), rule, evidence)
    undecided = _union(reproduced.undecided if reproduced.value is None else (),
                       part.undecided if part.value is None else ())
    return Judgement("inconclusive", tuple(f"the interval cannot decide {u}" for u in undecided), rule, evidence)


# ---------------------------------------------------------------------------------------- networks
def _check_resampling(n_resamples: Any, confidence_level: Any) -> tuple[int, float]:
    from cca_core.stats import _check_confidence, _check_count

    n_resamples = _check_count("n_resamples", n_resamples)
    return n_resamples, _check_confidence(confidence_level, n_resamples)


class NetworkGroups:
    """Distances between labelled networks, resampled by network for intervals of any statistic.

    Pairs of networks share networks, so they are not independent: the resampled units are the
    networks (as in :func:`cca_core.stats.group_mean_interval`). Each resample draws every group's
    networks with replacement, independently per group (the same draws for every statistic, so
    statistics of one page are resampled jointly), and takes means over pairs of *distinct*
    networks: with counts ``w`` and ``v``, the mean within a group is
    ``sum_{a != b} w_a w_b D_ab / ((sum w)**2 - sum w**2)`` and between two groups
    ``w^T D_gh v / (sum w sum v)``. Resamples in which a group used within has a single distinct
    network have no pair and are left out. The interval is the percentile interval of the
    resampled statistic (a mean of distances has no resampling bias once self-pairs are dropped).

    Parameters
    ----------
    D : array_like, shape (..., K, K)
        Symmetric distances between the K networks, zero diagonal; leading axes (layers, splits,
        stages) are carried through. Entries of pairs never used (networks of different widths, say)
        may be NaN.
    labels : sequence, length K
        Group of each network.
    n_resamples : int
        Bootstrap resamples (at least 99).
    confidence_level : float
    seed : int
        Seed of the draws (a page's numbers are reproducible).

    Examples
    --------
    >>> g = NetworkGroups(D, ["gen"] * 5 + ["mem"] * 5)              # doctest: +SKIP
    >>> gap = g.evidence("mem - gen", lambda m: m("mem") - m("gen"))  # doctest: +SKIP
    """

    def __init__(self, D: Any, labels: Sequence[Any], *, n_resamples: int = 9999,
                 confidence_level: float = 0.95, seed: int = 0) -> None:
        d = np.asarray(D, dtype=float)
        if d.ndim < 2 or d.shape[-1] != d.shape[-2]:
            raise ValueError(f"D must have shape (..., K, K), got {d.shape}")
        labels = np.asarray(labels)
        if labels.shape != (d.shape[-1],):
            raise ValueError(f"labels must have one label per network ({d.shape[-1]}), got shape {labels.shape}")
        self.n_resamples, self.confidence_level = _check_resampling(n_resamples, confidence_level)
        self.D, self.labels, self.seed = d, labels, seed
        self.groups = list(dict.fromkeys(labels.tolist()))
        self.members = {g: np.flatnonzero(labels == g) for g in self.groups}
        rng = np.random.default_rng(seed)
        self.counts = {}
        for g in self.groups:
            m = self.members[g].size
            idx = rng.integers(0, m, size=(self.n_resamples, m))
            self.counts[g] = (idx[..., None] == np.arange(m)).sum(axis=1).astype(float)  # (B, m)

    @classmethod
    def from_pair_table(cls, values: Any, pairs: Sequence[tuple[int, int]], n_networks: int,
                        groups: Sequence[Any], **kwargs: Any) -> "NetworkGroups":
        """From a table of pair distances: ``values[..., p, g]`` is the distance of pair ``pairs[p]``
        (indices of networks ``0 .. n_networks - 1`` within group ``g``) in group ``groups[g]``.

        Networks of different groups were never compared: their entries are NaN. Keyword arguments
        go to the constructor."""
        v = np.asarray(values, dtype=float)
        groups = list(groups)
        if v.ndim < 2 or v.shape[-2:] != (len(pairs), len(groups)):
            raise ValueError(f"values must have shape (..., {len(pairs)} pairs, {len(groups)} groups), got {v.shape}")
        k = n_networks * len(groups)
        d = np.full(v.shape[:-2] + (k, k), np.nan)
        for gi in range(len(groups)):
            base = gi * n_networks
            block = np.zeros(v.shape[:-2] + (n_networks, n_networks))
            for p, (i, j) in enumerate(pairs):
                block[..., i, j] = block[..., j, i] = v[..., p, gi]
            d[..., base:base + n_networks, base:base + n_networks] = block
        return cls(d, np.repeat(np.asarray(groups, dtype=object), n_networks).tolist(), **kwargs)

    def group_means(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(estimate, low, high)`` of every group's mean within-group distance, shape
        ``(..., n_groups)`` in the order of ``self.groups``; NaN where a group's distances are not
        all finite or it has too few networks for an interval."""
        shape = self.D.shape[:-2] + (len(self.groups),)
        est, lo, hi = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
        for k, g in enumerate(self.groups):
            block = self.D[..., self.members[g][:, None], self.members[g][None, :]]
            m = self.members[g].size
            off = block[..., ~np.eye(m, dtype=bool)]
            ok = np.all(np.isfinite(off), axis=-1)
            if not np.any(ok):
                continue
            safe = NetworkGroups(np.where(ok[..., None, None], np.nan_to_num(block), 0.0), [g] * m,
                                 n_resamples=self.n_resamples, confidence_level=self.confidence_level,
                                 seed=self.seed)
            e, l, h = safe.interval(lambda mean: mean(g))
            est[..., k] = np.where(ok, e, np.nan)
            if l is not None:
                lo[..., k], hi[..., k] = np.where(ok, l, np.nan), np.where(ok, h, np.nan)
        return est, lo, hi

    def _block(self, g: Any, h: Any) -> np.ndarray:
        block = self.D[..., self.members[g][:, None], self.members[h][None, :]]
        if not np.all(np.isfinite(block)):
            raise ValueError(f"D has NaN/Inf entries between networks of {g!r} and {h!r}, which this "
                             "statistic uses")
        return block

    def _mean(self, g: Any, h: Any, w: np.ndarray | None, v: np.ndarray | None) -> np.ndarray:
        """Mean over pairs of distinct networks; ``w``/``v`` are counts (B, m) or None (all data)."""
        for label in (g, h):
            if label is not None and label not in self.members:
                raise ValueError(f"unknown group {label!r}; the groups are {self.groups}")
        if h is None or h == g:
            block = self._block(g, g).copy()
            m = block.shape[-1]
            block[..., np.arange(m), np.arange(m)] = 0.0
            if w is None:
                return block.sum(axis=(-2, -1)) / (m * (m - 1)) if m > 1 else np.full(block.shape[:-2], np.nan)
            num = np.einsum("ba,...ac,bc->b...", w, block, w)
            den = w.sum(axis=1) ** 2 - (w * w).sum(axis=1)
            den = den.reshape((-1,) + (1,) * (num.ndim - 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        block = self._block(g, h)
        if w is None:
            return block.mean(axis=(-2, -1))
        num = np.einsum("ba,...ac,bc->b...", w, block, v)
        den = (w.sum(axis=1) * v.sum(axis=1)).reshape((-1,) + (1,) * (num.ndim - 1))
        return num / den

    def mean(self, group: Any, other: Any = None) -> np.ndarray | float:
        """Mean distance within ``group`` (or between ``group`` and ``other``) on all networks."""
        out = self._mean(group, other, None, None)
        return float(out) if np.ndim(out) == 0 else out

    def _run(self, statistic: Callable[[Callable[..., np.ndarray]], Any]) -> tuple[np.ndarray, np.ndarray, list]:
        used: list[tuple[Any, Any]] = []

        def full(g: Any, h: Any = None) -> np.ndarray:
            used.append((g, h))
            return self._mean(g, h, None, None)

        def resampled(g: Any, h: Any = None) -> np.ndarray:
            return self._mean(g, h, self.counts[g], None if h is None else self.counts[h])

        estimate = np.asarray(statistic(full), dtype=float)
        dist = np.asarray(statistic(resampled), dtype=float)
        return estimate, dist, used

    def _sizes(self, used: list[tuple[Any, Any]]) -> tuple[dict[str, Any], list[str]]:
        groups = list(dict.fromkeys(x for pair in used for x in pair if x is not None))
        n_pairs = 0
        short = []
        for g, h in dict.fromkeys(used):
            mg = self.members[g].size
            if h is None or h == g:
                n_pairs += mg * (mg - 1) // 2
                if mg < 3:
                    short.append(f"{mg} networks in {g} (an interval within a group needs at least 3)")
            else:
                mh = self.members[h].size
                n_pairs += mg * mh
                if min(mg, mh) < 2:
                    short.append(f"{mg} and {mh} networks in {g} and {h} (an interval between groups "
                                 "needs at least 2 in each)")
        sizes = [int(self.members[g].size) for g in groups]
        return {"networks": sizes if len(sizes) > 1 else sizes[0], "pairs": n_pairs}, short

    def interval(self, statistic: Callable[[Callable[..., np.ndarray]], Any]
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(estimate, low, high)`` of a statistic of group means, elementwise over leading axes of D.

        ``statistic(m)`` computes the statistic from ``m(group, other=None)``, the mean distance
        within a group or between two: ``lambda m: m("mem") - m("gen")``. ``low``/``high`` are None
        when a group is too small for an interval (fewer than 3 networks within, 2 between).
        """
        estimate, dist, used = self._run(statistic)
        _, short = self._sizes(used)
        if short:
            return estimate, None, None
        tail = (1.0 - self.confidence_level) / 2.0
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(dist, [tail, 1.0 - tail], axis=0)
        return estimate, lo, hi

    def evidence(self, name: str, statistic: Callable[[Callable[..., np.ndarray]], Any]) -> Evidence:
        """A scalar statistic of group means (see :meth:`interval`) as :class:`Evidence`, with the
        networks per group and the pairs behind it."""
        estimate, dist, used = self._run(statistic)
        if estimate.ndim != 0:
            raise ValueError(f"evidence needs a scalar statistic, got shape {estimate.shape}; use interval()")
        n, short = self._sizes(used)
        if short:
            return Evidence(name, float(estimate), n=n, method="network bootstrap",
                            note="no interval: " + "; ".join(short))
        finite = dist[np.isfinite(dist)]
        tail = (1.0 - self.confidence_level) / 2.0
        lo, hi = np.quantile(finite, [tail, 1.0 - tail])
        return Evidence(name, float(estimate), (float(lo), float(hi)), self.confidence_level, n=n,
                        method=f"network bootstrap (percentile, {finite.size} of {self.n_resamples} "
                               "resamples with a pair)")


def mean_interval(values: Any, name: str, *, confidence_level: float = 0.95, unit: str = "draws",
                  axis: int = 0) -> Evidence | list[Evidence]:
    """Mean of independent replicates with its Student-t interval, as :class:`Evidence`.

    For values that are independent draws (synthetic data drawn afresh, independently trained
    networks, not pairs of them): ``mean +- t_{(1+cl)/2, n-1} s / sqrt(n)``. One replicate gives no
    interval (``note`` says so). A 1-D array gives one Evidence; a 2-D array one per column
    (``axis=0``: replicates are rows).
    """
    import scipy.stats

    v = np.asarray(values, dtype=float)
    if v.ndim == 2:
        cols = np.moveaxis(v, axis, 0)
        return [mean_interval(cols[:, j], f"{name}[{j}]", confidence_level=confidence_level, unit=unit)
                for j in range(cols.shape[1])]
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError(f"mean_interval: no finite values for {name!r}")
    est = float(v.mean())
    if v.size < 2:
        return Evidence(name, est, n={unit: int(v.size)}, note=f"no interval: 1 of {unit}")
    half = float(scipy.stats.t.ppf(0.5 + confidence_level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Evidence(name, est, (est - half, est + half), confidence_level, n={unit: int(v.size)},
                    method=f"Student t over {v.size} {unit}")


def mean_intervals(values: Any, confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``values`` (rows: independent replicates) with their Student-t intervals, as
    arrays ``(estimate, low, high)`` for a figure; ``low``/``high`` NaN where a column has one value."""
    evs = mean_interval(np.atleast_2d(np.asarray(values, dtype=float)), "column", confidence_level=confidence_level)
    est = np.array([e.estimate for e in evs])
    lo = np.array([np.nan if e.interval is None else e.interval[0] for e in evs])
    hi = np.array([np.nan if e.interval is None else e.interval[1] for e in evs])
    return est, lo, hi


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
    """

    claim: str
    paper: str
    ours: str
    verdict: Any
    details: str = ""
    evidence: tuple[Evidence, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.verdict, Judgement):
            j = self.verdict
            object.__setattr__(self, "verdict", j.verdict)
            if not self.evidence:
                object.__setattr__(self, "evidence", j.evidence)
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

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "paper": self.paper, "ours": self.ours, "verdict": self.verdict,
                "details": self.details, "evidence": [e.to_dict() for e in self.evidence]}

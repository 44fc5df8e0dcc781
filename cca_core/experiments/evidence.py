"""Evidence: a number behind a finding with its uncertainty and sample sizes, and the ways to get it.

:class:`Evidence` is the record (an estimate with its interval and confidence level, or a p-value
with the smallest p-value the test could give, and the sample sizes); the analysis produces it and
the verdicts (:mod:`~cca_core.experiments.verdicts`) judge it. The intervals come from
:mod:`cca_core.stats` (one implementation of each):

- :class:`NetworkGroups` -- distances between labelled networks, resampled by network
  (:class:`cca_core.stats.NetworkDraws`, :func:`cca_core.stats.pair_means`), percentile intervals;
- :class:`NetworkValues` -- per-network values, the mean over networks with a percentile interval
  from resampling networks;
- :class:`NetworkMeans`, :func:`mean_interval`, :func:`mean_intervals` -- per-network values or
  independent draws, the mean with its Student-t interval (:func:`cca_core.stats.t_interval`).

This module sits below the analysis and the verdicts (both import it; it imports neither).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cca_core.experiments.numbers import format_estimate, format_number, format_spec
from cca_core.stats import (NETWORK_RESAMPLES, NetworkDraws, pair_means, percentile_interval, resample_counts,
                            t_interval)
from cca_core.validation import check_confidence_level, check_count, check_probability

__all__ = ["Evidence", "NetworkGroups", "NetworkValues", "NetworkMeans", "mean_interval", "mean_intervals", "replicates_to_decide",
           "MIN_NETWORKS", "MIN_RNN_NETWORKS"]

#: Fewest networks per group for a within-group interval (two give one pair and no spread), and
#: for a bootstrap over networks.
MIN_NETWORKS = 3


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
    """One number: with no spec by the one formatter (:func:`~cca_core.experiments.numbers.format_number`,
    three significant digits), else ``format(value, spec)`` without a negative zero."""
    if not math.isfinite(value):
        return str(value)
    if not spec:
        return format_number(value)
    return format_spec(value, spec)


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

    Formatting: ``f"{ev}"`` (no spec) writes the estimate and its interval by the one formatter,
    :func:`~cca_core.experiments.numbers.format_estimate` (decimals set by the interval's width:
    ``"0.38 [0.30, 0.45]"``, ``"0.007 [-0.008, 0.022]"``); an explicit spec formats each number with it
    (``f"{ev:.2f}"`` gives ``"0.38 [0.30, 0.45]"``). Either way: the estimate alone when there is no
    interval (or the value is exact), never a negative zero.
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
        shown = self.interval is not None and not self.method.startswith("exact")
        if not spec:
            if shown and all(math.isfinite(v) for v in (self.estimate, *self.interval)):
                return format_estimate(self.estimate, *self.interval)
            text = _fmt(self.estimate, spec)
        else:
            text = _fmt(self.estimate, spec)
        if shown:
            text += f" [{_fmt(self.interval[0], spec)}, {_fmt(self.interval[1], spec)}]"
        return text

    def __str__(self) -> str:
        return self.__format__("")

    def summary(self, spec: str = "") -> str:
        """One line for a table: name, estimate [interval] (level), p (min), sample sizes; the estimate
        and interval as :meth:`__format__` writes them with ``spec`` (default: the one formatter)."""
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


# ---------------------------------------------------------------------------------------- networks
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

    def __init__(self, D: Any, labels: Sequence[Any], *, n_resamples: int = NETWORK_RESAMPLES,
                 confidence_level: float = 0.95, seed: int = 0) -> None:
        d = np.asarray(D, dtype=float)
        if d.ndim < 2 or d.shape[-1] != d.shape[-2]:
            raise ValueError(f"D must have shape (..., K, K), got {d.shape}")
        labels = np.asarray(labels)
        if labels.shape != (d.shape[-1],):
            raise ValueError(f"labels must have one label per network ({d.shape[-1]}), got shape {labels.shape}")
        n_resamples = check_count("n_resamples", n_resamples)
        self.confidence_level = check_confidence_level(confidence_level, n_resamples)
        self.draws = NetworkDraws(labels, n_resamples, seed)
        self.n_resamples = self.draws.n_resamples
        self.D, self.labels, self.seed = d, labels, seed
        self.groups, self.members, self.counts = self.draws.groups, self.draws.members, self.draws.counts  # (B, m)

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
            return pair_means(self._block(g, g), w)
        return pair_means(self._block(g, h), w, v, within=False)

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
        lo, hi = percentile_interval(dist, self.confidence_level, axis=0)
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
        lo, hi = percentile_interval(finite, self.confidence_level)
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
    _, lo, hi = t_interval(v, confidence_level)
    return Evidence(name, est, (float(lo), float(hi)), confidence_level, n={unit: int(v.size)},
                    method=f"Student t over {v.size} {unit}")


_T_METHOD = re.compile(r"^Student t over (\d+) (\w+)")


def replicates_to_decide(evidence: Evidence, threshold: float, *, limit: int = 10_000) -> tuple[int, str] | None:
    """How many replicates a Student-t interval would need to lie wholly on one side of ``threshold``,
    at the spread it observed: ``(n, unit)``, e.g. ``(14, "networks")``.

    For :class:`Evidence` from :func:`mean_interval` or :meth:`NetworkMeans.evidence` (``method``
    ``"Student t over n <unit>"``): the sample standard deviation is recovered from the interval,
    ``s = h sqrt(n) / t_{(1+cl)/2, n-1}`` with ``h`` the larger distance from the estimate to an end
    (the other may be clipped), and the answer is the smallest ``n' >= 2`` with
    ``t_{(1+cl)/2, n'-1} s / sqrt(n') < |estimate - threshold|`` -- assuming the mean and the spread
    stay as observed, which more replicates may not confirm.

    Returns None for other evidence (no interval, a bootstrap, a p-value), an estimate at the
    threshold, or more than ``limit`` replicates.
    """
    from scipy import stats as _stats

    match = _T_METHOD.match(evidence.method or "")
    if match is None or evidence.interval is None or evidence.confidence_level is None:
        return None
    n, unit = int(match.group(1)), match.group(2)
    quantile = (1 + evidence.confidence_level) / 2
    half = max(evidence.estimate - evidence.interval[0], evidence.interval[1] - evidence.estimate)
    distance = abs(evidence.estimate - float(threshold))
    if n < 2 or distance == 0 or not np.isfinite(distance):
        return None
    sd = half * np.sqrt(n) / _stats.t.ppf(quantile, n - 1)
    if sd == 0:
        return None
    candidates = np.arange(2, limit + 1)
    widths = _stats.t.ppf(quantile, candidates - 1) * sd / np.sqrt(candidates)
    enough = np.flatnonzero(widths < distance)
    return None if enough.size == 0 else (int(candidates[enough[0]]), unit)


def mean_intervals(values: Any, confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``values`` (rows: independent replicates) with their Student-t intervals, as
    arrays ``(estimate, low, high)`` for a figure; ``low``/``high`` NaN where a column has one value."""
    evs = mean_interval(np.atleast_2d(np.asarray(values, dtype=float)), "column", confidence_level=confidence_level)
    est = np.array([e.estimate for e in evs])
    lo = np.array([np.nan if e.interval is None else e.interval[0] for e in evs])
    hi = np.array([np.nan if e.interval is None else e.interval[1] for e in evs])
    return est, lo, hi


class NetworkValues:
    """Statistics of means over independently trained networks, with percentile intervals from a
    bootstrap that resamples the networks (the same draws for every statistic of a page).

    ``values[key]`` has shape ``(n_networks, ...)``. A statistic is computed from ``m(key)``, the
    mean over networks of ``values[key]``: shape ``(...)`` on all networks, ``(n_resamples, ...)``
    when resampled, so a statistic reduces with negative axes (``lambda m: m("sim")[..., 0]``).
    The draws are :func:`cca_core.stats.resample_counts` (``seed``), those of
    :func:`cca_core.stats.network_mean_interval`; fewer than :data:`MIN_NETWORKS` networks give no
    interval."""

    def __init__(self, values: Mapping[str, np.ndarray], *, n_resamples: int = NETWORK_RESAMPLES,
                 confidence_level: float = 0.95, seed: int = 0) -> None:
        self.values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        sizes = {v.shape[0] for v in self.values.values()}
        if len(sizes) != 1:
            raise ValueError(f"every value needs the same number of networks (axis 0), got {sorted(sizes)}")
        self.n_networks = sizes.pop()
        n_resamples = check_count("n_resamples", n_resamples)
        self.confidence_level = check_confidence_level(confidence_level, n_resamples)
        self.weights = resample_counts(np.random.default_rng(seed), self.n_networks, n_resamples) / self.n_networks

    def evidence(self, name: str, statistic: Any, n: Mapping[str, Any] | None = None) -> Evidence:
        """A scalar statistic of means over networks as :class:`Evidence` with its percentile interval."""
        sizes = {"networks": self.n_networks, **dict(n or {})}

        def full(key: str) -> np.ndarray:
            return self.values[key].mean(axis=0)

        def resampled(key: str) -> np.ndarray:
            v = self.values[key]
            return np.tensordot(self.weights, v, axes=([1], [0]))

        estimate = float(statistic(full))
        if self.n_networks < MIN_NETWORKS:
            return Evidence(name, estimate, n=sizes, method="network bootstrap",
                            note=f"no interval: {self.n_networks} network{'s' if self.n_networks != 1 else ''}, an "
                                 f"interval over networks needs at least {MIN_NETWORKS}")
        with np.errstate(invalid="ignore"):
            dist = np.asarray(statistic(resampled), dtype=float).ravel()
        dist = dist[np.isfinite(dist)]
        if not np.isfinite(estimate) or dist.size == 0:
            return Evidence(name, estimate, n=sizes, method="network bootstrap", note="no interval: no finite value")
        lo, hi = percentile_interval(dist, self.confidence_level)
        return Evidence(name, estimate, (float(lo), float(hi)), self.confidence_level, n=sizes,
                        method=f"network bootstrap (percentile, {dist.size} resamples)")



#: Fewest networks for an interval over networks (each network gives one value; one gives no spread).
MIN_RNN_NETWORKS = 2


class NetworkMeans:
    """Values of independently trained networks: means over networks with Student-t intervals.

    For chapters that compare every network only with itself (a layer at each checkpoint with the
    same layer at the end of training, the state at each timestep with the last one), each network
    gives its own array of numbers, and the networks are independent draws of the training run. A
    statistic is computed on each network's arrays; its estimate is the mean over networks and its
    interval the Student-t interval of that mean, ``mean +- t_{(1+cl)/2, n-1} s / sqrt(n)``
    (:func:`mean_interval`, :func:`cca_core.stats.t_interval`). A bootstrap that resamples 2 or 3 networks cannot reach
    beyond the range of their values (about half and three quarters coverage), so with the few
    networks a page trains its "95%" interval would be too narrow, and a verdict would change with
    the seeds; the t interval is wide when the networks are few and disagree. One network gives no
    interval.

    Parameters
    ----------
    values : mapping name -> array of shape (n_networks, ...)
        Every array with the same number of networks, in the same order.
    confidence_level : float
    """

    def __init__(self, values: Mapping[str, Any], *, confidence_level: float = 0.95) -> None:
        self.values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        if not self.values:
            raise ValueError("NetworkMeans needs at least one array")
        sizes = {k: (v.shape[0] if v.ndim else 0) for k, v in self.values.items()}
        if len(set(sizes.values())) != 1 or 0 in sizes.values():
            raise ValueError(f"every array needs the same networks on its first axis, got {sizes}")
        self.n_networks = next(iter(sizes.values()))
        self.confidence_level = check_probability("confidence_level", confidence_level)

    def per_network(self, statistic: Any = None) -> np.ndarray:
        """``statistic(v)`` for every network (``v``: that network's arrays, a dict without the network
        axis), stacked: shape ``(n_networks, ...)``; default: the only array itself."""
        if statistic is None:
            if len(self.values) != 1:
                raise ValueError("without a statistic NetworkMeans needs exactly one array")
            return next(iter(self.values.values()))
        return np.stack([np.asarray(statistic({k: v[i] for k, v in self.values.items()}), dtype=float)
                         for i in range(self.n_networks)])

    def interval(self, statistic: Any = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(mean, low, high)`` over networks of ``statistic`` (see :meth:`per_network`), elementwise
        for an array statistic; ``low``/``high`` None with a single network."""
        v = self.per_network(statistic)
        if self.n_networks < MIN_RNN_NETWORKS:
            return v.mean(axis=0), None, None
        return t_interval(v, self.confidence_level)

    def evidence(self, name: str, statistic: Any, *, clip: tuple[float, float] | None = None,
                 n: Mapping[str, Any] | None = None) -> Evidence:
        """A scalar statistic's mean over networks and its t interval (see :meth:`interval`) as
        :class:`Evidence`, with the networks and ``n`` as its sample sizes; no interval (and a note)
        with one network or where the statistic is undefined. ``clip`` bounds the interval."""
        est, lo, hi = self.interval(statistic)
        if est.ndim != 0:
            raise ValueError(f"evidence needs a scalar statistic, got shape {est.shape}; use interval()")
        sizes = {"networks": self.n_networks, **dict(n or {})}
        if lo is None:
            return Evidence(name, float(est), n=sizes, note=f"no interval: {self.n_networks} network (an interval "
                                                              f"over networks needs at least {MIN_RNN_NETWORKS})")
        if not (np.isfinite(est) and np.isfinite(lo) and np.isfinite(hi)):
            return Evidence(name, float(est), n=sizes, note="no interval: the statistic is undefined on these data")
        lo, hi = float(lo), float(hi)
        if clip is not None:
            lo, hi = max(lo, clip[0]), min(hi, clip[1])
        return Evidence(name, float(est), (lo, hi), self.confidence_level, n=sizes,
                        method=f"Student t over {self.n_networks} networks")



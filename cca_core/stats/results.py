"""One result type per kind of statistical answer (names as :mod:`scipy.stats`' results).

An interval
    :class:`BootstrapResult` (resampling datapoints, :func:`~cca_core.stats.bootstrap`) and
    :class:`GroupInterval` (resampling networks, :func:`~cca_core.stats.group_mean_interval`), both
    with ``statistic``, ``confidence_interval`` (a :class:`ConfidenceInterval`),
    ``bootstrap_distribution``, ``standard_error``, ``confidence_level``.
A permutation test
    :class:`PermutationResult`: ``statistic``, ``pvalue``, ``null_distribution``, ``min_p_value``,
    ``n_permutations``, ``exact``, ``alternative``, ``seed``. :class:`PermutationTestResult` (rows of
    Y shuffled against X) and :class:`GroupPermutationResult` (group labels shuffled) are that
    result with the test's own sizes added.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["ConfidenceInterval", "BootstrapResult", "GroupInterval", "PermutationResult", "PermutationTestResult",
           "GroupPermutationResult"]


class ConfidenceInterval(NamedTuple):
    """``(low, high)``, as :func:`scipy.stats.bootstrap`'s ``confidence_interval``."""

    low: float
    high: float


def _renamed(old: str, new: str) -> property:
    """A read-only alias ``old`` of the attribute ``new`` that warns (``DeprecationWarning``)."""

    def get(self: Any) -> Any:
        warnings.warn(f"{type(self).__name__}.{old} is deprecated; use .{new} (scipy.stats' name)",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated alias of ``{new}``.")


@dataclass(frozen=True)
class BootstrapResult:
    """A similarity value with its bootstrap interval over datapoints.

    Attribute names follow :func:`scipy.stats.bootstrap`'s result (``confidence_interval``,
    ``bootstrap_distribution``, ``standard_error``) and its tests' ``statistic``; the former
    names ``estimate``, ``interval`` and ``distribution`` still work and warn
    (``DeprecationWarning``).

    Attributes
    ----------
    statistic : float
        The measure on all datapoints (what ``cca_core.<measure>(X, Y)`` returns).
    confidence_interval : ConfidenceInterval
        ``(low, high)``, ``low <= high``, at ``confidence_level``; also ``.low`` and ``.high``
        on the result itself.
    bootstrap_distribution : ndarray, shape (n_resamples,)
        The measure on each bootstrap resample.
    standard_error : float
        Standard deviation of ``bootstrap_distribution`` (``ddof=1``).
    measure, method : str
    n_resamples, n_datapoints : int
    confidence_level : float
    seed : None, int or numpy.random.Generator
        As given.
    measure_kwargs : dict
        Keyword arguments passed on to the measure.
    """

    statistic: float
    confidence_interval: ConfidenceInterval
    bootstrap_distribution: np.ndarray = field(repr=False)
    standard_error: float
    measure: str
    n_resamples: int
    confidence_level: float
    method: str
    seed: Any
    n_datapoints: int
    measure_kwargs: dict = field(default_factory=dict)

    estimate = _renamed("estimate", "statistic")
    interval = _renamed("interval", "confidence_interval")
    distribution = _renamed("distribution", "bootstrap_distribution")

    @property
    def low(self) -> float:
        """``confidence_interval.low``."""
        return self.confidence_interval.low

    @property
    def high(self) -> float:
        """``confidence_interval.high``."""
        return self.confidence_interval.high

    @property
    def bias(self) -> float:
        """Bootstrap estimate of the estimator's bias: ``mean(bootstrap_distribution) - statistic``."""
        return float(np.mean(self.bootstrap_distribution) - self.statistic)


@dataclass(frozen=True)
class GroupInterval:
    """Mean distance within a group of networks (or between two groups), with a network bootstrap.

    Attribute names follow :func:`scipy.stats.bootstrap`'s result, as :class:`BootstrapResult`;
    the former ``estimate``, ``interval`` and ``distribution`` still work and warn
    (``DeprecationWarning``).

    Attributes
    ----------
    statistic : float
        Mean of ``D[a, b]`` over pairs of distinct networks ``a < b`` of ``group`` (within), or over
        ``a`` in ``group`` and ``b`` in ``other`` (between).
    confidence_interval : ConfidenceInterval
        ``(low, high)`` at ``confidence_level``; also ``.low`` and ``.high`` on the result itself.
    bootstrap_distribution : ndarray, shape (n_used,)
        The mean on each resample of networks that has at least one pair.
    standard_error : float
    group, other
        The labels compared (``other`` is None for within).
    n_networks : tuple of int
        Networks in ``group`` (and in ``other``).
    n_pairs : int
        Pairs behind ``statistic``.
    n_resamples, n_used : int
        Resamples drawn, and kept: a within-group resample that drew a single network
        ``m`` times has no pair (probability ``m**(1 - m)``) and is left out.
    confidence_level : float
    method : str
    seed : None, int or numpy.random.Generator
    """

    statistic: float
    confidence_interval: ConfidenceInterval
    bootstrap_distribution: np.ndarray = field(repr=False)
    standard_error: float
    group: Any
    other: Any
    n_networks: tuple[int, ...]
    n_pairs: int
    n_resamples: int
    n_used: int
    confidence_level: float
    method: str
    seed: Any

    estimate = _renamed("estimate", "statistic")
    interval = _renamed("interval", "confidence_interval")
    distribution = _renamed("distribution", "bootstrap_distribution")

    @property
    def low(self) -> float:
        """``confidence_interval.low``."""
        return self.confidence_interval.low

    @property
    def high(self) -> float:
        """``confidence_interval.high``."""
        return self.confidence_interval.high


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test: the statistic, its null distribution and p-value.

    Attributes
    ----------
    statistic : float
        On the data as observed (also ``observed``).
    pvalue : float
        ``(1 + #{null >= statistic}) / (1 + n_permutations)`` for random permutations (Phipson &
        Smyth 2010) and ``#{null >= statistic} / n_permutations`` when every permutation was
        enumerated, for ``alternative="greater"`` (also ``p_value``).
    null_distribution : ndarray, shape (n_permutations,)
        The statistic on each permutation (also ``null``).
    min_p_value : float
        The smallest p-value the test can give at these sizes.
    n_permutations : int
        Permutations evaluated.
    exact : bool
        True when every permutation was enumerated.
    alternative : str
    seed : None, int or numpy.random.Generator
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray = field(repr=False)
    min_p_value: float
    n_permutations: int
    exact: bool
    alternative: str
    seed: Any

    @property
    def observed(self) -> float:
        """``statistic``."""
        return self.statistic

    @property
    def null(self) -> np.ndarray:
        """``null_distribution``."""
        return self.null_distribution

    @property
    def p_value(self) -> float:
        """``pvalue``."""
        return self.pvalue


@dataclass(frozen=True)
class PermutationTestResult(PermutationResult):
    """A similarity value against the null of unrelated representations with the same marginals
    (:func:`~cca_core.stats.permutation_test`): a :class:`PermutationResult` with

    Attributes
    ----------
    chance_level : float
        Mean of ``null_distribution``: what unrelated representations of these shapes score.
    measure : str
    n_datapoints : int
    measure_kwargs : dict

    ``pvalue`` is scipy's; ``min_p_value`` is ``1 / (n_permutations + 1)`` (``1 / n!`` when exact),
    twice that for ``"two-sided"``. The former ``p_value`` still works and warns (``DeprecationWarning``).
    """

    chance_level: float = float("nan")
    measure: str = ""
    n_datapoints: int = 0
    measure_kwargs: dict = field(default_factory=dict)

    p_value = _renamed("p_value", "pvalue")


@dataclass(frozen=True)
class GroupPermutationResult(PermutationResult):
    """Permutation test of group labels (:func:`~cca_core.stats.group_permutation_test`): are pairs
    within a group closer than pairs across groups? A :class:`PermutationResult` whose ``statistic``
    is ``between_mean - within_mean``, with

    Attributes
    ----------
    within_mean, between_mean : float
        Mean distance of same-group and of cross-group pairs.
    n_per_group : dict
        Networks per label.
    n_partitions : int
        Distinct partitions of the networks into groups of these sizes.

    ``min_p_value``: exact test: the labelings that only rename groups of equal size give the same
    statistic, so it is ``prod_s c_s! / (K! / prod_g n_g!)`` (``c_s`` groups of size ``s``), i.e.
    ``1 / n_partitions`` (1/10 for 3 vs 3 networks); random permutations ``1 / (n_permutations + 1)``;
    twice that for ``"two-sided"``. The former ``p_value`` still works and warns (``DeprecationWarning``).
    """

    within_mean: float = float("nan")
    between_mean: float = float("nan")
    n_per_group: dict = field(default_factory=dict)
    n_partitions: int = 0

    p_value = _renamed("p_value", "pvalue")

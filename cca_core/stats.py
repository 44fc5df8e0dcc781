"""Uncertainty and chance for similarity values: bootstrap intervals, permutation nulls, groups.

One similarity value (:func:`bootstrap`, :func:`permutation_test`)
    An interval from resampling datapoints (rows of X and Y together), and a chance level with a
    p-value from the null of unrelated representations with the same marginals (rows of Y shuffled
    against X).
A matrix of distances between networks (:func:`group_mean_interval`, :func:`group_permutation_test`)
    An interval for a group's mean distance (or between two groups) from resampling *networks*,
    since pairs that share a network are not independent, and a permutation test of the group
    labels for "pairs within a group are closer than pairs across groups", with the smallest
    p-value the test can give at those group sizes beside the p-value.

Resampling and the intervals are :func:`scipy.stats.bootstrap` and :func:`scipy.stats.permutation_test`;
what this module adds is a fast statistic for them. Every CCA-family measure and linear CKA is a
function of the joint moments of ``[X, Y]`` (:class:`~cca_core.Moments`), so a resample never
needs the resampled rows themselves:

* a bootstrap resample is a vector ``w`` of multinomial counts over the ``n`` rows, and its moments
  are ``n_w = sum_i w_i``, ``mean = s + sum_i w_i z_i / n_w`` and
  ``M2 = sum_i w_i z_i z_i^T - n_w (mean - s)(mean - s)^T`` with ``z_i`` the rows shifted by the
  full-data mean ``s`` (no cancellation): one symmetric rank-k update over the rows with
  ``w_i > 0`` (about 63% of them), or over the rows with ``w_i != 1`` added to the full-data
  ``M2`` when they are fewer (a jackknife sample is then a rank-one downdate);
* a permutation ``pi`` of Y's rows leaves ``Sxx``, ``Syy`` and both means unchanged and makes the
  cross block ``sum_i z^x_i z^y_{pi(i)}^T``: one product ``Xc^T Yc[pi]``.

The measure then comes from the covariance blocks exactly as the single-pair function computes it
(the same :class:`~cca_core.Moments` method), so the bootstrap distribution is what
``measure(X[idx], Y[idx])`` gives on each resample, duplicated rows included. Each resample runs
with BLAS limited to one thread (:mod:`threadpoolctl`, as ``threadpool_limits(1)``): on a busy
machine, threads that wait for cores make products and decompositions of this size many times slower.
``debiased_linear_cka`` (which needs each datapoint's norm) and ``rbf_cka`` (``n x n`` kernels)
are not functions of the moments; they are resampled plainly, row copies and all.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import scipy.stats
from scipy.linalg.blas import dsyrk as _syrk

from ._threads import single_blas_thread
from .validation import RankWarning, check_pair
from .measures import MEASURES, get_measure
from .moments import CHUNK_ELEMENTS, Moments

__all__ = [
    "MIN_RESAMPLES", "ConfidenceInterval", "BootstrapResult", "PermutationTestResult", "GroupInterval",
    "GroupPermutationResult", "bootstrap", "permutation_test", "group_mean_interval",
    "group_permutation_test", "check_distance_matrix",
]

#: Fewest resamples or permutations accepted. With 99 a permutation p-value can reach 0.01
#: (``1 / (99 + 1)``) and a 95% interval's ends rest on at least two resamples beyond each end.
MIN_RESAMPLES = 99

#: Measures computed from resampled moments; the others are resampled plainly.
MOMENT_MEASURES = ("mean_cca", "svcca", "pwcca", "linear_cka")

_METHODS = {"percentile": "percentile", "basic": "basic", "bca": "BCa"}
_ALTERNATIVES = ("greater", "less", "two-sided")



# scipy >= 1.15 takes ``rng``; older versions ``random_state`` (a Generator works for both).
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"


# ---------------------------------------------------------------------------------------- results
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
class PermutationTestResult:
    """A similarity value against the null of unrelated representations with the same marginals.

    Attribute names follow :func:`scipy.stats.permutation_test`'s result (``statistic``,
    ``pvalue``, ``null_distribution``); the former ``p_value`` still works and warns
    (``DeprecationWarning``).

    Attributes
    ----------
    statistic : float
        The measure on the data as paired.
    pvalue : float
        scipy's: ``(1 + #{null >= statistic}) / (1 + n_permutations)`` for ``alternative="greater"``
        (Phipson & Smyth 2010; never below ``min_p_value``), ``#{null >= statistic} / n!`` when all
        ``n!`` pairings were enumerated (``exact``).
    null_distribution : ndarray, shape (n_permutations,)
        The measure with Y's rows shuffled.
    chance_level : float
        Mean of ``null_distribution``: what unrelated representations of these shapes score.
    min_p_value : float
        The smallest p-value this test can return: ``1 / (n_permutations + 1)`` (``1 / n!`` when
        exact), twice that for ``"two-sided"``.
    measure, alternative : str
    n_permutations, n_datapoints : int
        ``n_permutations`` is the number evaluated (``n!`` when exact).
    exact : bool
    seed : None, int or numpy.random.Generator
    measure_kwargs : dict
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray = field(repr=False)
    chance_level: float
    min_p_value: float
    measure: str
    n_permutations: int
    alternative: str
    exact: bool
    seed: Any
    n_datapoints: int
    measure_kwargs: dict = field(default_factory=dict)

    p_value = _renamed("p_value", "pvalue")


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
class GroupPermutationResult:
    """Permutation test of group labels: are pairs within a group closer than pairs across groups?

    Attribute names follow :func:`scipy.stats.permutation_test`'s result; the former ``p_value``
    still works and warns (``DeprecationWarning``).

    Attributes
    ----------
    statistic : float
        ``between_mean - within_mean``, positive when same-group pairs are closer.
    pvalue : float
        scipy's permutation p-value (``alternative="greater"``: large statistics are evidence).
    null_distribution : ndarray, shape (n_permutations,)
    min_p_value : float
        The smallest p-value the test can give here. Exact test: the labelings that only rename
        groups of equal size give the same statistic, so it is
        ``prod_s c_s! / (K! / prod_g n_g!)`` (``c_s`` groups of size ``s``, ``n_g`` networks in group
        ``g``): ``1 / n_partitions``, e.g. 1/10 for 3 vs 3 networks. Random permutations:
        ``1 / (n_permutations + 1)``. Twice that for ``"two-sided"``.
    within_mean, between_mean : float
        Mean distance of same-group and of cross-group pairs.
    n_per_group : dict
        Networks per label.
    n_partitions : int
        Distinct partitions of the networks into groups of these sizes.
    n_permutations : int
        Labelings evaluated (all ``K! / prod_g n_g!`` when exact).
    exact : bool
        True when every labeling was enumerated (their number is at most ``n_permutations``).
    alternative : str
    seed : None, int or numpy.random.Generator
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray = field(repr=False)
    min_p_value: float
    within_mean: float
    between_mean: float
    n_per_group: dict
    n_partitions: int
    n_permutations: int
    exact: bool
    alternative: str
    seed: Any

    p_value = _renamed("p_value", "pvalue")


# ---------------------------------------------------------------------------------------- checks
def _check_int(name: str, value: Any, minimum: int, why: str = "") -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}{why}, got {value}")
    return int(value)


def _check_count(name: str, value: Any) -> int:
    return _check_int(name, value, MIN_RESAMPLES,
                      " (with fewer, a p-value cannot reach 0.01 and an interval's ends rest on "
                      "one or two resamples)")


def _check_confidence(confidence_level: Any, n_resamples: int) -> float:
    if isinstance(confidence_level, (bool, np.bool_)) or not isinstance(
            confidence_level, (int, float, np.integer, np.floating)):
        raise TypeError(f"confidence_level must be a number in (0, 1), got {confidence_level!r}")
    cl = float(confidence_level)
    if not 0.0 < cl < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1) (open interval), got {confidence_level!r}")
    tail = (1.0 - cl) / 2.0
    if tail * (n_resamples + 1) < 1.0:
        need = math.ceil(1.0 / tail) - 1
        raise ValueError(f"n_resamples={n_resamples} leaves no resample beyond the ends of a "
                         f"{cl:g} interval; use at least {need} (each tail needs "
                         "(1 - confidence_level) / 2 * (n_resamples + 1) >= 1)")
    return cl


def _check_choice(name: str, value: Any, choices: dict[str, str] | Sequence[str]) -> str:
    table = choices if isinstance(choices, dict) else {c: c for c in choices}
    key = value.lower() if isinstance(value, str) else None
    if key not in table:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, table.values()))}, got {value!r}")
    return table[key]


def _check_seed(seed: Any) -> np.random.Generator:
    """A Generator from ``None`` (fresh entropy), a non-negative int, or a Generator (used as is)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be None, an int or a numpy.random.Generator, got {seed!r} "
                        f"of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def _check_measure(measure: Any, kwargs: dict) -> Callable[..., float]:
    fn = get_measure(measure)  # ValueError listing the known names
    try:
        inspect.signature(fn).bind(None, None, **kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(fn).parameters if p not in ("X", "Y")]
        raise TypeError(f"{measure} takes the keyword arguments {params}, got "
                        f"{sorted(kwargs)}: {exc}") from None
    return fn


def _batch(n_rows: int, n_draws: int, elements: int = CHUNK_ELEMENTS) -> int:
    """Draws per batch so that a batch of index arrays holds about ``elements`` entries."""
    return max(1, min(n_draws, elements // max(n_rows, 1)))


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Rows of multiplicities: ``out[b, i] = #{k : idx[b, k] == i}``, shape ``(B, n)``, float."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


# ---------------------------------------------------------------------------------------- datapoints
class _MomentStatistic:
    """What both moment statistics share: the full-data moments and the measure taken from them."""

    def __init__(self, x: np.ndarray, y: np.ndarray, name: str, kwargs: dict) -> None:
        self.x, self.y, self.name, self.kwargs = x, y, name, kwargs
        self.n, self.nx, self.ny = x.shape[0], x.shape[1], y.shape[1]
        self.d = self.nx + self.ny
        self.base = Moments(self.nx, self.ny)._accumulate(x, y)  # x, y already checked
        self.estimate = self.measure(self.base)  # also checks the keyword values
        self.step = max(256, CHUNK_ELEMENTS // self.d)  # rows per float64 working buffer

    def measure(self, m: Moments) -> float:
        """The same method of :class:`Moments` that ``cca_core.<name>(X, Y)`` calls."""
        return float(getattr(m, self.name)(**self.kwargs))

    def moments(self, row: np.ndarray) -> Moments:
        raise NotImplementedError

    def _draws(self, idx: np.ndarray) -> np.ndarray:
        return idx

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        flat = self._draws(idx.reshape(-1, idx.shape[-1]))
        out = np.empty(flat.shape[0])
        with single_blas_thread():  # small d x d algebra: no threads waiting for busy cores
            for b, row in enumerate(flat):
                out[b] = self.measure(self.moments(row))
        return out.reshape(idx.shape[:-1])


class _ResampledMeasure(_MomentStatistic):
    """``statistic(idx)`` for scipy: the measure on rows ``idx`` of X and Y, from their moments.

    ``idx`` has shape ``(..., k)`` (any ``k``: ``n`` for a bootstrap resample, ``n - 1`` for
    scipy's jackknife); the result has shape ``idx.shape[:-1]``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, name: str, kwargs: dict) -> None:
        super().__init__(x, y, name, kwargs)
        self.shift = self.base.mean.copy()
        self.z = None  # the shifted rows, kept when they fit in one working buffer
        if self.n * self.d <= CHUNK_ELEMENTS:
            self.z = self._rows(np.arange(self.n))
        self.gram1 = np.asfortranarray(self.base.m2)
        self.sum1 = np.zeros(self.d)  # sum of the shifted rows: 0 but for rounding
        for start in range(0, self.n, self.step):
            self.sum1 += self._rows(np.arange(start, min(start + self.step, self.n))).sum(axis=0)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of ``[X, Y] - shift`` in float64, a new C-ordered array."""
        if self.z is not None:
            return self.z[rows]
        out = np.empty((rows.size, self.d))
        np.subtract(self.x[rows], self.shift[: self.nx], out=out[:, : self.nx])
        np.subtract(self.y[rows], self.shift[self.nx :], out=out[:, self.nx :])
        return out

    def _draws(self, idx: np.ndarray) -> np.ndarray:
        return _counts(idx, self.n)

    def moments(self, w: np.ndarray) -> Moments:
        """Moments of the rows repeated ``w_i`` times (``w`` of shape ``(n,)``, non-negative)."""
        n_w = float(w.sum())
        delta = w - 1.0
        changed, present = np.flatnonzero(delta), np.flatnonzero(w)
        if changed.size < present.size:  # full-data moments plus the rows whose count changed
            gram, total, coef = self.gram1.copy(order="F"), self.sum1.copy(), delta
            parts = ((1.0, changed[delta[changed] > 0]), (-1.0, changed[delta[changed] < 0]))
        else:
            gram, total, coef = np.zeros((self.d, self.d), order="F"), np.zeros(self.d), w
            parts = ((1.0, present),)
        for sign, rows in parts:
            for start in range(0, rows.size, self.step):
                r = rows[start : start + self.step]
                root = np.sqrt(np.abs(coef[r]))
                zs = self._rows(r)
                zs *= root[:, None]
                total += (sign * root) @ zs
                # zs.T is Fortran-ordered: syrk adds sign * zs^T zs to gram's upper triangle in place
                gram = _syrk(sign, zs.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)
        gram = np.triu(gram) + np.triu(gram, 1).T
        offset = total / n_w
        return Moments(self.nx, self.ny, int(round(n_w)), self.shift + offset,
                       gram - n_w * np.outer(offset, offset))


class _PermutedMeasure(_MomentStatistic):
    """``statistic(perm)`` for scipy: the measure on X against Y's rows in the order ``perm``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, name: str, kwargs: dict) -> None:
        super().__init__(x, y, name, kwargs)
        self.xc = None  # X's centred rows, kept when they fit in one working buffer
        if x.size <= CHUNK_ELEMENTS:
            self.xc = np.subtract(x, self.base.mean_x, dtype=np.float64)

    def moments(self, perm: np.ndarray) -> Moments:
        cross = np.zeros((self.nx, self.ny))
        for start in range(0, self.n, self.step):
            stop = min(start + self.step, self.n)
            xc = self.xc[start:stop] if self.xc is not None else np.subtract(
                self.x[start:stop], self.base.mean_x, dtype=np.float64)
            cross += xc.T @ np.subtract(self.y[perm[start:stop]], self.base.mean_y, dtype=np.float64)
        m2 = self.base.m2.copy()
        m2[: self.nx, self.nx :] = cross
        m2[self.nx :, : self.nx] = cross.T
        return Moments(self.nx, self.ny, self.n, self.base.mean, m2)


class _PlainMeasure:
    """The measure on resampled (``pairing=False``) or re-paired (``pairing=True``) rows, copied."""

    def __init__(self, x: np.ndarray, y: np.ndarray, name: str, kwargs: dict, pairing: bool) -> None:
        self.x, self.y, self.fn, self.kwargs, self.pairing = x, y, MEASURES[name], kwargs, pairing
        self.estimate = float(self.fn(x, y, **kwargs))

    def __call__(self, idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx)
        flat = idx.reshape(-1, idx.shape[-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankWarning)  # said once for the whole data
            if self.pairing:
                vals = [self.fn(self.x, self.y[i], **self.kwargs) for i in flat]
            else:
                vals = [self.fn(self.x[i], self.y[i], **self.kwargs) for i in flat]
        return np.asarray(vals, dtype=np.float64).reshape(idx.shape[:-1])


def bootstrap(X: np.ndarray, Y: np.ndarray, measure: str = "pwcca", *, n_resamples: int = 1000,
              confidence_level: float = 0.95, method: str = "basic", seed: Any = None,
              **measure_kwargs: Any) -> BootstrapResult:
    """Bootstrap interval of a similarity value, resampling datapoints (rows of X and Y together).

    Each resample draws ``n`` rows with replacement (Efron & Tibshirani 1993) and computes the
    measure on them; :func:`scipy.stats.bootstrap` draws the rows and turns the distribution into
    the interval. For ``mean_cca``, ``svcca``, ``pwcca`` and ``linear_cka`` a resample is computed
    from resampled moments (module docstring): the same value as ``measure(X[idx], Y[idx])``
    from one rank-k update of the ``(n_x + n_y)**2`` Gram matrix over the rows drawn. ``debiased_linear_cka`` and ``rbf_cka``
    are recomputed on copies of the resampled rows (``rbf_cka``: ``O(n**2)`` per resample).

    Parameters
    ----------
    X, Y : array_like, shapes (n_datapoints, n_neurons_x) and (n_datapoints, n_neurons_y)
    measure : str
        A name in :data:`cca_core.measures.MEASURES`.
    n_resamples : int
        At least :data:`MIN_RESAMPLES` (99), and enough that each tail of the interval holds a
        resample: ``(1 - confidence_level) / 2 * (n_resamples + 1) >= 1``.
    confidence_level : float
        In (0, 1).
    method : {"basic", "percentile", "BCa"}
        ``"basic"`` (default; reverse percentile, ``[2 t - q_hi, 2 t - q_lo]``) corrects for the
        upward small-sample bias of the CCA family, which resampling repeats (duplicated rows leave
        about 0.63 n distinct datapoints), so that the bootstrap distribution sits above the
        estimate by about the estimate's own bias: at 2,000 x 64 neurons per side the
        whole PWCCA bootstrap distribution lies above the estimate, so a percentile interval
        misses both the estimate and the population value, and BCa's bias correction
        ``z0 = Phi^-1(0)`` is infinite. Measured on Gaussian data with a planted linear map
        (coverage of the population value by 95% intervals): mean CCA at 500 x 10, basic 90%,
        BCa 71%, percentile 40%; PWCCA at 2,000 x 64, basic 26/30, percentile 0/30; linear CKA
        at 500 x 10, all three 95-97%. ``"BCa"`` also needs one jackknife evaluation per
        datapoint (``n`` more measure evaluations than resamples). Basic intervals are clipped to
        the measure's range (``[0, 1]``; ``(-inf, 1]`` for ``debiased_linear_cka``). When
        ``bias`` exceeds the interval's half-width the interval does not contain ``statistic``:
        the population value is then likely below it.
    seed : None, int or numpy.random.Generator
        None draws fresh entropy; an int or Generator makes the result reproducible (a Generator
        is advanced).
    **measure_kwargs
        Passed to the measure, e.g. ``keep=`` for svcca, ``rtol=`` for the CCA family.

    Returns
    -------
    BootstrapResult
        ``statistic``, ``confidence_interval``, ``bootstrap_distribution`` (``n_resamples``
        values), ``standard_error``,
        ``bias`` and the settings.

    Raises
    ------
    ValueError
        Unknown measure (the message lists the known ones), ``n_resamples`` too small,
        ``confidence_level`` outside (0, 1), unknown ``method``, a negative seed, or bad arrays
        (:func:`cca_core.validation.check_pair`).
    TypeError
        A seed, count or confidence level of the wrong type; keyword arguments the measure does
        not take; non-numeric arrays.
    """
    _check_measure(measure, measure_kwargs)
    n_resamples = _check_count("n_resamples", n_resamples)
    cl = _check_confidence(confidence_level, n_resamples)
    method = _check_choice("method", method, _METHODS)
    rng = _check_seed(seed)
    x, y = check_pair(X, Y)
    n = x.shape[0]
    stat = (_ResampledMeasure(x, y, measure, measure_kwargs) if measure in MOMENT_MEASURES
            else _PlainMeasure(x, y, measure, measure_kwargs, pairing=False))
    # scipy resamples the row indices (what its paired=True does internally) and hands each batch
    # of index arrays to the statistic, which turns them into counts: scipy's resampling goes
    # through the moments directly, without copying rows.
    res = scipy.stats.bootstrap((np.arange(n),), stat, n_resamples=n_resamples,
                                batch=_batch(n, n_resamples), vectorized=True, confidence_level=cl,
                                method=method, **{_RNG_KEYWORD: rng})
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if method == "basic":
        top, bottom = 1.0, (-np.inf if measure == "debiased_linear_cka" else 0.0)
        low, high = float(np.clip(low, bottom, top)), float(np.clip(high, bottom, top))
    return BootstrapResult(stat.estimate, ConfidenceInterval(low, high), np.asarray(res.bootstrap_distribution),
                           float(res.standard_error), measure, n_resamples, cl, method, seed, n,
                           dict(measure_kwargs))


def permutation_test(X: np.ndarray, Y: np.ndarray, measure: str = "pwcca", *,
                     n_permutations: int = 1000, alternative: str = "greater", seed: Any = None,
                     **measure_kwargs: Any) -> PermutationTestResult:
    """Permutation test of a similarity value, and its chance level.

    The null: X and Y are unrelated representations with the same marginals. Shuffling Y's rows
    against X keeps each side's distribution (and, for the moment measures, ``Sxx``, ``Syy`` and
    both means exactly) and breaks the pairing; :func:`scipy.stats.permutation_test`
    (``permutation_type="pairings"``) draws the permutations and computes the p-value. For the
    moment measures a permutation ``pi`` costs one product ``Xc^T Yc[pi]`` (``n x n_x x n_y``) and
    the small decompositions; ``debiased_linear_cka`` and ``rbf_cka`` are recomputed on ``Y[pi]``.

    The chance level (mean of the null) grows with neurons/datapoints: for squared mean CCA it is
    ``max(n_x, n_y) / (n - 1)`` exactly in expectation over permutations (of full-rank data), for
    linear CKA ``tr(Sxx) tr(Syy) / ((n - 1) ||Sxx||_F ||Syy||_F)``.

    Parameters
    ----------
    X, Y : array_like, shapes (n_datapoints, n_neurons_x) and (n_datapoints, n_neurons_y)
    measure : str
        A name in :data:`cca_core.measures.MEASURES`.
    n_permutations : int
        At least :data:`MIN_RESAMPLES` (99), so that ``p`` can reach 0.01. When ``n!`` is not
        larger, every permutation is enumerated (exact test).
    alternative : {"greater", "less", "two-sided"}
        ``"greater"`` (default): similarity above chance is the evidence.
    seed : None, int or numpy.random.Generator
    **measure_kwargs
        Passed to the measure.

    Returns
    -------
    PermutationTestResult
        ``statistic``, ``pvalue``, ``null_distribution``, ``chance_level``, ``min_p_value`` and
        the settings.

    Raises
    ------
    ValueError, TypeError
        As :func:`bootstrap`, for ``n_permutations`` and ``alternative``.
    """
    _check_measure(measure, measure_kwargs)
    n_permutations = _check_count("n_permutations", n_permutations)
    alternative = _check_choice("alternative", alternative, _ALTERNATIVES)
    rng = _check_seed(seed)
    x, y = check_pair(X, Y)
    n = x.shape[0]
    stat = (_PermutedMeasure(x, y, measure, measure_kwargs) if measure in MOMENT_MEASURES
            else _PlainMeasure(x, y, measure, measure_kwargs, pairing=True))
    res = scipy.stats.permutation_test((np.arange(n),), stat, permutation_type="pairings",
                                       vectorized=True, n_resamples=n_permutations,
                                       batch=_batch(n, n_permutations), alternative=alternative,
                                       **{_RNG_KEYWORD: rng})
    null = np.asarray(res.null_distribution, dtype=np.float64)
    exact = n <= 20 and n_permutations >= math.factorial(n)  # scipy's rule, without n! for large n
    min_p = (1.0 / null.size) if exact else 1.0 / (null.size + 1)
    min_p = min(1.0, min_p * (2 if alternative == "two-sided" else 1))
    return PermutationTestResult(stat.estimate, float(res.pvalue), null, float(null.mean()), min_p,
                                 measure, int(null.size), alternative, exact, seed, n,
                                 dict(measure_kwargs))


# ---------------------------------------------------------------------------------------- groups
def check_distance_matrix(d: Any, name: str = "D", atol: float = 1e-9) -> np.ndarray:
    """Return ``d`` as a float array after checking it is a square, symmetric, finite matrix with a
    zero diagonal and non-negative entries.

    Raises
    ------
    ValueError
        Naming ``name``, its shape and what is wrong.
    """
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {d.shape}")
    if d.shape[0] < 2:
        raise ValueError(f"{name} must compare at least 2 items, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(d)))} NaN/Inf entries")
    if not np.allclose(d, d.T, atol=atol, rtol=0):
        raise ValueError(f"{name} must be symmetric (max |D - D.T| = {np.max(np.abs(d - d.T)):.3g}); "
                         "use pairwise_matrix(..., symmetric=True)")
    if np.any(np.abs(np.diag(d)) > atol):
        raise ValueError(f"{name} must have a zero diagonal")
    if np.any(d < -atol):
        raise ValueError(f"{name} has negative entries (min {d.min():.3g})")
    return d


def _check_labels(labels: Any, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have one label per network ({n}, the size of D), got shape "
                         f"{labels.shape}")
    return labels


def _members(labels: np.ndarray, group: Any, name: str) -> np.ndarray:
    members = np.flatnonzero(labels == group)
    if members.size == 0:
        known = ", ".join(map(repr, sorted(set(labels.tolist()), key=str)))
        raise ValueError(f"{name}={group!r} is not among the labels ({known})")
    return members


def _one_hot_counts(idx: np.ndarray, m: int) -> np.ndarray:
    """``(..., k)`` indices in ``0..m-1`` to ``(..., m)`` multiplicities."""
    return (np.asarray(idx)[..., None] == np.arange(m)).sum(axis=-2).astype(np.float64)


def group_mean_interval(D: Any, labels: Sequence[Any], group: Any, other: Any = None, *,
                        n_resamples: int = 9999, confidence_level: float = 0.95,
                        method: str = "percentile", seed: Any = None) -> GroupInterval:
    """Mean distance within a group of networks, or between two groups, with a network bootstrap.

    Pairs of networks are not independent (pair ``(a, b)`` and ``(a, c)`` share ``a``), so the
    resampled units are networks: a resample draws the group's ``m`` networks with replacement
    (:func:`scipy.stats.bootstrap`; for between, each group separately) and takes the mean over
    the pairs of *distinct* networks in it, a network and its copy making no zero-distance pair:
    with counts ``w``, ``sum_{a<b} w_a w_b D_ab / sum_{a<b} w_a w_b`` (within) or
    ``w^T D_gh v / (sum w sum v)`` (between). Resamples of a single network have no pair and are
    left out (``n_used``).

    Parameters
    ----------
    D : array_like, shape (K, K)
        Symmetric distances between networks, zero diagonal (e.g. ``1 - similarity``).
    labels : sequence, length K
        Group of each network.
    group : label
        The group whose within-group mean is wanted (at least 3 networks: 2 give one pair and no
        spread).
    other : label, optional
        Another group: the mean over pairs across ``group`` and ``other`` (at least 2 networks each).
    n_resamples, confidence_level, seed
        As :func:`bootstrap`.
    method : {"percentile", "basic", "BCa"}
        ``"percentile"`` (default): a mean of distances has no resampling bias once the self-pairs
        are dropped, and the percentile interval stays within the distances observed; BCa is
        possible (a jackknife over networks costs nothing here).

    Returns
    -------
    GroupInterval

    Raises
    ------
    ValueError
        A bad matrix or labels, an unknown group, too few networks, or the settings errors of
        :func:`bootstrap`.
    TypeError
        As :func:`bootstrap`.
    """
    n_resamples = _check_count("n_resamples", n_resamples)
    cl = _check_confidence(confidence_level, n_resamples)
    method = _check_choice("method", method, _METHODS)
    rng = _check_seed(seed)
    d = check_distance_matrix(D)
    labels = _check_labels(labels, d.shape[0])
    g = _members(labels, group, "group")
    if other is None:
        m = g.size
        if m < 3:
            raise ValueError(f"group {group!r} has {m} network(s): a within-group interval needs at "
                             "least 3 (2 networks give one pair and nothing to resample)")
        dg = d[np.ix_(g, g)].copy()
        np.fill_diagonal(dg, 0.0)

        def statistic(i: np.ndarray, axis: int = -1) -> np.ndarray:
            w = _one_hot_counts(i, m)
            num = np.einsum("...a,ab,...b->...", w, dg, w)
            den = w.sum(axis=-1) ** 2 - (w * w).sum(axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

        data: tuple[np.ndarray, ...] = (np.arange(m),)
        n_networks: tuple[int, ...] = (m,)
        n_pairs = m * (m - 1) // 2
    else:
        if other == group:
            raise ValueError(f"other must differ from group, got {other!r} for both")
        h = _members(labels, other, "other")
        if g.size < 2 or h.size < 2:
            raise ValueError(f"groups {group!r} and {other!r} have {g.size} and {h.size} networks: a "
                             "between-group interval needs at least 2 in each")
        dgh = d[np.ix_(g, h)]
        m1, m2 = g.size, h.size

        def statistic(i: np.ndarray, j: np.ndarray, axis: int = -1) -> np.ndarray:
            w, v = _one_hot_counts(i, m1), _one_hot_counts(j, m2)
            return np.einsum("...a,ab,...b->...", w, dgh, v) / (w.sum(axis=-1) * v.sum(axis=-1))

        data = (np.arange(m1), np.arange(m2))
        n_networks = (m1, m2)
        n_pairs = m1 * m2
    estimate = float(statistic(*data))
    # First the distribution (scipy draws the networks); then the interval from its resamples that
    # have a pair (n_resamples=0 with bootstrap_result: scipy's own percentile/basic/BCa rules).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)  # NaN of pairless draws
        drawn = scipy.stats.bootstrap(data, statistic, n_resamples=n_resamples, vectorized=True,
                                      method="percentile", confidence_level=cl, **{_RNG_KEYWORD: rng})
    dist = np.asarray(drawn.bootstrap_distribution, dtype=np.float64)
    dist = dist[np.isfinite(dist)]
    res = scipy.stats.bootstrap(data, statistic, n_resamples=0, vectorized=True, method=method,
                                confidence_level=cl,
                                bootstrap_result=SimpleNamespace(bootstrap_distribution=dist),
                                **{_RNG_KEYWORD: rng})
    interval = ConfidenceInterval(float(res.confidence_interval.low), float(res.confidence_interval.high))
    return GroupInterval(estimate, interval, dist, float(np.std(dist, ddof=1)), group, other,
                         n_networks, n_pairs, n_resamples, int(dist.size), cl, method, seed)


def _label_permutation_test(d: np.ndarray, labels: np.ndarray, n_permutations: int,
                            alternative: str, rng: np.random.Generator, seed: Any
                            ) -> GroupPermutationResult:
    """The work of :func:`group_permutation_test` on checked arguments (any ``n_permutations >= 1``)."""
    names, codes = np.unique(labels, return_inverse=True)
    codes = codes.ravel()
    sizes = np.bincount(codes, minlength=names.size)
    if names.size < 2 or sizes.max() < 2:
        raise ValueError("a separation test needs at least one group with 2 items and at least 2 "
                         f"groups, got group sizes {dict(zip(names.tolist(), sizes.tolist()))}")
    k = d.shape[0]
    iu, ju = np.triu_indices(k, 1)
    dv = d[iu, ju]
    position_code = np.repeat(np.arange(names.size), sizes)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.concatenate(samples, axis=-1).astype(np.intp)  # networks, grouped by position
        lab = np.empty(idx.shape, dtype=np.intp)
        np.put_along_axis(lab, idx, np.broadcast_to(position_code, idx.shape), axis=-1)
        same = lab[..., iu] == lab[..., ju]
        n_same = same.sum(axis=-1)
        within = (same * dv).sum(axis=-1) / n_same
        between = (~same * dv).sum(axis=-1) / (dv.size - n_same)
        return between - within

    samples = tuple(np.flatnonzero(codes == c) for c in range(names.size))
    n_labelings = math.factorial(k) // math.prod(math.factorial(int(s)) for s in sizes)
    same_partition = math.prod(math.factorial(c) for c in Counter(sizes.tolist()).values())
    res = scipy.stats.permutation_test(samples, statistic, permutation_type="independent",
                                       vectorized=True, n_resamples=n_permutations,
                                       batch=_batch(dv.size, min(n_permutations, n_labelings)),
                                       alternative=alternative, **{_RNG_KEYWORD: rng})
    null = np.asarray(res.null_distribution, dtype=np.float64)
    exact = n_permutations >= n_labelings  # scipy's rule: enumerate when that covers them all
    min_p = same_partition / n_labelings if exact else 1.0 / (null.size + 1)
    min_p = min(1.0, min_p * (2 if alternative == "two-sided" else 1))
    same = codes[iu] == codes[ju]
    within, between = float(dv[same].mean()), float(dv[~same].mean())
    return GroupPermutationResult(float(res.statistic), float(res.pvalue), null, min_p, within,
                                  between, dict(zip(names.tolist(), sizes.tolist())),
                                  n_labelings // same_partition, int(null.size), exact,
                                  alternative, seed)


def group_permutation_test(D: Any, labels: Sequence[Any], *, n_permutations: int = 9999,
                           alternative: str = "greater", seed: Any = None) -> GroupPermutationResult:
    """Are pairs of networks within a group closer than pairs across groups? A label permutation test.

    Statistic: ``mean(D over cross-group pairs) - mean(D over same-group pairs)``. Under "the groups
    do not matter" the networks are exchangeable, so the null shuffles the labels (keeping the
    group sizes), which keeps the dependence between pairs that share a network;
    :func:`scipy.stats.permutation_test` (``permutation_type="independent"``, the networks as
    observations and the groups as samples) enumerates every labeling when there are at most
    ``n_permutations`` of them (``K! / prod_g n_g!``; exact test) and draws random ones otherwise.

    Parameters
    ----------
    D : array_like, shape (K, K)
        Symmetric distances, zero diagonal.
    labels : sequence, length K
        Group of each network (at least 2 groups, at least one of them with 2 networks).
    n_permutations : int
        At least :data:`MIN_RESAMPLES` (99).
    alternative : {"greater", "less", "two-sided"}
        ``"greater"`` (default): same-group pairs closer is the evidence.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    GroupPermutationResult
        ``pvalue`` with ``min_p_value``, the smallest p-value attainable at these group sizes
        (3 vs 3 networks: 1/10), and ``n_per_group``.

    Raises
    ------
    ValueError, TypeError
        A bad matrix or labels, too few groups, or bad settings (as :func:`permutation_test`).
    """
    n_permutations = _check_count("n_permutations", n_permutations)
    alternative = _check_choice("alternative", alternative, _ALTERNATIVES)
    rng = _check_seed(seed)
    d = check_distance_matrix(D)
    return _label_permutation_test(d, _check_labels(labels, d.shape[0]), n_permutations,
                                   alternative, rng, seed)

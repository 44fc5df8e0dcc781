"""One similarity value: bootstrap intervals over datapoints, permutation tests over pairings.

One similarity value (:func:`bootstrap`, :func:`permutation_test`)
    An interval from resampling datapoints (rows of X and Y together), and a chance level with a
    p-value from the null of unrelated representations with the same marginals (rows of Y shuffled
    against X).
(Networks, the units of an experiment, are resampled in :mod:`cca_core.stats.networks`.)

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
are not functions of the moments; they are resampled plainly, row copies and all. A callable
measure is recomputed on the re-paired rows.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable

import numpy as np
import scipy.stats
from scipy.linalg.blas import dsyrk as _syrk

from .._threads import single_blas_thread
from ..measures import MEASURES, get_measure, measure_names
from ..moments import CHUNK_ELEMENTS, Moments
from ..validation import (RankWarning, check_choice, check_confidence_level, check_count,
                          check_pair, check_seed)
from .results import BootstrapResult, ConfidenceInterval, PermutationTestResult

__all__ = ["DATAPOINT_RESAMPLES", "MOMENT_MEASURES", "bootstrap", "permutation_test", "permutation_null",
           "ALTERNATIVES", "INTERVAL_METHODS", "RNG_KEYWORD", "batch_size"]

#: Default resamples (:func:`bootstrap`) and permutations (:func:`permutation_test`) over datapoints.
DATAPOINT_RESAMPLES = 1000

#: Measures computed from resampled moments; the others are resampled plainly.
MOMENT_MEASURES = measure_names(resampled_moments=True)

#: Interval methods of :func:`scipy.stats.bootstrap`, by lower-case name.
INTERVAL_METHODS = {"percentile": "percentile", "basic": "basic", "bca": "BCa"}
#: Alternatives of a permutation test.
ALTERNATIVES = ("greater", "less", "two-sided")

#: scipy >= 1.15 takes ``rng``; older versions ``random_state`` (a Generator works for both).
RNG_KEYWORD = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"


def _check_measure(measure: Any, kwargs: dict) -> Callable[..., float]:
    if callable(measure):
        return measure
    fn = get_measure(measure)  # ValueError listing the known names
    try:
        inspect.signature(fn).bind(None, None, **kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(fn).parameters if p not in ("X", "Y")]
        raise TypeError(f"{measure} takes the keyword arguments {params}, got "
                        f"{sorted(kwargs)}: {exc}") from None
    return fn


def batch_size(n_rows: int, n_draws: int, elements: int = CHUNK_ELEMENTS) -> int:
    """Draws per batch so that a batch of index arrays holds about ``elements`` entries."""
    return max(1, min(n_draws, elements // max(n_rows, 1)))


_batch = batch_size


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

    def __init__(self, x: np.ndarray, y: np.ndarray, name: Any, kwargs: dict, pairing: bool) -> None:
        self.fn = name if callable(name) else MEASURES[name]
        self.x, self.y, self.kwargs, self.pairing = x, y, kwargs, pairing
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


def bootstrap(X: np.ndarray, Y: np.ndarray, measure: str = "pwcca", *, n_resamples: int = DATAPOINT_RESAMPLES,
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
    n_resamples = check_count("n_resamples", n_resamples)
    cl = check_confidence_level(confidence_level, n_resamples)
    method = check_choice("method", method, INTERVAL_METHODS)
    rng = check_seed(seed)
    x, y = check_pair(X, Y)
    n = x.shape[0]
    stat = (_ResampledMeasure(x, y, measure, measure_kwargs) if measure in MOMENT_MEASURES
            else _PlainMeasure(x, y, measure, measure_kwargs, pairing=False))
    # scipy resamples the row indices (what its paired=True does internally) and hands each batch
    # of index arrays to the statistic, which turns them into counts: scipy's resampling goes
    # through the moments directly, without copying rows.
    res = scipy.stats.bootstrap((np.arange(n),), stat, n_resamples=n_resamples,
                                batch=_batch(n, n_resamples), vectorized=True, confidence_level=cl,
                                method=method, **{RNG_KEYWORD: rng})
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if method == "basic":
        top, bottom = 1.0, (-np.inf if measure == "debiased_linear_cka" else 0.0)
        low, high = float(np.clip(low, bottom, top)), float(np.clip(high, bottom, top))
    return BootstrapResult(stat.estimate, ConfidenceInterval(low, high), np.asarray(res.bootstrap_distribution),
                           float(res.standard_error), measure, n_resamples, cl, method, seed, n,
                           dict(measure_kwargs))


def permutation_test(X: np.ndarray, Y: np.ndarray, measure: str = "pwcca", *,
                     n_permutations: int = DATAPOINT_RESAMPLES, alternative: str = "greater", seed: Any = None,
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
    measure : str or callable
        A name in :data:`cca_core.measures.MEASURES`, or any ``f(X, Y) -> float`` (recomputed on
        ``Y[pi]``; X and Y are then taken as they are, any shape with the datapoints on axis 0).
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
    n_permutations = check_count("n_permutations", n_permutations)
    alternative = check_choice("alternative", alternative, ALTERNATIVES)
    rng = check_seed(seed)
    if callable(measure):
        x, y = np.asarray(X), np.asarray(Y)
        _check_rows(x, y)
    else:
        x, y = check_pair(X, Y)
    n = x.shape[0]
    stat = (_PermutedMeasure(x, y, measure, measure_kwargs) if measure in MOMENT_MEASURES
            else _PlainMeasure(x, y, measure, measure_kwargs, pairing=True))
    res = _pairing_test(stat, n, n_permutations, alternative, rng)
    null = np.asarray(res.null_distribution, dtype=np.float64)
    exact = n <= 20 and n_permutations >= math.factorial(n)  # scipy's rule, without n! for large n
    min_p = (1.0 / null.size) if exact else 1.0 / (null.size + 1)
    min_p = min(1.0, min_p * (2 if alternative == "two-sided" else 1))
    name = measure if isinstance(measure, str) else getattr(measure, "__name__", type(measure).__name__)
    return PermutationTestResult(stat.estimate, float(res.pvalue), null, min_p, int(null.size), exact,
                                 alternative, seed, float(null.mean()), name, n, dict(measure_kwargs))


def _check_rows(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same datapoints (first axis): shapes {x.shape} and {y.shape}")


def _pairing_test(stat: Callable[..., np.ndarray], n: int, n_permutations: int, alternative: str,
                  rng: np.random.Generator) -> Any:
    """:func:`scipy.stats.permutation_test` over the pairings of ``n`` rows (``stat(perm)``)."""
    return scipy.stats.permutation_test((np.arange(n),), stat, permutation_type="pairings", vectorized=True,
                                        n_resamples=n_permutations, batch=_batch(n, n_permutations),
                                        alternative=alternative, **{RNG_KEYWORD: rng})


def permutation_null(x: Any, y: Any, similarity: Callable[[np.ndarray, np.ndarray], float],
                     n_permutations: int, seed: Any = 0) -> np.ndarray:
    """Chance level of ``similarity(x, y)``: its values with the rows (datapoints) of ``y`` shuffled.

    The null distribution of :func:`permutation_test` for any callable and any number of
    permutations (a figure's chance level from a few shuffles): shapes stay as they are, so the
    null keeps whatever bias the sizes give (CCA's correlations grow with neurons / datapoints);
    only the pairing of datapoints is broken. The permutations are scipy's
    (:func:`scipy.stats.permutation_test`, ``permutation_type="pairings"``), so ``permutation_null(x,
    y, f, n, seed)`` is ``permutation_test(x, y, f, n_permutations=n, seed=seed).null_distribution``.

    Parameters
    ----------
    x, y : arrays with the same first axis (datapoints); any further axes (conv maps as they are)
    similarity : callable ``(x, y) -> float``
    n_permutations : int
        At least 1.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_permutations,)  (``n!`` values when that is fewer: every pairing)

    Raises
    ------
    ValueError
        Different numbers of datapoints; ``n_permutations < 1``; a negative seed.
    TypeError
        ``n_permutations`` or ``seed`` of the wrong type.
    """
    n_permutations = check_count("n_permutations", n_permutations, minimum=1)
    rng = check_seed(seed)
    x, y = np.asarray(x), np.asarray(y)
    _check_rows(x, y)
    stat = _PlainMeasure(x, y, similarity, {}, pairing=True)
    res = _pairing_test(stat, x.shape[0], n_permutations, "greater", rng)
    return np.asarray(res.null_distribution, dtype=np.float64)


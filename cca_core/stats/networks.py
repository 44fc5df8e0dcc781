"""Resampling networks: intervals over independently trained networks, and tests of their groups.

Networks trained alike are the independent units of an experiment; values computed on them come in
two shapes, each with its interval:

Per-network values (each network compared only with itself)
    The mean over networks with a Student-t interval (:func:`t_interval`) or a percentile interval
    from resampling the networks (:func:`network_mean_interval`).
Pairwise distances (``D[a, b]`` between networks)
    Pairs that share a network are not independent, so the networks are resampled
    (:class:`NetworkDraws`: every group's networks with replacement, independently per group) and
    means are taken over pairs of *distinct* networks (:func:`pair_means`): with counts ``w`` and
    ``v``, ``sum_{a != b} w_a w_b D_ab / ((sum w)**2 - sum w**2)`` within a group and
    ``w^T D_gh v / (sum w sum v)`` between two. :func:`group_mean_interval` gives one such mean with
    its interval; :func:`group_permutation_test` tests whether same-group pairs are closer.

Every interval from a resampled distribution is :func:`percentile_interval` (or, for
:func:`group_mean_interval`, scipy's basic / BCa rules on the same distribution). The draws are
``rng.integers(0, m, (n_resamples, m))`` per group, in the groups' order of first appearance, with
``rng = numpy.random.default_rng(seed)``: the draws :func:`scipy.stats.bootstrap` makes, so a
single group's resampled means are those of ``scipy.stats.bootstrap`` with the same seed.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import scipy.stats

from ..validation import (check_choice, check_confidence_level, check_count, check_distance_matrix, check_labels,
                          check_seed)
from .datapoints import ALTERNATIVES, INTERVAL_METHODS, RNG_KEYWORD, batch_size
from .results import ConfidenceInterval, GroupInterval, GroupPermutationResult

__all__ = ["NETWORK_RESAMPLES", "percentile_interval", "t_interval", "resample_counts", "pair_means",
           "NetworkDraws", "network_mean_interval", "group_mean_interval", "group_permutation_test",
           "label_permutation_test"]

#: Default resamples of networks (and label permutations) wherever networks are resampled.
NETWORK_RESAMPLES = 9999


# ---------------------------------------------------------------------------------------- intervals
def percentile_interval(distribution: Any, confidence_level: float = 0.95, axis: int = 0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The central ``confidence_level`` percentile interval of a resampled distribution.

    ``(q_{(1-cl)/2}, q_{(1+cl)/2})`` along ``axis`` (numpy's linear interpolation, as
    :func:`scipy.stats.bootstrap`'s ``method="percentile"``); NaN resamples (a statistic undefined
    on that resample) are left out, and an all-NaN slice gives NaN.

    Returns
    -------
    low, high : ndarray (float for a 1-D distribution), shape ``distribution.shape`` without ``axis``
    """
    d = np.asarray(distribution, dtype=float)
    tail = (1.0 - confidence_level) / 2.0
    if np.isnan(d).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN
            lo, hi = np.nanquantile(d, [tail, 1.0 - tail], axis=axis)
    else:
        lo, hi = np.quantile(d, [tail, 1.0 - tail], axis=axis)
    return lo, hi


def t_interval(values: Any, confidence_level: float = 0.95, axis: int = 0
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Mean of independent replicates along ``axis`` with its Student-t interval.

    ``mean +- t_{(1+cl)/2, n-1} s / sqrt(n)`` (``s`` with ``ddof=1``); ``low``/``high`` are None
    with a single replicate.

    Returns
    -------
    mean, low, high : ndarrays of ``values.shape`` without ``axis``
    """
    v = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    mean = v.mean(axis=0)
    n = v.shape[0]
    if n < 2:
        return mean, None, None
    half = scipy.stats.t.ppf(0.5 + confidence_level / 2, n - 1) * v.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


# ---------------------------------------------------------------------------------------- draws
def resample_counts(rng: np.random.Generator, m: int, n_resamples: int) -> np.ndarray:
    """How often each of ``m`` networks is drawn in each of ``n_resamples`` resamples of ``m``
    draws with replacement: float array ``(n_resamples, m)`` from ``rng.integers(0, m, (n_resamples, m))``."""
    idx = rng.integers(0, m, size=(int(n_resamples), m))
    return (idx[..., None] == np.arange(m)).sum(axis=1).astype(float)


def pair_means(block: Any, w: np.ndarray | None = None, v: np.ndarray | None = None, *,
               within: bool = True) -> np.ndarray:
    """Mean distance over pairs of *distinct* networks, on all networks or on resamples.

    Parameters
    ----------
    block : array, shape (..., m, m) within a group or (..., m1, m2) between two groups
    w, v : arrays of counts, shapes (B, m) / (B, m1) and (B, m2), or None (every network once)
    within : bool
        Within one group (the diagonal, a network with itself or its copy, is left out) or between two.

    Returns
    -------
    ndarray, shape ``block.shape[:-2]`` (all networks) or ``(B,) + block.shape[:-2]``; NaN for a
    resample without a pair (one network drawn ``m`` times) or a group of one network.
    """
    block = np.asarray(block, dtype=float)
    if within:
        block = block.copy()
        m = block.shape[-1]
        block[..., np.arange(m), np.arange(m)] = 0.0
        if w is None:
            return block.sum(axis=(-2, -1)) / (m * (m - 1)) if m > 1 else np.full(block.shape[:-2], np.nan)
        num = np.einsum("ba,...ac,bc->b...", w, block, w)
        den = w.sum(axis=1) ** 2 - (w * w).sum(axis=1)
        den = den.reshape((-1,) + (1,) * (num.ndim - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if w is None:
        return block.mean(axis=(-2, -1))
    num = np.einsum("ba,...ac,bc->b...", w, block, v)
    den = (w.sum(axis=1) * v.sum(axis=1)).reshape((-1,) + (1,) * (num.ndim - 1))
    return num / den


class NetworkDraws:
    """Resamples of labelled networks: each group's networks drawn with replacement, independently.

    Parameters
    ----------
    labels : sequence, length K
        Group of each network.
    n_resamples : int
        At least 99 (:func:`~cca_core.validation.check_count`).
    seed : None, int or numpy.random.Generator

    Attributes
    ----------
    groups : list
        The labels in order of first appearance (the order in which they are drawn).
    members : dict label -> ndarray of int
        Positions of each group's networks.
    counts : dict label -> ndarray, shape (n_resamples, m)
        :func:`resample_counts` of each group, drawn in the order of ``groups``.
    """

    def __init__(self, labels: Sequence[Any], n_resamples: int = NETWORK_RESAMPLES, seed: Any = 0) -> None:
        self.n_resamples = check_count("n_resamples", n_resamples)
        rng = check_seed(seed)
        self.labels = np.asarray(labels)
        self.groups = list(dict.fromkeys(self.labels.tolist()))
        self.members = {g: np.flatnonzero(self.labels == g) for g in self.groups}
        self.counts = {g: resample_counts(rng, self.members[g].size, self.n_resamples) for g in self.groups}

    def all_counts(self) -> np.ndarray:
        """The counts of every network, shape ``(n_resamples, K)`` in the order of ``labels``."""
        out = np.zeros((self.n_resamples, self.labels.size))
        for g in self.groups:
            out[:, self.members[g]] = self.counts[g]
        return out


def network_mean_interval(values: Any, *, confidence_level: float = 0.95, n_resamples: int = NETWORK_RESAMPLES,
                          seed: Any = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean over networks (axis 0) with the percentile interval of a bootstrap that resamples networks.

    The resampled means are ``counts / K @ values`` with the counts of :class:`NetworkDraws` (one
    group): what :func:`scipy.stats.bootstrap` (``method="percentile"``, same seed) computes.

    Parameters
    ----------
    values : array, shape (K, ...)
    confidence_level : float in (0, 1)
    n_resamples : int
    seed : None, int or numpy.random.Generator

    Returns
    -------
    mean : ndarray, shape values.shape[1:]
    low, high : ndarrays of the same shape (NaN where every resample is NaN)
    distribution : ndarray, shape (n_resamples,) + values.shape[1:]

    Raises
    ------
    ValueError, TypeError
        As :func:`~cca_core.validation.check_count` / :func:`~cca_core.validation.check_confidence_level`.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 1 or v.shape[0] < 1:
        raise ValueError(f"values must be (n_networks, ...) with at least one network, got shape {v.shape}")
    n_resamples = check_count("n_resamples", n_resamples)
    cl = check_confidence_level(confidence_level)
    k = v.shape[0]
    weights = resample_counts(check_seed(seed), k, n_resamples) / k
    with np.errstate(invalid="ignore"):
        dist = np.tensordot(weights, v, axes=([1], [0]))
    lo, hi = percentile_interval(dist, cl)
    return v.mean(axis=0), lo, hi, dist


# ---------------------------------------------------------------------------------------- groups
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
                        n_resamples: int = NETWORK_RESAMPLES, confidence_level: float = 0.95,
                        method: str = "percentile", seed: Any = None) -> GroupInterval:
    """Mean distance within a group of networks, or between two groups, with a network bootstrap.

    Pairs of networks are not independent (pair ``(a, b)`` and ``(a, c)`` share ``a``), so the
    resampled units are networks: a resample draws the group's ``m`` networks with replacement
    (for between, each group separately: ``group`` first) and takes the mean over the pairs of
    *distinct* networks in it (:func:`pair_means`). Resamples of a single network have no pair and
    are left out (``n_used``). The draws are those of :class:`NetworkDraws` on the networks of
    ``group`` (and ``other``), i.e. :func:`scipy.stats.bootstrap`'s on the same seed.

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
    n_resamples : int
        At least 99 (default :data:`NETWORK_RESAMPLES`).
    confidence_level : float
    method : {"percentile", "basic", "BCa"}
        ``"percentile"`` (default): a mean of distances has no resampling bias once the self-pairs
        are dropped, and the percentile interval stays within the distances observed; BCa is
        possible (a jackknife over networks costs nothing here).
    seed : None, int or numpy.random.Generator

    Returns
    -------
    GroupInterval

    Raises
    ------
    ValueError
        A bad matrix or labels, an unknown group, too few networks, or bad settings.
    TypeError
        Settings of the wrong type.
    """
    n_resamples = check_count("n_resamples", n_resamples)
    cl = check_confidence_level(confidence_level, n_resamples)
    method = check_choice("method", method, INTERVAL_METHODS)
    rng = check_seed(seed)
    d = check_distance_matrix(D)
    labels = check_labels(labels, d.shape[0])
    g = _members(labels, group, "group")
    if other is None:
        m = g.size
        if m < 3:
            raise ValueError(f"group {group!r} has {m} network(s): a within-group interval needs at "
                             "least 3 (2 networks give one pair and nothing to resample)")
        dg = d[np.ix_(g, g)]

        def statistic(i: np.ndarray, axis: int = -1) -> np.ndarray:
            w = np.atleast_2d(_one_hot_counts(i, m))
            return pair_means(dg, w).reshape(np.shape(i)[:-1])

        data: tuple[np.ndarray, ...] = (np.arange(m),)
        n_networks: tuple[int, ...] = (m,)
        n_pairs = m * (m - 1) // 2
        dist = pair_means(dg, resample_counts(rng, m, n_resamples))
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
            w, v = np.atleast_2d(_one_hot_counts(i, m1)), np.atleast_2d(_one_hot_counts(j, m2))
            return pair_means(dgh, w, v, within=False).reshape(np.shape(i)[:-1])

        data = (np.arange(m1), np.arange(m2))
        n_networks = (m1, m2)
        n_pairs = m1 * m2
        w = resample_counts(rng, m1, n_resamples)
        dist = pair_means(dgh, w, resample_counts(rng, m2, n_resamples), within=False)
    estimate = float(statistic(*data))
    dist = dist[np.isfinite(dist)]
    if method == "percentile":
        low, high = percentile_interval(dist, cl)
    else:  # scipy's basic / BCa rules on this distribution (n_resamples=0: no further draws)
        res = scipy.stats.bootstrap(data, statistic, n_resamples=0, vectorized=True, method=method,
                                    confidence_level=cl,
                                    bootstrap_result=SimpleNamespace(bootstrap_distribution=dist),
                                    **{RNG_KEYWORD: rng})
        low, high = res.confidence_interval.low, res.confidence_interval.high
    return GroupInterval(estimate, ConfidenceInterval(float(low), float(high)), dist, float(np.std(dist, ddof=1)),
                         group, other, n_networks, n_pairs, n_resamples, int(dist.size), cl, method, seed)


def label_permutation_test(D: Any, labels: Sequence[Any], n_permutations: int, alternative: str = "greater",
                           seed: Any = None, *, minimum: int = 1) -> GroupPermutationResult:
    """:func:`group_permutation_test` with any ``n_permutations >= minimum`` (default 1): for a
    figure's or a page's own number of label shuffles. Same arguments, result and errors."""
    n_permutations = check_count("n_permutations", n_permutations, minimum=minimum)
    alternative = check_choice("alternative", alternative, ALTERNATIVES)
    rng = check_seed(seed)
    d = check_distance_matrix(D)
    labels = check_labels(labels, d.shape[0])
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
                                       batch=batch_size(dv.size, min(n_permutations, n_labelings)),
                                       alternative=alternative, **{RNG_KEYWORD: rng})
    null = np.asarray(res.null_distribution, dtype=np.float64)
    exact = n_permutations >= n_labelings  # scipy's rule: enumerate when that covers them all
    min_p = same_partition / n_labelings if exact else 1.0 / (null.size + 1)
    min_p = min(1.0, min_p * (2 if alternative == "two-sided" else 1))
    same = codes[iu] == codes[ju]
    within, between = float(dv[same].mean()), float(dv[~same].mean())
    return GroupPermutationResult(float(res.statistic), float(res.pvalue), null, min_p, int(null.size), exact,
                                  alternative, seed, within, between, dict(zip(names.tolist(), sizes.tolist())),
                                  n_labelings // same_partition)


def group_permutation_test(D: Any, labels: Sequence[Any], *, n_permutations: int = NETWORK_RESAMPLES,
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
        At least :data:`~cca_core.validation.MIN_RESAMPLES` (99).
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
        A bad matrix or labels, too few groups, or bad settings.
    """
    check_count("n_permutations", n_permutations)
    return label_permutation_test(D, labels, n_permutations, alternative, seed)

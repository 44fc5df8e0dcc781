"""cca_core.stats.networks against independent references: scipy.stats.bootstrap, scipy.stats.t, slow loops."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats

from cca_core import stats
from cca_core.experiments.analysis.convergence import interval_over_networks
from cca_core.experiments.evidence import NetworkGroups, NetworkMeans, NetworkValues, mean_interval


def _distances(k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.random((k, k))
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    return d


@pytest.mark.parametrize("cl", [0.8, 0.95])
def test_percentile_interval_is_numpys_percentile(cl):
    x = np.random.default_rng(1).normal(size=1001)
    lo, hi = stats.percentile_interval(x, cl)
    assert (lo, hi) == pytest.approx((np.percentile(x, 50 * (1 - cl)), np.percentile(x, 50 * (1 + cl))), abs=0)
    x[::7] = np.nan
    lo, hi = stats.percentile_interval(x, cl)
    finite = x[np.isfinite(x)]
    assert (lo, hi) == pytest.approx((np.percentile(finite, 50 * (1 - cl)), np.percentile(finite, 50 * (1 + cl))))


@pytest.mark.parametrize("cl", [0.9, 0.95])
def test_t_interval_is_scipys_t_interval(cl):
    v = np.random.default_rng(2).normal(size=(7, 3))
    mean, lo, hi = stats.t_interval(v, cl)
    for j in range(3):
        ref = scipy.stats.t.interval(cl, 6, loc=v[:, j].mean(), scale=scipy.stats.sem(v[:, j]))
        assert (lo[j], hi[j]) == pytest.approx(ref, rel=1e-12)
    assert stats.t_interval(v[:1], cl)[1] is None
    ev = mean_interval(v[:, 0], "x", confidence_level=cl)
    assert ev.interval == pytest.approx(scipy.stats.t.interval(cl, 6, loc=v[:, 0].mean(), scale=scipy.stats.sem(v[:, 0])))
    nets = NetworkMeans({"x": v}, confidence_level=cl)
    _, nlo, nhi = nets.interval()
    np.testing.assert_allclose(nlo, lo, rtol=0, atol=0)
    np.testing.assert_allclose(nhi, hi, rtol=0, atol=0)


@pytest.mark.parametrize("cl", [0.8, 0.95])
def test_network_mean_interval_is_scipys_percentile_bootstrap(cl):
    v = np.random.default_rng(3).normal(size=(5, 4))
    mean, lo, hi, _ = stats.network_mean_interval(v, confidence_level=cl, n_resamples=999, seed=11)
    ref = scipy.stats.bootstrap((v,), np.mean, axis=0, vectorized=True, method="percentile", confidence_level=cl,
                                n_resamples=999, rng=np.random.default_rng(11))
    np.testing.assert_allclose(lo, ref.confidence_interval.low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hi, ref.confidence_interval.high, rtol=0, atol=1e-12)
    m2, lo2, hi2 = interval_over_networks(v, confidence_level=cl, n_resamples=999, seed=11)
    np.testing.assert_allclose(lo2, np.minimum(ref.confidence_interval.low, v.mean(axis=0)), atol=1e-12)
    # the verdicts' NetworkValues draws the same networks
    boot = NetworkValues({"v": v}, n_resamples=999, confidence_level=cl, seed=11)
    ev = boot.evidence("v0", lambda m: m("v")[..., 0])
    assert ev.interval == pytest.approx((ref.confidence_interval.low[0], ref.confidence_interval.high[0]), abs=1e-12)
    # the former keyword
    np.testing.assert_allclose(interval_over_networks(v, confidence=cl, n_resamples=999, seed=11)[1], lo2)


def _within_slow(d: np.ndarray, idx: np.ndarray) -> float:
    """Mean of D over pairs of distinct networks of a resample (a network and its copy make no pair)."""
    vals = [d[a, b] for i, a in enumerate(idx) for j, b in enumerate(idx) if i != j and a != b]
    return float(np.mean(vals)) if vals else float("nan")


@pytest.mark.parametrize("cl", [0.8, 0.95])
def test_group_mean_interval_against_scipy_bootstrap_with_a_slow_statistic(cl):
    d = _distances(5)
    labels = ["a"] * 5

    def slow(i, axis=-1):
        i = np.atleast_2d(i)
        return np.array([_within_slow(d, row) for row in i]).reshape(np.shape(i)[:-1])

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = scipy.stats.bootstrap((np.arange(5),), slow, n_resamples=499, vectorized=True, method="percentile",
                                    confidence_level=cl, rng=np.random.default_rng(4))
    dist = np.asarray(ref.bootstrap_distribution)
    finite = dist[np.isfinite(dist)]
    res = stats.group_mean_interval(d, labels, "a", n_resamples=499, confidence_level=cl, seed=4)
    assert res.n_used == finite.size
    np.testing.assert_allclose(np.sort(res.bootstrap_distribution), np.sort(finite), atol=1e-12)
    lo, hi = np.percentile(finite, [50 * (1 - cl), 50 * (1 + cl)])
    assert (res.low, res.high) == pytest.approx((lo, hi), abs=1e-12)
    # NetworkGroups: the same draws, the same interval
    ev = NetworkGroups(d, labels, n_resamples=499, confidence_level=cl, seed=4).evidence("a", lambda m: m("a"))
    assert ev.interval == pytest.approx((lo, hi), abs=1e-12)


def test_between_groups_against_a_slow_loop():
    d = _distances(6, seed=5)
    labels = ["g"] * 3 + ["h"] * 3
    res = stats.group_mean_interval(d, labels, "g", "h", n_resamples=199, seed=6)
    rng = np.random.default_rng(6)
    i, j = rng.integers(0, 3, (199, 3)), rng.integers(0, 3, (199, 3))
    slow = [np.mean([d[a, 3 + b] for a in ri for b in rj]) for ri, rj in zip(i, j)]
    np.testing.assert_allclose(res.bootstrap_distribution, slow, atol=1e-12)
    assert res.statistic == pytest.approx(d[:3, 3:].mean())


def test_permutation_null_for_a_callable_is_scipys_pairing_null():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    f = lambda a, b: float(np.corrcoef(a[:, 0], b[:, 0])[0, 1])  # noqa: E731
    null = stats.permutation_null(x, y, f, 50, seed=9)

    def statistic(perm, axis=-1):
        return np.array([f(x, y[p]) for p in np.atleast_2d(perm)])

    ref = scipy.stats.permutation_test((np.arange(30),), statistic, permutation_type="pairings", vectorized=True,
                                       n_resamples=50, rng=np.random.default_rng(9))
    np.testing.assert_allclose(null, ref.null_distribution, atol=1e-12)
    res = stats.permutation_test(x, y, f, n_permutations=99, seed=9)
    assert res.statistic == pytest.approx(f(x, y)) and 0 < res.pvalue <= 1
    with pytest.raises(TypeError):
        stats.permutation_null(x, y, f, 2.0)
    with pytest.raises(ValueError):
        stats.permutation_null(x, y[:5], f, 3)


def test_faster_test_is_an_exact_permutation_test():
    from itertools import combinations

    from cca_core.experiments.verdicts.rules import _faster_test

    fast, slow = [1.0, 1.1, 0.9], [1.5, 1.4, 1.6]
    p, min_p, exact = _faster_test(fast, slow)
    pooled = np.array(fast + slow)
    obs = np.mean(slow) - np.mean(fast)
    null = [pooled[[k for k in range(6) if k not in c]].mean() - pooled[list(c)].mean()
            for c in combinations(range(6), 3)]
    assert exact and min_p == pytest.approx(1 / 20)
    assert p == pytest.approx(np.mean(np.array(null) >= obs - 1e-12))

"""cca_core.stats: bootstrap intervals, permutation nulls and group statistics.

References that do not share the code under test: the single-pair measures on copied rows
(``measure(X[idx], Y[idx])``, ``measure(X, Y[perm])``), fresh samples of the same population
(Monte Carlo), exact expectations over all permutations, and brute-force enumeration of every
resample of networks and every labeling.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats

import cca_core
from cca_core import stats
from cca_core.stats import datapoints
from cca_core.experiments.analysis.clustering import separation_test
from cca_core.measures import MEASURES

MOMENT_CASES = [("pwcca", {}), ("mean_cca", {}), ("mean_cca", {"squared": True}),
                ("mean_cca", {"center": False}), ("svcca", {"keep": 0.9}), ("svcca", {"keep": 3}),
                ("linear_cka", {})]


def related(n: int, p: int = 5, q: int = 5, seed: int = 0, strength: float = 0.4, population: int = 1):
    """Y = X M + noise; ``population`` fixes M and the neuron scales, ``seed`` the datapoints."""
    pop = np.random.default_rng(1000 + population)
    m = pop.normal(size=(p, q)) * strength
    scale = np.linspace(0.3, 2.0, p)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * scale
    return x, x @ m + rng.normal(size=(n, q))


def independent(n: int, p: int, q: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), rng.standard_t(5, size=(n, q))


# ---------------------------------------------------------------------------------------- fast paths
@pytest.mark.parametrize("name, kwargs", MOMENT_CASES)
def test_resampled_moments_equal_plain_resampling(name, kwargs):
    x, y = related(300, 6, 4, seed=3)
    x = x + 50.0  # an offset that naive raw moments would lose digits to
    rng = np.random.default_rng(4)
    fast = datapoints._ResampledMeasure(x, y, name, kwargs)
    fn = MEASURES[name]
    draws = [rng.integers(0, 300, 300) for _ in range(4)]
    draws += [np.delete(np.arange(300), 17)]                  # a jackknife sample (n - 1 rows)
    draws += [rng.integers(0, 300, 300) % 40]                 # few distinct rows, many duplicates
    for idx in draws:
        assert fast(idx) == pytest.approx(fn(x[idx], y[idx], **kwargs), abs=1e-10)
    batch = np.array(draws[:4])
    np.testing.assert_allclose(fast(batch), [fn(x[i], y[i], **kwargs) for i in batch], atol=1e-10, rtol=0)
    assert fast.estimate == pytest.approx(fn(x, y, **kwargs), abs=1e-14)


def test_resampled_moments_float32_and_gathered_rows(monkeypatch):
    x, y = related(400, 5, 7, seed=5)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    monkeypatch.setattr(datapoints, "CHUNK_ELEMENTS", 1000)  # rows gathered from X, Y in small chunks
    fast = datapoints._ResampledMeasure(x32, y32, "pwcca", {})
    assert fast.z is None and fast.step == 256
    idx = np.random.default_rng(6).integers(0, 400, 400)
    assert fast(idx) == pytest.approx(cca_core.pwcca(x32[idx], y32[idx]), abs=1e-10)


@pytest.mark.parametrize("name, kwargs", MOMENT_CASES)
def test_permuted_moments_equal_plain_shuffle(name, kwargs):
    x, y = related(250, 4, 6, seed=7)
    rng = np.random.default_rng(8)
    fast = datapoints._PermutedMeasure(x, y, name, kwargs)
    perms = np.array([rng.permutation(250) for _ in range(3)])
    np.testing.assert_allclose(fast(perms), [MEASURES[name](x, y[p], **kwargs) for p in perms],
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", ["pwcca", "debiased_linear_cka"])
def test_bootstrap_distribution_is_the_measure_on_scipys_resamples(name):
    # scipy draws the row indices (one batch here) with rng.integers(0, n, (n_resamples, n));
    # each value of the distribution must be the plain measure on those rows.
    x, y = related(120, 3, 3, seed=9)
    res = stats.bootstrap(x, y, name, n_resamples=99, seed=11)
    idx = np.random.default_rng(11).integers(0, 120, (99, 120), dtype=np.int64)
    plain = [MEASURES[name](x[i], y[i]) for i in idx[:10]]
    np.testing.assert_allclose(res.bootstrap_distribution[:10], plain, atol=1e-10, rtol=0)
    assert res.bootstrap_distribution.shape == (99,)


# ---------------------------------------------------------------------------------------- bootstrap
@pytest.mark.parametrize("name, method", [("pwcca", "basic"), ("pwcca", "percentile"), ("pwcca", "BCa"),
                                          ("mean_cca", "basic"), ("svcca", "basic"),
                                          ("linear_cka", "basic"), ("debiased_linear_cka", "basic")])
def test_interval_contains_estimate_and_is_ordered(name, method):
    x, y = related(800, 4, 4, seed=12)
    res = stats.bootstrap(x, y, name, n_resamples=199, method=method, seed=1)
    assert res.statistic == pytest.approx(MEASURES[name](x, y), abs=1e-12)
    assert res.low < res.statistic < res.high
    assert 0.0 <= res.low and res.high <= 1.0
    assert res.standard_error == pytest.approx(np.std(res.bootstrap_distribution, ddof=1))
    assert (res.measure, res.method, res.n_resamples, res.n_datapoints, res.seed) == (
        name, method, 199, 800, 1)


def test_rbf_cka_falls_back_to_plain_resampling():
    x, y = related(60, 3, 3, seed=13)
    res = stats.bootstrap(x, y, "rbf_cka", n_resamples=99, seed=2, threshold=1.0)
    assert res.statistic == pytest.approx(cca_core.rbf_cka(x, y, threshold=1.0))
    assert res.low < res.statistic < res.high
    assert res.measure_kwargs == {"threshold": 1.0}


def _width(n: int, seed: int) -> float:
    return np.diff(stats.bootstrap(*related(n, 5, 5, seed=seed), "linear_cka", n_resamples=999,
                                   seed=seed).confidence_interval)[0]


def test_linear_cka_interval_shrinks_as_one_over_sqrt_n():
    # sqrt(4000 / 500) = 2.83; two datasets per size keep the ratio's noise near 5%
    ratio = (_width(500, 1) + _width(500, 2)) / (_width(4000, 3) + _width(4000, 4))
    assert 2.2 < ratio < 3.5


@pytest.mark.parametrize("n", [500, 4000])
def test_pwcca_interval_matches_spread_over_fresh_samples(n):
    # PWCCA's spread shrinks more slowly than 1/sqrt(n) here (SD about 0.012 at n = 500, 0.0065 at
    # 4,000); the bootstrap must follow it. The SD over 80 fresh samples has a relative standard
    # error of 1/sqrt(2 * 79) = 8%; the bootstrap SE averaged over 4 datasets of 199 resamples about
    # 4% (it varies from dataset to dataset). Their ratio came out 0.81-1.03 over 8 sets of seeds;
    # the band 0.7-1.4 leaves about 3 standard errors on either side of 0.9.
    fresh = [cca_core.pwcca(*related(n, 10, 10, seed=100 + s, strength=0.25)) for s in range(80)]
    sd = np.std(fresh, ddof=1)
    boots = [stats.bootstrap(*related(n, 10, 10, seed=5000 + s, strength=0.25), "pwcca",
                             n_resamples=199, seed=s) for s in range(4)]
    se = np.mean([b.standard_error for b in boots])
    width = np.mean([b.high - b.low for b in boots])
    assert 0.7 < se / sd < 1.4
    assert 0.7 < width / (2 * 1.96 * sd) < 1.4


def test_same_seed_same_numbers():
    x, y = related(300, 4, 4, seed=14)
    a = stats.bootstrap(x, y, "pwcca", n_resamples=99, seed=5)
    b = stats.bootstrap(x, y, "pwcca", n_resamples=99, seed=np.random.default_rng(5))
    c = stats.bootstrap(x, y, "pwcca", n_resamples=99, seed=6)
    np.testing.assert_array_equal(a.bootstrap_distribution, b.bootstrap_distribution)
    assert a.confidence_interval == b.confidence_interval
    assert not np.array_equal(a.bootstrap_distribution, c.bootstrap_distribution)
    p1 = stats.permutation_test(x, y, "mean_cca", n_permutations=99, seed=5)
    p2 = stats.permutation_test(x, y, "mean_cca", n_permutations=99, seed=5)
    np.testing.assert_array_equal(p1.null_distribution, p2.null_distribution)
    d, labels = _block_distances([0, 0, 0, 1, 1, 1, 1, 2, 2, 2], seed=0)
    g1 = stats.group_mean_interval(d, labels, 1, n_resamples=199, seed=3)
    g2 = stats.group_mean_interval(d, labels, 1, n_resamples=199, seed=3)
    np.testing.assert_array_equal(g1.bootstrap_distribution, g2.bootstrap_distribution)
    t1 = stats.group_permutation_test(d, labels, n_permutations=199, seed=3)
    t2 = stats.group_permutation_test(d, labels, n_permutations=199, seed=3)
    assert t1.pvalue == t2.pvalue and not t1.exact


# ---------------------------------------------------------------------------------------- permutations
def test_permutation_p_values_uniform_for_independent_data():
    p = np.array([stats.permutation_test(*independent(150, 3, 4, seed), "pwcca", n_permutations=99,
                                         seed=seed).pvalue for seed in range(30)])
    assert np.all((p >= 0.01) & (p <= 1.0))
    assert np.mean(p < 0.05) <= 0.2
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.001


def test_chance_level_matches_exact_expectation_over_permutations():
    # For centred projections P_X, P_Y of ranks p, q (1 in their null space) and a uniform random
    # permutation Pi: E tr(P_X Pi P_Y Pi^T) = p q / (n - 1), so the mean of the squared canonical
    # correlations over min(p, q) pairs is max(p, q) / (n - 1); likewise
    # E ||Xc^T Yc[pi]||_F^2 = ||Xc||_F^2 ||Yc||_F^2 / (n - 1) for linear CKA.
    n, p, q = 80, 3, 7
    x, y = related(n, p, q, seed=15)
    r2 = stats.permutation_test(x, y, "mean_cca", n_permutations=1999, seed=0, squared=True)
    tol = 4 * np.std(r2.null_distribution) / np.sqrt(1999)
    assert r2.chance_level == pytest.approx(max(p, q) / (n - 1), abs=tol)
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = (np.sum(xc**2) * np.sum(yc**2) / (n - 1)
                / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))
    ck = stats.permutation_test(x, y, "linear_cka", n_permutations=1999, seed=0)
    assert ck.chance_level == pytest.approx(expected, abs=4 * np.std(ck.null_distribution) / np.sqrt(1999))
    assert ck.statistic > 5 * ck.chance_level  # related data sit far above chance


@pytest.mark.parametrize("name", ["pwcca", "mean_cca"])
def test_chance_level_rises_with_neurons_per_datapoint(name):
    by_neurons = [stats.permutation_test(*independent(300, p, p, 0), name, n_permutations=99,
                                         seed=0).chance_level for p in (2, 8, 32)]
    by_datapoints = [stats.permutation_test(*independent(n, 8, 8, 1), name, n_permutations=99,
                                            seed=0).chance_level for n in (1200, 300, 75)]
    assert by_neurons[0] < by_neurons[1] < by_neurons[2]
    assert by_datapoints[0] < by_datapoints[1] < by_datapoints[2]


@pytest.mark.parametrize("name", ["pwcca", "mean_cca", "linear_cka", "debiased_linear_cka"])
def test_planted_signal_is_significant(name):
    x, y = related(200, 4, 4, seed=16, strength=0.3)
    res = stats.permutation_test(x, y, name, n_permutations=199, seed=0)
    assert res.pvalue < 0.01
    assert res.pvalue >= res.min_p_value == pytest.approx(1 / 200)
    assert res.statistic == pytest.approx(MEASURES[name](x, y), abs=1e-12)
    assert res.null_distribution.shape == (199,) and not res.exact
    assert res.chance_level == pytest.approx(res.null_distribution.mean())
    less = stats.permutation_test(x, y, name, n_permutations=199, seed=0, alternative="less")
    assert less.pvalue == 1.0


# ---------------------------------------------------------------------------------------- groups
def _block_distances(labels, within=0.2, between=0.8, noise=0.1, seed=0):
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    d = np.where(labels[:, None] == labels[None], within, between) + noise * rng.random((labels.size,) * 2)
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    return d, labels


def _pairs_mean(d, a, b=None) -> float:
    """Brute force: mean of d over pairs of positions whose networks differ (within), or across."""
    if b is None:
        vals = [d[a[i], a[j]] for i in range(len(a)) for j in range(i + 1, len(a)) if a[i] != a[j]]
    else:
        vals = [d[i, j] for i in a for j in b]
    return float(np.mean(vals)) if vals else np.nan


def _compare_with_exact(dist: np.ndarray, exact: np.ndarray, low: float, high: float) -> None:
    """Empirical vs exact (equally likely) resampling distribution: DKW band at 99.9%, and the
    interval's ends between the exact quantiles at 2.5% and 97.5% give or take that band."""
    exact, dist = np.sort(np.round(exact, 12)), np.round(dist, 12)  # same atoms, other roundings
    grid = np.unique(np.concatenate([exact, dist]))
    cdf_exact = np.searchsorted(exact, grid, side="right") / exact.size
    cdf_emp = np.searchsorted(np.sort(dist), grid, side="right") / dist.size
    eps = np.sqrt(np.log(2 / 0.001) / (2 * dist.size))
    assert np.max(np.abs(cdf_exact - cdf_emp)) < eps
    q = lambda p: np.quantile(exact, np.clip(p, 0, 1), method="inverted_cdf")  # noqa: E731
    assert q(0.025 - 2 * eps) - 1e-11 <= low <= q(0.025 + 2 * eps) + 1e-11
    assert q(0.975 - 2 * eps) - 1e-11 <= high <= q(0.975 + 2 * eps) + 1e-11


def test_group_mean_within_against_enumerated_network_resamples():
    d = scipy.spatial.distance.squareform(np.random.default_rng(17).random(21))  # 7 networks
    labels = np.array(["a", "b", "a", "a", "b", "a", "b"])
    members = np.flatnonzero(labels == "a")  # 4 networks: 4**4 equally likely resamples
    exact = [_pairs_mean(d, r) for r in itertools.product(members, repeat=4)]
    exact = np.array([v for v in exact if np.isfinite(v)])  # 4 draws of a single network dropped
    res = stats.group_mean_interval(d, labels, "a", n_resamples=20000, seed=0)
    assert res.statistic == pytest.approx(_pairs_mean(d, members))
    assert (res.n_networks, res.n_pairs, res.other) == ((4,), 6, None)
    assert abs(res.n_used / 20000 - (1 - 4 / 256)) < 4 * np.sqrt(4 / 256 / 20000)
    _compare_with_exact(res.bootstrap_distribution, exact, res.low, res.high)


def test_group_mean_between_against_enumerated_network_resamples():
    d = scipy.spatial.distance.squareform(np.random.default_rng(18).random(28))  # 8 networks
    labels = np.array([0, 1, 0, 2, 1, 0, 1, 2])
    g, h = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)  # 3 and 3 networks
    exact = np.array([_pairs_mean(d, a, b) for a in itertools.product(g, repeat=3)
                      for b in itertools.product(h, repeat=3)])
    res = stats.group_mean_interval(d, labels, 0, 1, n_resamples=20000, seed=1)
    assert res.statistic == pytest.approx(_pairs_mean(d, g, h))
    assert (res.n_networks, res.n_pairs, res.n_used) == ((3, 3), 9, 20000)
    _compare_with_exact(res.bootstrap_distribution, exact, res.low, res.high)


def test_group_interval_reflects_network_effects():
    # D_ab = 1 + u_a + u_b + noise: each network shifts all its pairs, so pairs are dependent. The
    # SD of the within-group mean over fresh groups of 10 networks is what the network bootstrap
    # must reproduce (resampling pairs as if independent gives about a third of it).
    m = 10
    iu = np.triu_indices(m, 1)

    def draw(rng):
        u = rng.normal(0, 0.3, m)
        e = rng.normal(0, 0.1, (m, m))
        d = np.clip(1 + u[:, None] + u[None, :] + (e + e.T) / 2, 0, None)
        np.fill_diagonal(d, 0.0)
        return d

    rng = np.random.default_rng(19)
    sd = np.std([draw(rng)[iu].mean() for _ in range(1000)], ddof=1)
    se = np.mean([stats.group_mean_interval(draw(rng), np.zeros(m), 0, n_resamples=999, seed=s)
                  .standard_error for s in range(20)])
    assert 0.7 < se / sd < 1.3


def _partition(lab) -> frozenset:
    return frozenset(frozenset(i for i, g in enumerate(lab) if g == h) for h in set(lab))


def _brute_force_labelings(d, labels):
    """Every distinct relabeling (same group sizes), its between - within statistic by loops, and
    how many of them induce the same partition of the networks as ``labels``."""
    k = len(labels)
    out, same_partition = [], 0
    for lab in sorted(set(itertools.permutations(labels))):
        w = [d[i, j] for i in range(k) for j in range(i + 1, k) if lab[i] == lab[j]]
        b = [d[i, j] for i in range(k) for j in range(i + 1, k) if lab[i] != lab[j]]
        out.append(np.mean(b) - np.mean(w))
        same_partition += _partition(lab) == _partition(labels)
    return np.array(out), same_partition


@pytest.mark.parametrize("labels", [[0, 0, 0, 1, 1, 2, 2], [1, 0, 1, 0, 0, 1]])
def test_group_permutation_exact_against_enumeration(labels):
    k = len(labels)
    d = scipy.spatial.distance.squareform(np.random.default_rng(20).random(k * (k - 1) // 2))
    null, same_partition = _brute_force_labelings(d, labels)
    lab = np.asarray(labels)
    iu, ju = np.triu_indices(len(lab), 1)
    same = lab[iu] == lab[ju]
    obs = d[iu, ju][~same].mean() - d[iu, ju][same].mean()
    res = stats.group_permutation_test(d, labels, n_permutations=999, seed=0)
    assert res.exact and res.n_permutations == null.size
    np.testing.assert_allclose(np.sort(res.null_distribution), np.sort(null), atol=1e-12)
    assert res.statistic == pytest.approx(obs)
    assert res.pvalue == pytest.approx(np.mean(null >= obs - 1e-12))
    # smallest attainable p: the labelings that merely rename groups of equal size (2 here)
    assert same_partition == 2
    assert res.min_p_value == pytest.approx(same_partition / null.size)


def test_min_p_value_at_three_versus_three():
    d, labels = _block_distances(["x", "x", "x", "y", "y", "y"], seed=1)
    res = stats.group_permutation_test(d, labels)
    assert res.exact and res.n_permutations == 20 and res.n_partitions == 10
    assert res.pvalue == pytest.approx(0.1) and res.min_p_value == pytest.approx(0.1)
    assert res.n_per_group == {"x": 3, "y": 3}
    assert res.statistic > 0.4 and res.within_mean < res.between_mean
    two = stats.group_permutation_test(d, labels, alternative="two-sided")
    assert two.min_p_value == pytest.approx(0.2) and two.pvalue == pytest.approx(0.2)
    # separation_test (clustering) is this test: 200 shuffles at 3 vs 3 enumerate the 20 labelings
    sep = separation_test(d, labels)
    assert sep.p_value == pytest.approx(0.1) and sep.min_p_value == pytest.approx(0.1)


def test_group_permutation_random_when_labelings_are_many():
    d, labels = _block_distances(np.repeat([0, 1, 2], 5), seed=2)  # 756,756 labelings
    res = stats.group_permutation_test(d, labels, n_permutations=499, seed=0)
    assert not res.exact and res.null_distribution.shape == (499,)
    assert res.pvalue == pytest.approx(1 / 500) and res.min_p_value == pytest.approx(1 / 500)
    unrelated = stats.group_permutation_test(d, np.tile([0, 1, 2], 5), n_permutations=499, seed=0)
    assert unrelated.pvalue > 0.05


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call", [stats.bootstrap, stats.permutation_test])
def test_bad_settings_are_refused_before_any_work(call):
    x, y = related(50, 2, 2)
    count = "n_resamples" if call is stats.bootstrap else "n_permutations"
    with pytest.raises(ValueError, match="known measures: mean_cca, svcca, pwcca"):
        call(x, y, "cka")
    with pytest.raises(ValueError, match=f"{count} must be at least 99"):
        call(x, y, **{count: 50})
    with pytest.raises(TypeError, match=count):
        call(x, y, **{count: 1000.0})
    for seed in (1.5, "7", True, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="seed"):
            call(x, y, seed=seed)
    with pytest.raises(ValueError, match="seed"):
        call(x, y, seed=-1)
    with pytest.raises(TypeError, match="pwcca takes the keyword arguments"):
        call(x, y, "pwcca", keep=0.9)
    # settings are checked before the arrays
    with pytest.raises(ValueError, match=count):
        call(np.zeros((3, 2, 2)), y, **{count: 10})
    with pytest.raises(ValueError, match="X .* 3-D"):
        call(np.zeros((3, 2, 2)), y)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y .*1 NaN"):
        call(x, bad)
    with pytest.raises(ValueError, match="same number of datapoints"):
        call(x, y[:-1])


def test_bad_bootstrap_settings():
    x, y = related(50, 2, 2)
    for cl in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="confidence_level"):
            stats.bootstrap(x, y, confidence_level=cl)
    with pytest.raises(TypeError, match="confidence_level"):
        stats.bootstrap(x, y, confidence_level="0.9")
    with pytest.raises(ValueError, match="use at least 199"):
        stats.bootstrap(x, y, n_resamples=99, confidence_level=0.99)
    with pytest.raises(ValueError, match="method must be one of 'percentile', 'basic', 'BCa'"):
        stats.bootstrap(x, y, method="studentized")
    with pytest.raises(ValueError, match="keep"):
        stats.bootstrap(x, y, "svcca", keep=2.0)
    with pytest.raises(ValueError, match="alternative"):
        stats.permutation_test(x, y, alternative="bigger")


def test_bad_group_input():
    d, labels = _block_distances([0, 0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match=r"group=5 is not among the labels \(0, 1, 2\)"):
        stats.group_mean_interval(d, labels, 5)
    with pytest.raises(ValueError, match="at least 3"):
        stats.group_mean_interval(d, labels, 1)
    with pytest.raises(ValueError, match="at least 2 in each"):
        stats.group_mean_interval(d, labels, 0, 2)
    with pytest.raises(ValueError, match="other must differ"):
        stats.group_mean_interval(d, labels, 0, 0)
    with pytest.raises(ValueError, match="one label per network"):
        stats.group_permutation_test(d, labels[:-1])
    with pytest.raises(ValueError, match="symmetric"):
        stats.group_permutation_test(d + np.triu(np.ones_like(d), 1), labels)
    with pytest.raises(ValueError, match="at least one group with 2 items and at least 2 groups"):
        stats.group_permutation_test(d, np.arange(6))
    with pytest.raises(ValueError, match="n_permutations must be at least 99"):
        stats.group_permutation_test(d, labels, n_permutations=20)
    with pytest.raises(TypeError, match="seed"):
        stats.group_mean_interval(d, labels, 0, seed=0.5)


def test_stats_is_a_submodule_of_the_package():
    assert cca_core.stats is stats and "stats" in cca_core.__all__

"""The result classes of cca_core.stats read as scipy.stats' results (issue 20, item 5).

References: scipy.stats.bootstrap and scipy.stats.permutation_test called here directly on the
same data, statistic (the package's public single-pair measure, or a distance-matrix statistic
written out here) and seed. The former attribute names still work and warn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats

import cca_core
from cca_core import stats


def _pair(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    y = x[:, :3] + rng.standard_normal((n, 3))
    return x, y


def _distances(labels, seed=0):
    rng = np.random.default_rng(seed)
    k = len(labels)
    lab = np.asarray(labels)
    d = rng.uniform(0.2, 0.6, (k, k)) + 0.3 * (lab[:, None] != lab[None, :])
    d = np.triu(d, 1)
    return d + d.T


def _scipy_kwargs(seed):
    return {"rng": np.random.default_rng(seed)}


# ------------------------------------------------------------------------- values equal scipy's
def _assert_same_test(ours, ref, null_rtol: float) -> None:
    """Our permutation test result against scipy's: statistic, p-value and (sorted) null distribution."""
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    np.testing.assert_allclose(np.sort(ours.null_distribution), np.sort(ref.null_distribution), rtol=null_rtol)


def test_permutation_test_matches_scipy_random_permutations():
    x, y = _pair(60, seed=1)
    ours = stats.permutation_test(x, y, "linear_cka", n_permutations=199, seed=3)
    ref = scipy.stats.permutation_test((np.arange(60),), lambda i: cca_core.linear_cka(x, y[i]),
                                       permutation_type="pairings", n_resamples=199,
                                       alternative="greater", **_scipy_kwargs(3))
    _assert_same_test(ours, ref, null_rtol=1e-10)


def test_permutation_test_matches_scipy_exact():
    # n = 6: 720 pairings, all enumerated by both (exact), so no random stream is involved.
    x, y = _pair(6, seed=2)
    for measure in ("linear_cka", "debiased_linear_cka"):
        fn = cca_core.measures.MEASURES[measure]
        ours = stats.permutation_test(x, y, measure, n_permutations=999, alternative="two-sided", seed=0)
        ref = scipy.stats.permutation_test((np.arange(6),), lambda i: fn(x, y[i]),
                                           permutation_type="pairings", n_resamples=999,
                                           alternative="two-sided", **_scipy_kwargs(0))
        assert ours.exact
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
        assert ours.null_distribution.shape == np.shape(ref.null_distribution) == (720,)
        np.testing.assert_allclose(np.sort(ours.null_distribution), np.sort(ref.null_distribution),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_bootstrap_matches_scipy(method):
    x, y = _pair(50, seed=4)
    ours = stats.bootstrap(x, y, "linear_cka", n_resamples=199, method=method, seed=5)
    ref = scipy.stats.bootstrap((np.arange(50),), lambda i: cca_core.linear_cka(x[i], y[i]),
                                n_resamples=199, method=method, **_scipy_kwargs(5))
    np.testing.assert_allclose(ours.bootstrap_distribution, ref.bootstrap_distribution, rtol=1e-10)
    assert ours.standard_error == pytest.approx(ref.standard_error, rel=1e-9)
    assert ours.confidence_interval.low == pytest.approx(ref.confidence_interval.low, rel=1e-9)
    assert ours.confidence_interval.high == pytest.approx(ref.confidence_interval.high, rel=1e-9)
    assert ours.statistic == pytest.approx(cca_core.linear_cka(x, y), rel=1e-12)


def test_group_mean_interval_between_groups_matches_scipy():
    labels = ["a"] * 4 + ["b"] * 5
    d = _distances(labels, seed=6)
    ours = stats.group_mean_interval(d, labels, "a", "b", n_resamples=999, seed=7)
    ia, ib = np.arange(4), np.arange(4, 9)

    def mean_between(i, j):  # networks drawn with replacement within each group
        return d[np.ix_(ia[i], ib[j])].mean()

    ref = scipy.stats.bootstrap((np.arange(4), np.arange(5)), mean_between, n_resamples=999,
                                method="percentile", paired=False, **_scipy_kwargs(7))
    assert ours.statistic == pytest.approx(d[np.ix_(ia, ib)].mean(), rel=1e-12)
    np.testing.assert_allclose(ours.bootstrap_distribution, ref.bootstrap_distribution, rtol=1e-12)
    assert ours.confidence_interval.low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert ours.confidence_interval.high == pytest.approx(ref.confidence_interval.high, rel=1e-12)


def test_group_permutation_test_matches_scipy_exact():
    labels = ["x", "x", "x", "y", "y", "y", "y"]
    d = _distances(labels, seed=8)
    k = len(labels)
    iu, ju = np.triu_indices(k, 1)

    def separation(a, b):  # between-group mean minus within-group mean for this labeling
        group = np.empty(k, dtype=int)
        group[a.astype(int)], group[b.astype(int)] = 0, 1
        same = group[iu] == group[ju]
        return d[iu, ju][~same].mean() - d[iu, ju][same].mean()

    ours = stats.group_permutation_test(d, labels, n_permutations=999, seed=0)
    ref = scipy.stats.permutation_test((np.arange(3), np.arange(3, 7)), separation,
                                       permutation_type="independent", n_resamples=999,
                                       alternative="greater", **_scipy_kwargs(0))
    assert ours.exact
    _assert_same_test(ours, ref, null_rtol=1e-12)


# ------------------------------------------------------------------------- types and shapes
def test_attributes_have_scipys_types_and_shapes():
    x, y = _pair(30, seed=9)
    boot = stats.bootstrap(x, y, "linear_cka", n_resamples=99, method="percentile", seed=0)
    ref = scipy.stats.bootstrap((np.arange(30),), lambda i: cca_core.linear_cka(x[i], y[i]),
                                n_resamples=99, method="percentile", **_scipy_kwargs(0))
    assert isinstance(boot.confidence_interval, tuple)
    assert boot.confidence_interval._fields == type(ref.confidence_interval)._fields == ("low", "high")
    assert (boot.low, boot.high) == tuple(boot.confidence_interval)
    assert isinstance(boot.bootstrap_distribution, np.ndarray)
    assert boot.bootstrap_distribution.shape == np.shape(ref.bootstrap_distribution) == (99,)
    assert np.ndim(boot.standard_error) == np.ndim(ref.standard_error) == 0
    assert isinstance(boot.statistic, float)

    perm = stats.permutation_test(x, y, "linear_cka", n_permutations=99, seed=0)
    pref = scipy.stats.permutation_test((np.arange(30),), lambda i: cca_core.linear_cka(x, y[i]),
                                        permutation_type="pairings", n_resamples=99, **_scipy_kwargs(0))
    for name in ("statistic", "pvalue", "null_distribution"):
        assert np.shape(getattr(perm, name)) == np.shape(getattr(pref, name))
    assert isinstance(perm.pvalue, float) and isinstance(perm.statistic, float)

    labels = ["a"] * 3 + ["b"] * 3
    d = _distances(labels)
    gi = stats.group_mean_interval(d, labels, "a", n_resamples=199, seed=0)
    assert gi.confidence_interval._fields == ("low", "high") and gi.low <= gi.statistic <= gi.high
    assert gi.bootstrap_distribution.shape == (gi.n_used,)
    gp = stats.group_permutation_test(d, labels, seed=0)
    assert isinstance(gp.pvalue, float) and gp.null_distribution.ndim == 1


# ------------------------------------------------------------------------- former names
def _old_names_cases():
    x, y = _pair(30, seed=10)
    labels = ["a"] * 3 + ["b"] * 3
    d = _distances(labels)
    boot = stats.bootstrap(x, y, "linear_cka", n_resamples=99, seed=0)
    group = stats.group_mean_interval(d, labels, "a", n_resamples=199, seed=0)
    perm = stats.permutation_test(x, y, "linear_cka", n_permutations=99, seed=0)
    gperm = stats.group_permutation_test(d, labels, seed=0)
    renamed = {"estimate": "statistic", "interval": "confidence_interval",
               "distribution": "bootstrap_distribution"}
    return ([(boot, old, new) for old, new in renamed.items()]
            + [(group, old, new) for old, new in renamed.items()]
            + [(perm, "p_value", "pvalue"), (gperm, "p_value", "pvalue")])


def test_former_names_warn_and_return_the_same_objects():
    for result, old, new in _old_names_cases():
        with pytest.warns(DeprecationWarning, match=rf"\.{old} is deprecated; use \.{new}\b"):
            value = getattr(result, old)
        assert value is getattr(result, new), (type(result).__name__, old)


def test_former_interval_still_unpacks_and_new_names_do_not_warn():
    x, y = _pair(30, seed=11)
    boot = stats.bootstrap(x, y, "linear_cka", n_resamples=99, seed=0)
    with pytest.warns(DeprecationWarning):
        low, high = boot.interval
    assert (low, high) == (boot.confidence_interval.low, boot.confidence_interval.high)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boot.statistic, boot.confidence_interval, boot.bootstrap_distribution, boot.low, boot.high, boot.bias


def test_former_names_are_read_only():
    x, y = _pair(30, seed=12)
    perm = stats.permutation_test(x, y, "linear_cka", n_permutations=99, seed=0)
    with pytest.raises(AttributeError):
        perm.p_value = 0.5

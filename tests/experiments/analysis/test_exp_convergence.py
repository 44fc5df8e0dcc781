"""cca_core.experiments.analysis.convergence (crossing epochs, order of adjacent layers, intervals over networks,
permutation nulls) and cca_core.experiments.analysis.costs (best time, peak traced memory)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cca_core import mean_cca
from cca_core.experiments.analysis.convergence import (Order, adjacent_order, crossing_epochs, interval_over_networks,
                                              permutation_null)
from cca_core.experiments.analysis.costs import Cost, measure_cost


# ---------------------------------------------------------------------------------- crossing epochs
def test_crossing_is_interpolated_between_checkpoints():
    # layer 0 is there from the start, layer 1 crosses halfway between epochs 2 and 4, layer 2 never
    s = np.array([[0.95, 0.5, 0.1],
                  [0.97, 0.8, 0.2],
                  [0.99, 1.0, 0.3]])
    out = crossing_epochs(s, [0, 2, 4], 0.9)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(2 + (0.9 - 0.8) / (1.0 - 0.8) * 2)
    assert np.isnan(out[2])


def test_crossing_keeps_leading_axes_and_matches_a_loop(rng):
    s = np.sort(rng.uniform(size=(3, 6, 4)), axis=1)  # similarity rising over checkpoints
    epochs = np.array([0, 1, 2, 4, 6, 10])
    out = crossing_epochs(s, epochs, 0.5)
    assert out.shape == (3, 4)
    for n in range(3):
        for layer in range(4):
            curve = s[n, :, layer]
            k = int(np.argmax(curve >= 0.5)) if np.any(curve >= 0.5) else None
            if k is None:
                assert np.isnan(out[n, layer])
            elif k == 0:
                assert out[n, layer] == 0
            else:  # the straight line through the two checkpoints passes 0.5 at the crossing epoch
                assert np.interp(0.5, curve[k - 1:k + 1], epochs[k - 1:k + 1]) == pytest.approx(out[n, layer])
                assert epochs[k - 1] <= out[n, layer] <= epochs[k]


def test_crossing_bad_input():
    with pytest.raises(ValueError, match="n_checkpoints"):
        crossing_epochs(np.zeros(3), [0, 1, 2], 0.5)
    with pytest.raises(ValueError, match="3 checkpoints"):
        crossing_epochs(np.zeros((3, 2)), [0, 1], 0.5)
    with pytest.raises(ValueError, match="increasing"):
        crossing_epochs(np.zeros((3, 2)), [0, 2, 1], 0.5)
    with pytest.raises(ValueError, match="threshold"):
        crossing_epochs(np.zeros((3, 2)), [0, 1, 2], float("nan"))


# ------------------------------------------------------------------------------------------ order
def test_adjacent_order_counts_over_leading_axes():
    t = np.array([[0.0, 1.0, 1.0, 3.0],     # ordered, tied, ordered
                  [2.0, 1.0, np.nan, 4.0]])  # reversed, (nan), (nan)
    order = adjacent_order(t)
    assert order == Order(ordered=2, tied=1, reversed=1)
    assert order.pairs == 4 and order.ordered_fraction == 0.5
    assert adjacent_order(-t, increasing=False) == order
    assert adjacent_order(t, tolerance=1.0) == Order(ordered=1, tied=3, reversed=0)


def test_adjacent_order_bad_input():
    with pytest.raises(ValueError, match="2 layers"):
        adjacent_order(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="tolerance"):
        adjacent_order(np.zeros((3, 2)), tolerance=-1)
    assert np.isnan(adjacent_order(np.full((2, 3), np.nan)).ordered_fraction)


# -------------------------------------------------------------------------------------- intervals
def test_interval_brackets_the_mean_and_matches_a_slow_bootstrap(rng):
    v = rng.normal(size=(5, 3, 2))
    mean, low, high = interval_over_networks(v, confidence=0.9, n_resamples=4000, seed=1)
    np.testing.assert_allclose(mean, v.mean(axis=0))
    assert np.all(low <= mean) and np.all(mean <= high) and np.all(low < high)
    # independent reference: resample networks by hand, percentile interval of the means
    idx = np.random.default_rng(7).integers(0, 5, size=(20000, 5))
    means = v[idx].mean(axis=1)
    np.testing.assert_allclose(low, np.quantile(means, 0.05, axis=0), atol=0.08)
    np.testing.assert_allclose(high, np.quantile(means, 0.95, axis=0), atol=0.08)
    # every resampled mean lies within the networks' range
    assert np.all(low >= v.min(axis=0) - 1e-12) and np.all(high <= v.max(axis=0) + 1e-12)


def test_interval_where_networks_agree_and_for_one_network():
    v = np.array([[1.0, 0.2], [1.0, 0.4], [1.0, 0.9]])
    mean, low, high = interval_over_networks(v, seed=0)
    assert low[0] == high[0] == mean[0] == 1.0
    assert low[1] < mean[1] < high[1]
    mean1, low1, high1 = interval_over_networks(v[:1])
    np.testing.assert_array_equal(mean1, v[0])
    assert np.all(np.isnan(low1)) and np.all(np.isnan(high1))


def test_interval_bad_input():
    with pytest.raises(ValueError, match="confidence"):
        interval_over_networks(np.zeros((3, 2)), confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        interval_over_networks(np.zeros((3, 2)), n_resamples=0)
    with pytest.raises(ValueError, match="network"):
        interval_over_networks(np.zeros((0, 2)))


# ------------------------------------------------------------------------------ permutation null
def test_permutation_null_breaks_the_pairing_but_not_the_shapes(rng):
    x = rng.normal(size=(400, 3))
    y = x @ rng.normal(size=(3, 3)) + 0.1 * rng.normal(size=(400, 3))
    assert mean_cca(x, y) > 0.9
    null = permutation_null(x, y, mean_cca, n_permutations=20, seed=3)
    assert null.shape == (20,) and np.all(null < 0.3)
    np.testing.assert_array_equal(null, permutation_null(x, y, mean_cca, n_permutations=20, seed=3))
    # the rows of y are permuted as a whole: a similarity that only sees column sums is unchanged
    sums = permutation_null(x, y, lambda a, b: float(b.sum()), n_permutations=3)
    np.testing.assert_allclose(sums, y.sum())


def test_permutation_null_bad_input(rng):
    with pytest.raises(ValueError, match="same datapoints"):
        permutation_null(np.zeros((3, 2)), np.zeros((4, 2)), mean_cca, 2)
    with pytest.raises(ValueError, match="n_permutations"):
        permutation_null(np.zeros((3, 2)), np.zeros((3, 2)), mean_cca, 0)


# ------------------------------------------------------------------------------------------ costs
def test_measure_cost_returns_the_value_a_time_and_the_peak():
    calls = []

    def work():
        calls.append(1)
        a = np.ones(2_000_000)  # 16 MB, freed on return
        return float(a.sum())

    cost = measure_cost(work, repeats=2)
    assert isinstance(cost, Cost)
    assert cost.value == 2_000_000.0
    assert len(calls) == 3  # two timed calls and one traced
    assert cost.seconds >= 0
    assert 15.9 <= cost.peak_mb < 40
    assert not tracemalloc.is_tracing()


def test_measure_cost_inside_a_traced_region_leaves_tracing_on():
    tracemalloc.start()
    try:
        cost = measure_cost(lambda: np.zeros(1_000_000) + 1, repeats=1)
        assert tracemalloc.is_tracing()
        assert cost.peak_mb >= 7.9
    finally:
        tracemalloc.stop()


def test_measure_cost_bad_input():
    with pytest.raises(TypeError, match="callable"):
        measure_cost(3)
    with pytest.raises(ValueError, match="repeats"):
        measure_cost(lambda: None, repeats=0)


def test_measure_cost_keeps_every_timed_run():
    from cca_core.experiments.analysis.costs import measure_cost

    calls = []
    cost = measure_cost(lambda: calls.append(1) or len(calls), repeats=4)
    assert len(cost.times) == 4 and cost.seconds == min(cost.times) and cost.value == 4
    assert len(calls) == 5  # four timed calls and one traced

"""Clustering of distance matrices: against a slow UPGMA, pair-counting ARI and direct loops."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cca_core.experiments.analysis.clustering import (check_distance_matrix, cluster_matrix, group_order,  # noqa: E402
                                             permutation_ari, separation_test, within_between)


def _partition(labels) -> set[frozenset[int]]:
    out: dict = {}
    for i, g in enumerate(labels):
        out.setdefault(g, set()).add(i)
    return {frozenset(s) for s in out.values()}


def _random_distances(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 3))
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def _block_matrix(groups, within=0.1, between=0.9, noise=0.02, seed=0) -> np.ndarray:
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    d = np.where(groups[:, None] == groups[None], within, between) + noise * rng.random((len(groups),) * 2)
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    return d


def _slow_upgma(d: np.ndarray, k: int) -> set[frozenset[int]]:
    """Average linkage by definition: merge the two clusters with the smallest mean pairwise distance."""
    clusters = [frozenset([i]) for i in range(len(d))]
    while len(clusters) > k:
        best = None
        for a, b in itertools.combinations(range(len(clusters)), 2):
            avg = np.mean([d[i, j] for i in clusters[a] for j in clusters[b]])
            if best is None or avg < best[0]:
                best = (avg, a, b)
        _, a, b = best
        merged = clusters[a] | clusters[b]
        clusters = [c for m, c in enumerate(clusters) if m not in (a, b)] + [merged]
    return set(clusters)


def _ari_by_pair_counting(a, b) -> float:
    """Hubert & Arabie's ARI from the contingency table, written out."""
    a, b = np.asarray(a), np.asarray(b)
    ua, ub = np.unique(a), np.unique(b)
    table = np.array([[np.sum((a == x) & (b == y)) for y in ub] for x in ua])
    index = sum(comb(int(v), 2) for v in table.ravel())
    rows = sum(comb(int(v), 2) for v in table.sum(1))
    cols = sum(comb(int(v), 2) for v in table.sum(0))
    expected = rows * cols / comb(len(a), 2)
    return (index - expected) / (0.5 * (rows + cols) - expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_average_linkage_matches_slow_upgma(seed, k):
    d = _random_distances(9, seed)
    labels, z = cluster_matrix(d, k)
    assert z.shape == (8, 4)
    assert _partition(labels) == _slow_upgma(d, k)


def test_block_matrix_recovers_groups():
    groups = np.repeat([0.001, 0.01, 0.1], 4)
    labels, _ = cluster_matrix(_block_matrix(groups), 3)
    assert _partition(labels) == _partition(groups)


@pytest.mark.parametrize("seed", range(3))
def test_ari_against_pair_counting(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, 15)
    clusters = rng.integers(0, 4, 15)
    res = permutation_ari(groups, clusters, n_permutations=20, seed=seed)
    assert res.observed == pytest.approx(_ari_by_pair_counting(groups, clusters), abs=1e-12)
    assert res.null.shape == (20,)
    assert res.p_value == pytest.approx((1 + np.sum(res.null >= res.observed - 1e-12)) / 21)


def test_perfect_clusters_give_ari_one_and_small_p():
    groups = np.repeat(["a", "b", "c", "d"], 5)
    clusters = np.repeat([7, 3, 9, 1], 5)  # same partition, other names
    res = permutation_ari(groups, clusters, n_permutations=200, seed=1)
    assert res.observed == pytest.approx(1.0)
    # a random relabelling of 20 items into 4 groups of 5 reproduces the partition with prob ~1e-10
    assert res.p_value == pytest.approx(1 / 201)
    assert 0 < res.p_value <= 1


def test_within_between_against_loops():
    d = _random_distances(7, 3)
    groups = np.array([0, 1, 0, 2, 1, 0, 2])
    w, b = within_between(d, groups)
    w_ref = [d[i, j] for i in range(7) for j in range(i + 1, 7) if groups[i] == groups[j]]
    b_ref = [d[i, j] for i in range(7) for j in range(i + 1, 7) if groups[i] != groups[j]]
    np.testing.assert_allclose(w, w_ref)
    np.testing.assert_allclose(b, b_ref)
    assert len(w) + len(b) == comb(7, 2)


def test_separation_test_statistic_and_direction():
    groups = np.repeat([0, 1, 2], 4)
    d = _block_matrix(groups)
    res = separation_test(d, groups, n_permutations=100, seed=0)
    w, b = within_between(d, groups)
    assert res.observed == pytest.approx(b.mean() - w.mean())
    assert res.observed > 0.7
    assert res.p_value == pytest.approx(1 / 101)
    # unrelated labels: the observed value is an ordinary draw from the null, not an extreme one
    d0 = _random_distances(12, 5)
    res0 = separation_test(d0, groups, n_permutations=200, seed=0)
    assert 0.02 < res0.p_value <= 1


def test_group_order_and_boundaries():
    lrs = np.array([0.1, 0.01, 0.1, 0.001, 0.01, 0.001])
    order, starts = group_order(lrs)
    assert list(lrs[order]) == [0.001, 0.001, 0.01, 0.01, 0.1, 0.1]
    assert list(order) == [3, 5, 1, 4, 0, 2]  # stable within a group
    assert starts == [2, 4]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3)), "square"),
    (np.zeros((1, 1)), "at least 2"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.array([[0.0, 1.0], [2.0, 0.0]]), "symmetric"),
    (np.array([[1.0, 1.0], [1.0, 0.0]]), "diagonal"),
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
])
def test_bad_matrices_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        check_distance_matrix(bad)


def test_bad_arguments_are_refused():
    d = _random_distances(5, 0)
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_matrix(d, 6)
    with pytest.raises(ValueError, match="method"):
        cluster_matrix(d, 2, method="ward")
    with pytest.raises(ValueError, match="one label per item"):
        within_between(d, [0, 1])
    with pytest.raises(ValueError, match="n_permutations"):
        permutation_ari([0, 1], [0, 1], n_permutations=0)
    with pytest.raises(ValueError, match="at least one group"):
        separation_test(d, [0, 1, 2, 3, 4])

"""Groups of networks in a distance matrix: hierarchical clusters, agreement with known groups, separation.

Morcos et al. (2018, section 3.3, figure 5) cluster networks of one topology trained with different
learning rates by their pairwise PWCCA distances and find that the clusters follow the learning
rates. The helpers here take a symmetric distance matrix ``D`` (``n x n``, zero diagonal, e.g. from
:func:`cca_core.experiments.analysis.compare.pairwise_matrix` with ``symmetric=True``) and known group labels:

- :func:`cluster_matrix` -- agglomerative clustering (:func:`scipy.cluster.hierarchy.linkage` on the
  condensed matrix) cut into a given number of clusters;
- :func:`permutation_ari` -- adjusted Rand index (Hubert & Arabie 1985) of clusters against labels,
  with a permutation null (labels shuffled) and its one-sided p-value;
- :func:`within_between` / :func:`separation_test` -- mean distance of pairs in the same group vs
  pairs in different groups, with a permutation p-value for "same-group pairs are closer"
  (:func:`cca_core.stats.group_permutation_test` does the work).

:func:`check_distance_matrix` is :func:`cca_core.validation.check_distance_matrix`; the results are
:class:`cca_core.stats.PermutationResult` (``statistic``/``observed``, ``pvalue``/``p_value``,
``null_distribution``/``null``, ``min_p_value``).

scipy and scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cca_core.stats import NETWORK_RESAMPLES, PermutationResult, label_permutation_test
from cca_core.validation import check_count, check_distance_matrix, check_int

__all__ = ["check_distance_matrix", "cluster_matrix", "PermutationResult", "permutation_ari",
           "within_between", "separation_test", "group_order"]


def _labels(labels: Sequence[Any], n: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have one label per item ({n}), got shape {labels.shape}")
    return labels


def cluster_matrix(d: Any, n_clusters: int, method: str = "average") -> tuple[np.ndarray, np.ndarray]:
    """Agglomerative clustering of a distance matrix, cut into at most ``n_clusters`` clusters.

    Parameters
    ----------
    d : array_like, shape (n, n)
        Symmetric distances, zero diagonal.
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= n`` (``fcluster(..., criterion="maxclust")``).
    method : str
        Linkage: ``"average"`` (UPGMA, default), ``"single"``, ``"complete"``, ``"weighted"``
        (methods that need Euclidean inputs are refused).

    Returns
    -------
    labels : ndarray of int, shape (n,)
        Cluster of each item, ``1 .. k``.
    linkage : ndarray, shape (n - 1, 4)
        The scipy linkage matrix (for :func:`scipy.cluster.hierarchy.dendrogram`).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    d = check_distance_matrix(d)
    n = d.shape[0]
    n_clusters = check_int("n_clusters", n_clusters, 1)
    if n_clusters > n:
        raise ValueError(f"n_clusters must be an integer in 1..{n}, got {n_clusters!r}")
    allowed = ("average", "single", "complete", "weighted")
    if method not in allowed:
        raise ValueError(f"method must be one of {allowed} (others need Euclidean data), got {method!r}")
    sym = 0.5 * (d + d.T)
    np.fill_diagonal(sym, 0.0)
    z = linkage(squareform(sym, checks=False), method=method)
    return fcluster(z, t=int(n_clusters), criterion="maxclust").astype(int), z


def _p_value(observed: float, null: np.ndarray) -> float:
    # a small tolerance so that permutations reproducing the observed value count as ">="
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + null.size))


def permutation_ari(groups: Sequence[Any], clusters: Sequence[Any], n_permutations: int = NETWORK_RESAMPLES,
                    seed: int = 0) -> PermutationResult:
    """Adjusted Rand index of ``clusters`` against ``groups``, with a label-permutation null.

    The null shuffles ``groups`` (``numpy.random.default_rng(seed).permutation``) and recomputes the
    ARI against the same clusters; the p-value is the fraction of shuffles scoring at least the
    observed ARI, ``(1 + #{null >= observed}) / (1 + n_permutations)`` (never 0; Phipson & Smyth
    2010), whose smallest value is ``min_p_value = 1 / (1 + n_permutations)``. ARI is 1 for identical
    partitions and about 0 (can be negative) for unrelated ones. ``n_permutations`` >= 1.

    Returns
    -------
    cca_core.stats.PermutationResult
    """
    from sklearn.metrics import adjusted_rand_score

    groups = np.asarray(groups)
    clusters = _labels(clusters, len(groups), "clusters")
    n_permutations = check_count("n_permutations", n_permutations, minimum=1)
    observed = float(adjusted_rand_score(groups, clusters))
    rng = np.random.default_rng(seed)
    null = np.array([adjusted_rand_score(rng.permutation(groups), clusters) for _ in range(n_permutations)])
    return PermutationResult(observed, _p_value(observed, null), null, 1.0 / (1 + n_permutations), n_permutations,
                             False, "greater", seed)


def within_between(d: Any, groups: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Distances of unordered pairs ``i < j`` in the same group and in different groups.

    Returns
    -------
    within, between : ndarray
        ``D[i, j]`` for pairs with ``groups[i] == groups[j]`` and for the others, in row-major
        order of ``(i, j)``.
    """
    d = check_distance_matrix(d)
    groups = _labels(groups, d.shape[0], "groups")
    i, j = np.triu_indices(d.shape[0], 1)
    same = groups[i] == groups[j]
    return d[i[same], j[same]], d[i[~same], j[~same]]


def separation_test(d: Any, groups: Sequence[Any], n_permutations: int = NETWORK_RESAMPLES,
                    seed: int = 0) -> PermutationResult:
    """Are pairs within a group closer than pairs across groups? A permutation test.

    Statistic: ``mean(between) - mean(within)`` (:func:`within_between`), positive when same-group
    pairs are closer. The null shuffles the group labels (items are exchangeable under "groups do
    not matter"), which respects the dependence between pairs that share an item. This is
    :func:`cca_core.stats.label_permutation_test` (which see) with any ``n_permutations >= 1``:
    every labeling is enumerated when there are at most ``n_permutations`` of them (an exact test,
    whose smallest p-value is ``min_p_value``, e.g. 1/10 at 3 vs 3), random ones are drawn otherwise.

    Raises
    ------
    ValueError
        No within-group pair or no between-group pair.
    """
    d = check_distance_matrix(d)
    groups = _labels(groups, d.shape[0], "groups")
    res = label_permutation_test(d, groups, n_permutations, "greater", seed)
    return PermutationResult(res.statistic, res.pvalue, res.null_distribution, res.min_p_value, res.n_permutations,
                             res.exact, res.alternative, seed)


def group_order(groups: Sequence[Any], keys: Sequence[Any] | None = None) -> tuple[np.ndarray, list[int]]:
    """Indices that sort items by group (stable, so items keep their order within a group), and
    the positions in that order where a new group starts (boundaries for a heatmap).

    ``keys`` (default the groups) gives the sort key of each item, e.g. the learning rate.
    """
    groups = np.asarray(groups)
    keys = groups if keys is None else _labels(keys, len(groups), "keys")
    order = np.argsort(keys, kind="stable")
    sorted_groups = groups[order]
    starts = [k for k in range(1, len(order)) if sorted_groups[k] != sorted_groups[k - 1]]
    return order, starts

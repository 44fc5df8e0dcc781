"""compare: the engine-backed helpers equal a plain loop over the single-pair distance functions."""

from __future__ import annotations

import numpy as np
import pytest

import cca_core
from cca_core.experiments.analysis.compare import between_pairs, pairwise_matrix, summarize, within_pairs

DISTANCES = [cca_core.pwcca_distance, cca_core.mean_cca_distance, cca_core.svcca_distance,
             cca_core.linear_cka_distance]


def _networks(k: int, seed: int = 0, n: int = 150) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 6))
    return [z @ rng.standard_normal((6, 12)) + 0.7 * rng.standard_normal((n, 12)) + rng.normal(0, 2, 12)
            for _ in range(k)]


def _loop(acts, fn, symmetric):
    k = len(acts)
    d = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                d[i, j] = fn(acts[i], acts[j])
    return 0.5 * (d + d.T) if symmetric else d


@pytest.mark.parametrize("fn", DISTANCES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("symmetric", [False, True])
def test_pairwise_matrix_equals_the_loop(fn, symmetric):
    acts = _networks(4)
    expected = _loop(acts, fn, symmetric)
    np.testing.assert_allclose(pairwise_matrix(acts, fn, symmetric=symmetric), expected, atol=1e-10, rtol=0)
    # a measure name and an arbitrary callable (no engine) give the same matrix
    name = fn.__name__.removesuffix("_distance")
    np.testing.assert_allclose(pairwise_matrix(acts, name, symmetric=symmetric), expected, atol=1e-10, rtol=0)
    np.testing.assert_allclose(pairwise_matrix(acts, lambda a, b: fn(a, b), symmetric=symmetric), expected,
                               atol=1e-12, rtol=0)


def test_within_and_between_pairs():
    a, b = _networks(3, seed=1), _networks(2, seed=2)
    fn = cca_core.pwcca_distance
    within = within_pairs(a, fn)
    assert within.shape == (3,)
    np.testing.assert_allclose(within, [0.5 * (fn(a[i], a[j]) + fn(a[j], a[i])) for i, j in [(0, 1), (0, 2), (1, 2)]],
                               atol=1e-10, rtol=0)
    between = between_pairs(a, b, fn)
    np.testing.assert_allclose(between, [0.5 * (fn(x, y) + fn(y, x)) for x in a for y in b], atol=1e-10, rtol=0)
    np.testing.assert_allclose(between_pairs(a, b, lambda x, y: fn(x, y)), between, atol=1e-10, rtol=0)


def test_errors_and_summary():
    acts = _networks(2)
    with pytest.raises(ValueError, match="known measures"):
        pairwise_matrix(acts, "cosine")
    with pytest.raises(ValueError, match="at least 2"):
        within_pairs(acts[:1], cca_core.pwcca_distance)
    assert pairwise_matrix(acts[:1], cca_core.pwcca_distance).shape == (1, 1)
    mean, std = summarize([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)

"""compare: the engine-backed helpers equal a plain loop over the single-pair distance functions."""

from __future__ import annotations

import numpy as np
import pytest

import cca_core
from cca_core import pwcca
from cca_core.experiments.analysis.compare import chance_distance, pairwise_matrix

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


def test_errors():
    acts = _networks(2)
    with pytest.raises(ValueError, match="known measures"):
        pairwise_matrix(acts, "cosine")
    assert pairwise_matrix(acts[:1], cca_core.pwcca_distance).shape == (1, 1)


def test_chance_distance_is_the_distance_of_unrelated_data():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    level, lo, hi = chance_distance(x, x @ rng.standard_normal((8, 8)) + 0.3 * rng.standard_normal((300, 8)),
                                    "pwcca", n_permutations=199)
    assert lo <= level <= hi < 1.0
    fresh = [1 - 0.5 * (pwcca(a, b) + pwcca(b, a)) for a, b in
             ((rng.standard_normal((300, 8)), rng.standard_normal((300, 8))) for _ in range(5))]
    assert all(lo - 0.02 <= v <= hi + 0.02 for v in fresh)  # unrelated pairs sit in the chance band
    related = 1 - 0.5 * (pwcca(x, x + 0.1 * y) + pwcca(x + 0.1 * y, x))
    assert related < lo

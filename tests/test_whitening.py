"""Cholesky whitening where the covariance is well conditioned, eigendecomposition otherwise: same answers."""

from __future__ import annotations

import numpy as np
import pytest

import cca_core
from cca_core import canonical

import reference


def _pair(seed, n=400, dx=12, dy=9):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx)) @ rng.standard_normal((dx, dx)) + rng.normal(0, 3, dx)
    y = x[:, :dy] @ rng.standard_normal((dy, dy)) + rng.standard_normal((n, dy))
    return x, y


@pytest.mark.parametrize("seed", range(4))
def test_cholesky_whitener_whitens(seed):
    x, _ = _pair(seed)
    cov = np.cov(x, rowvar=False)
    w = canonical.whitener(cov)
    assert w.chol is not None, "well-conditioned covariance should take the Cholesky path"
    full = w.weights(np.eye(w.rank))
    np.testing.assert_allclose(full.T @ cov @ full, np.eye(w.rank), atol=1e-12)
    np.testing.assert_allclose(w.left(cov), full.T @ cov, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_cholesky_and_eigen_paths_agree(seed, monkeypatch):
    x, y = _pair(seed)
    fast = (cca_core.cca(x, y), cca_core.pwcca(x, y), cca_core.pwcca(y, x), cca_core.mean_cca(x, y))
    monkeypatch.setattr(canonical, "CHOLESKY_RCOND", np.inf)  # every whitening by eigendecomposition
    slow = (cca_core.cca(x, y), cca_core.pwcca(x, y), cca_core.pwcca(y, x), cca_core.mean_cca(x, y))
    np.testing.assert_allclose(fast[0].correlations, slow[0].correlations, atol=1e-10, rtol=0)
    np.testing.assert_allclose(fast[1:], slow[1:], atol=1e-10, rtol=0)
    # Canonical variates from either whitening are uncorrelated with unit variance.
    xc = x - x.mean(axis=0)
    h = xc @ fast[0].x_weights
    np.testing.assert_allclose(h.T @ h / (x.shape[0] - 1), np.eye(h.shape[1]), atol=1e-10)
    np.testing.assert_allclose(fast[0].correlations, reference.cca_correlations(x, y), atol=1e-10)


def test_rank_deficient_takes_the_eigen_path():
    x, _ = _pair(0)
    dup = np.hstack([x, x[:, :2] * 2.0 + 1.0])  # two duplicated neurons: singular correlation matrix
    w = canonical.whitener(np.cov(dup, rowvar=False))
    assert w.chol is None and w.rank == x.shape[1]


def test_ill_conditioned_takes_the_eigen_path():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((500, 6))
    x = np.hstack([base, base[:, :1] + 1e-4 * rng.standard_normal((500, 1))])  # correlation ~ 1 - 5e-9
    w = canonical.whitener(np.cov(x, rowvar=False))
    assert w.chol is None and w.rank == 7

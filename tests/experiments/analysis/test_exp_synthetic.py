"""Synthetic signal + noise pairs and PCA reduction by explained variance (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments.analysis.synthetic import pca_keep_count, pca_reduce, random_orthogonal, signal_noise_pair


@pytest.mark.parametrize("n", [1, 2, 7])
def test_random_orthogonal_is_orthogonal(n):
    q = random_orthogonal(n, np.random.default_rng(n))
    np.testing.assert_allclose(q.T @ q, np.eye(n), atol=1e-12)


def test_random_orthogonal_is_not_biased_towards_identity():
    # Haar measure: E[Q] = 0, so the mean of many draws' diagonal is near 0 (QR without the sign
    # fix gives a positive-diagonal bias of R's signs moved into Q).
    rng = np.random.default_rng(0)
    diag = np.mean([np.diag(random_orthogonal(3, rng)) for _ in range(2000)], axis=0)
    assert np.all(np.abs(diag) < 0.06)


@pytest.mark.parametrize("k", [0, 1, 5, 12])
def test_signal_noise_pair_structure(k):
    n, p, std = 4000, 12, 0.3
    x, y = signal_noise_pair(k, n_neurons=p, n_datapoints=n, noise_std=std, rng=1)
    assert x.shape == y.shape == (n, p)
    # Y's signal block is an orthonormal map of X's: least squares recovers an orthogonal Q exactly.
    if k:
        q, *_ = np.linalg.lstsq(x[:, :k], y[:, :k], rcond=None)
        np.testing.assert_allclose(x[:, :k] @ q, y[:, :k], atol=1e-10)
        np.testing.assert_allclose(q.T @ q, np.eye(k), atol=1e-10)
        np.testing.assert_allclose(x[:, :k].std(axis=0), 1.0, atol=0.05)
    # Noise blocks: the asked standard deviation, independent of each other and of the signal.
    if k < p:
        np.testing.assert_allclose(x[:, k:].std(axis=0), std, rtol=0.06)
        np.testing.assert_allclose(y[:, k:].std(axis=0), std, rtol=0.06)
        c = np.corrcoef(np.hstack([x, y[:, k:]]).T)
        off = c[np.triu_indices_from(c, 1)]
        assert np.max(np.abs(off)) < 0.08  # ~5 standard errors at n = 4000


def test_signal_noise_pair_is_reproducible_and_seed_dependent():
    a = signal_noise_pair(3, 10, 50, 0.1, rng=7)
    b = signal_noise_pair(3, 10, 50, 0.1, rng=np.random.default_rng(7))
    c = signal_noise_pair(3, 10, 50, 0.1, rng=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_signal_noise_pair_zero_noise_and_full_signal():
    x, y = signal_noise_pair(2, 4, 30, noise_std=0.0, rng=0)
    np.testing.assert_array_equal(x[:, 2:], 0.0)
    x, y = signal_noise_pair(4, 4, 30, noise_std=0.5, rng=0)
    q, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(x @ q, y, atol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_signal=5, n_neurons=4), "n_signal"),
    (dict(n_signal=-1), "n_signal"),
    (dict(n_signal=1, n_neurons=0), "n_neurons"),
    (dict(n_signal=1, n_datapoints=1), "n_datapoints"),
    (dict(n_signal=1, noise_std=-0.1), "noise_std"),
    (dict(n_signal=1, noise_std=float("nan")), "noise_std"),
    (dict(n_signal=1.5), "n_signal"),
])
def test_signal_noise_pair_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        signal_noise_pair(**kwargs)


def test_pca_keep_count_by_hand():
    # variances 5, 3, 1, 1 (total 10): cumulative 0.5, 0.8, 0.9, 1.0
    v = np.array([1.0, 5.0, 1.0, 3.0])
    assert pca_keep_count(v, 0.5) == 1
    assert pca_keep_count(v, 0.51) == 2
    assert pca_keep_count(v, 0.8) == 2
    assert pca_keep_count(v, 0.85) == 3
    assert pca_keep_count(v, 0.99) == 4
    assert pca_keep_count(v, 1.0) == 4
    assert pca_keep_count(np.zeros(3), 0.9) == 1
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError):
            pca_keep_count(v, bad)


def test_pca_reduce_keeps_the_variance_asked_for():
    rng = np.random.default_rng(3)
    scales = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.1])
    x = rng.standard_normal((500, 6)) * scales @ random_orthogonal(6, rng) + 3.0
    # independent reference: eigenvalues of the sample covariance, in decreasing order
    evals = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    for fraction in (0.5, 0.9, 0.99, 0.9999, 1.0):
        z = pca_reduce(x, fraction)
        r = z.shape[1]
        assert np.sum(evals[:r]) >= fraction * evals.sum() - 1e-9
        if r > 1:
            assert np.sum(evals[:r - 1]) < fraction * evals.sum()
        # scores are centred, uncorrelated and carry the leading eigenvalues as variances
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(np.cov(z.T).reshape(r, r), np.diag(evals[:r]), atol=1e-8 * evals[0])


def test_pca_reduce_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        pca_reduce(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        pca_reduce(np.array([[1.0, np.nan], [2.0, 3.0]]))

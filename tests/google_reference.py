"""Slow, literal re-implementation of google/svcca's documented CCA / PWCCA algorithm.

Written from the algorithm's description (not from google's code, and sharing nothing with
``cca_core``) to serve as an independent reference for :mod:`cca_core.compat`. Arrays are google's
layout ``(n_neurons, n_datapoints)``. Everything is done the plain way: ``np.cov`` for the
covariance, ``np.linalg.pinv`` then an eigendecomposition for the inverse square root, a full SVD,
a Python loop for the threshold and ``np.linalg.qr`` for PWCCA's orthonormalization.

Differences from google/svcca's code, on purpose:

* ``compute_pwcca`` uses ``acts2`` when the second side has fewer kept neurons (google used
  ``acts1`` there and crashed), and subtracts the *kept* neurons' means.
* No ``assert`` on neurons < datapoints.

It is only meant for well-conditioned input: on rank-deficient covariances the square root of the
pseudo-inverse's negative rounding-error eigenvalues gives NaN (and a RuntimeWarning), as in google's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sum_threshold", "get_cca_similarity", "compute_pwcca"]


def sum_threshold(array, threshold):
    """First ``i`` in ``range(len(array))`` with ``sum(array[:i]) / sum(array) >= threshold``, else None."""
    assert 0.0 <= threshold <= 1.0
    total = np.sum(array)
    for i in range(len(array)):
        if np.sum(array[:i]) / total >= threshold:
            return i
    return None


def _matrix_sqrt_psd(a):
    """Square root of a symmetric matrix via ``eigh``: ``v @ diag(sqrt(w)) @ v.T``."""
    w, v = np.linalg.eigh(a)
    return v @ np.diag(np.sqrt(w)) @ v.T


def _embed(block, mask):
    n = mask.size
    full = np.zeros((n, n))
    full[np.ix_(mask, mask)] = block
    return full


def get_cca_similarity(acts1, acts2, epsilon=0.0, threshold=0.98, compute_coefs=True,
                       compute_dirns=False, verbose=False):
    acts1 = np.asarray(acts1, dtype=np.float64)
    acts2 = np.asarray(acts2, dtype=np.float64)
    numx, numy = acts1.shape[0], acts2.shape[0]

    cov = np.cov(acts1, acts2)  # ddof=1, rows are variables
    sxx = cov[:numx, :numx].copy()
    sxy = cov[:numx, numx:].copy()
    syx = cov[numx:, :numx].copy()
    syy = cov[numx:, numx:].copy()

    xmax = np.max(np.abs(sxx))
    ymax = np.max(np.abs(syy))
    sxx /= xmax
    syy /= ymax
    sxy /= np.sqrt(xmax * ymax)
    syx /= np.sqrt(xmax * ymax)

    x_idxs = np.abs(np.diagonal(sxx)) >= epsilon
    y_idxs = np.abs(np.diagonal(syy)) >= epsilon

    out = {}
    if not x_idxs.any() or not y_idxs.any():
        out["mean"] = (0, 0)
        out["sum"] = (0, 0)
        out["cca_coef1"] = 0
        out["cca_coef2"] = 0
        out["idx1"] = 0
        out["idx2"] = 0
        if compute_dirns:
            out["cca_dirns1"] = np.zeros((1, acts1.shape[1]))
            out["cca_dirns2"] = np.zeros((1, acts2.shape[1]))
        return out

    sxx = sxx[np.ix_(x_idxs, x_idxs)]
    sxy = sxy[np.ix_(x_idxs, y_idxs)]
    syx = syx[np.ix_(y_idxs, x_idxs)]
    syy = syy[np.ix_(y_idxs, y_idxs)]
    kx, ky = sxx.shape[0], syy.shape[0]

    sxx = sxx + epsilon * np.eye(kx)
    syy = syy + epsilon * np.eye(ky)
    invsqrt_xx = _matrix_sqrt_psd(np.linalg.pinv(sxx))
    invsqrt_yy = _matrix_sqrt_psd(np.linalg.pinv(syy))

    arr = invsqrt_xx @ sxy @ invsqrt_yy
    u, s, v = np.linalg.svd(arr)  # full_matrices=True
    s = np.abs(s)

    means1 = np.mean(acts1, axis=1, keepdims=True)
    means2 = np.mean(acts2, axis=1, keepdims=True)
    if compute_coefs:
        out["coef_x"] = u.T
        out["invsqrt_xx"] = invsqrt_xx
        out["full_coef_x"] = _embed(u.T, x_idxs)
        out["full_invsqrt_xx"] = _embed(invsqrt_xx, x_idxs)
        out["coef_y"] = v
        out["invsqrt_yy"] = invsqrt_yy
        out["full_coef_y"] = _embed(v, y_idxs)
        out["full_invsqrt_yy"] = _embed(invsqrt_yy, y_idxs)
        out["neuron_means1"] = means1
        out["neuron_means2"] = means2
    if compute_dirns:
        fcx = _embed(u.T, x_idxs)
        fix = _embed(invsqrt_xx, x_idxs)
        fcy = _embed(v, y_idxs)
        fiy = _embed(invsqrt_yy, y_idxs)
        out["cca_dirns1"] = fcx @ fix @ (acts1 - means1) + means1
        out["cca_dirns2"] = fcy @ fiy @ (acts2 - means2) + means2

    idx = sum_threshold(s, threshold)
    out["cca_coef1"] = s
    out["cca_coef2"] = s
    out["x_idxs"] = x_idxs
    out["y_idxs"] = y_idxs
    out["mean"] = (np.mean(s[:idx]), np.mean(s[:idx]))
    out["sum"] = (np.sum(s), np.sum(s))
    return out


def compute_pwcca(acts1, acts2, epsilon=0.0):
    """google's ``compute_pwcca`` with its ``acts1``/``acts2`` mix-up corrected."""
    acts1 = np.asarray(acts1, dtype=np.float64)
    acts2 = np.asarray(acts2, dtype=np.float64)
    res = get_cca_similarity(acts1, acts2, epsilon=epsilon, compute_dirns=False, verbose=False)
    if np.sum(res["x_idxs"]) <= np.sum(res["y_idxs"]):
        idxs = res["x_idxs"]
        means = res["neuron_means1"][idxs]
        dirns = res["coef_x"] @ (acts1[idxs] - means) + means
        coefs = res["cca_coef1"]
        acts = acts1
    else:
        idxs = res["y_idxs"]
        means = res["neuron_means2"][idxs]
        dirns = res["coef_y"] @ (acts2[idxs] - means) + means
        coefs = res["cca_coef2"]
        acts = acts2
    P, _ = np.linalg.qr(dirns.T)
    weights = np.sum(np.abs(P.T @ acts[idxs].T), axis=1)
    weights = weights / np.sum(weights)
    return np.sum(weights * coefs), weights, coefs

"""Centered kernel alignment (Kornblith, Norouzi, Lee & Hinton 2019).

``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` for Gram matrices ``K`` of X and ``L`` of Y.
Linear CKA only needs the covariance blocks (one pass, streaming). The debiased version uses the
unbiased HSIC estimator of Song et al. (2012), which also needs each datapoint's squared norm
(a second pass). RBF CKA needs the ``n x n`` Gram matrices and is in-memory only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_cka_from_covariances", "debiased_linear_cka_from_data", "rbf_cka_from_data"]


def linear_cka_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray) -> float:
    """Linear CKA ``||Sxy||_F^2 / (||Sxx||_F ||Syy||_F)`` (Kornblith et al. 2019, eq. 5).

    The feature-space form of ``tr(Kc Lc) / sqrt(tr(Kc Kc) tr(Lc Lc))`` with ``K = Xc Xc^T``.
    """
    denom = np.linalg.norm(sxx) * np.linalg.norm(syy)
    return float(np.clip(np.sum(sxy * sxy) / denom, 0.0, 1.0)) if denom > 0 else 0.0


def _unbiased_hsic(cross_fro2: float, a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased HSIC (Song et al. 2012, eq. 5) for linear kernels on centred data, times n(n-3).

    With ``K = Xc Xc^T``, ``a = diag(K)``, ``L = Yc Yc^T``, ``b = diag(L)`` and ``K~, L~`` the Gram
    matrices with zeroed diagonals: ``tr(K~L~) = ||Xc^T Yc||^2 - a.b``, ``1^T K~ 1 = -sum(a)``
    (centred data) and ``1^T K~ L~ 1 = a.b``, so the estimator's bracket is
    ``||Xc^T Yc||^2 - n/(n-2) a.b + sum(a) sum(b) / ((n-1)(n-2))``.
    """
    n = a.size
    return cross_fro2 - n / (n - 2) * float(a @ b) + float(a.sum() * b.sum()) / ((n - 1) * (n - 2))


def debiased_linear_cka_from_data(x: np.ndarray, y: np.ndarray, mean_x: np.ndarray,
                                  mean_y: np.ndarray, sxx: np.ndarray, sxy: np.ndarray,
                                  syy: np.ndarray, chunk_rows: int = 4096) -> float:
    """Debiased linear CKA from the covariance blocks plus a chunked pass for row norms."""
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 datapoints, got {n}")
    a = np.empty(n)
    b = np.empty(n)
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        a[start:stop] = np.sum((x[start:stop] - mean_x) ** 2, axis=1)
        b[start:stop] = np.sum((y[start:stop] - mean_y) ** 2, axis=1)
    scale2 = float(n - 1) ** 2  # covariance (ddof=1) back to centred Gram sums
    hxy = _unbiased_hsic(scale2 * np.sum(sxy * sxy), a, b)
    hxx = _unbiased_hsic(scale2 * np.sum(sxx * sxx), a, a)
    hyy = _unbiased_hsic(scale2 * np.sum(syy * syy), b, b)
    denom = np.sqrt(hxx * hyy) if hxx > 0 and hyy > 0 else 0.0
    # The debiased estimate can be slightly negative for unrelated data, so it is only capped at 1
    # (by Cauchy-Schwarz it cannot exceed 1 but for rounding).
    return float(min(hxy / denom, 1.0)) if denom > 0 else 0.0


def _rbf_gram(x: np.ndarray, threshold: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    sq = np.sum(x * x, axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)
    np.fill_diagonal(d2, 0.0)
    med = np.median(d2)  # over all n^2 pairs, the diagonal's zeros included (Kornblith et al.)
    if med <= 0:
        raise ValueError("RBF CKA: the median squared distance between datapoints is 0; "
                         "more than half of the datapoints coincide")
    return np.exp(-d2 / (2.0 * threshold**2 * med))


def _centred_hsic(kc: np.ndarray, lc: np.ndarray) -> float:
    return float(np.sum(kc * lc))


def _centre(k: np.ndarray) -> np.ndarray:
    row = k.mean(axis=0)
    return k - row[None, :] - row[:, None] + row.mean()


def rbf_cka_from_data(x: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    """CKA with Gaussian kernels ``exp(-||x_i - x_j||^2 / (2 sigma^2))``.

    ``sigma = threshold * sqrt(median squared distance)``, the bandwidth rule of Kornblith et al.
    (2019), the median taken over all ``n^2`` pairs. Memory is ``O(n^2)``.
    """
    if not threshold > 0:
        raise ValueError(f"threshold (bandwidth as a fraction of the median distance) must be > 0, "
                         f"got {threshold}")
    kc = _centre(_rbf_gram(x, threshold))
    lc = _centre(_rbf_gram(y, threshold))
    denom = np.sqrt(_centred_hsic(kc, kc) * _centred_hsic(lc, lc))
    return float(np.clip(_centred_hsic(kc, lc) / denom, 0.0, 1.0)) if denom > 0 else 0.0

"""Slow, independent reference implementations of the similarity measures.

Written directly from the published formulas, on the data (never on covariance blocks, which is
what cca_core works from), so that agreement with cca_core is evidence, not a tautology:

* CCA by QR of the centred data (Björck & Golub 1973): with ``Xc = Qx Rx`` and ``Yc = Qy Ry``,
  the canonical correlations are the singular values of ``Qx^T Qy``, and the canonical weights are
  ``Rx^-1 U`` (``U`` the left singular vectors); an mpmath version solves the generalized
  eigenproblem ``Sxx^-1 Sxy Syy^-1 Syx a = rho^2 a`` at 40 digits instead.
* PWCCA from Morcos, Raghu & Bengio (2018), eq. 2, on the canonical variates themselves.
* CKA from Kornblith et al. (2019) with explicit ``n x n`` Gram matrices and centring matrix ``H``;
  the debiased version with Song et al.'s (2012) unbiased HSIC estimator written out term by term.
* SVCCA from Raghu et al. (2017): SVD of the centred data, then the reference CCA.

Inputs are expected well-conditioned and full rank (no rank truncation is attempted here).
"""

from __future__ import annotations

import mpmath
import numpy as np


def centre(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x - x.mean(axis=0)


# ---------------------------------------------------------------------------------------- CCA
def _qr_svd(x: np.ndarray, y: np.ndarray, center: bool = True):
    xc = centre(x) if center else np.asarray(x, dtype=np.float64)
    yc = centre(y) if center else np.asarray(y, dtype=np.float64)
    qx, rx = np.linalg.qr(xc)
    qy, ry = np.linalg.qr(yc)
    u, s, vt = np.linalg.svd(qx.T @ qy, full_matrices=False)
    return xc, yc, qx, rx, qy, ry, u, s, vt


def cca_correlations(x: np.ndarray, y: np.ndarray, center: bool = True) -> np.ndarray:
    """Canonical correlations (descending): singular values of ``Qx^T Qy``."""
    return _qr_svd(x, y, center)[7]


def cca_weights(x: np.ndarray, y: np.ndarray):
    """``(rho, a, b)``: canonical weights ``a = Rx^-1 U``, ``b = Ry^-1 V`` (unit-norm variates)."""
    _, _, _, rx, _, ry, u, s, vt = _qr_svd(x, y)
    a = np.linalg.solve(rx, u)
    b = np.linalg.solve(ry, vt.T)
    return s, a, b


def mean_cca(x: np.ndarray, y: np.ndarray, squared: bool = False, center: bool = True) -> float:
    rho = cca_correlations(x, y, center)
    return float(np.mean(rho**2 if squared else rho))


def cca_correlations_mpmath(x: np.ndarray, y: np.ndarray, dps: int = 40) -> np.ndarray:
    """Canonical correlations at ``dps`` digits: ``sqrt(eig(Sxx^-1 Sxy Syy^-1 Syx))``.

    The float64 data are taken as exact; the centring, covariances, inverses and eigenvalues are
    all done in multiprecision arithmetic. For small sizes only.
    """
    with mpmath.workdps(dps):
        n, dx = x.shape
        dy = y.shape[1]
        data = [[mpmath.mpf(float(v)) for v in row] for row in np.hstack([x, y])]
        d = dx + dy
        means = [mpmath.fsum(data[i][j] for i in range(n)) / n for j in range(d)]
        cen = [[data[i][j] - means[j] for j in range(d)] for i in range(n)]
        s = mpmath.matrix(d, d)
        for j in range(d):
            for k in range(j, d):
                s[j, k] = s[k, j] = mpmath.fsum(cen[i][j] * cen[i][k] for i in range(n)) / (n - 1)
        sxx = s[0:dx, 0:dx]
        syy = s[dx:d, dx:d]
        sxy = s[0:dx, dx:d]
        syx = s[dx:d, 0:dx]
        m = mpmath.inverse(sxx) * sxy * mpmath.inverse(syy) * syx
        evals = mpmath.eig(m, left=False, right=False)
        rho2 = sorted((mpmath.re(e) for e in evals), reverse=True)[: min(dx, dy)]
        return np.array([float(mpmath.sqrt(max(r, mpmath.mpf(0)))) for r in rho2])


# ---------------------------------------------------------------------------------------- PWCCA
def pwcca(x: np.ndarray, y: np.ndarray) -> float:
    """Morcos et al. (2018), eq. 2, computed on the data.

    ``h_i = Xc a_i`` (X's canonical variates, normalized to unit norm), ``z_j`` X's centred
    neurons, ``alpha_i = sum_j |<h_i, z_j>|``; result ``sum_i alpha_i rho_i / sum_i alpha_i``.
    """
    xc = centre(x)
    rho, a, _ = cca_weights(x, y)
    h = xc @ a
    h = h / np.linalg.norm(h, axis=0)
    alpha = np.array([sum(abs(float(h[:, i] @ xc[:, j])) for j in range(xc.shape[1]))
                      for i in range(h.shape[1])])
    return float(np.sum(alpha * rho) / np.sum(alpha))


# ---------------------------------------------------------------------------------------- SVCCA
def svcca(x: np.ndarray, y: np.ndarray, keep: float | int = 0.99) -> float:
    """Raghu et al. (2017): SVD-reduce each centred side, then the mean canonical correlation.

    ``keep`` a float: the fewest leading directions whose singular values sum to at least ``keep``
    times their total; an int: that many directions.
    """
    reduced = []
    for z in (x, y):
        zc = centre(z)
        u, s, vt = np.linalg.svd(zc, full_matrices=False)
        if isinstance(keep, (int, np.integer)):
            r = min(int(keep), s.size)
        else:
            r = 0
            while s[:r].sum() < keep * s.sum():
                r += 1
        reduced.append(zc @ vt[:r].T)
    return mean_cca(*reduced)


# ---------------------------------------------------------------------------------------- CKA
def _centring_matrix(n: int) -> np.ndarray:
    return np.eye(n) - np.ones((n, n)) / n


def _hsic_biased(k: np.ndarray, l: np.ndarray) -> float:
    h = _centring_matrix(k.shape[0])
    return float(np.trace(h @ k @ h @ h @ l @ h))


def cka_from_grams(k: np.ndarray, l: np.ndarray) -> float:
    """``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``HSIC(K, L) = tr(HKH HLH)``."""
    return _hsic_biased(k, l) / np.sqrt(_hsic_biased(k, k) * _hsic_biased(l, l))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA with Gram matrices of the raw (uncentred) data; ``H`` does the centring."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return cka_from_grams(x @ x.T, y @ y.T)


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC with ``K~, L~`` the Gram matrices with zeroed diagonal:

    ``[tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))``.
    """
    n = k.shape[0]
    kt = k.copy()
    lt = l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def debiased_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA with the unbiased HSIC, Gram matrices of the centred features."""
    xc, yc = centre(x), centre(y)
    k, l = xc @ xc.T, yc @ yc.T
    return hsic_unbiased(k, l) / np.sqrt(hsic_unbiased(k, k) * hsic_unbiased(l, l))


def rbf_gram(x: np.ndarray, threshold: float) -> np.ndarray:
    """``exp(-||x_i - x_j||^2 / (2 sigma^2))``, ``sigma^2 = threshold^2 * median`` of all ``n^2``
    squared distances (the diagonal's zeros included)."""
    x = np.asarray(x, dtype=np.float64)
    diff = x[:, None, :] - x[None, :, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    sigma2 = threshold**2 * np.median(d2)
    return np.exp(-d2 / (2.0 * sigma2))


def rbf_cka(x: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    return cka_from_grams(rbf_gram(x, threshold), rbf_gram(y, threshold))


# ---------------------------------------------------------------------------------- shape metrics
def _normalised(x: np.ndarray) -> np.ndarray:
    xc = centre(x)
    return xc / np.linalg.norm(xc)


def _partially_whitened(x: np.ndarray, alpha: float) -> np.ndarray:
    """Williams et al. (2021), section 3: ``phi = X (alpha I + (1 - alpha) (X^T X)^-1/2)`` on the
    centred data scaled to ``||X||_F^2 = rank`` (cca_core.shapes' convention: the squared singular
    values average 1); ``(X^T X)^-1/2`` from the SVD of the data."""
    xn = _normalised(x)
    s = np.linalg.svd(xn, compute_uv=False)
    xn = xn * np.sqrt(np.count_nonzero(s > s[0] * 1e-7))
    u, s, vt = np.linalg.svd(xn, full_matrices=False)
    r = int(np.count_nonzero(s > s[0] * 1e-7))
    inv_sqrt = (vt[:r].T / s[:r]) @ vt[:r]
    return xn @ (alpha * np.eye(xn.shape[1]) + (1 - alpha) * inv_sqrt)


def procrustes_similarity(x: np.ndarray, y: np.ndarray) -> float:
    """``||X^T Y||_*`` (sum of singular values) of the normalised centred data."""
    return float(np.linalg.svd(_normalised(x).T @ _normalised(y), compute_uv=False).sum())


def shape_similarity(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> float:
    """``cos theta_alpha``: ``||phi(X)^T phi(Y)||_* / (||phi(X)||_F ||phi(Y)||_F)``."""
    px, py = _partially_whitened(x, alpha), _partially_whitened(y, alpha)
    return float(np.linalg.svd(px.T @ py, compute_uv=False).sum() / (np.linalg.norm(px) * np.linalg.norm(py)))

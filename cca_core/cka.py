"""Centered kernel alignment (Kornblith, Norouzi, Lee & Hinton 2019).

``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` for Gram matrices ``K`` of X and ``L`` of Y.
Linear CKA only needs the covariance blocks (one pass, streaming). The debiased version uses the
unbiased HSIC estimator of Song et al. (2012), which also needs each datapoint's squared norm
(a second pass). RBF CKA needs the ``n x n`` Gram matrices and is in-memory only.

Scale. CKA is invariant to scaling each side, but its formulas square the covariances (a fourth
power of the activations' scale for linear CKA, an eighth inside ``HSIC(K, K) HSIC(L, L)``), which
leave float64 long before the data do. Every function here therefore first divides each side by a
power of two (exact in binary) that brings its largest centred value, or its largest variance, to
order one, and takes ``sqrt(hxx) * sqrt(hyy)`` rather than ``sqrt(hxx * hyy)``; the results are the
same for ``c X, c Y`` as for ``X, Y`` over the whole float32 and float64 range. What cannot be
rescaled afterwards is a Gram matrix accumulated from the raw data (:class:`~cca_core.Moments`):
its products overflow above about ``1e154`` (the accumulator raises the package's overflow error)
and fall below float64's normal range under about ``1e-145`` (:func:`check_gram_range` raises).
The in-memory functions rescale the data and accumulate again in those two cases.
"""

from __future__ import annotations

import numpy as np

from ._scaling import exponent, largest_abs, pow2
from .validation import check_finite_values

__all__ = ["linear_cka_from_covariances", "debiased_linear_cka_from_data", "rbf_cka_from_data",
           "check_gram_range", "unit_scaled"]

#: Smallest largest-variance (Gram diagonal / count) of a side whose Gram matrix keeps full
#: precision: the products behind it stay inside float64's normal range (2**-1022) with a margin of
#: 2**62 for entries far below the largest.
VARIANCE_FLOOR = 2.0**-960


def _variance_exponent(cov: np.ndarray) -> int:
    """Half the (even) power-of-two exponent of ``cov``'s largest diagonal entry: its std's scale."""
    return exponent(float(np.max(np.diagonal(cov)))) // 2


def check_gram_range(variances: np.ndarray, name: str, means: np.ndarray | None = None) -> None:
    """``ValueError`` when a side's variances come from products below float64's normal range.

    That is when its largest variance is below :data:`VARIANCE_FLOOR` but not 0, or 0 while some
    mean is non-zero but below ``2**-480`` (squares under :data:`VARIANCE_FLOOR`: products that
    vanished, or constant neurons that tiny; the data cannot tell them apart). The Gram matrix then
    lost precision (or everything) that no rescaling afterwards brings back.
    """
    top = float(np.max(variances))
    tiny_mean = means is not None and 0 < float(np.max(np.abs(means))) < 2.0**-480
    if 0 < top < VARIANCE_FLOOR or (top == 0 and tiny_mean):
        raise ValueError(
            f"{name} has values so small that their squares underflow float64 (largest variance "
            f"{top:.3g}); rescale the activations, or pass the arrays to the in-memory functions, "
            "which rescale them")


def unit_scaled(x: np.ndarray, name: str = "X") -> np.ndarray:
    """Centred float64 copy of ``x`` times a power of two, its largest ``|value|`` in ``[0.5, 1)``.

    (Left as it is when that is already within ``2**±64``, see :data:`cca_core._scaling.SAFE_EXPONENT`.)

    Exact but for the centring (a power of two changes no digit). Works for any finite ``x``: the
    data are brought to order one before the mean is taken, so sums cannot overflow. ``ValueError``
    (the package's overflow error) when the centred values themselves leave float64.
    """
    x = np.array(x, dtype=np.float64)
    top = largest_abs(x)
    if not np.isfinite(top):
        check_finite_values(name, x, known_bad=True)
    if exponent(top):
        np.ldexp(x, -exponent(top), out=x)
    x -= x.mean(axis=0)
    spread = max(float(x.max()), -float(x.min()))
    if exponent(spread):
        np.ldexp(x, -exponent(spread), out=x)
    return x


def linear_cka_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray) -> float:
    """Linear CKA ``||Sxy||_F^2 / (||Sxx||_F ||Syy||_F)`` (Kornblith et al. 2019, eq. 5).

    The feature-space form of ``tr(Kc Lc) / sqrt(tr(Kc Kc) tr(Lc Lc))`` with ``K = Xc Xc^T``.
    Each block is first divided by a power of two (``2**(2 kx)``, ``2**(kx + ky)``, ``2**(2 ky)``
    with ``2**kx`` the scale of X's largest standard deviation), so that any finite blocks give
    the value of their rescaled data.
    """
    kx, ky = _variance_exponent(sxx), _variance_exponent(syy)
    sxx, sxy, syy = np.ldexp(sxx, -2 * kx), np.ldexp(sxy, -(kx + ky)), np.ldexp(syy, -2 * ky)
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


def debiased_cka_from_hsic(hxy: float, hxx: float, hyy: float) -> float:
    """``hxy / (sqrt(hxx) sqrt(hyy))``, capped at 1; 0 when a self-term is not positive."""
    if not (hxx > 0 and hyy > 0):
        return 0.0
    # The debiased estimate can be slightly negative for unrelated data, so it is only capped at 1
    # (by Cauchy-Schwarz it cannot exceed 1 but for rounding).
    return float(min(hxy / (np.sqrt(hxx) * np.sqrt(hyy)), 1.0))


def debiased_linear_cka_from_data(x: np.ndarray, y: np.ndarray, mean_x: np.ndarray,
                                  mean_y: np.ndarray, sxx: np.ndarray, sxy: np.ndarray,
                                  syy: np.ndarray, chunk_rows: int = 4096) -> float:
    """Debiased linear CKA from the covariance blocks plus a chunked pass for row norms.

    Song et al. (2012, eq. 5) for the three HSIC terms, each side divided by the power of two of
    its largest standard deviation first (see the module's notes on scale).
    """
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 datapoints, got {n}")
    kx, ky = _variance_exponent(sxx), _variance_exponent(syy)
    a = np.empty(n)
    b = np.empty(n)
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        a[start:stop] = np.sum(pow2(x[start:stop] - mean_x, -kx) ** 2, axis=1)
        b[start:stop] = np.sum(pow2(y[start:stop] - mean_y, -ky) ** 2, axis=1)
    scale2 = float(n - 1) ** 2  # covariance (ddof=1) back to centred Gram sums
    sxx, sxy, syy = np.ldexp(sxx, -2 * kx), np.ldexp(sxy, -(kx + ky)), np.ldexp(syy, -2 * ky)
    hxy = _unbiased_hsic(scale2 * np.sum(sxy * sxy), a, b)
    hxx = _unbiased_hsic(scale2 * np.sum(sxx * sxx), a, a)
    hyy = _unbiased_hsic(scale2 * np.sum(syy * syy), b, b)
    return debiased_cka_from_hsic(hxy, hxx, hyy)


def _rbf_gram(x: np.ndarray, threshold: float, name: str = "X") -> np.ndarray:
    # The kernel depends on distances over their median only: a centred copy brought to order one
    # (unit_scaled, which also reports NaN/Inf) gives the same kernel at any scale.
    x = unit_scaled(x, name)
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
    kc = _centre(_rbf_gram(x, threshold, "X"))
    lc = _centre(_rbf_gram(y, threshold, "Y"))
    denom = np.sqrt(_centred_hsic(kc, kc)) * np.sqrt(_centred_hsic(lc, lc))
    return float(np.clip(_centred_hsic(kc, lc) / denom, 0.0, 1.0)) if denom > 0 else 0.0

"""Canonical correlation analysis from covariance blocks.

Everything here works on the blocks ``Sxx, Sxy, Syy`` of the joint covariance of ``[X, Y]``
(any common scale: ``ddof`` and the number of datapoints cancel), so that the measures need one
pass over the data, which :class:`cca_core.Moments` makes.

Whitening is done by eigendecomposition with explicit rank truncation instead of adding an epsilon
to the diagonal: constant neurons are dropped, the remaining neurons are scaled to unit variance (CCA
is invariant to that), and eigen-directions of the correlation matrix whose eigenvalue is below
``rtol * largest eigenvalue`` are discarded. Rank-deficient, duplicated or constant neurons thus give
finite answers on the retained subspace, and correlations are clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

__all__ = ["CCAResult", "Whitener", "default_rtol", "whiten", "whitener", "cca_from_covariances", "svcca_from_covariances",
           "pwcca_from_covariances", "svd_keep_count"]

#: A neuron whose standard deviation is below this fraction of max(|its mean|, largest std) is constant.
CONSTANT_RTOL = 1e-12


def default_rtol(n_neurons: int) -> float:
    """Default relative eigenvalue tolerance: ``max(n_neurons, 10) * float64 eps``.

    Same order as ``numpy.linalg.matrix_rank``'s default: an eigenvalue of the neurons' correlation
    matrix below ``rtol * largest`` is indistinguishable from rounding error of the covariance.
    """
    return max(int(n_neurons), 10) * float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class CCAResult:
    """Canonical correlation analysis of X against Y.

    Attributes
    ----------
    correlations : ndarray, shape (k,)
        Canonical correlations, descending, in [0, 1]; ``k = min(x_rank, y_rank)``.
    x_weights : ndarray, shape (n_neurons_x, k)
        Canonical weights ``a_i``: the canonical variates are ``(X - X.mean(0)) @ x_weights``; they
        have unit variance (``ddof=1``) and are mutually uncorrelated. Rows of constant neurons are 0.
    y_weights : ndarray, shape (n_neurons_y, k)
        Same for Y (shape ``(n_neurons_y, 0)`` when computed with ``y_weights=False``, as for PWCCA).
    x_rank, y_rank : int
        Dimensions kept on each side after dropping constant neurons and rank truncation.
    rtol : float
        The relative eigenvalue tolerance that decided the ranks.
    """

    correlations: np.ndarray
    x_weights: np.ndarray
    y_weights: np.ndarray
    x_rank: int
    y_rank: int
    rtol: float


def whiten(cov: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """Return ``W`` of shape ``(d, r)`` with ``W^H @ cov @ W = I_r`` on the retained subspace.

    Constant neurons (see :data:`CONSTANT_RTOL`) get zero rows. The others are scaled to unit
    variance, and the eigenvectors of their correlation matrix with eigenvalue
    ``> rtol * largest`` are kept, ``r`` being their number.

    ``cov`` real symmetric gives a float64 ``W`` (``W^H = W.T``); complex Hermitian (the
    per-frequency covariances of :func:`cca_core.dft_cca`) gives a complex128 ``W`` by the same rule,
    the variances being the real parts of the diagonal.
    """
    if np.iscomplexobj(cov):
        cov = np.asarray(cov, dtype=np.complex128)
    else:
        cov = np.asarray(cov, dtype=np.float64)
    d = cov.shape[0]
    var = np.clip(np.diagonal(cov).real, 0.0, None)
    std = np.sqrt(var)
    active = std > CONSTANT_RTOL * std.max() if d else np.zeros(0, bool)
    if rtol is None:
        rtol = default_rtol(int(active.sum()))
    w_full = np.zeros((d, 0), dtype=cov.dtype)
    if not active.any():
        return w_full
    s = std[active]
    corr = cov[np.ix_(active, active)] / np.outer(s, s)
    evals, evecs = np.linalg.eigh(corr)
    keep = evals > rtol * evals[-1]
    # Descending order so that leading directions come first.
    evals, evecs = evals[keep][::-1], evecs[:, keep][:, ::-1]
    w_active = (evecs / np.sqrt(evals)) / s[:, None]
    w_full = np.zeros((d, w_active.shape[1]), dtype=cov.dtype)
    w_full[active] = w_active
    return w_full


#: Cholesky whitening is used when LAPACK's estimate of the reciprocal condition number (1-norm) of
#: the neurons' correlation matrix is above this: then no eigenvalue is anywhere near the rank
#: tolerance, and the correlations agree with the eigendecomposition's to about 1e-11.
CHOLESKY_RCOND = 1e-5


@dataclass(frozen=True)
class Whitener:
    """``W`` with ``W.T @ cov @ W = I_r``, held as a Cholesky factor or as an explicit matrix.

    Same retained subspace as :func:`whiten`: constant neurons dropped, the others scaled to unit
    variance. When their correlation matrix ``C`` is well conditioned (:data:`CHOLESKY_RCOND`), no
    direction is truncated and ``W = D^-1 L^-T`` with ``C = L L^T``: a Cholesky factorization and
    triangular solves, several times cheaper than the eigendecomposition, which is the fallback
    (then ``W`` is :func:`whiten`'s).
    """

    n_neurons: int
    active: np.ndarray              # (d,) bool
    scale: np.ndarray               # (n_active,) standard deviations of the active neurons
    chol: np.ndarray | None = None  # (n_active, n_active) lower-triangular L
    w: np.ndarray | None = None     # (d, r) explicit whitener (eigen path)

    @property
    def rank(self) -> int:
        return self.chol.shape[0] if self.chol is not None else self.w.shape[1]

    def left(self, m: np.ndarray) -> np.ndarray:
        """``W.T @ m`` for ``m`` of shape ``(d, k)``."""
        if self.chol is None:
            return self.w.T @ m
        return scipy.linalg.solve_triangular(self.chol, m[self.active] / self.scale[:, None], lower=True,
                                             check_finite=False)

    def weights(self, u: np.ndarray) -> np.ndarray:
        """``W @ u`` for ``u`` of shape ``(r, k)``: canonical weights over all ``d`` neurons."""
        if self.chol is None:
            return self.w @ u
        out = np.zeros((self.n_neurons, u.shape[1]))
        out[self.active] = scipy.linalg.solve_triangular(self.chol, u, trans="T", lower=True,
                                                         check_finite=False) / self.scale[:, None]
        return out


def whitener(cov: np.ndarray, rtol: float | None = None) -> Whitener:
    """:class:`Whitener` of a covariance matrix: Cholesky when well conditioned, else :func:`whiten`."""
    cov = np.asarray(cov, dtype=np.float64)
    d = cov.shape[0]
    std = np.sqrt(np.clip(np.diagonal(cov), 0.0, None))
    active = std > CONSTANT_RTOL * std.max() if d else np.zeros(0, bool)
    if active.any():
        s = std[active]
        corr = cov[np.ix_(active, active)] / np.outer(s, s)
        chol, info = scipy.linalg.lapack.dpotrf(corr, lower=1, clean=1)
        if info == 0:
            rcond, info = scipy.linalg.lapack.dpocon(chol, np.abs(corr).sum(axis=0).max(), uplo="L")
            if info == 0 and rcond > CHOLESKY_RCOND:
                return Whitener(d, active, s, chol=chol)
    return Whitener(d, active, std[active], w=whiten(cov, rtol))


def cca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                         rtol: float | None = None, y_weights: bool = True) -> CCAResult:
    """Canonical correlations of two sets of variables from their covariance blocks.

    With whiteners ``Wx, Wy`` (:func:`whitener`: Cholesky when well conditioned, else
    :func:`whiten`'s eigendecomposition with rank truncation), the canonical correlations are the
    singular values of ``T = Wx.T @ Sxy @ Wy`` and the canonical weights are ``Wx @ U``, ``Wy @ V``
    (Hotelling 1936; Raghu et al. 2017, section 2).

    ``y_weights=False`` (PWCCA needs X's side only) takes ``U`` from the eigenvectors of ``T T^T``
    and ``rho_i = ||T^T u_i||`` (no squaring of small correlations), about twice as fast as the SVD;
    the result's ``y_weights`` is then empty.
    """
    if rtol is None:
        rtol = default_rtol(max(sxx.shape[0], syy.shape[0]))
    wx = whitener(sxx, rtol)
    wy = whitener(syy, rtol)
    k = min(wx.rank, wy.rank)
    if k == 0:
        return CCAResult(np.zeros(0), np.zeros((sxx.shape[0], 0)), np.zeros((syy.shape[0], 0)),
                         wx.rank, wy.rank, rtol)
    t = wy.left(wx.left(sxy).T).T
    if y_weights:
        u, rho, vt = np.linalg.svd(t, full_matrices=False)
        y_w = wy.weights(vt.T)
    else:
        u = np.linalg.eigh(t @ t.T)[1][:, ::-1][:, :k]
        rho = np.linalg.norm(t.T @ u, axis=0)
        order = np.argsort(-rho, kind="stable")
        u, rho = u[:, order], rho[order]
        y_w = np.zeros((syy.shape[0], 0))
    rho = np.clip(rho, 0.0, 1.0)
    return CCAResult(rho, wx.weights(u), y_w, wx.rank, wy.rank, rtol)


def svd_keep_count(singular_values: np.ndarray, keep: float | int) -> int:
    """Number of leading singular directions SVCCA keeps.

    ``keep`` a float in (0, 1]: the fewest leading directions whose singular values sum to at least
    ``keep`` times the total (Raghu et al. 2017 keep the directions that explain 99%).
    ``keep`` an int >= 1: exactly that many directions (clipped to the number available).
    """
    sv = np.asarray(singular_values, dtype=np.float64)
    if isinstance(keep, (bool, np.bool_)):
        raise TypeError(f"keep must be a float in (0, 1] or a positive int, got {keep!r}")
    if isinstance(keep, (int, np.integer)):
        if keep < 1:
            raise ValueError(f"keep as an integer must be >= 1, got {keep}")
        return int(min(keep, sv.size))
    keep = float(keep)
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep as a fraction must be in (0, 1], got {keep}")
    total = sv.sum()
    if total <= 0:
        return 0
    cum = np.cumsum(sv) / total
    # Rounding can leave the full cumulative sum a hair below 1.
    return int(min(np.searchsorted(cum, keep - 1e-12) + 1, sv.size))


def _principal_directions(cov: np.ndarray, keep: float | int, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Leading eigenvectors of ``cov`` chosen by :func:`svd_keep_count`, and their eigenvalues.

    Directions whose eigenvalue is not above ``rtol`` times the largest are rounding noise of a
    rank-deficient covariance, not singular directions: an integer ``keep`` above the rank stops at
    the rank instead of whitening noise.
    """
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    r = min(svd_keep_count(np.sqrt(evals), keep), int(np.count_nonzero(evals > rtol * evals[0])))
    return evecs[:, :r], evals[:r]


def svcca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                           keep: float | int = 0.99, rtol: float | None = None) -> CCAResult:
    """SVCCA (Raghu et al. 2017): CCA between the leading singular directions of each side.

    The singular directions of the centred data are the eigenvectors of its covariance and the
    singular values the square roots of its eigenvalues (times ``sqrt(n - 1)``, which cancels in
    the ``keep`` rule). The returned weights map the original neurons to the canonical variates.
    """
    if rtol is None:
        rtol = default_rtol(max(sxx.shape[0], syy.shape[0]))
    px, lx = _principal_directions(sxx, keep, rtol)
    py, ly = _principal_directions(syy, keep, rtol)
    res = cca_from_covariances(np.diag(lx), px.T @ sxy @ py, np.diag(ly), rtol)
    return CCAResult(res.correlations, px @ res.x_weights, py @ res.y_weights,
                     res.x_rank, res.y_rank, res.rtol)


def pwcca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                           rtol: float | None = None) -> tuple[float, np.ndarray, CCAResult]:
    """Projection-weighted CCA (Morcos, Raghu & Bengio 2018, section 2.2, eq. 2).

    ``rho_PW = sum_i alpha_i rho_i / sum_i alpha_i`` with ``alpha_i = sum_j |<h_i, z_j>|``, where
    ``h_i = Xc a_i`` are X's canonical variates (unit norm) and ``z_j`` X's centred neurons.
    Since ``<h_i, z_j>`` is entry ``j`` of ``Sxx a_i`` (up to a common factor), no pass over the
    data is needed. The sum runs over the ``min(x_rank, y_rank)`` canonical pairs.

    Returns ``(rho_PW, alpha, cca_result)`` with ``alpha`` normalized to sum to 1.
    """
    res = cca_from_covariances(sxx, sxy, syy, rtol, y_weights=False)
    if res.correlations.size == 0:
        return 0.0, np.zeros(0), res
    alpha = np.abs(sxx @ res.x_weights).sum(axis=0)
    total = alpha.sum()
    alpha = alpha / total if total > 0 else np.full(alpha.size, 1.0 / alpha.size)
    return float(np.clip(alpha @ res.correlations, 0.0, 1.0)), alpha, res

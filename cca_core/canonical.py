"""Canonical correlation analysis from covariance blocks.

Everything here works on the blocks ``Sxx, Sxy, Syy`` of the joint covariance of ``[X, Y]``
(any common scale: ``ddof`` and the number of datapoints cancel), so that the measures need one
pass over the data, which :class:`cca_core.Moments` makes.

Whitening is done by eigendecomposition with explicit rank truncation instead of adding an epsilon
to the diagonal: constant neurons are dropped, the remaining neurons are scaled to unit variance (CCA
is invariant to that), and eigen-directions of the correlation matrix whose eigenvalue is below
``rtol * largest eigenvalue`` are discarded. Rank-deficient, duplicated or constant neurons thus give
finite answers on the retained subspace, and correlations are clipped to [0, 1].

The covariance squares the condition number of the data: a neuron that is another plus 1e-7 noise
makes the correlation matrix's condition number 1e14 and leaves no correct digit in the direction it
adds. When LAPACK's condition estimate says the covariance route has lost too many digits
(:data:`DATA_RCOND`) and the data are at hand, the QR route is taken instead (:func:`cca_from_data`:
Householder QR of each side's centred, column-scaled data, SVD of ``R`` for the rank, Björck &
Golub 1973), whose accuracy follows the condition number of the data itself
(:func:`data_tolerance`). Without the data (streamed :class:`~cca_core.Moments` without an ``R``
factor), directions the covariance cannot resolve are dropped (:data:`COVARIANCE_RTOL`) with a
:class:`~cca_core.ConditioningWarning`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

__all__ = ["CCAResult", "Whitener", "DataBasis", "default_rtol", "whiten", "whitener", "cca_from_covariances",
           "svcca_from_covariances", "pwcca_from_covariances", "svd_keep_count", "data_basis", "data_tolerance",
           "cca_from_data", "svcca_from_data", "pwcca_from_data", "forced_count", "tsqr_r", "DATA_RCOND"]

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
        The relative eigenvalue tolerance that decided the ranks (covariance route), or the relative
        singular-value tolerance of the data (QR route, :func:`data_tolerance`).
    n_forced : int
        How many canonical correlations are 1 whatever the data, because of the shapes alone:
        ``max(0, x_rank + y_rank - (n - 1))`` after centring (``n`` without centring); -1 when the
        number of datapoints was not known (results computed from covariance blocks alone).
    route : str
        ``"covariance"`` (whitening of the covariance blocks) or ``"qr"`` (QR/SVD of the data,
        :func:`cca_from_data`).
    """

    correlations: np.ndarray
    x_weights: np.ndarray
    y_weights: np.ndarray
    x_rank: int
    y_rank: int
    rtol: float
    n_forced: int = -1
    route: str = "covariance"


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
    rcond: float = 0.0              # LAPACK's estimate of 1 / cond_1(C); 0 when C is not positive definite

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
    rcond = 0.0
    if active.any():
        s = std[active]
        corr = cov[np.ix_(active, active)] / np.outer(s, s)
        chol, info = scipy.linalg.lapack.dpotrf(corr, lower=1, clean=1)
        if info == 0:
            rc, info = scipy.linalg.lapack.dpocon(chol, np.abs(corr).sum(axis=0).max(), uplo="L")
            rcond = float(rc) if info == 0 else 0.0
            if info == 0 and rcond > CHOLESKY_RCOND:
                return Whitener(d, active, s, chol=chol, rcond=rcond)
    return Whitener(d, active, std[active], w=whiten(cov, rtol), rcond=rcond)


def _whiteners(sxx: np.ndarray, syy: np.ndarray, rtol: float | None, can_switch: bool
               ) -> tuple[Whitener, Whitener, float, bool]:
    """Both whiteners; ``switch`` when the covariance route has lost too many digits
    (:data:`DATA_RCOND`) and the caller has the data. Without the data, directions below
    :data:`COVARIANCE_RTOL` are dropped (when ``rtol`` is the default), with a warning if any are."""
    if rtol is None:
        default = default_rtol(max(sxx.shape[0], syy.shape[0]))
    else:
        default = rtol
    wx = whitener(sxx, default)
    wy = whitener(syy, default)
    if min(wx.rcond, wy.rcond) >= DATA_RCOND:
        return wx, wy, default, False
    if can_switch:
        return wx, wy, default, True
    if rtol is None and COVARIANCE_RTOL > default:
        wx2, wy2 = whitener(sxx, COVARIANCE_RTOL), whitener(syy, COVARIANCE_RTOL)
        dropped = wx.rank + wy.rank - wx2.rank - wy2.rank
        if dropped > 0:
            from .validation import ConditioningWarning
            import warnings

            warnings.warn(
                f"the covariance is too ill-conditioned to resolve {dropped} direction(s) in float64 "
                f"(correlation-matrix eigenvalue below {COVARIANCE_RTOL:.1e} of the largest; the "
                "covariance squares the data's condition number): they were dropped. For the exact "
                "answer pass the data (cca_core.cca(X, Y), pwcca(X, Y), ...) or accumulate "
                "Moments(n_x, n_y, track_r=True), which keeps a QR factor of the data",
                ConditioningWarning, stacklevel=4)
        return wx2, wy2, COVARIANCE_RTOL, False
    return wx, wy, default, False


DataSource = "Callable[[], tuple[np.ndarray, np.ndarray, int]]"


def cca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                         rtol: float | None = None, y_weights: bool = True,
                         data: "DataSource | None" = None) -> CCAResult:
    """Canonical correlations of two sets of variables from their covariance blocks.

    With whiteners ``Wx, Wy`` (:func:`whitener`: Cholesky when well conditioned, else
    :func:`whiten`'s eigendecomposition with rank truncation), the canonical correlations are the
    singular values of ``T = Wx.T @ Sxy @ Wy`` and the canonical weights are ``Wx @ U``, ``Wy @ V``
    (Hotelling 1936; Raghu et al. 2017, section 2).

    ``y_weights=False`` (PWCCA needs X's side only) takes ``U`` from the eigenvectors of ``T T^T``
    and ``rho_i = ||T^T u_i||`` (no squaring of small correlations), about twice as fast as the SVD;
    the result's ``y_weights`` is then empty.

    Accuracy: the covariance squares the data's condition number. When LAPACK's condition estimate
    of a side's correlation matrix is below :data:`DATA_RCOND` and ``data`` is given (a callable
    returning the centred data ``(xc, yc, n_datapoints)``, or the blocks of an R factor standing for
    them), the result comes from :func:`cca_from_data` instead (``route="qr"``). Without ``data``,
    directions below :data:`COVARIANCE_RTOL` are dropped (default ``rtol`` only) with a
    :class:`~cca_core.ConditioningWarning`.
    """
    user_rtol = rtol
    wx, wy, rtol, switch = _whiteners(sxx, syy, rtol, data is not None)
    if switch:
        xc, yc, n = data()
        return cca_from_data(xc, yc, n, user_rtol)
    return _cca_whitened(wx, wy, sxx, sxy, syy, rtol, y_weights)


def _cca_whitened(wx: Whitener, wy: Whitener, sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                  rtol: float, y_weights: bool) -> CCAResult:
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


def _principal_directions(cov: np.ndarray, keep: float | int, rtol: float, with_flag: bool = False
                          ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, bool]:
    """Leading eigenvectors of ``cov`` chosen by :func:`svd_keep_count`, and their eigenvalues.

    Directions whose eigenvalue is not above ``rtol`` times the largest are rounding noise of a
    rank-deficient covariance, not singular directions: an integer ``keep`` above the rank stops at
    the rank instead of whitening noise.
    """
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    wanted = svd_keep_count(np.sqrt(evals), keep)
    r = min(wanted, int(np.count_nonzero(evals > rtol * evals[0])))
    if with_flag:
        # Unreliable: the keep rule reaches eigenvalues the covariance resolves to fewer than ~1e-10.
        return evecs[:, :r], evals[:r], wanted > int(np.count_nonzero(evals > DATA_RCOND * evals[0]))
    return evecs[:, :r], evals[:r]


def svcca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                           keep: float | int = 0.99, rtol: float | None = None,
                           data: "DataSource | None" = None) -> CCAResult:
    """SVCCA (Raghu et al. 2017): CCA between the leading singular directions of each side.

    ``data`` as in :func:`cca_from_covariances`: when the kept directions' eigenvalues span more
    than ``1 / DATA_RCOND``, the result comes from :func:`svcca_from_data`.

    The singular directions of the centred data are the eigenvectors of its covariance and the
    singular values the square roots of its eigenvalues (times ``sqrt(n - 1)``, which cancels in
    the ``keep`` rule). The returned weights map the original neurons to the canonical variates.
    """
    user_rtol = rtol
    if rtol is None:
        rtol = default_rtol(max(sxx.shape[0], syy.shape[0]))
    px, lx, bad_x = _principal_directions(sxx, keep, rtol, True)
    py, ly, bad_y = _principal_directions(syy, keep, rtol, True)
    if data is not None and (bad_x or bad_y):
        xc, yc, n = data()
        return svcca_from_data(xc, yc, keep, n, user_rtol)
    res = cca_from_covariances(np.diag(lx), px.T @ sxy @ py, np.diag(ly), rtol)
    return CCAResult(res.correlations, px @ res.x_weights, py @ res.y_weights,
                     res.x_rank, res.y_rank, res.rtol)


def pwcca_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray,
                           rtol: float | None = None, data: "DataSource | None" = None
                           ) -> tuple[float, np.ndarray, CCAResult]:
    """Projection-weighted CCA (Morcos, Raghu & Bengio 2018, section 2.2, eq. 2).

    ``rho_PW = sum_i alpha_i rho_i / sum_i alpha_i`` with ``alpha_i = sum_j |<h_i, z_j>|``, where
    ``h_i = Xc a_i`` are X's canonical variates (unit norm) and ``z_j`` X's centred neurons.
    Since ``<h_i, z_j>`` is entry ``j`` of ``Sxx a_i`` (up to a common factor), no pass over the
    data is needed. The sum runs over the ``min(x_rank, y_rank)`` canonical pairs.

    Returns ``(rho_PW, alpha, cca_result)`` with ``alpha`` normalized to sum to 1. ``data`` as in
    :func:`cca_from_covariances` (ill-conditioned covariances then go to :func:`pwcca_from_data`).
    """
    wx, wy, rtol2, switch = _whiteners(sxx, syy, rtol, data is not None)
    if switch:
        xc, yc, n = data()
        return pwcca_from_data(xc, yc, n, rtol)
    res = _cca_whitened(wx, wy, sxx, sxy, syy, rtol2, False)
    if res.correlations.size == 0:
        return 0.0, np.zeros(0), res
    alpha = np.abs(sxx @ res.x_weights).sum(axis=0)
    total = alpha.sum()
    alpha = alpha / total if total > 0 else np.full(alpha.size, 1.0 / alpha.size)
    return float(np.clip(alpha @ res.correlations, 0.0, 1.0)), alpha, res


# ------------------------------------------------------------------------------------ QR route
#: The covariance route is kept when LAPACK's estimate of the reciprocal condition number of both
#: sides' correlation matrices (:attr:`Whitener.rcond`) is above this. Its error in the canonical
#: correlations grows like ``eps * cond(C)`` (``cond(C)`` the square of the data's condition number);
#: a sweep of the near-duplicate-neuron construction of tests/test_conditioning.py (n = 2000,
#: perturbation 1e0 ... 1e-12) measured an error of about ``0.2 * eps / rcond`` (1.2e-10 at
#: rcond = 2.3e-7, 1.7e-8 at 2.3e-9), so above 1e-6 the route is accurate to about 1e-10. Below it, and when the data are at
#: hand, :func:`cca_from_data` (QR of the data, error ``~ eps * cond(data)``) is used instead.
DATA_RCOND = 1e-6

#: Without the data (``Moments`` without an R factor), directions of the correlation matrix whose
#: eigenvalue is below this fraction of the largest cannot be resolved to better than about
#: ``eps / COVARIANCE_RTOL ~ 1.5e-8`` and are dropped (with a :class:`~cca_core.ConditioningWarning`).
COVARIANCE_RTOL = float(np.sqrt(np.finfo(np.float64).eps))


def data_tolerance(n_rows: int, n_neurons: int) -> float:
    """Relative singular-value tolerance of the QR route: ``max(n_rows, n_neurons, 10) * eps``.

    A singular value of the centred, column-scaled data below ``tol * largest`` is within the
    rounding error of the data themselves (Householder QR is backward stable with an error of about
    ``max(n, d) * eps * ||Z||``, Golub & Van Loan, section 5.2): that direction is not resolvable
    in float64 and is dropped. A kept direction with singular value ``s_r`` has an angle error of
    about ``eps * s_1 / s_r`` (Wedin's theorem), so the kept canonical correlations are accurate to
    about ``eps * cond`` of the kept part of the data: 2e-9 at a condition number of 1e7, never
    worse than about ``1 / max(n, d)``.
    """
    return max(int(n_rows), int(n_neurons), 10) * float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class DataBasis:
    """Orthonormal basis of one side's centred data from a Householder QR and an SVD of ``R``.

    With ``Zs = Zc D^-1 = Q R`` (``D`` the column norms, or ``I`` unscaled; ``R`` by blocked
    Householder QR, TSQR, ``Q`` never formed) and ``R = U S V^T``: ``basis = Zs V_r S_r^-1``
    (``= Q U_r``, ``m x r``), ``weights = D^-1 V_r S_r^-1`` (so ``Zc @ weights = basis``) and
    ``proj = Zc^T basis = D V_r S_r`` (PWCCA's ``<h_i, z_j>``, no second pass over the data).
    """

    basis: np.ndarray   # (m, r)
    weights: np.ndarray  # (d, r)
    proj: np.ndarray     # (d, r)
    sv: np.ndarray       # (r,) singular values of the (scaled) centred data, descending
    tol: float           # relative singular-value tolerance that decided r

    @property
    def rank(self) -> int:
        return self.sv.size


def data_basis(zc: np.ndarray, n_datapoints: int | None = None, rtol: float | None = None,
               scale: bool = True, keep: float | int | None = None) -> DataBasis:
    """:class:`DataBasis` of centred data ``zc`` ``(m, d)``.

    ``m`` is the number of datapoints, or the rows of an R factor that stands for them
    (:class:`~cca_core.Moments` with ``track_r``); ``n_datapoints`` is then the true count, for
    :func:`data_tolerance`. ``scale`` divides each column by its norm first (CCA; constant columns,
    :data:`CONSTANT_RTOL`, get zero rows), ``scale=False`` keeps the data as they are (SVCCA's
    singular directions). Directions with singular value ``<= tol * largest`` are dropped, ``tol``
    being :func:`data_tolerance`, or ``sqrt(rtol)`` when an eigenvalue tolerance ``rtol`` is given
    and larger. ``keep`` (SVCCA) further keeps :func:`svd_keep_count`'s leading directions.
    """
    zc = np.asarray(zc, dtype=np.float64)
    m, d = zc.shape
    n = int(n_datapoints) if n_datapoints is not None else m
    norms = np.linalg.norm(zc, axis=0)
    if scale:
        active = norms > CONSTANT_RTOL * norms.max() if d and norms.max() > 0 else np.zeros(d, bool)
        colscale = 1.0 / norms[active]
        zs = zc[:, active] * colscale
    else:
        active = np.ones(d, bool)
        colscale = np.ones(d)
        zs = zc
    tol = data_tolerance(n, int(active.sum()))
    if rtol is not None:
        tol = max(tol, float(np.sqrt(rtol)))
    empty = np.zeros((d, 0))
    if not active.any() or not np.any(zs):
        return DataBasis(np.zeros((m, 0)), empty, empty, np.zeros(0), tol)
    r = _tsqr_r(zs)
    sv, vt = np.linalg.svd(r, full_matrices=False)[1:]
    rank = int(np.count_nonzero(sv > tol * sv[0]))
    if keep is not None:
        rank = min(rank, svd_keep_count(sv, keep))
    sv, v = sv[:rank], vt[:rank].T
    # B = Zs V_r S_r^-1 = Q U_r (as Zs V = Q U S): one product instead of forming Householder's Q,
    # which costs twice the factorization. Matrix products are row-wise backward stable, so B is
    # the basis of Zs + dZ with |dZ| <= d eps |Zs|: the same order of error as the QR's own.
    w_active = v / sv
    basis = zs @ w_active
    proj_active = v * sv
    weights = np.zeros((d, rank))
    weights[active] = w_active * colscale[:, None]
    proj = np.zeros((d, rank))
    proj[active] = proj_active / colscale[:, None]
    return DataBasis(basis, weights, proj, sv, tol)


def tsqr_r(blocks: Iterable[np.ndarray], r: np.ndarray | None = None) -> np.ndarray | None:
    """``R`` of a Householder QR of the row blocks ``blocks`` stacked, one block at a time (TSQR).

    Each block ``(k_i, c)`` is stacked under the running ``R`` (``r``, if given: the ``R`` of rows
    seen before) and re-factored, keeping at most ``c`` rows (those below are zero), so memory is
    ``O((c + k_i) c)`` whatever the number of rows. ``Q`` is never formed. Returns ``r`` when
    ``blocks`` is empty. The QR of every stacking is scipy's (LAPACK ``geqrf``); the result equals
    the ``R`` of the whole matrix up to the signs of its rows (Demmel et al. 2012, TSQR).
    """
    for block in blocks:
        stacked = block if r is None else np.vstack([r, block])
        r = scipy.linalg.qr(stacked, mode="r", check_finite=False)[0][: stacked.shape[1]]
    return r


def _tsqr_r(z: np.ndarray) -> np.ndarray:
    """``R`` of a Householder QR of ``z`` ``(m, d)``, blocks of rows at a time (:func:`tsqr_r`), no ``Q``."""
    m, d = z.shape
    rows = max(256, 8 * d)
    if m <= 2 * rows:
        return tsqr_r([z])
    return tsqr_r(z[start:start + rows] for start in range(0, m, rows))


def forced_count(x_rank: int, y_rank: int, dof: int) -> int:
    """Canonical correlations equal to 1 by the shapes alone: ``max(0, x_rank + y_rank - dof)``.

    ``dof`` is ``n - 1`` after centring (``n`` without): two subspaces of dimensions ``x_rank`` and
    ``y_rank`` in a ``dof``-dimensional space share at least ``x_rank + y_rank - dof`` dimensions.
    """
    return max(0, int(x_rank) + int(y_rank) - int(dof))


def _pair_svd(bx: DataBasis, by: DataBasis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, rho, vt = np.linalg.svd(bx.basis.T @ by.basis, full_matrices=False)
    return u, np.clip(rho, 0.0, 1.0), vt


def cca_from_data(xc: np.ndarray, yc: np.ndarray, n_datapoints: int | None = None,
                  rtol: float | None = None) -> CCAResult:
    """Canonical correlations from the centred data by QR (Björck & Golub 1973).

    Each side's centred, column-scaled data are factored ``Zs = Q R`` (Householder), ``R = U S V^T``
    gives the rank (:func:`data_tolerance`) and an orthonormal basis ``B = Q U_r``; the canonical
    correlations are the singular values of ``B_x^T B_y`` and the weights ``D^-1 V_r S_r^-1 u_i``
    (scaled to unit variance, ``ddof=1``). Accuracy follows the condition number of the data, not
    of the covariance (its square): see :func:`data_tolerance`.

    Parameters
    ----------
    xc, yc : ndarray, shapes (m, d_x) and (m, d_y)
        Centred data (or the blocks of a joint R factor standing for them, ``m >= d_x + d_y``).
    n_datapoints : int, optional
        The number of datapoints (default ``m``): sets the tolerance and the weights' scale.
    rtol : float, optional
        An eigenvalue tolerance as for :func:`whiten`; the singular-value tolerance is then
        ``max(data_tolerance, sqrt(rtol))``.
    """
    n = int(n_datapoints) if n_datapoints is not None else xc.shape[0]
    bx = data_basis(xc, n, rtol)
    by = data_basis(yc, n, rtol)
    k = min(bx.rank, by.rank)
    scale = np.sqrt(max(n - 1, 1))
    if k == 0:
        return CCAResult(np.zeros(0), np.zeros((xc.shape[1], 0)), np.zeros((yc.shape[1], 0)),
                         bx.rank, by.rank, max(bx.tol, by.tol), route="qr")
    u, rho, vt = _pair_svd(bx, by)
    return CCAResult(rho, bx.weights @ u * scale, by.weights @ vt.T * scale, bx.rank, by.rank,
                     max(bx.tol, by.tol), route="qr")


def pwcca_from_data(xc: np.ndarray, yc: np.ndarray, n_datapoints: int | None = None,
                    rtol: float | None = None) -> tuple[float, np.ndarray, CCAResult]:
    """PWCCA (Morcos et al. 2018, eq. 2) by the QR route: ``alpha_i = sum_j |(Xc^T h_i)_j|`` with
    ``Xc^T h_i = D V_r S_r u_i`` (:class:`DataBasis`'s ``proj``). Same return as
    :func:`pwcca_from_covariances`.
    """
    n = int(n_datapoints) if n_datapoints is not None else xc.shape[0]
    bx = data_basis(xc, n, rtol)
    by = data_basis(yc, n, rtol)
    scale = np.sqrt(max(n - 1, 1))
    if min(bx.rank, by.rank) == 0:
        res = CCAResult(np.zeros(0), np.zeros((xc.shape[1], 0)), np.zeros((yc.shape[1], 0)),
                        bx.rank, by.rank, max(bx.tol, by.tol), route="qr")
        return 0.0, np.zeros(0), res
    u, rho, vt = _pair_svd(bx, by)
    res = CCAResult(rho, bx.weights @ u * scale, np.zeros((yc.shape[1], 0)), bx.rank, by.rank,
                    max(bx.tol, by.tol), route="qr")
    alpha = np.abs(bx.proj @ u).sum(axis=0)
    total = alpha.sum()
    alpha = alpha / total if total > 0 else np.full(alpha.size, 1.0 / alpha.size)
    return float(np.clip(alpha @ rho, 0.0, 1.0)), alpha, res


def svcca_from_data(xc: np.ndarray, yc: np.ndarray, keep: float | int = 0.99,
                    n_datapoints: int | None = None, rtol: float | None = None) -> CCAResult:
    """SVCCA (Raghu et al. 2017) by the QR route: the leading singular directions of each side's
    centred data from the SVD of its R factor (:func:`data_basis` with ``scale=False``), then the
    singular values of ``B_x^T B_y``."""
    n = int(n_datapoints) if n_datapoints is not None else xc.shape[0]
    bx = data_basis(xc, n, rtol, scale=False, keep=keep)
    by = data_basis(yc, n, rtol, scale=False, keep=keep)
    scale = np.sqrt(max(n - 1, 1))
    if min(bx.rank, by.rank) == 0:
        return CCAResult(np.zeros(0), np.zeros((xc.shape[1], 0)), np.zeros((yc.shape[1], 0)),
                         bx.rank, by.rank, max(bx.tol, by.tol), route="qr")
    u, rho, vt = _pair_svd(bx, by)
    return CCAResult(rho, bx.weights @ u * scale, by.weights @ vt.T * scale, bx.rank, by.rank,
                     max(bx.tol, by.tol), route="qr")

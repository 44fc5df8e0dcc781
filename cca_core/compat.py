"""Drop-in replacements for google/svcca's ``cca_core.get_cca_similarity`` and ``pwcca.compute_pwcca``
(and its ``dft_ccas.fourier_ccas``: :func:`fourier_ccas`, whose docstring lists its own differences).

Arrays keep google's layout ``(n_neurons, n_datapoints)``, and the functions keep its signatures,
result keys and numbers wherever google/svcca returns finite ones. Replace ::

    import cca_core; import pwcca                       # google/svcca
    from cca_core.compat import get_cca_similarity, compute_pwcca   # this package

What is the same (and why the numbers match): the covariance is ``np.cov``'s (``ddof=1``); each
side's covariance is divided by its largest absolute entry before ``epsilon`` acts; neurons whose
rescaled variance is below ``epsilon`` are dropped (``x_idxs``, ``y_idxs``); ``epsilon`` is added to
the diagonal of the kept block before its inverse square root; the coefficients are the singular
values of ``invsqrt_xx @ Sxy @ invsqrt_yy``; ``mean`` averages the coefficients up to the first
index where their cumulative sum reaches ``threshold`` of the total. ``compute_pwcca`` weighs by the
side with fewer kept neurons, takes "directions" ``coef @ (acts - mean) + mean``, orthonormalizes
them (Gram-Schmidt, as QR does) and weighs each by ``sum_j |<q_i, acts_j>|`` over the *uncentred*
activations, so its value depends on the activations' offsets: a quirk kept for compatibility.
:func:`cca_core.pwcca` is the paper's offset-invariant definition.

What is fixed:

* ``compute_pwcca`` with more neurons in ``acts1`` than ``acts2`` used ``acts1`` with ``acts2``'s
  indices and crashed; here it uses ``acts2``. With ``epsilon`` dropping neurons it subtracted the
  means of all neurons from the kept ones and crashed; here it uses the kept neurons' means.
* Rank-deficient input (duplicated, constant or linearly dependent neurons) with ``epsilon=0`` gave
  NaN through the square root of a pseudo-inverse's negative rounding-error eigenvalues; here the
  inverse square root is taken by eigendecomposition with rank truncation (relative tolerance
  ``max(n, 10) * eps``, as ``numpy.linalg.pinv``), which gives the same matrix on full-rank input.
  Orthonormalization in ``compute_pwcca`` gives directions that add nothing new a weight of 0.
* Coefficients are clipped to [0, 1]; rounding no longer pushes them above 1.
* ``threshold=0`` gave a NaN ``mean`` (mean of no coefficients); here it is the first coefficient.
* Input with all neurons constant raises ``ValueError`` instead of dividing by zero; neurons >=
  datapoints gives a :class:`~cca_core.RankWarning` instead of an ``AssertionError``.

Covariances come from one chunked pass (:class:`~cca_core.Moments`). ``compute_pwcca`` instead
follows google's own sequence of numpy/LAPACK calls (``numpy.cov``, ``pinv``, ``svd``) with the
bits they have on C-ordered inputs: google's PWCCA depends on the SVD's arbitrary sign choices, so
only the same calls on the same bits give google's number, and the same for every memory layout of
the input; its orthonormalization uses the directions' Gram matrix from the covariance instead of a
QR of the ``n_datapoints x k`` directions where that is well conditioned (see its docstring).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._threads import single_blas_thread
from .validation import check_pair
from . import canonical
from .canonical import default_rtol
from .moments import Moments

__all__ = ["get_cca_similarity", "compute_pwcca", "sum_threshold", "fourier_ccas"]


def sum_threshold(coefs: np.ndarray, threshold: float) -> int:
    """First index ``i`` with ``sum(coefs[:i]) >= threshold * sum(coefs)``, else ``len(coefs)``.

    google/svcca's rule; ``mean`` averages ``coefs[:i]``. With ``threshold=0`` that slice is empty
    (google returns NaN); ``get_cca_similarity`` then averages the first coefficient alone.
    """
    coefs = np.asarray(coefs, dtype=np.float64)
    total = coefs.sum()
    if coefs.size == 0 or total <= 0:
        return coefs.size
    partial = np.concatenate(([0.0], np.cumsum(coefs)[:-1])) / total
    hits = np.flatnonzero(partial >= threshold)
    return int(hits[0]) if hits.size else coefs.size


def _inv_sqrt(s: np.ndarray) -> np.ndarray:
    """Inverse square root of a symmetric PSD matrix on its numerical range (pinv-style cut)."""
    w, v = np.linalg.eigh(s)
    keep = w > default_rtol(s.shape[0]) * max(w[-1], 0.0) if w.size else w.astype(bool)
    if not keep.any():
        return np.zeros_like(s)
    vk = v[:, keep]
    return (vk / np.sqrt(w[keep])) @ vk.T


def _embed(block: np.ndarray, idx: np.ndarray) -> np.ndarray:
    full = np.zeros((idx.size, idx.size))
    full[np.ix_(idx, idx)] = block
    return full


def _zero_dict(compute_dirns: bool, n_datapoints: int) -> dict:
    out = {"mean": (np.asarray(0), np.asarray(0)), "sum": (np.asarray(0), np.asarray(0)),
           "cca_coef1": np.asarray(0), "cca_coef2": np.asarray(0), "idx1": 0, "idx2": 0}
    if compute_dirns:
        out["cca_dirns1"] = np.zeros((1, n_datapoints))
        out["cca_dirns2"] = np.zeros((1, n_datapoints))
    return out


def _similarity(acts1, acts2, epsilon, threshold, compute_coefs, compute_dirns, verbose):
    """get_cca_similarity, also returning the moments for compute_pwcca."""
    acts1, acts2 = check_pair(acts1, acts2, ("acts1", "acts2"), datapoint_axis=1)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if not epsilon >= 0.0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    numx, numy = acts1.shape[0], acts2.shape[0]
    if verbose:
        print(f"cca_core.compat: covariance of {numx} + {numy} neurons over {acts1.shape[1]} datapoints")
    moments = Moments(numx, numy)._accumulate(acts1.T, acts2.T)
    # ValueError if a side has no variance at all
    sxx, sxy, syy = moments._blocks_checked(names=("acts1", "acts2"))
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    x_idxs = np.abs(np.diagonal(sxx)) >= epsilon
    y_idxs = np.abs(np.diagonal(syy)) >= epsilon
    if not x_idxs.any() or not y_idxs.any():
        return _zero_dict(compute_dirns, acts1.shape[1]), moments
    if verbose:
        print(f"cca_core.compat: whitening {x_idxs.sum()} + {y_idxs.sum()} kept neurons, SVD")
    with single_blas_thread():  # d x d algebra: no BLAS threads waiting for busy cores
        invsqrt_xx = _inv_sqrt(sxx[np.ix_(x_idxs, x_idxs)] + epsilon * np.eye(x_idxs.sum()))
        invsqrt_yy = _inv_sqrt(syy[np.ix_(y_idxs, y_idxs)] + epsilon * np.eye(y_idxs.sum()))
        u, s, vt = np.linalg.svd(invsqrt_xx @ sxy[np.ix_(x_idxs, y_idxs)] @ invsqrt_yy)
    s = np.clip(s, 0.0, 1.0)
    if epsilon == 0.0:
        s = _accurate_coefficients(s, acts1, acts2, moments, sxx, syy)

    out: dict = {}
    means1 = moments.mean_x.reshape(-1, 1).copy()
    means2 = moments.mean_y.reshape(-1, 1).copy()
    if compute_coefs or compute_dirns:
        out["coef_x"] = u.T
        out["invsqrt_xx"] = invsqrt_xx
        out["full_coef_x"] = _embed(u.T, x_idxs)
        out["full_invsqrt_xx"] = _embed(invsqrt_xx, x_idxs)
        out["coef_y"] = vt
        out["invsqrt_yy"] = invsqrt_yy
        out["full_coef_y"] = _embed(vt, y_idxs)
        out["full_invsqrt_yy"] = _embed(invsqrt_yy, y_idxs)
        out["neuron_means1"] = means1
        out["neuron_means2"] = means2
    idx = max(sum_threshold(s, threshold), 1)
    out["cca_coef1"] = s
    out["cca_coef2"] = s
    out["x_idxs"] = x_idxs
    out["y_idxs"] = y_idxs
    out["mean"] = (np.mean(s[:idx]), np.mean(s[:idx]))
    out["sum"] = (np.sum(s), np.sum(s))
    if compute_dirns:
        out["cca_dirns1"] = (out["full_coef_x"] @ out["full_invsqrt_xx"]) @ (acts1 - means1) + means1
        out["cca_dirns2"] = (out["full_coef_y"] @ out["full_invsqrt_yy"]) @ (acts2 - means2) + means2
    return out, moments


def _accurate_coefficients(s: np.ndarray, acts1: np.ndarray, acts2: np.ndarray, moments: Moments,
                           sxx: np.ndarray, syy: np.ndarray) -> np.ndarray:
    """google's coefficients where its covariance route is accurate, else the QR route's.

    google/svcca whitens the covariance, which squares the data's condition number: when LAPACK's
    condition estimate of either side's correlation matrix is below
    :data:`cca_core.canonical.DATA_RCOND` (the route has lost digits: 0.889 instead of 0.955 for a
    neuron that is another plus 1e-7 noise), the coefficients are recomputed by QR of the centred
    data (:func:`cca_core.canonical.cca_from_data`) and padded with zeros to google's length
    (directions that float64 cannot resolve count as uncorrelated, as google's pinv-style cut does).
    """
    with single_blas_thread():
        if min(canonical.whitener(sxx).rcond, canonical.whitener(syy).rcond) >= canonical.DATA_RCOND:
            return s
        res = canonical.cca_from_data(acts1.T - moments.mean_x, acts2.T - moments.mean_y, moments.count)
    out = np.zeros_like(s)
    k = min(out.size, res.correlations.size)
    out[:k] = res.correlations[:k]
    return out


def get_cca_similarity(acts1: np.ndarray, acts2: np.ndarray, epsilon: float = 0.0,
                       threshold: float = 0.98, compute_coefs: bool = True,
                       compute_dirns: bool = False, verbose: bool = True) -> dict:
    """CCA of two layers, google/svcca's signature, layout and result keys.

    Parameters
    ----------
    acts1, acts2 : ndarray, shapes (n_neurons1, n_datapoints) and (n_neurons2, n_datapoints)
    epsilon : float
        Drop neurons whose variance is below ``epsilon`` times the side's largest covariance entry,
        and add ``epsilon`` to the diagonal of the rescaled covariance (regularization).
    threshold : float in [0, 1]
        ``mean`` averages the coefficients ``cca_coef1[:i]`` up to the first ``i`` whose cumulative
        sum reaches ``threshold`` of the total.
    compute_coefs, compute_dirns, verbose : bool
        As in google/svcca; ``compute_dirns`` also returns ``cca_dirns1/2``,
        ``full_coef_x @ full_invsqrt_xx @ (acts1 - means) + means``.

    Returns
    -------
    dict
        ``cca_coef1``, ``cca_coef2`` (the coefficients, equal), ``mean``, ``sum`` (pairs of equal
        values), ``x_idxs``, ``y_idxs``; with ``compute_coefs``: ``coef_x``, ``coef_y``,
        ``invsqrt_xx``, ``invsqrt_yy``, ``full_coef_x``, ``full_coef_y``, ``full_invsqrt_xx``,
        ``full_invsqrt_yy``, ``neuron_means1``, ``neuron_means2``.

    See the module docstring for what differs from google/svcca and why. With ``epsilon=0`` and a
    covariance too ill-conditioned for google's route to be accurate (near-collinear neurons), the
    coefficients (and ``mean``, ``sum``) come from a QR of the centred data instead, accurate to
    about ``eps * cond(data)``; ``coef_x``/``coef_y`` stay google's (:func:`_accurate_coefficients`).
    """
    return _similarity(acts1, acts2, epsilon, threshold, compute_coefs, compute_dirns, verbose)[0]


def _google_dtype(acts: np.ndarray) -> np.ndarray:
    """Floating arrays as they are (google computes neuron means in the input's precision);
    integer and bool arrays as float64."""
    return acts if acts.dtype in (np.float32, np.float64) else acts.astype(np.float64)


def _row_means(acts: np.ndarray, dtype=None) -> np.ndarray:
    """``numpy.mean(acts, axis=1, keepdims=True)`` with the bits it has on a C-ordered copy.

    A row's mean is reduced along the row in memory order, so a Fortran-ordered or strided ``acts``
    is copied to C order a block of rows at a time (a few MB), never whole.
    """
    if acts.flags.c_contiguous:
        return np.mean(acts, axis=1, keepdims=True, dtype=dtype)
    out = np.empty((acts.shape[0], 1), dtype=np.result_type(acts.dtype, dtype or acts.dtype))
    step = max(1, (1 << 20) // max(acts.shape[1], 1))
    for start in range(0, acts.shape[0], step):
        block = np.ascontiguousarray(acts[start:start + step])
        out[start:start + step] = np.mean(block, axis=1, keepdims=True, dtype=dtype)
    return out


def _google_covariance(acts1: np.ndarray, acts2: np.ndarray) -> np.ndarray:
    """``numpy.cov(acts1, acts2)`` with the bits it has on C-ordered arrays, for any layout.

    ``numpy.cov`` stacks its arguments into one new array, C-ordered unless both are Fortran-ordered
    (the stacking is the one copy it makes); then the bits do not depend on the inputs' layout.
    When neither is C-contiguous the smaller one is copied to C order first.
    """
    if not (acts1.flags.c_contiguous or acts2.flags.c_contiguous):
        if acts1.size <= acts2.size:
            acts1 = np.ascontiguousarray(acts1)
        else:
            acts2 = np.ascontiguousarray(acts2)
    return np.cov(acts1, acts2)  # ddof=1; float64 whatever the input's precision


def _google_invsqrt(s: np.ndarray) -> np.ndarray:
    """Inverse square root of a rescaled covariance block, as google/svcca forms it when it can.

    Full rank by :func:`_inv_sqrt`'s relative tolerance: google's sequence, ``numpy.linalg.pinv``,
    then ``eigh`` of the pseudo-inverse and ``V @ (diag(sqrt(w)) @ V.T)`` (so its bits, on which the
    SVD's sign choices depend). Rank-deficient: :func:`_inv_sqrt` (rank truncation), where google's
    square root of the pseudo-inverse's negative rounding-error eigenvalues gives NaN.
    """
    w = np.linalg.eigvalsh(s)
    if not (w.size and np.all(w > default_rtol(s.shape[0]) * max(w[-1], 0.0))):
        return _inv_sqrt(s)
    lam, vec = np.linalg.eigh(np.linalg.pinv(s))
    return np.dot(vec, np.dot(np.diag(np.sqrt(np.maximum(lam, 0.0))), vec.T))


def _google_side(acts1: np.ndarray, acts2: np.ndarray, epsilon: float):
    """google/svcca's CCA, up to what ``compute_pwcca`` needs, with the bits of its C-order run.

    Returns ``(coefs, coef, idxs, side, scatter)``: the coefficients, the weighing side's
    coefficient matrix (rows: the directions' neuron coefficients), its kept neurons, which side
    (0 or 1: the one with fewer kept neurons) and its kept neurons' centred scatter matrix
    ``Ac Ac^T``; ``None`` when every neuron of a side falls below ``epsilon``.
    """
    nx, n = acts1.shape
    cov = _google_covariance(acts1, acts2)
    sxx, sxy, syy = cov[:nx, :nx], cov[:nx, nx:], cov[nx:, nx:]
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    for name, top, size in (("acts1", xmax, nx), ("acts2", ymax, acts2.shape[0])):
        if not top > 0:
            raise ValueError(f"{name} has no variance: all {size} neurons are constant over the "
                             f"{n} datapoints")
    sxx /= xmax
    syy /= ymax
    sxy /= np.sqrt(xmax * ymax)
    x_idxs = np.abs(np.diagonal(sxx)) >= epsilon
    y_idxs = np.abs(np.diagonal(syy)) >= epsilon
    if not x_idxs.any() or not y_idxs.any():
        return None
    sxx = sxx[np.ix_(x_idxs, x_idxs)]
    sxy = sxy[np.ix_(x_idxs, y_idxs)]
    syy = syy[np.ix_(y_idxs, y_idxs)]
    use_x = x_idxs.sum() <= y_idxs.sum()
    scatter = sxx * (xmax * (n - 1)) if use_x else syy * (ymax * (n - 1))
    sxx += epsilon * np.eye(sxx.shape[0])
    syy += epsilon * np.eye(syy.shape[0])
    with single_blas_thread():  # small matrices: no BLAS threads waiting for busy cores
        invsqrt_xx = _google_invsqrt(sxx)
        invsqrt_yy = _google_invsqrt(syy)
        u, s, vt = np.linalg.svd(np.dot(invsqrt_xx, np.dot(sxy, invsqrt_yy)))
    coefs = np.clip(np.abs(s), 0.0, 1.0)
    if use_x:
        return coefs, u.T, x_idxs, 0, scatter
    return coefs, vt, y_idxs, 1, scatter


def _projections_from_moments(coef, scatter, mu_dirns, mu_acts, n):
    """``Q^T A^T`` for the QR ``D^T = Q R`` of the directions ``D``, from moments, or ``None``.

    ``D = coef Ac + mu_dirns 1^T`` and ``A = Ac + mu_acts 1^T`` with ``Ac 1 = 0``, so
    ``G = D D^T = coef S coef^T + n mu_dirns mu_dirns^T`` and ``H = D A^T = coef S + n mu_dirns
    mu_acts^T`` (``S = Ac Ac^T``); ``G = R^T R`` (Cholesky) gives ``Q^T A^T = R^-T H``: the same
    numbers as google's QR of the ``n x k`` directions to ``eps * cond(G)``. ``None`` (use the QR)
    when ``cond(G)``, estimated from the Cholesky pivots, is above ``1e4``.
    """
    with single_blas_thread():
        cs = coef @ scatter
        gram = cs @ coef.T + n * np.outer(mu_dirns, mu_dirns)
        cross = cs + n * np.outer(mu_dirns, mu_acts)
        try:
            r = scipy.linalg.cholesky(gram, lower=False)
        except np.linalg.LinAlgError:
            return None
        if not np.min(np.diagonal(r)) ** 2 * 1e4 >= np.max(np.diagonal(gram)):
            return None
        return scipy.linalg.solve_triangular(r, cross, trans="T", lower=False)


def _projections_by_qr(dirns: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """``Q^T A^T`` for the QR ``dirns^T = Q R`` (google's ``numpy.linalg.qr`` call).

    A direction whose Gram-Schmidt pivot ``|R_ii|`` is at most ``sqrt(eps)`` times the largest
    direction's norm adds nothing resolvable to the ones before it: its row is 0 (weight 0) and the
    others come from the QR of the remaining directions (Gram-Schmidt skipping it). Only then does
    the computation leave google's sequence, where such a direction gets a rounding-noise column.
    """
    q, r = np.linalg.qr(dirns.T)
    pivots = np.abs(np.diagonal(r))
    floor = np.sqrt(np.finfo(np.float64).eps) * np.max(np.linalg.norm(dirns, axis=1))
    keep = pivots > floor
    if keep.all():
        return np.dot(q.T, acts.T)
    proj = np.zeros((dirns.shape[0], acts.shape[0]))
    if keep.any():
        q, _ = np.linalg.qr(dirns[keep].T)
        proj[keep] = np.dot(q.T, acts.T)
    return proj


def compute_pwcca(acts1: np.ndarray, acts2: np.ndarray, epsilon: float = 0.0
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """Projection-weighted CCA computed as google/svcca's ``pwcca.compute_pwcca``.

    Morcos, Raghu & Bengio (2018), section 2 and its code: the CCA coefficients ``rho_i`` weighted by
    ``alpha_i = sum_j |<q_i, a_j>|`` (normalized to sum 1), where ``q_i`` are the orthonormalized
    (QR) "directions" ``coef @ (acts - mean) + mean`` of the side with fewer kept neurons (``acts1``
    on a tie) and ``a_j`` its *uncentred* activations.

    Parameters
    ----------
    acts1, acts2 : array_like, shapes (n_neurons1, n_datapoints) and (n_neurons2, n_datapoints)
        google's layout, any memory layout: the result depends on the values only.
    epsilon : float, >= 0
        As in :func:`get_cca_similarity`: neurons whose rescaled variance is below ``epsilon`` are
        dropped, ``epsilon`` is added to the rescaled covariances' diagonals.

    Returns
    -------
    value : float
        ``sum_i alpha_i rho_i``.
    weights : ndarray, shape (k,)
        ``alpha``, over the ``k`` kept neurons of the weighing side.
    coefs : ndarray, shape (min(k1, k2),)
        The CCA coefficients, clipped to [0, 1].

    Raises
    ------
    TypeError, ValueError
        Non-numeric, complex, non-2-D or non-finite input, different numbers of datapoints (the
        argument is named), a side without variance, ``epsilon < 0``.

    Notes
    -----
    google's value is not a function of the data alone. Each direction is one CCA direction's
    centred variate *plus the neuron mean of the same row*, so flipping the sign of a singular
    vector (a choice LAPACK makes from the bits of its input, arbitrarily) changes the directions'
    span and the weights. Reordering the datapoints, or a covariance summed in another order, can
    move google's value: by up to 1e-2 on issue 20's construction (``X, Y = Z @ A + noise``:
    0.93735 or 0.93775 on the same data). To give google's number whatever the caller's memory
    layout, the covariance and the neuron means have the bits google's code gives on C-ordered
    ``(n_neurons, n_datapoints)`` arrays (``numpy.cov``, which stacks both inputs in one new array,
    C-ordered unless both are Fortran-ordered, in which case the smaller one is copied to C order;
    ``numpy.mean`` a block of rows at a time), and the CCA follows google's calls (rescaling by
    each side's largest entry, ``pinv``, ``eigh``, ``svd``), so the SVD makes google's sign choices.
    The orthonormalization then agrees with google's ``numpy.linalg.qr`` of the ``n_datapoints x k``
    directions to rounding (``~eps * cond``) by a Cholesky of their ``k x k`` Gram matrix, formed
    from the covariance (no pass over the data); where that Gram matrix's condition number exceeds
    1e4, google's QR itself is used. On float32 input google rounds the centred activations to
    float32 inside its directions, which the Gram route does not: agreement to about 1e-9 there
    (1e-14 on float64 input; the same sign choices either way). Memory: ``numpy.cov``'s stacked float64 copy of both inputs,
    as in google's code. The value is the same, bit for bit, in every layout (C or Fortran order,
    transposed views, strided slices).

    Fixes (module docstring): the weighing side's own activations and kept neurons' means, rank
    truncation instead of NaN on a rank-deficient side, coefficients clipped to 1, and weight 0 for
    a direction that adds nothing resolvable: QR pivot at most ``sqrt(eps)`` times the largest
    direction's norm (google gives it a column of rounding noise).

    For a value that is a function of the data (the paper's offset-invariant definition, the same
    for any order of the datapoints and any sign convention) use :func:`cca_core.pwcca`.
    """
    acts1, acts2 = check_pair(acts1, acts2, ("acts1", "acts2"), datapoint_axis=1)
    if not epsilon >= 0.0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    acts1, acts2 = _google_dtype(acts1), _google_dtype(acts2)
    found = _google_side(acts1, acts2, epsilon)
    if found is None:  # every neuron of a side fell below epsilon
        return 0.0, np.zeros(0), np.asarray(0)
    coefs, coef, idxs, side, scatter = found
    acts = (acts1, acts2)[side]
    means = _row_means(acts)[idxs]  # google's: in the input's precision
    exact = means if acts.dtype == np.float64 else _row_means(acts, np.float64)[idxs]
    # google's directions D = coef (A - means) + means have the mean coef (exact - means) + means
    mu_dirns = (coef @ (exact - means) + means).ravel()
    proj = _projections_from_moments(coef, scatter, mu_dirns, exact.ravel(), acts.shape[1])
    if proj is None:  # ill-conditioned or dependent directions: google's QR of the directions
        kept = np.ascontiguousarray(acts[idxs])
        proj = _projections_by_qr(np.dot(coef, kept - means) + means, kept)
    weights = np.sum(np.abs(proj), axis=1)
    weights = weights / np.sum(weights)
    return float(np.sum(weights * coefs)), weights, coefs


def _inv_sqrt_hermitian(s: np.ndarray) -> np.ndarray:
    """:func:`_inv_sqrt` for a Hermitian PSD matrix: ``V diag(w^-1/2) V^H`` on its numerical range."""
    w, v = np.linalg.eigh(s)
    keep = w > default_rtol(s.shape[0]) * max(w[-1], 0.0) if w.size else w.astype(bool)
    if not keep.any():
        return np.zeros_like(s)
    vk = v[:, keep]
    return (vk / np.sqrt(w[keep])) @ vk.conj().T


def _fourier_location(sxx, sxy, syy, means1, means2, z1, z2, return_coefs, compute_dirns, n):
    """get_cca_similarity's numbers (``epsilon=0``, ``threshold=0.98``) on one frequency's Hermitian
    blocks; ``z1``, ``z2`` (n, C) are that frequency's coefficients, needed only for directions."""
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    if not (xmax > 0 and ymax > 0):  # a side without variance at this frequency
        return _zero_dict(compute_dirns, n)
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    x_idxs = np.ones(sxx.shape[0], dtype=bool)  # |diag| >= epsilon = 0: every channel is kept
    y_idxs = np.ones(syy.shape[0], dtype=bool)
    invsqrt_xx = _inv_sqrt_hermitian(sxx)
    invsqrt_yy = _inv_sqrt_hermitian(syy)
    u, s, vh = np.linalg.svd(invsqrt_xx @ sxy @ invsqrt_yy)
    s = np.clip(s, 0.0, 1.0)
    out: dict = {}
    m1, m2 = means1.reshape(-1, 1), means2.reshape(-1, 1)
    coef_x, coef_y = u.conj().T, vh
    if return_coefs:
        out.update(coef_x=coef_x, invsqrt_xx=invsqrt_xx, full_coef_x=coef_x.copy(),
                   full_invsqrt_xx=invsqrt_xx.copy(), coef_y=coef_y, invsqrt_yy=invsqrt_yy,
                   full_coef_y=coef_y.copy(), full_invsqrt_yy=invsqrt_yy.copy(),
                   neuron_means1=m1, neuron_means2=m2)
    idx = max(sum_threshold(s, 0.98), 1)
    out.update(cca_coef1=s, cca_coef2=s.copy(), x_idxs=x_idxs, y_idxs=y_idxs,
               mean=(np.mean(s[:idx]), np.mean(s[:idx])), sum=(np.sum(s), np.sum(s)))
    if compute_dirns:
        out["cca_dirns1"] = (coef_x @ invsqrt_xx) @ (z1.T - m1) + m1
        out["cca_dirns2"] = (coef_y @ invsqrt_yy) @ (z2.T - m2) + m2
    return out


def fourier_ccas(conv_acts1: np.ndarray, conv_acts2: np.ndarray, return_coefs: bool = False,
                 compute_dirns: bool = False, verbose: bool = False):
    """DFT-CCA of two conv layers with google/svcca's ``dft_ccas.fourier_ccas`` signature and table.

    One row per spatial frequency ("location") of the shared DFT grid, with the keys of
    :func:`get_cca_similarity` computed on that frequency's coefficients over the inputs: what
    google/svcca's function was written to return. The per-frequency correlations are those of
    :func:`cca_core.dft_cca` (which is faster and returns arrays); on circularly
    translation-invariant data all rows' ``cca_coef1`` together are the canonical correlations of the
    flattened layers.

    Parameters
    ----------
    conv_acts1, conv_acts2 : ndarray, shapes (N, H1, W1, C1) and (N, H2, W2, C2)
        Real conv activations over the same ``N`` inputs (google's layout, batch first, channels
        last).
    return_coefs : bool
        Add the coefficient columns (``coef_x``, ``invsqrt_xx``, ``full_coef_x``,
        ``full_invsqrt_xx``, the same for y, ``neuron_means1``, ``neuron_means2``), complex, in the
        frequency domain.
    compute_dirns : bool
        Add ``cca_dirns1`` and ``cca_dirns2``, shapes (C1, N) and (C2, N): each frequency's
        canonical directions ``coef_x @ invsqrt_xx @ (Z - mean) + mean`` over the inputs, complex.
    verbose : bool
        Print one line per location.

    Returns
    -------
    pandas.DataFrame
        ``h * w`` rows, location ``(i, j)`` in row ``i * w + j`` (google's loop order), ``(i, j)``
        indexing the shared ``(h, w)`` grid in ``numpy.fft`` order. Columns: ``location``,
        ``frequency`` (signed ``(k, l)``, cycles per field of view; an addition), ``cca_coef1``,
        ``cca_coef2`` (equal), ``x_idxs``, ``y_idxs``, ``mean``, ``sum`` (pairs, as
        get_cca_similarity with ``threshold=0.98``), then the optional columns. The mean CCA over
        all frequencies is ``numpy.concatenate(df.cca_coef1.to_numpy()).mean()``.

    Raises
    ------
    ImportError
        pandas is not installed (``pip install cca-core[compat]``).
    TypeError, ValueError
        As :func:`cca_core.dft_cca`: complex or non-numeric input, not 4-D, different numbers of
        inputs, NaN/Inf, fewer than 2 inputs.

    Notes
    -----
    Differences from google/svcca's ``dft_ccas.fourier_ccas``, which cannot run on Python 3 and
    pandas 2: its ``return_coefs`` branch mixes tabs and spaces (``TabError`` on import), it loops
    with ``xrange``, accumulates rows with ``DataFrame.append`` (removed in pandas 2.0), and deletes
    keys ``neuron_coeffs1/2`` that ``get_cca_similarity`` never returns (``KeyError``). Here:

    * Complex CCA. google passes the complex DFT coefficients to its real ``get_cca_similarity``
      (``coef_x = u.T``); here each frequency is a complex CCA on Hermitian blocks
      ``Sxy = E[(x - mean)(y - mean)^H]`` (``np.cov``'s convention) with conjugate transposes
      throughout: ``coef_x = u^H``, so ``coef_x @ invsqrt_xx @ (Z - mean)`` are the canonical
      variates, and ``cca_coef1`` are real, in [0, 1]. The numbers are otherwise
      get_cca_similarity's with its defaults (``epsilon=0``, ``threshold=0.98``): each side's
      covariance divided by its largest absolute entry, every channel kept, inverse square roots by
      eigendecomposition with rank truncation (as :func:`get_cca_similarity`).
    * Precision and scale. google transforms in complex64 with the unnormalised ``fft2``; here in
      float64/complex128, divided by ``H * W`` (Fourier-series coefficients, the same for a map and
      its band-limited resampling). Correlations do not depend on the scale; coefficients, means and
      directions do.
    * Different spatial sizes. google requires square maps and keeps the frequencies
      ``-h/2 <= k < h/2`` of the larger layer, so for even ``h`` its complex ``-h/2`` bin meets the
      smaller layer's real Nyquist bin. Here any rectangle; the larger layer's Nyquist pair is folded
      into one bin, ``c[-h/2] + c[h/2]``, which makes the comparison equal to one after
      ``cca_core.resize_to(acts, (h, w), method="fft")`` (see :mod:`cca_core.dft`).
    * ``return_coefs`` and ``compute_dirns``. google meant to apply ``ifft2`` to each location's
      coefficients and directions; a 2-D inverse DFT over (channels x channels) or (directions x
      inputs) mixes channels or inputs and has no meaning, so both stay in the frequency domain.
      With ``return_coefs=False`` the coefficient columns are left out, as google intended.
    * A frequency where a side has no variance (every channel constant over positions leaves only
      rounding error away from DC: channels below :func:`cca_core.dft_cca`'s noise floor count as
      zero) gets get_cca_similarity's zero row (``cca_coef1 = 0``) instead of google's NaN; channels
      >= inputs gives a :class:`~cca_core.RankWarning` instead of an ``AssertionError``.
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pandas is optional: only this function needs it
        raise ImportError("fourier_ccas returns a pandas DataFrame: install pandas "
                          "(pip install 'cca-core[compat]')") from exc
    from . import dft

    a1, a2, size = dft._prepare(conv_acts1, conv_acts2, None, ("conv_acts1", "conv_acts2"), True)
    h, w = size
    n = a1.shape[0]
    rows = []
    with single_blas_thread():
        fm = dft._frequency_moments(a1, a2, size)
        floor_x, floor_y = dft._noise_floors(fm)
        rep = {(int(k) % h, int(l)): f for f, (k, l) in enumerate(fm.frequencies)}
        spec1 = dft._spectrum(a1, size) if compute_dirns else None
        spec2 = dft._spectrum(a2, size) if compute_dirns else None
        for i in range(h):
            for j in range(w):
                conj = (i, j) not in rep
                f = rep[((-i) % h, (-j) % w)] if conj else rep[(i, j)]
                sxx, sxy, syy = dft._blocks(fm, f)
                sxx, syy = dft._drop_below(sxx, floor_x), dft._drop_below(syy, floor_y)
                mean1, mean2 = fm.mean[f, : fm.n_x], fm.mean[f, fm.n_x :]
                if conj:
                    sxx, sxy, syy = sxx.conj(), sxy.conj(), syy.conj()
                    mean1, mean2 = mean1.conj(), mean2.conj()
                z1 = z2 = None
                if compute_dirns:
                    if j <= w // 2:
                        z1, z2 = spec1[i, j], spec2[i, j]
                    else:
                        z1 = spec1[(-i) % h, (-j) % w].conj()
                        z2 = spec2[(-i) % h, (-j) % w].conj()
                res = _fourier_location(sxx, sxy, syy, mean1, mean2, z1, z2, return_coefs,
                                        compute_dirns, n)
                k, l = int(np.fft.fftfreq(h, 1.0 / h)[i].round()), int(np.fft.fftfreq(w, 1.0 / w)[j].round())
                if verbose:
                    print(f"cca_core.compat.fourier_ccas: location {(i, j)} (frequency {(k, l)}): "
                          f"mean {float(res['mean'][0]):.6f}")
                rows.append({"location": (i, j), "frequency": (k, l), **res})
    return pd.DataFrame(rows)

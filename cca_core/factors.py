"""Per-network factors and the values of a pair from two factors: every measure, both spaces.

What depends on one network -- centring, covariance or Gram matrix, whitening, SVCCA's SVD
reduction, the shape metrics' partial whitening, CKA's centred data or kernel -- is computed once
here (:func:`factor`), and a pair then costs one cross product and one small decomposition
(:func:`pair_values`), which gives both directions of the asymmetric PWCCA. :func:`cca_core.pairwise`
(:mod:`cca_core.pairs`) runs this over many networks; the single-pair functions of
:mod:`cca_core.measures` use it for wide layers (:func:`pair_similarity`).

The factor of a network for the CCA family is an orthonormal basis ``Q`` (``n x r``) of its
centred activations, leading directions first: canonical correlations of two networks are the
singular values of ``Q_i^T Q_j`` (Björck & Golub 1973). It is found in one of two spaces, with the
same answer:

* neuron space (datapoints >= neurons): from the ``d x d`` covariance, ``Q = Xs E Λ^-1/2 / sqrt(n-1)``
  with ``Xs`` the standardized neurons and ``E Λ E^T`` their correlation matrix;
* data space (neurons > datapoints, e.g. flattened conv layers): from the ``n x n`` Gram matrix
  ``Xs Xs^T = U M U^T``, ``Q = U``; memory ``O(n^2 + n d)`` instead of ``O(d^2)``.

Directions whose eigenvalue is below ``rtol`` times the largest are dropped exactly as
:func:`cca_core.canonical.whiten` drops them, so the values equal the single-pair functions'. When
the eigenvalues say the covariance (or Gram) route has lost too many digits
(:data:`cca_core.canonical.DATA_RCOND`), the basis comes from a QR of the data instead
(:func:`cca_core.canonical.data_basis`; in data space by TSQR over blocks of neurons,
:func:`cca_core.canonical.tsqr_r`). CKA needs ``||Xc_i^T Xc_j||_F``: in neuron space from the
centred data, in data space as ``<K_i, K_j>`` of the centred Gram matrices.

A measure reaches this module by its name and its family (``"cca"``, ``"cka"`` or ``"shape"``,
:data:`cca_core.measures.REGISTRY`); nothing here imports the registry, so that the measures can
call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import cka
from ._scaling import centred_exponent, safe_mean
from ._threads import blas_threads_for
from .validation import check_finite_values, warn_forced
from .canonical import (CONSTANT_RTOL, DATA_RCOND, data_basis, data_tolerance, default_rtol, forced_count,
                        svd_keep_count, tsqr_r)
from .moments import centred_moments
from .shapes import check_alpha, shape_weights

__all__ = ["Factor", "factor", "pair_values", "pair_similarity", "warn_forced_pair", "choose_space", "SPACES"]

#: ``"auto"`` picks data space when some network has more neurons than there are datapoints.
SPACES = ("auto", "neuron", "data")
#: Columns per chunk when a wide layer is processed a block of neurons at a time (data space).
_COLUMN_CHUNK_ELEMENTS = 1 << 22
#: Elements of one float64 block of a wide layer's centred columns (8 MB): data space's temporaries.
_WIDE_BLOCK_ELEMENTS = 1 << 20

#: A side's Gram matrix whose largest diagonal entry lies in this band needs no rescaling: its
#: squares (``||K||_F^2`` in debiased CKA, up to ``(d 2**400)**2``) and the products behind it stay
#: inside float64's normal range.
GRAM_BAND = (2.0**-400, 2.0**400)


def in_band(diagonal: np.ndarray) -> bool:
    """Whether a Gram diagonal's largest entry is in :data:`GRAM_BAND` (False for 0 or non-finite)."""
    top = float(np.max(diagonal))
    return bool(GRAM_BAND[0] <= top <= GRAM_BAND[1])


@dataclass
class Factor:
    """What one network contributes to every pair.

    ``kind`` says which factor it is, and so how :func:`pair_values` combines two: ``"cca"`` (a
    whitened basis: mean CCA, PWCCA), ``"svcca"`` (leading singular directions), ``"linear"`` (linear
    and debiased linear CKA), ``"rbf"`` (RBF CKA's centred kernel) or ``"shape"`` (``phi_alpha``).
    """

    label: str
    n_neurons: int
    kind: str = "cca"
    qt: np.ndarray | None = None        # (r, n) C-ordered: orthonormal basis, leading directions first
    evals: np.ndarray | None = None     # (r,) descending, for the per-pair rank truncation
    proj: np.ndarray | None = None      # (d, r): Xc^T Q, for PWCCA's weights
    centred: np.ndarray | None = None   # (n, d) float64 centred data (CKA, neuron space)
    gram: np.ndarray | None = None      # (n, n) centred Gram matrix (CKA, data space; RBF kernel)
    self_norm: float = 0.0              # ||Xc^T Xc||_F, or HSIC(K, K)
    row_norms: np.ndarray | None = None  # diag of Xc Xc^T (debiased CKA)

    def rank(self, rtol: float) -> int:
        return int(np.count_nonzero(self.evals > rtol * self.evals[0]))


def _column_chunks(d: int, n: int) -> Iterable[slice]:
    """Column slices of at most :data:`_WIDE_BLOCK_ELEMENTS` elements of an ``n``-row array."""
    step = max(1, _WIDE_BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, d, step):
        yield slice(start, min(start + step, d))


def _no_variance(label: str, d: int, n: int) -> ValueError:
    return ValueError(f"network {label!r} has no variance: all {d} neurons are constant over the {n} datapoints")


def _active(var: np.ndarray, label: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-constant neurons (:data:`~cca_core.canonical.CONSTANT_RTOL`, as ``whiten``) and their stds."""
    std = np.sqrt(np.clip(var, 0.0, None))
    if not np.any(std > 0):
        raise _no_variance(label, var.size, n)
    active = std > CONSTANT_RTOL * std.max()
    return active, std


def _neuron_moments(x: np.ndarray, label: str, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``ddof=1``; uncentred second moment with ``center=False``)."""
    n, mean, m2 = centred_moments((x,), (f"network {label!r}",))
    if not center:
        m2 = m2 + n * np.outer(mean, mean)
        mean = np.zeros_like(mean)
    return mean, m2 / (n - 1)


def _project_rows(x: np.ndarray, mean: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``((X - mean) @ w).T`` (``r x n``, C-ordered), a block of rows at a time: no centred copy."""
    n, d = x.shape
    q = np.empty((w.shape[1], n))
    step = max(1, _COLUMN_CHUNK_ELEMENTS // d)
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        q[:, rows] = ((x[rows] - mean) @ w).T
    return q


def _centred_columns(x: np.ndarray, mean: np.ndarray, cols: slice,
                     scale: np.ndarray | None = None) -> np.ndarray:
    """``(X[:, cols] - mean[cols]) * scale[cols]``, float64 (``n x w``): the only copy of a block."""
    block = np.subtract(x[:, cols], mean[cols], dtype=np.float64)
    if scale is not None:
        block *= scale[cols]
    return block


def _data_gram(x: np.ndarray, mean: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """``Xc Xc^T`` (``n x n``) of the centred (and column-scaled) data, a block of neurons at a time.

    One float64 block (:data:`_WIDE_BLOCK_ELEMENTS`) exists at a time: it is freed before the next.
    """
    n, d = x.shape
    gram = np.zeros((n, n))
    for cols in _column_chunks(d, n):
        block = _centred_columns(x, mean, cols, scale)
        gram += block @ block.T
        del block
    return gram


def _column_variances(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each column's variance about ``mean`` (``ddof=1``), a block of columns at a time."""
    n, d = x.shape
    var = np.empty(d)
    for cols in _column_chunks(d, n):
        block = _centred_columns(x, mean, cols)
        var[cols] = np.einsum("ij,ij->j", block, block) / (n - 1)
        del block
    return var


def _data_projection(x: np.ndarray, mean: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Xc^T w`` (``d x r``), written block by block into the result: no ``w``-sized temporaries."""
    n, d = x.shape
    out = np.empty((d, w.shape[1]))
    for cols in _column_chunks(d, n):
        block = _centred_columns(x, mean, cols)
        np.matmul(block.T, w, out=out[cols])
        del block
    return out


def _qr_factor(f: Factor, x: np.ndarray, mean: np.ndarray, n: int, rtol: float | None, want_proj: bool,
               scale: bool = True, keep: float | int | None = None) -> Factor:
    """Neuron space, ill-conditioned: the basis from a Householder QR of the centred data
    (:func:`cca_core.canonical.data_basis`), accurate to ``eps * cond(data)`` instead of its square."""
    b = data_basis(np.asarray(x, dtype=np.float64) - mean, n, rtol, scale=scale, keep=keep)
    f.qt, f.evals = np.ascontiguousarray(b.basis.T), b.sv**2
    if want_proj:
        f.proj = b.proj
    return f


def _tsqr_basis(x: np.ndarray, mean: np.ndarray, scale: np.ndarray | None, rtol: float | None,
                keep: float | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Data space, ill-conditioned: ``Xs^T = Q R`` by TSQR over blocks of neurons (``n x n`` memory),
    ``R = U S V^T``; the left singular vectors of ``Xs = R^T Q^T`` are ``V``. Returns ``(V_r^T, s_r)``."""
    n, d = x.shape
    r = tsqr_r(_centred_columns(x, mean, cols, scale).T for cols in _column_chunks(d, n))
    sv, vt = np.linalg.svd(r, full_matrices=False)[1:]
    d_active = d if scale is None else int(np.count_nonzero(scale))
    tol = data_tolerance(n, d_active)
    if rtol is not None:
        tol = max(tol, float(np.sqrt(rtol)))
    rank = int(np.count_nonzero(sv > tol * sv[0])) if sv.size and sv[0] > 0 else 0
    if keep is not None:
        rank = min(rank, svd_keep_count(sv, keep))
    return np.ascontiguousarray(vt[:rank]), sv[:rank]


def _cca_factor(x: np.ndarray, label: str, space: str, rtol_min: float, want_proj: bool,
                center: bool = True, rtol: float | None = None) -> Factor:
    """Basis of the standardized activations, eigenvalues of their correlation (or Gram) matrix.

    When the eigenvalues say that the covariance (or Gram) route has lost too many digits
    (:data:`cca_core.canonical.DATA_RCOND`), the basis comes from a QR of the data instead
    (``evals`` are then the squared singular values, the rank from
    :func:`cca_core.canonical.data_tolerance` or ``rtol`` if given).
    """
    n, d = x.shape
    f = Factor(label, d, "cca")
    if space == "neuron":
        mean, cov = _neuron_moments(x, label, center)
        active, std = _active(np.diagonal(cov), label, n)
        s = std[active]
        corr = cov[np.ix_(active, active)] / np.outer(s, s)
        evals, evecs = np.linalg.eigh(corr)
        if evals[0] < DATA_RCOND * evals[-1]:
            return _qr_factor(f, x, mean, n, rtol, want_proj)
        keep = evals > rtol_min * evals[-1]
        evals, evecs = evals[keep][::-1], evecs[:, keep][:, ::-1]
        # Q = Xs E Λ^-1/2 / sqrt(n-1)
        w = np.zeros((d, evals.size))
        w[active] = evecs / np.sqrt(evals) / s[:, None] / np.sqrt(n - 1)
        f.qt, f.evals = _project_rows(x, mean, w), evals
        if want_proj:
            # Xc^T Q = sqrt(n-1) D E Λ^1/2 (rows of constant neurons 0).
            f.proj = np.zeros((d, evals.size))
            f.proj[active] = (evecs * np.sqrt(evals)) * s[:, None] * np.sqrt(n - 1)
        return f
    mean = x.mean(axis=0, dtype=np.float64) if center else np.zeros(d)
    var = _column_variances(x, mean)
    active, std = _active(var, label, n)
    scale = np.where(active, 1.0 / np.where(active, std, 1.0), 0.0)
    evals, evecs = np.linalg.eigh(_data_gram(x, mean, scale))
    if np.count_nonzero(evals < DATA_RCOND * evals[-1]) > (1 if center else 0):
        # Small eigenvalues beyond the one centring makes: the Gram route squared them.
        f.qt, sv = _tsqr_basis(x, mean, scale, rtol)
        f.evals = sv**2
        evecs = f.qt.T
    else:
        keep = evals > rtol_min * evals[-1]
        evals, evecs = evals[keep][::-1], evecs[:, keep][:, ::-1]
        f.qt, f.evals = np.ascontiguousarray(evecs.T), evals
    if want_proj:
        f.proj = _data_projection(x, mean, evecs)
    return f


def _svcca_factor(x: np.ndarray, label: str, space: str, keep: float | int, rtol_min: float,
                  rtol: float | None = None) -> Factor:
    """Orthonormal basis of the leading singular directions of the centred data (Raghu et al. 2017).

    By QR of the data (as :func:`_cca_factor`) when the directions the ``keep`` rule wants reach
    eigenvalues below :data:`~cca_core.canonical.DATA_RCOND` times the largest."""
    n, d = x.shape
    f = Factor(label, d, "svcca")
    if space == "neuron":
        mean, cov = _neuron_moments(x, label)
        if not np.any(np.diagonal(cov) > 0):
            raise _no_variance(label, d, n)
        evals, evecs = np.linalg.eigh(cov)
        evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    else:
        mean = x.mean(axis=0, dtype=np.float64)
        gram = _data_gram(x, mean)
        if not np.trace(gram) > 0:
            raise _no_variance(label, d, n)
        evals, evecs = np.linalg.eigh(gram / (n - 1))
        evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    wanted = svd_keep_count(np.sqrt(evals), keep)
    if wanted > int(np.count_nonzero(evals > DATA_RCOND * evals[0])):
        if space == "neuron":
            b = data_basis(np.asarray(x, dtype=np.float64) - mean, n, rtol, scale=False, keep=keep)
            f.qt, f.evals = np.ascontiguousarray(b.basis.T), b.sv**2 / (n - 1)
        else:
            f.qt, sv = _tsqr_basis(x, mean, None, rtol, keep)
            f.evals = sv**2 / (n - 1)
        return f
    # Directions at or below rtol of the largest are noise (rank truncated per pair, as
    # canonical._principal_directions does); they stay out of the basis already at rtol_min.
    r = min(wanted, int(np.count_nonzero(evals > rtol_min * evals[0])))
    evals, evecs = evals[:r], evecs[:, :r]
    if space == "neuron":
        f.qt = _project_rows(x, mean, evecs / np.sqrt(evals * (n - 1)))
    else:
        f.qt = np.ascontiguousarray(evecs.T)
    f.evals = evals
    return f


def _linear_factor(x: np.ndarray, label: str, space: str, debiased: bool) -> Factor:
    # CKA is invariant to scaling each network. When the Gram matrix of the centred data leaves
    # GRAM_BAND (data far from order one), they are divided by a power of two (exact) that brings
    # their largest |value| to order one and the Gram matrix is formed again, so no square or product
    # below leaves float64 at any finite scale (cca_core.cka's notes on scale); ordinary data pay nothing.
    n, d = x.shape
    f = Factor(label, d, "linear")
    name = f"network {label!r}"
    if space == "neuron":
        xc = np.asarray(x, dtype=np.float64) - safe_mean(x, name)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = xc.T @ xc
        if not in_band(np.diagonal(gram)):
            spread = max(float(xc.max()), -float(xc.min()))
            if not np.isfinite(spread):
                check_finite_values(name, x, known_bad=True)
            if spread > 0:
                np.ldexp(xc, -int(np.frexp(spread)[1]), out=xc)
            gram = xc.T @ xc
        if not np.any(xc):
            raise _no_variance(label, d, n)
        f.centred = xc
        f.self_norm = float(np.linalg.norm(gram))
        if debiased:
            f.row_norms = np.einsum("ij,ij->i", xc, xc)
    else:
        mean = safe_mean(x, name)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = _data_gram(x, mean)
        if not in_band(np.diagonal(gram)):
            mean, k = centred_exponent(x, max(1, _COLUMN_CHUNK_ELEMENTS // max(n, 1)))
            gram = _data_gram(x, mean, np.full(d, 2.0**-k))
        if not np.isfinite(np.trace(gram)):
            check_finite_values(name, x, known_bad=True)
        if not np.trace(gram) > 0:
            raise _no_variance(label, d, n)
        f.gram = gram
        f.self_norm = float(np.linalg.norm(gram))
        if debiased:
            f.row_norms = np.diagonal(gram).copy()
    if debiased:
        if n < 4:
            raise ValueError(f"debiased CKA needs at least 4 datapoints, got {n}")
        f.self_norm = cka._unbiased_hsic(f.self_norm**2, f.row_norms, f.row_norms)
    return f


def _rbf_factor(x: np.ndarray, label: str, threshold: float) -> Factor:
    try:
        kc = cka._centre(cka._rbf_gram(x, threshold, f"network {label!r}"))
    except ValueError as exc:
        if np.all(x == x[:1]):
            raise _no_variance(label, x.shape[1], x.shape[0]) from None
        raise ValueError(f"network {label!r}: {exc}") from None
    return Factor(label, x.shape[1], "rbf", gram=kc, self_norm=float(np.sum(kc * kc)))


def _shape_factor(x: np.ndarray, label: str, space: str, alpha: float, rtol: float | None) -> Factor:
    """``phi_alpha`` of the centred data (scaled as :mod:`cca_core.shapes` says), of unit norm.

    Williams et al. (2021), section 3. ``qt`` holds ``F^T`` (``r x n``): neuron space
    ``F = Xc sqrt(r / ||Xc||^2) V diag(g) / ||f||`` (``Xc^T Xc = V diag(s^2) V^T``; for
    ``alpha = 1`` simply ``Xc / ||Xc||_F``), data space ``F = U diag(f) / ||f||``
    (``Xc Xc^T = U diag(s^2) U^T``). A pair's ``cos theta`` is then the nuclear norm of ``F_i^T F_j``.
    """
    n, d = x.shape
    alpha = check_alpha(alpha)
    rtol = rtol if rtol is not None else default_rtol(d)
    f = Factor(label, d, "shape")
    if space == "neuron":
        mean, cov = _neuron_moments(x, label)
        total = float(np.trace(cov))
        if not total > 0:
            raise _no_variance(label, d, n)
        if alpha == 1.0:  # no whitening: the normalised centred data
            f.qt = np.ascontiguousarray(((x - mean) / np.sqrt(total * (n - 1))).T)
            return f
        evals, evecs = np.linalg.eigh(cov)
        r = min(d, n - 1)  # as in data space: the rank of the centred data is at most n - 1
        g, weights = shape_weights(evals[-r:], alpha, rtol)
        evecs = evecs[:, -r:]
        nz = weights > 0
        w = evecs[:, nz] * (g[nz] * np.sqrt(np.count_nonzero(nz) / (total * (n - 1))) / np.linalg.norm(weights))
        f.qt = _project_rows(x, mean, w)
        return f
    gram = _data_gram(x, x.mean(axis=0, dtype=np.float64))
    if not np.trace(gram) > 0:
        raise _no_variance(label, d, n)
    evals, evecs = np.linalg.eigh(gram)
    # The centred Gram matrix has rank <= min(d, n - 1): the rest of its spectrum is rounding, whose
    # square roots (~1e-8) would enter phi; keep the directions that neuron space has.
    r = min(d, n - 1)
    evals, evecs = evals[-r:], evecs[:, -r:]
    _, weights = shape_weights(evals, alpha, rtol)
    nz = weights > 0
    f.qt = np.ascontiguousarray((evecs[:, nz] * (weights[nz] / np.linalg.norm(weights))).T)
    return f


# ------------------------------------------------------------------------------------ one pair
def _alpha(proj: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """PWCCA's weights ``sum_j |(proj @ directions)_ji|``, normalized, a block of neurons at a time.

    ``proj @ directions`` is ``d x k``: for a wide layer (``d`` in the 10,000s) it is formed
    :data:`_WIDE_BLOCK_ELEMENTS` at a time instead of whole (with its absolute value, twice that).
    """
    d, k = proj.shape[0], directions.shape[1]
    step = max(1, _WIDE_BLOCK_ELEMENTS // max(k, 1))
    alpha = np.zeros(k)
    for start in range(0, d, step):
        block = proj[start:start + step] @ directions
        np.abs(block, out=block)
        alpha += block.sum(axis=0)
        del block
    total = alpha.sum()
    return alpha / total if total > 0 else np.full(alpha.size, 1.0 / alpha.size)


def pair_values(measure: str, fi: Factor, fj: Factor, kwargs: dict[str, Any]) -> tuple[float, float]:
    """``(measure(i, j), measure(j, i))`` from two factors of the measure (:func:`factor`).

    ``kwargs`` are the measure's options (``rtol``, ``squared``); PWCCA's backward value is NaN when
    ``fj`` was made without its projection (:func:`pair_similarity`).
    """
    if fi.kind in ("cca", "svcca"):
        rtol = kwargs.get("rtol")
        if rtol is None:
            # Each factor is truncated already: by the eigenvalue tolerance where the covariance route
            # is accurate (no eigenvalue near it), by cca_core.canonical.data_tolerance on the QR route.
            ri, rj = fi.qt.shape[0], fj.qt.shape[0]
        else:
            ri, rj = fi.rank(rtol), fj.rank(rtol)
        t = fi.qt[:ri] @ fj.qt[:rj].T
        if measure != "pwcca":
            rho = np.clip(np.linalg.svd(t, compute_uv=False), 0.0, 1.0)
            if rho.size == 0:
                return 0.0, 0.0
            value = float(np.mean(rho**2 if kwargs.get("squared") else rho))
            return value, value
        u, rho, vt = np.linalg.svd(t, full_matrices=False)
        rho = np.clip(rho, 0.0, 1.0)
        if rho.size == 0:
            return 0.0, 0.0
        forward = float(np.clip(_alpha(fi.proj[:, :ri], u) @ rho, 0.0, 1.0))
        backward = (float(np.clip(_alpha(fj.proj[:, :rj], vt.T) @ rho, 0.0, 1.0)) if fj.proj is not None
                    else float("nan"))
        return forward, backward
    if fi.kind == "shape":  # cos theta = ||F_i^T F_j||_* (symmetric)
        value = float(np.clip(np.linalg.svd(fi.qt @ fj.qt.T, compute_uv=False).sum(), 0.0, 1.0))
        return value, value
    if fi.kind == "rbf":
        denom = np.sqrt(fi.self_norm) * np.sqrt(fj.self_norm)
        value = float(np.clip(np.sum(fi.gram * fj.gram) / denom, 0.0, 1.0)) if denom > 0 else 0.0
        return value, value
    # linear CKA and debiased linear CKA: ||Xc_i^T Xc_j||_F^2
    if fi.centred is not None:
        cross = fi.centred.T @ fj.centred
        cross_fro2 = float(np.sum(cross * cross))
    else:
        cross_fro2 = float(np.sum(fi.gram * fj.gram))
    if measure == "linear_cka":
        denom = fi.self_norm * fj.self_norm
        value = float(np.clip(cross_fro2 / denom, 0.0, 1.0)) if denom > 0 else 0.0
        return value, value
    hxy = cka._unbiased_hsic(cross_fro2, fi.row_norms, fj.row_norms)
    value = cka.debiased_cka_from_hsic(hxy, fi.self_norm, fj.self_norm)
    return value, value


def factor(x: np.ndarray, label: str, measure: str, family: str, space: str, kwargs: dict[str, Any],
           rtol_min: float) -> Factor:
    """The factor of one network's activations ``x`` ``(n_datapoints, n_neurons)`` for ``measure``.

    ``family`` is the measure's (``"cca"``, ``"cka"``, ``"shape"``; :data:`cca_core.measures.REGISTRY`),
    ``space`` ``"neuron"`` or ``"data"``, ``kwargs`` the measure's options and ``rtol_min`` the
    smallest eigenvalue tolerance a pair may ask for (directions below it are dropped here).
    ``ValueError`` naming the network (``label``) when it has no variance.
    """
    if family == "cca":
        if measure == "svcca":
            return _svcca_factor(x, label, space, kwargs.get("keep", 0.99), rtol_min, kwargs.get("rtol"))
        return _cca_factor(x, label, space, rtol_min, measure == "pwcca", kwargs.get("center", True),
                           kwargs.get("rtol"))
    if family == "shape":
        return _shape_factor(x, label, space, kwargs.get("alpha", 1.0), kwargs.get("rtol"))
    if measure == "rbf_cka":
        return _rbf_factor(x, label, kwargs.get("threshold", 0.5))
    return _linear_factor(x, label, space, measure == "debiased_linear_cka")


def choose_space(space: str, n: int, widths: Sequence[int]) -> str:
    """``"neuron"`` or ``"data"`` for :data:`SPACES` ``space``, ``n`` datapoints and the networks' ``widths``."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space == "auto":
        return "data" if max(widths) > n else "neuron"
    return space


def pair_similarity(x: np.ndarray, y: np.ndarray, measure: str, family: str, names: tuple[str, str] = ("X", "Y"),
                    space: str = "auto", **kwargs: Any) -> float:
    """``measure(x, y)`` through the factors (the single-pair functions use it for wide layers).

    ``family`` as :func:`factor`. Inputs must be checked already (:func:`cca_core.validation.check_pair`).
    """
    for name, arr in zip(names, (x, y)):
        if np.issubdtype(arr.dtype, np.floating):
            check_finite_values(name, arr)
    space = choose_space(space, x.shape[0], (x.shape[1], y.shape[1]))
    rtol_min = kwargs.get("rtol") or default_rtol(min(x.shape[1], y.shape[1]))
    n, widths = x.shape[0], (x.shape[1], y.shape[1])
    flops = sum(n * n * d if space == "data" else n * d * d for d in widths)
    with blas_threads_for(flops):
        fx = factor(x, names[0], measure, family, space, kwargs, rtol_min)
        # PWCCA of X against Y weighs by X alone: Y needs no projection (d_y x r memory saved).
        fy = factor(y, names[1], "mean_cca" if measure == "pwcca" else measure, family, space, kwargs, rtol_min)
        value = pair_values(measure, fx, fy, kwargs)[0]
    if fx.kind == "cca":
        warn_forced_pair(fx, fy, n, kwargs, names, stacklevel=5)
    return value


def warn_forced_pair(fi: Factor, fj: Factor, n: int, kwargs: dict[str, Any],
                     names: tuple[str, str], stacklevel: int) -> int:
    """:class:`~cca_core.ForcedCorrelationWarning` when the pair's ranks exceed the centred dimensions
    (factors of kind ``"cca"``: mean CCA, PWCCA); returns how many correlations are forced to 1."""
    rtol = kwargs.get("rtol")
    ri, rj = (fi.qt.shape[0], fj.qt.shape[0]) if rtol is None else (fi.rank(rtol), fj.rank(rtol))
    dof = n - 1 if kwargs.get("center", True) else n
    n_forced = forced_count(ri, rj, dof)
    warn_forced(n_forced, ri, rj, dof, names, stacklevel=stacklevel)
    return n_forced

"""Many networks compared pairwise: each network factored once, one cross product per pair.

The paper's unit of work is a set of networks compared pairwise, layer by layer (Morcos et al. 2018,
sections 3.1-3.3). :func:`pairwise` does for every measure of the package what depends on one
network once -- centring, covariance or Gram matrix, whitening, SVCCA's SVD reduction -- and then
costs each pair one cross product and one small decomposition, which gives both directions of the
asymmetric PWCCA.

The factor of a network for the CCA family is an orthonormal basis ``Q`` (``n x r``) of its
centred activations, leading directions first: canonical correlations of two networks are the
singular values of ``Q_i^T Q_j`` (Björck & Golub 1973). It is found in one of two spaces, with the
same answer:

* neuron space (datapoints >= neurons): from the ``d x d`` covariance, ``Q = Xs E Λ^-1/2 / sqrt(n-1)``
  with ``Xs`` the standardized neurons and ``E Λ E^T`` their correlation matrix;
* data space (neurons > datapoints, e.g. flattened conv layers): from the ``n x n`` Gram matrix
  ``Xs Xs^T = U M U^T``, ``Q = U``; memory ``O(n^2 + n d)`` instead of ``O(d^2)``.

Directions whose eigenvalue is below ``rtol`` times the largest are dropped exactly as
:func:`cca_core.canonical.whiten` drops them, so the values equal the single-pair functions'.
CKA needs ``||Xc_i^T Xc_j||_F``: in neuron space from the centred data, in data space as
``<K_i, K_j>`` of the centred Gram matrices.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import cka
from ._threads import blas_threads_for, single_blas_thread
from .validation import RankWarning, check_activations, check_finite_values, warn_forced
import scipy.linalg

from .canonical import (CONSTANT_RTOL, DATA_RCOND, data_basis, data_tolerance, default_rtol, forced_count,
                        svd_keep_count)
from .measures import MEASURES
from .moments import centred_moments
from .shapes import check_alpha, shape_weights

__all__ = ["pairwise", "PairwiseResult", "PairwiseError", "SPACES"]

#: ``"auto"`` picks data space when some network has more neurons than there are datapoints.
SPACES = ("auto", "neuron", "data")

#: Keyword arguments each measure takes (those of its single-pair function).
MEASURE_KWARGS: dict[str, tuple[str, ...]] = {
    "mean_cca": ("squared", "rtol", "center"),
    "svcca": ("keep", "rtol"),
    "pwcca": ("rtol",),
    "linear_cka": (),
    "debiased_linear_cka": (),
    "rbf_cka": ("threshold",),
    "procrustes_similarity": (),
    "shape_similarity": ("alpha", "rtol"),
}
_CCA_FAMILY = ("mean_cca", "svcca", "pwcca")
_SHAPE_FAMILY = ("procrustes_similarity", "shape_similarity")
#: Columns per chunk when a wide layer is processed a block of neurons at a time (data space).
_COLUMN_CHUNK_ELEMENTS = 1 << 22
#: Elements of one float64 block of a wide layer's centred columns (8 MB): data space's temporaries.
_WIDE_BLOCK_ELEMENTS = 1 << 20


class PairwiseError(RuntimeError):
    """A measure failed on one pair of networks; ``pair`` holds both labels."""

    def __init__(self, message: str, pair: tuple[str, str]):
        super().__init__(message)
        self.pair = pair


@dataclass(frozen=True)
class PairwiseResult:
    """Similarity of every ordered pair of networks.

    Attributes
    ----------
    values : ndarray, shape (K, K)
        ``values[i, j] = measure(acts[i], acts[j])``; for PWCCA both directions (weights from
        ``acts[i]`` in row ``i``); 1 on the diagonal.
    labels : tuple of str
        The networks' names (the mapping's keys, or ``"0" ... "K-1"`` for a sequence).
    measure : str
    space : str
        ``"neuron"`` or ``"data"``: where the factors were computed.
    """

    values: np.ndarray
    labels: tuple[str, ...]
    measure: str
    space: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def symmetrized(self) -> np.ndarray:
        """``(values + values.T) / 2``: Morcos et al. (2018) average PWCCA's two directions."""
        return 0.5 * (self.values + self.values.T)

    def distances(self) -> np.ndarray:
        """``1 - symmetrized()`` with an exact zero diagonal (a symmetric distance matrix).

        For ``"procrustes_similarity"`` and ``"shape_similarity"`` (``cos theta``) this is
        ``1 - cos theta``, which orders pairs as the metric does but is not one (it can break the
        triangle inequality): ``np.arccos(result.symmetrized())`` is the angular shape metric of
        :func:`cca_core.shape_distance`.
        """
        d = 1.0 - self.symmetrized()
        np.fill_diagonal(d, 0.0)
        return d

    def __repr__(self) -> str:
        return (f"PairwiseResult(measure={self.measure!r}, space={self.space!r}, "
                f"labels={list(self.labels)!r},\n  values=\n{np.array2string(self.values, precision=4)})")


# ------------------------------------------------------------------------------------ input gate
def _gather(acts: Sequence[np.ndarray] | Mapping[Any, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(acts, Mapping):
        labels, arrays = [str(k) for k in acts], list(acts.values())
    elif isinstance(acts, (str, bytes)) or not isinstance(acts, Iterable) or isinstance(acts, np.ndarray) and acts.ndim == 2:
        raise TypeError("acts must be a sequence or a mapping of (n_datapoints, n_neurons) arrays, "
                        f"one per network, got {type(acts).__name__}"
                        + (f" of shape {acts.shape}" if isinstance(acts, np.ndarray) else ""))
    else:
        arrays = list(acts)
        labels = [str(i) for i in range(len(arrays))]
    if len(arrays) < 2:
        raise ValueError(f"pairwise needs at least 2 networks' activations, got {len(arrays)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"network labels must be distinct, got {labels}")
    checked = [check_activations(f"network {lab!r}", a, check_finite=False) for lab, a in zip(labels, arrays)]
    first = checked[0]
    for lab, a in zip(labels[1:], checked[1:]):
        if a.shape[0] != first.shape[0]:
            raise ValueError(f"networks {labels[0]!r} and {lab!r} must have the same number of datapoints "
                             f"(first axis): {labels[0]!r} has shape {first.shape}, {lab!r} has shape {a.shape}")
    for lab, a in zip(labels, checked):
        if np.issubdtype(a.dtype, np.floating):
            check_finite_values(f"network {lab!r}", a)
    return labels, checked


def _check_kwargs(measure: str, kwargs: dict[str, Any]) -> None:
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; known measures: {', '.join(MEASURES)}")
    allowed = MEASURE_KWARGS[measure]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"{measure} takes {', '.join(allowed) or 'no keyword arguments'}; "
                        f"got unexpected {', '.join(unknown)}")
    if "keep" in kwargs:
        svd_keep_count(np.ones(1), kwargs["keep"])  # raises for a bad keep before any work
    rtol = kwargs.get("rtol")
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating))
                             or not 0 < rtol < 1):
        raise ValueError(f"rtol (relative eigenvalue tolerance) must be a number in (0, 1), got {rtol!r}")
    if "alpha" in kwargs:
        check_alpha(kwargs["alpha"])
    if "threshold" in kwargs and not kwargs["threshold"] > 0:
        raise ValueError(f"threshold (RBF bandwidth as a fraction of the median distance) must be > 0, "
                         f"got {kwargs['threshold']}")


# ------------------------------------------------------------------------------------ factors
@dataclass
class _Factor:
    """What one network contributes to every pair."""

    label: str
    n_neurons: int
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


def _qr_factor(f: _Factor, x: np.ndarray, mean: np.ndarray, n: int, rtol: float | None, want_proj: bool,
               scale: bool = True, keep: float | int | None = None) -> _Factor:
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
    r = None
    for cols in _column_chunks(d, n):
        block = _centred_columns(x, mean, cols, scale)
        stacked = block.T if r is None else np.vstack([r, block.T])
        r = scipy.linalg.qr(stacked, mode="r", check_finite=False)[0][:n]
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
                center: bool = True, rtol: float | None = None) -> _Factor:
    """Basis of the standardized activations, eigenvalues of their correlation (or Gram) matrix.

    When the eigenvalues say that the covariance (or Gram) route has lost too many digits
    (:data:`cca_core.canonical.DATA_RCOND`), the basis comes from a QR of the data instead
    (``evals`` are then the squared singular values, the rank from
    :func:`cca_core.canonical.data_tolerance` or ``rtol`` if given).
    """
    n, d = x.shape
    f = _Factor(label, d)
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
                  rtol: float | None = None) -> _Factor:
    """Orthonormal basis of the leading singular directions of the centred data (Raghu et al. 2017).

    By QR of the data (as :func:`_cca_factor`) when the directions the ``keep`` rule wants reach
    eigenvalues below :data:`~cca_core.canonical.DATA_RCOND` times the largest."""
    n, d = x.shape
    f = _Factor(label, d)
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


def _linear_factor(x: np.ndarray, label: str, space: str, debiased: bool) -> _Factor:
    # CKA is invariant to scaling each network. When the Gram matrix of the centred data leaves
    # cka.GRAM_BAND (data far from order one), they are divided by a power of two (exact) that brings
    # their largest |value| to order one and the Gram matrix is formed again, so no square or product
    # below leaves float64 at any finite scale (cca_core.cka's notes on scale); ordinary data pay nothing.
    n, d = x.shape
    f = _Factor(label, d)
    name = f"network {label!r}"
    if space == "neuron":
        xc = np.asarray(x, dtype=np.float64) - cka.safe_mean(x, name)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = xc.T @ xc
        if not cka.in_band(np.diagonal(gram)):
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
        mean = cka.safe_mean(x, name)
        with np.errstate(over="ignore", invalid="ignore"):
            gram = _data_gram(x, mean)
        if not cka.in_band(np.diagonal(gram)):
            mean, k = cka.centred_exponent(x, max(1, _COLUMN_CHUNK_ELEMENTS // max(n, 1)))
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


def _rbf_factor(x: np.ndarray, label: str, threshold: float) -> _Factor:
    try:
        kc = cka._centre(cka._rbf_gram(x, threshold, f"network {label!r}"))
    except ValueError as exc:
        if np.all(x == x[:1]):
            raise _no_variance(label, x.shape[1], x.shape[0]) from None
        raise ValueError(f"network {label!r}: {exc}") from None
    return _Factor(label, x.shape[1], gram=kc, self_norm=float(np.sum(kc * kc)))


def _shape_factor(x: np.ndarray, label: str, space: str, alpha: float, rtol: float | None) -> _Factor:
    """``phi_alpha`` of the centred data (scaled as :mod:`cca_core.shapes` says), of unit norm.

    Williams et al. (2021), section 3. ``qt`` holds ``F^T`` (``r x n``): neuron space
    ``F = Xc sqrt(r / ||Xc||^2) V diag(g) / ||f||`` (``Xc^T Xc = V diag(s^2) V^T``; for
    ``alpha = 1`` simply ``Xc / ||Xc||_F``), data space ``F = U diag(f) / ||f||``
    (``Xc Xc^T = U diag(s^2) U^T``). A pair's ``cos theta`` is then the nuclear norm of ``F_i^T F_j``.
    """
    n, d = x.shape
    alpha = check_alpha(alpha)
    rtol = rtol if rtol is not None else default_rtol(d)
    f = _Factor(label, d)
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


def _pair_values(measure: str, fi: _Factor, fj: _Factor, kwargs: dict[str, Any]) -> tuple[float, float]:
    """``(measure(i, j), measure(j, i))`` from two factors."""
    if measure in _CCA_FAMILY:
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
    if measure in _SHAPE_FAMILY:  # cos theta = ||F_i^T F_j||_* (symmetric)
        value = float(np.clip(np.linalg.svd(fi.qt @ fj.qt.T, compute_uv=False).sum(), 0.0, 1.0))
        return value, value
    if measure == "rbf_cka":
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


def _factor(x: np.ndarray, label: str, measure: str, space: str, kwargs: dict[str, Any],
            rtol_min: float) -> _Factor:
    if measure in ("mean_cca", "pwcca"):
        return _cca_factor(x, label, space, rtol_min, measure == "pwcca", kwargs.get("center", True),
                           kwargs.get("rtol"))
    if measure == "svcca":
        return _svcca_factor(x, label, space, kwargs.get("keep", 0.99), rtol_min, kwargs.get("rtol"))
    if measure == "rbf_cka":
        return _rbf_factor(x, label, kwargs.get("threshold", 0.5))
    if measure in _SHAPE_FAMILY:
        return _shape_factor(x, label, space, kwargs.get("alpha", 1.0), kwargs.get("rtol"))
    return _linear_factor(x, label, space, measure == "debiased_linear_cka")


def _choose_space(space: str, n: int, widths: Sequence[int]) -> str:
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space == "auto":
        return "data" if max(widths) > n else "neuron"
    return space


def pair_similarity(x: np.ndarray, y: np.ndarray, measure: str, names: tuple[str, str] = ("X", "Y"),
                    space: str = "auto", **kwargs: Any) -> float:
    """``measure(x, y)`` through the factors (the single-pair functions use it for wide layers).

    Inputs must be checked already (:func:`cca_core.validation.check_pair`).
    """
    for name, arr in zip(names, (x, y)):
        if np.issubdtype(arr.dtype, np.floating):
            check_finite_values(name, arr)
    space = _choose_space(space, x.shape[0], (x.shape[1], y.shape[1]))
    rtol_min = kwargs.get("rtol") or default_rtol(min(x.shape[1], y.shape[1]))
    n, widths = x.shape[0], (x.shape[1], y.shape[1])
    flops = sum(n * n * d if space == "data" else n * d * d for d in widths)
    with blas_threads_for(flops):
        fx = _factor(x, names[0], measure, space, kwargs, rtol_min)
        # PWCCA of X against Y weighs by X alone: Y needs no projection (d_y x r memory saved).
        fy = _factor(y, names[1], "mean_cca" if measure == "pwcca" else measure, space, kwargs, rtol_min)
        value = _pair_values(measure, fx, fy, kwargs)[0]
    if measure in ("mean_cca", "pwcca"):
        _warn_forced_pair(fx, fy, n, kwargs, names, stacklevel=5)
    return value


def _warn_forced_pair(fi: _Factor, fj: _Factor, n: int, kwargs: dict[str, Any],
                      names: tuple[str, str], stacklevel: int) -> int:
    """:class:`~cca_core.ForcedCorrelationWarning` when the pair's ranks exceed the centred dimensions."""
    rtol = kwargs.get("rtol")
    ri, rj = (fi.qt.shape[0], fj.qt.shape[0]) if rtol is None else (fi.rank(rtol), fj.rank(rtol))
    dof = n - 1 if kwargs.get("center", True) else n
    n_forced = forced_count(ri, rj, dof)
    warn_forced(n_forced, ri, rj, dof, names, stacklevel=stacklevel)
    return n_forced


# ------------------------------------------------------------------------------------ the engine
def _progress_bar(total: int, progress: bool | None, desc: str):
    from tqdm import tqdm  # text bar (stderr): tqdm.auto needs ipywidgets in a kernel

    if progress is None:
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        progress = interactive and os.environ.get("CCA_CORE_PROGRESS", "1") != "0"
    # Shown only once the work has lasted a few seconds.
    return tqdm(total=total, desc=desc, unit="pair", disable=not progress, delay=3.0, leave=False)


def _run(executor: Executor, tasks: list, fn, bar) -> list:
    futures = [executor.submit(fn, *args) for args in tasks]
    results = []
    for fut in futures:
        results.append(fut.result())
        bar.update(1)
    return results


def _tiles(k: int, n_tiles: int) -> list[list[int]]:
    size = max(1, int(np.ceil(k / max(1, n_tiles))))
    return [list(range(s, min(s + size, k))) for s in range(0, k, size)]


def _tile_work(measure: str, kwargs: dict[str, Any], rows: list[tuple[int, _Factor]],
               cols: list[tuple[int, _Factor]]) -> list[tuple[int, int, float, float]]:
    """Every pair ``i < j`` between two groups of factors (one task of an external executor)."""
    out = []
    with single_blas_thread():
        for i, fi in rows:
            for j, fj in cols:
                if i < j:
                    out.append((i, j, *_guarded_pair(measure, fi, fj, kwargs)))
    return out


def _guarded_pair(measure: str, fi: _Factor, fj: _Factor, kwargs: dict[str, Any]) -> tuple[float, float]:
    try:
        return _pair_values(measure, fi, fj, kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised with the pair's names
        raise PairwiseError(f"{measure} of networks {fi.label!r} and {fj.label!r} failed: "
                            f"{type(exc).__name__}: {exc}", (fi.label, fj.label)) from exc


def pairwise(acts: Sequence[np.ndarray] | Mapping[Any, np.ndarray], measure: str = "pwcca", *,
             executor: Executor | None = None, progress: bool | None = None, space: str = "auto",
             pairs: Iterable[tuple[int, int]] | None = None, **measure_kwargs: Any) -> PairwiseResult:
    """Similarity of every pair of networks, each network's factor computed once.

    Parameters
    ----------
    acts : sequence or mapping of arrays, each (n_datapoints, n_neurons_k)
        One array per network, all on the same inputs (same datapoints, in the same order); a
        mapping's keys become the labels. Neurons may differ between networks.
    measure : str
        One of :data:`cca_core.measures.MEASURES`: ``"mean_cca"``, ``"svcca"``, ``"pwcca"``,
        ``"linear_cka"``, ``"debiased_linear_cka"``, ``"rbf_cka"``, ``"procrustes_similarity"``,
        ``"shape_similarity"`` (``cos`` of the angular shape metric; ``alpha``, :mod:`cca_core.shapes`).
    executor : concurrent.futures.Executor, optional
        None: in-process, parallel over pairs in threads (one per core, one BLAS thread each).
        Any executor with ``submit`` (threads, processes, ``distributed.Client``): the pairs are sent
        in tiles of the matrix, so each network's factor travels a few times, not once per pair.
    progress : bool, optional
        A progress bar over pairs (tqdm), shown once the work has lasted 3 s; default on in a
        terminal or a notebook unless ``CCA_CORE_PROGRESS=0``.
    space : {"auto", "neuron", "data"}
        Where factors are computed: neuron space (``d x d`` covariances) or data space (``n x n``
        Gram matrices); ``"auto"`` takes data space when some network has more neurons than there
        are datapoints. Both give the same values (within rounding).
    pairs : iterable of (i, j), optional
        Compute only these pairs (both directions; others are NaN). Default: all.
    **measure_kwargs
        The measure's own options (``keep`` for SVCCA, ``rtol``, ``squared``, ``threshold``, ...).

    Returns
    -------
    PairwiseResult
        ``values`` (K x K), ``labels``, ``symmetrized()``, ``distances()``.

    Raises
    ------
    ValueError, TypeError
        Before any work: fewer than 2 networks, different numbers of datapoints (naming both
        networks and their shapes), NaN/Inf in a network (naming it), an unknown measure (listing
        the known ones) or keyword argument.
    PairwiseError
        A pair's computation failed; the message names both networks.

    Notes
    -----
    Cost: one factorization per network (a pass over its data and one ``d x d`` or ``n x n``
    eigendecomposition), then per pair one product ``Q_i^T Q_j`` (``n r_i r_j`` flops) and an SVD
    of the ``r_i x r_j`` result. Memory: the factors, ``K n min(n, d)`` float64 for the CCA family
    (the whitened data) and the centred data (or ``n x n`` Gram matrices) for CKA.
    """
    _check_kwargs(measure, measure_kwargs)
    labels, arrays = _gather(acts)
    k, n = len(arrays), arrays[0].shape[0]
    widths = [a.shape[1] for a in arrays]
    space = _choose_space(space, n, widths)
    if measure == "rbf_cka":
        space = "data"  # kernels are n x n whatever the widths
    if measure in _CCA_FAMILY:
        for lab, d in zip(labels, widths):
            if d >= n:
                warnings.warn(f"network {lab!r} has {d} neurons and only {n} datapoints: with neurons >= "
                              "datapoints CCA can match anything perfectly; use more datapoints or reduce "
                              "dimensions first (e.g. svcca)", RankWarning, stacklevel=2)
                break
    wanted = sorted({(min(i, j), max(i, j)) for i, j in pairs} if pairs is not None
                    else {(i, j) for i in range(k) for j in range(i + 1, k)})
    for i, j in wanted:
        if not (0 <= i < k and 0 <= j < k) or i == j:
            raise ValueError(f"pairs must be (i, j) with i != j in 0..{k - 1}, got {(i, j)}")
    needed = sorted({i for p in wanted for i in p})
    rtol = measure_kwargs.get("rtol")
    values = np.full((k, k), np.nan)
    np.fill_diagonal(values, 1.0)
    bar = _progress_bar(len(needed) + len(wanted), progress, f"{measure} {k} networks")
    if _is_dask_client(executor):
        try:
            triples = _on_dask(executor, arrays, labels, widths, needed, wanted, measure, space,
                               measure_kwargs, bar)
        finally:
            bar.close()
        for i, j, forward, backward in triples:
            values[i, j], values[j, i] = forward, backward
        return PairwiseResult(values, tuple(labels), measure, space, dict(measure_kwargs))
    own_pool = executor is None
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1) if own_pool else executor
    try:
        with single_blas_thread():
            factors = dict(zip(needed, _run(pool, [(arrays[i], labels[i], measure, space, measure_kwargs,
                                                    rtol or default_rtol(widths[i])) for i in needed],
                                            _factor, bar)))
            if own_pool:
                results = _run(pool, [(measure, factors[i], factors[j], measure_kwargs) for i, j in wanted],
                               _guarded_pair, bar)
                triples = [(i, j, *r) for (i, j), r in zip(wanted, results)]
            else:
                tiles = _tiles(len(needed), int(np.ceil(np.sqrt(2 * _worker_count(executor)))) + 1)
                blocks = [[(needed[t], factors[needed[t]]) for t in tile] for tile in tiles]
                tasks = [(measure, measure_kwargs, a, b) for ia, a in enumerate(blocks)
                         for b in blocks[ia:]]
                wanted_set = set(wanted)
                triples = []
                for out in _run(executor, tasks, _tile_work, _NoBar()):
                    triples.extend(t for t in out if (t[0], t[1]) in wanted_set)
                    bar.update(len(out))
    finally:
        bar.close()
        if own_pool:
            pool.shutdown(wait=True)
    if measure in ("mean_cca", "pwcca") and wanted:
        # One warning for the pair with the most correlations forced to 1 by the shapes.
        worst = max(wanted, key=lambda p: factors[p[0]].qt.shape[0] + factors[p[1]].qt.shape[0])
        _warn_forced_pair(factors[worst[0]], factors[worst[1]], n, measure_kwargs,
                          (f"network {labels[worst[0]]!r}", f"network {labels[worst[1]]!r}"), stacklevel=3)
    for i, j, forward, backward in triples:
        values[i, j], values[j, i] = forward, backward
    return PairwiseResult(values, tuple(labels), measure, space, dict(measure_kwargs))


def _is_dask_client(executor: Any) -> bool:
    return all(hasattr(executor, a) for a in ("scatter", "gather", "submit", "nthreads"))


def _factor_on_worker(*args: Any) -> _Factor:
    with single_blas_thread():
        return _factor(*args)


def _pair_on_worker(i: int, j: int, measure: str, fi: _Factor, fj: _Factor,
                    kwargs: dict[str, Any]) -> tuple[int, int, float, float]:
    with single_blas_thread():
        return (i, j, *_guarded_pair(measure, fi, fj, kwargs))


def _on_dask(client: Any, arrays: list[np.ndarray], labels: list[str], widths: list[int], needed: list[int],
             wanted: list[tuple[int, int]], measure: str, space: str, kwargs: dict[str, Any], bar) -> list:
    """Each array is scattered once and factored on a worker; factors stay on the workers, and a
    pair's task fetches the two it needs (a worker keeps what it fetched, so each factor reaches each
    worker at most once)."""
    from distributed import as_completed

    rtol = kwargs.get("rtol")
    data = client.scatter([arrays[i] for i in needed])
    factors = {i: client.submit(_factor_on_worker, fut, labels[i], measure, space, kwargs,
                                rtol or default_rtol(widths[i]), key=f"cca-core-factor-{labels[i]}-{fut.key}")
               for i, fut in zip(needed, data)}
    futures = [client.submit(_pair_on_worker, i, j, measure, factors[i], factors[j], kwargs,
                             key=f"cca-core-pair-{measure}-{factors[i].key}-{factors[j].key}")
               for i, j in wanted]
    bar.update(len(needed))
    triples = []
    try:
        for fut in as_completed(futures, loop=client.loop):
            triples.append(fut.result())
            bar.update(1)
    finally:
        for fut in futures + list(factors.values()) + list(data):
            fut.release()
    return triples


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _worker_count(executor: Any) -> int:
    for attr in ("_max_workers",):
        if hasattr(executor, attr):
            return int(getattr(executor, attr))
    if hasattr(executor, "nthreads"):  # distributed.Client
        try:
            return max(1, sum(executor.nthreads().values()))
        except Exception:  # noqa: BLE001
            pass
    return os.cpu_count() or 1

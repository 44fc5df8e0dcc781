"""Orthogonal Procrustes and the angular shape metrics (Williams, Kunz, Kornblith & Linderman 2021).

Williams et al. (2021, "Generalized shape metrics on neural representations", section 3) compare two
representations after the best alignment by a group of transformations. With centring, scaling and
rotations (orthogonal maps) as the group, the *angular Procrustes metric* is

    theta(X, Y) = arccos ||X^T Y||_*

on centred activations normalised to unit Frobenius norm (``||.||_*`` the nuclear norm, the sum of
singular values: ``max_Q tr(X^T Y Q)`` over orthogonal ``Q``). Its Euclidean sibling, the
orthogonal Procrustes distance used by Ding, Denain & Steinhardt (2021) for representational
similarity, is

    d(X, Y)^2 = min_Q ||X - Y Q||_F^2 = ||X||^2 + ||Y||^2 - 2 ||X^T Y||_* = 2 - 2 cos theta.

The *shape metric* with parameter ``alpha`` in [0, 1] (Williams et al. 2021, section 3, "partial
whitening") first maps each side to

    phi_alpha(X) = X (alpha I + (1 - alpha) (X^T X)^(-1/2)),

then takes the angular Procrustes metric of ``phi_alpha(X)`` and ``phi_alpha(Y)``: ``alpha = 1`` is
Procrustes, ``alpha = 0`` compares the whitened data and gives ``cos theta = sum_i rho_i /
sqrt(r_x r_y)`` over the canonical correlations ``rho_i`` (the mean canonical correlation when both
sides have the same rank ``r_x = r_y``). Every ``theta_alpha`` is a metric (symmetric, triangle
inequality) in radians, in ``[0, pi/2]``; it is invariant to translation, isotropic scaling and
orthogonal maps of either side, and for ``alpha = 0`` to every invertible linear map.

Conventions (the choices netrep's ``LinearMetric`` leaves to its input):

* **Scale.** ``alpha`` mixes the data's singular values ``s_i`` with the whitened ones (all 1), so
  the partial whitening needs a scale; netrep's ``LinearMetric`` takes its input's ``X^T X`` as
  given, which makes ``alpha`` mean different things for different units and numbers of
  datapoints (with raw activations ``s_i`` grows like ``sqrt(n)``). Here the centred data are scaled
  so that the retained squared singular values average 1 (``sum s_i^2 = r``, the rank kept below):
  ``phi_alpha(X) = U diag(alpha s_i + 1 - alpha) V^T`` with ``X = U diag(s) V^T``, and data whose
  spectrum is flat on its subspace are left as they are for every ``alpha``. The metric is then
  invariant to translation, isotropic scaling, orthogonal maps, and to adding constant (or zero)
  neurons. It equals netrep's ``LinearMetric(alpha, score_method="angular")`` fed the centred
  data times ``sqrt(r) / ||X_c||_F`` (for ``alpha`` 0 or 1 the scale cancels, and netrep agrees on
  the raw activations).
* **Rank.** Directions whose eigenvalue of ``X^T X`` is at or below ``rtol`` times the largest
  (default ``max(n_neurons, 10) * 2.2e-16``, as for CCA) are rounding noise and are dropped (netrep
  clamps such eigenvalues at ``1e-7`` and whitens them instead, which blows the noise up). For
  ``alpha = 1`` this changes nothing above rounding: a dropped direction has
  ``s_i <= sqrt(rtol) s_max``.
* **Different numbers of neurons.** ``||phi(X)^T phi(Y)||_*`` is defined for any widths and equals
  what zero-padding the narrower side (netrep's ``zero_pad=True``) gives; no padding is made.
* **Wide layers** (neurons > datapoints): the same numbers from the ``n x n`` Gram matrix
  ``X X^T = U S^2 U^T``, since ``phi_alpha(X) = U diag(f) V^T`` and ``V`` cancels:
  ``||phi(X)^T phi(Y)||_* = ||diag(f_x) U_x^T U_y diag(f_y)||_*``; memory ``O(n^2 + n d)``.
* **Streaming.** Every value here is a function of the covariance blocks of ``[X, Y]``
  (:func:`shape_similarity_from_covariances`), so :class:`~cca_core.Moments` gives them from
  data streamed chunk by chunk (``Moments.shape_similarity``, ``shape_distance``,
  ``procrustes_similarity``, ``procrustes_distance``); :func:`cca_core.pairwise` takes
  ``"procrustes_similarity"`` and ``"shape_similarity"`` (with ``alpha``), each network's
  ``phi_alpha`` computed once.

Procrustes itself needs no such scale (``alpha = 1``): it is computed on the centred data normalised
to unit Frobenius norm, and the Euclidean Procrustes distance (``procrustes_distance``) is in units
of those normalised data (between 0 and ``sqrt(2)``); the angular metrics are in radians.

This module holds the metrics' mathematics (:func:`shape_weights`,
:func:`shape_similarity_from_covariances`); the functions on activations --
:func:`cca_core.shape_similarity`, :func:`cca_core.shape_distance`,
:func:`cca_core.procrustes_similarity`, :func:`cca_core.procrustes_distance` -- are in
:mod:`cca_core.measures` with the other measures, and a network's ``phi_alpha`` for
:func:`cca_core.pairwise` in :mod:`cca_core.factors`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .canonical import default_rtol

__all__ = ["PROCRUSTES_METRICS", "check_alpha", "check_rtol", "shape_weights", "shape_similarity_from_covariances"]

#: ``metric`` values of :func:`procrustes_distance`, netrep's ``score_method`` names.
PROCRUSTES_METRICS = ("euclidean", "angular")


def check_alpha(alpha: object) -> float:
    """``alpha`` as a float in [0, 1]; ``TypeError`` for a non-number, ``ValueError`` otherwise."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha (partial whitening of the shape metric) must be a real number in [0, 1], "
                        f"got {type(alpha).__name__} {alpha!r}")
    value = float(alpha)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"alpha (partial whitening of the shape metric) must be in [0, 1] "
                         f"(0: CCA, 1: Procrustes), got {alpha!r}")
    return value


def check_rtol(rtol: object) -> None:
    """``ValueError`` unless ``rtol`` is None or a real number in (0, 1)."""
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, numbers.Real)
                             or not 0 < rtol < 1):
        raise ValueError(f"rtol (relative eigenvalue tolerance) must be a number in (0, 1), got {rtol!r}")


def shape_weights(evals: np.ndarray, alpha: float, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-direction factors of the partial whitening, from the eigenvalues of ``X^T X``.

    Parameters
    ----------
    evals : ndarray, shape (r,)
        Eigenvalues ``s_i^2`` of ``X^T X`` (or of ``X X^T``) for the centred data, any common scale.
    alpha : float
        In [0, 1] (already checked).
    rtol : float
        Directions with ``s_i^2 <= rtol * max s^2`` get no whitening part.

    Returns
    -------
    g : ndarray, shape (r,)
        ``alpha + (1 - alpha) / s_i`` (0 for truncated directions), ``s`` scaled so that
        ``sum s_i^2 = r`` over the ``r`` directions kept: ``phi_alpha(X) = X_c V diag(g) V^T`` for
        the centred data ``X_c`` scaled the same way (``sqrt(r) / ||X_c||_F``).
    f : ndarray, shape (r,)
        ``s_i g_i = alpha s_i + 1 - alpha`` (0 for truncated directions): ``phi_alpha(X) = U diag(f) V^T``.
    """
    lam = np.clip(np.asarray(evals, dtype=np.float64), 0.0, None)
    total = lam.sum()
    if not total > 0:
        raise ValueError("no variance")
    kept = lam > rtol * lam.max()
    lam = lam * (np.count_nonzero(kept) / total)
    s = np.sqrt(lam)
    g = np.zeros(lam.shape)
    g[kept] = alpha + (1.0 - alpha) / s[kept]
    f = np.where(kept, alpha * s + (1.0 - alpha), 0.0)
    return g, f


def shape_similarity_from_covariances(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray, alpha: float = 1.0,
                                      rtol: float | None = None, max_rank: int | None = None) -> float:
    """``cos theta_alpha`` from the blocks of the joint covariance of ``[X, Y]`` (any common scale).

    With ``r_x Sxx / tr Sxx = V_x diag(s_x^2) V_x^T`` (likewise Y) and ``g``, ``f`` of
    :func:`shape_weights`: ``cos theta = sqrt(r_x r_y) ||diag(g_x) V_x^T Sxy V_y diag(g_y)||_* /
    (sqrt(tr Sxx tr Syy) ||f_x|| ||f_y||)``, clipped to [0, 1]. ``alpha = 1`` needs no
    eigendecomposition: ``||Sxy||_* / sqrt(tr Sxx tr Syy)``. ``max_rank`` (``n_datapoints - 1``)
    keeps at most that many leading directions per side: the rest of the spectrum is rounding
    when neurons outnumber datapoints. Williams et al. (2021), section 3.
    """
    alpha = check_alpha(alpha)
    check_rtol(rtol)
    tx, ty = float(np.trace(sxx)), float(np.trace(syy))
    if not (tx > 0 and ty > 0):
        raise ValueError("X or Y has no variance")
    if alpha == 1.0:
        nuclear = np.linalg.svd(sxy, compute_uv=False).sum()
        return float(np.clip(nuclear / (math.sqrt(tx) * math.sqrt(ty)), 0.0, 1.0))
    sides = []
    for s in (sxx, syy):
        evals, evecs = np.linalg.eigh(s)
        if max_rank is not None and max_rank < evals.size:
            evals, evecs = evals[evals.size - max_rank:], evecs[:, evals.size - max_rank:]
        g, f = shape_weights(evals, alpha, rtol if rtol is not None else default_rtol(s.shape[0]))
        # phi = X_c sqrt(r / tr) V diag(g); ||phi||_F = ||f||
        sides.append((evecs * g, float(np.linalg.norm(f)) / math.sqrt(np.count_nonzero(g))))
    (wx, nx), (wy, ny) = sides
    nuclear = np.linalg.svd(wx.T @ sxy @ wy, compute_uv=False).sum()
    return float(np.clip(nuclear / (math.sqrt(tx) * math.sqrt(ty) * nx * ny), 0.0, 1.0))

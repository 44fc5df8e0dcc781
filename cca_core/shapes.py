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
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .validation import check_pair
from .canonical import default_rtol
from .moments import Moments

__all__ = ["procrustes_distance", "procrustes_similarity", "shape_distance", "shape_similarity",
           "check_alpha", "shape_weights", "shape_similarity_from_covariances"]

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


def _check_rtol(rtol: object) -> None:
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
    _check_rtol(rtol)
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


def _order_one(a: np.ndarray) -> np.ndarray:
    """``a`` times a power of two (exact) when its largest ``|value|`` lies outside ``2**±64``.

    The Gram blocks square the activations: without this, data beyond about ``1e±77`` would make
    ``tr Sxx tr Syy`` overflow or underflow and the similarity 0 or 1 without a word. NaN/Inf are
    left for the input gate to report.
    """
    if a.size == 0:
        return a
    with np.errstate(invalid="ignore"):
        top = max(float(np.max(a)), -float(np.min(a)))
    if not np.isfinite(top) or top == 0.0:
        return a
    k = int(np.frexp(top)[1])
    return a if -64 <= k <= 64 else np.ldexp(np.asarray(a, dtype=np.float64), -k)


def _wide(x: np.ndarray, y: np.ndarray) -> bool:
    return max(x.shape[1], y.shape[1]) > x.shape[0]


def shape_similarity(X: np.ndarray, Y: np.ndarray, alpha: float = 1.0, rtol: float | None = None) -> float:
    """``cos`` of the angular shape metric: ``||phi_alpha(X)^T phi_alpha(Y)||_*`` on normalised data.

    The similarity form of :func:`shape_distance` (``shape_distance = arccos(shape_similarity)``),
    the one registered for :func:`cca_core.pairwise` and :mod:`cca_core.stats` as
    ``"shape_similarity"``. In [0, 1], 1 for representations equal up to translation, isotropic
    scaling and an orthogonal map (any invertible linear map when ``alpha = 0``). Symmetric.

    Parameters
    ----------
    X, Y : array_like, shapes (n_datapoints, n_neurons_x) and (n_datapoints, n_neurons_y)
        Neuron counts may differ.
    alpha : float in [0, 1]
        Partial whitening (Williams et al. 2021, section 3): 0 is CCA (``sum rho_i /
        sqrt(r_x r_y)``, the mean canonical correlation for equal ranks), 1 (default, as netrep's
        ``LinearMetric``) is orthogonal Procrustes.
    rtol : float, optional
        Relative eigenvalue tolerance of each side's rank truncation (default
        ``max(n_neurons, 10) * 2.2e-16``); see the module's notes.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Non-numeric or complex activations; ``alpha`` not a real number.
    ValueError
        Activations not 2-D, with fewer than 2 datapoints, different numbers of datapoints, NaN/Inf
        or no variance; ``alpha`` outside [0, 1] or not finite; ``rtol`` outside (0, 1).

    Notes
    -----
    Datapoints >= neurons: one pass builds :class:`~cca_core.Moments` and the value comes from the
    covariance blocks. Neurons > datapoints: data space, from each side's ``n x n`` Gram matrix
    (memory ``O(n^2 + n d)``); same value within rounding.
    """
    alpha = check_alpha(alpha)
    _check_rtol(rtol)
    # Whitening (alpha < 1) matches anything when neurons reach datapoints, as CCA does: same warning.
    x, y = check_pair(X, Y, check_finite=False, warn=alpha < 1.0)
    x, y = _order_one(x), _order_one(y)
    if _wide(x, y):
        from .pairs import pair_similarity  # pairs imports the registry, which imports this module

        return pair_similarity(x, y, "shape_similarity", space="data", alpha=alpha, rtol=rtol)
    return Moments(x.shape[1], y.shape[1])._accumulate(x, y).shape_similarity(alpha, rtol)


def procrustes_similarity(X: np.ndarray, Y: np.ndarray) -> float:
    """``||X^T Y||_*`` on centred data normalised to unit Frobenius norm: ``cos`` of the angular Procrustes metric.

    Equals ``max_Q <X, Y Q>_F`` over orthogonal ``Q`` and ``shape_similarity(X, Y, alpha=1)``
    (Williams et al. 2021, section 3; Ding et al. 2021). In [0, 1]; 1 exactly when ``Y = c X Q + v``
    (``Q`` orthogonal, ``c > 0``, ``v`` a row offset). Registered as ``"procrustes_similarity"``.
    Inputs and errors as :func:`shape_similarity`.
    """
    return shape_similarity(X, Y, alpha=1.0)


def shape_distance(X: np.ndarray, Y: np.ndarray, alpha: float = 1.0, rtol: float | None = None) -> float:
    """Angular shape metric ``theta_alpha = arccos ||phi_alpha(X)^T phi_alpha(Y)||_*``, in radians.

    Williams, Kunz, Kornblith & Linderman (2021), "Generalized shape metrics on neural
    representations", section 3: the angle between the partially whitened, centred, normalised
    representations after their best rotational alignment; netrep's
    ``LinearMetric(alpha, score_method="angular")`` (see the module's notes on scale). A metric on
    representations modulo translation, isotropic scaling and orthogonal maps: symmetric, zero for
    ``Y = c X Q + v``, and it satisfies the triangle inequality. In ``[0, pi/2]``.

    ``alpha = 0`` gives ``arccos`` of the mean canonical correlation when both sides have the same
    rank (in general ``arccos(sum rho_i / sqrt(r_x r_y))``); ``alpha = 1`` (default) the angular
    Procrustes metric. Arguments, errors and spaces as :func:`shape_similarity`.

    Returns
    -------
    float
        The angle in radians.
    """
    return float(np.arccos(shape_similarity(X, Y, alpha, rtol)))


def procrustes_distance(X: np.ndarray, Y: np.ndarray, metric: str = "euclidean") -> float:
    """Orthogonal Procrustes distance between centred activations normalised to unit Frobenius norm.

    ``metric="euclidean"`` (default): ``d = min_Q ||X - Y Q||_F`` over orthogonal ``Q``, i.e.
    ``d^2 = ||X||^2 + ||Y||^2 - 2 ||X^T Y||_* = 2 - 2 ||X^T Y||_*``, in [0, sqrt(2)] (units of the
    normalised data) -- the square root of the Procrustes distance of Ding, Denain & Steinhardt (2021),
    section 2, who report ``d^2`` (square the result to compare with their numbers), and netrep's ``LinearMetric(alpha=1, score_method="euclidean")`` on such normalised data.
    ``metric="angular"``: ``arccos ||X^T Y||_*`` in radians, in [0, pi/2] -- Williams et al.'s
    (2021, section 3) angular Procrustes metric, netrep's ``LinearMetric(alpha=1)`` default
    ``score_method="angular"``, and :func:`shape_distance` with ``alpha = 1``. Both are metrics.

    Parameters
    ----------
    X, Y : array_like, shapes (n_datapoints, n_neurons_x) and (n_datapoints, n_neurons_y)
        Neuron counts may differ (the same as zero-padding the narrower side).
    metric : {"euclidean", "angular"}

    Raises
    ------
    TypeError, ValueError
        As :func:`shape_similarity`; ``ValueError`` for another ``metric``.
    """
    if metric not in PROCRUSTES_METRICS:
        raise ValueError(f"metric must be one of {', '.join(PROCRUSTES_METRICS)}, got {metric!r}")
    s = procrustes_similarity(X, Y)
    if metric == "angular":
        return float(np.arccos(s))
    return math.sqrt(max(2.0 - 2.0 * s, 0.0))

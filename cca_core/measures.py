"""Similarity measures on in-memory activations ``(n_datapoints, n_neurons)``.

Each is a thin wrapper: one chunked pass builds :class:`~cca_core.Moments`, and the measure is
computed from it. When a side has more neurons than there are datapoints (flattened conv layers),
the measures work in data space instead (``n x n`` Gram matrices, :mod:`cca_core.pairs`), with
memory ``O(n^2 + n d)`` above the inputs rather than ``O(d^2)``; the values are the same. Each
similarity ``s`` has a distance ``1 - s`` beside it.

Small linear algebra runs with one BLAS thread (:mod:`cca_core._threads`), so that a call on a
machine whose cores are busy (training beside it) is not stalled by BLAS threads waiting for cores.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from . import cka
from ._threads import single_blas_thread
from .validation import check_finite_values, check_pair
from .canonical import CCAResult
from .moments import Moments

__all__ = [
    "cca", "mean_cca", "svcca", "pwcca", "linear_cka", "debiased_linear_cka", "rbf_cka",
    "mean_cca_distance", "svcca_distance", "pwcca_distance", "linear_cka_distance",
    "debiased_linear_cka_distance", "rbf_cka_distance", "MEASURES", "get_measure",
]


def _wide(x: np.ndarray, y: np.ndarray) -> bool:
    """Data space: some side has more neurons than there are datapoints."""
    return max(x.shape[1], y.shape[1]) > x.shape[0]


def _data_space(measure: str, x: np.ndarray, y: np.ndarray, **kwargs) -> float:
    from .pairs import pair_similarity  # pairs imports this module

    return pair_similarity(x, y, measure, space="data", **kwargs)


def _with_source(x: np.ndarray, y: np.ndarray) -> Moments:
    """Moments of in-memory data that keep the arrays at hand for the QR route (ill-conditioned data)."""
    m = Moments(x.shape[1], y.shape[1])._accumulate(x, y)
    m._source = (x, y)
    return m


def cca(X: np.ndarray, Y: np.ndarray, rtol: float | None = None, center: bool = True) -> CCAResult:
    """Canonical correlation analysis of ``X`` against ``Y``.

    Parameters
    ----------
    X, Y : array_like, shapes (n_datapoints, n_neurons_x) and (n_datapoints, n_neurons_y)
    rtol : float, optional
        Relative eigenvalue tolerance for rank truncation of each side's correlation matrix
        (default ``max(n_neurons, 10) * 2.2e-16``); see :func:`cca_core.canonical.whiten`.
    center : bool
        Subtract each neuron's mean first (default). ``False`` analyses the raw second moments, as
        Kornblith et al.'s (2019) reference ``cca`` (QR of the uncentred data) does.

    Returns
    -------
    CCAResult
        ``correlations`` (descending, in [0, 1]), ``x_weights``, ``y_weights``, ``x_rank``,
        ``y_rank``, ``rtol``, ``n_forced`` and ``route``.

    Warns
    -----
    ForcedCorrelationWarning
        ``x_rank + y_rank > n - 1``: ``n_forced`` correlations are 1 whatever the data.

    Notes
    -----
    Accuracy follows the conditioning of the data: well-conditioned data take the fast covariance
    route (:func:`cca_core.canonical.cca_from_covariances`); when LAPACK's condition estimate says
    it has lost too many digits (:data:`cca_core.canonical.DATA_RCOND`), the QR route on the
    centred data (:func:`cca_core.canonical.cca_from_data`, Björck & Golub 1973), accurate to about
    ``eps * cond(data)``; directions below :func:`cca_core.canonical.data_tolerance` are dropped.
    """
    return Moments.from_arrays(X, Y).cca(rtol, center)


def mean_cca(X: np.ndarray, Y: np.ndarray, squared: bool = False, rtol: float | None = None,
             center: bool = True) -> float:
    """Mean canonical correlation ``(1/k) sum_i rho_i`` over ``k = min(rank X, rank Y)`` pairs.

    ``squared=True`` gives the mean squared canonical correlation ``(1/k) sum_i rho_i^2``
    (Kornblith et al. 2019's ``R^2_CCA`` when X has no more neurons than Y). Symmetric; invariant
    to translation, scale and any invertible linear map of either side. ``center`` as in :func:`cca`
    (uncentred CCA is not translation-invariant).
    """
    x, y = check_pair(X, Y, check_finite=False)
    if _wide(x, y):
        return _data_space("mean_cca", x, y, squared=squared, rtol=rtol, center=center)
    return _with_source(x, y).mean_cca(squared, rtol, center)


def svcca(X: np.ndarray, Y: np.ndarray, keep: float | int = 0.99, rtol: float | None = None) -> float:
    """SVCCA (Raghu et al. 2017): mean CCA between the leading singular directions of X and Y.

    Each side is centred and reduced to its leading singular directions, then ``mean_cca`` is taken.
    ``keep`` a float in (0, 1] keeps the fewest directions whose singular values add up to that
    fraction of the sum of all singular values (0.99 as in Raghu et al. 2017, appendix A; note this
    is the sum of singular values, not of their squares). ``keep`` an int keeps that many directions.
    Symmetric; invariant to translation, isotropic scaling and orthogonal maps (not to general
    invertible maps, which change the singular directions).
    """
    x, y = check_pair(X, Y, check_finite=False)
    if _wide(x, y):
        return _data_space("svcca", x, y, keep=keep, rtol=rtol)
    return _with_source(x, y).svcca(keep, rtol)


def pwcca(X: np.ndarray, Y: np.ndarray, rtol: float | None = None) -> float:
    """Projection-weighted CCA of X against Y (Morcos, Raghu & Bengio 2018, section 2.2).

    ``sum_i alpha_i rho_i`` with ``alpha_i`` proportional to ``sum_j |<h_i, z_j>|``, where ``h_i``
    are the canonical variates of X and ``z_j`` X's centred neurons: canonical directions that
    account for more of X's activations weigh more. **Not symmetric**: ``pwcca(X, Y)`` weighs by X.
    Invariant to translation and isotropic scaling of either side, to any invertible linear map of
    Y, and to permutations and sign flips of X's neurons; not to general orthogonal or invertible
    maps of X, since the weights are L1 norms over X's neurons.

    Differs from google/svcca's ``compute_pwcca`` (:func:`cca_core.compat.compute_pwcca`), which
    weighs by whichever side has fewer neurons and projects uncentred activations, so that its
    value changes when a constant is added to the activations.
    """
    x, y = check_pair(X, Y, check_finite=False)
    if _wide(x, y):
        return _data_space("pwcca", x, y, rtol=rtol)
    return _with_source(x, y).pwcca(rtol)


def _cka_moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, Moments]:
    """``(x, y, Moments of x and y)`` for linear CKA, at any finite scale of the data.

    Ordinary data are accumulated as they are. When their raw products overflow float64 (the
    accumulator's overflow error) or fall below its normal range
    (:func:`cca_core.cka.check_gram_range`), each side is replaced by a centred copy times a power
    of two (:func:`cca_core.cka.unit_scaled`; CKA is invariant to both) and accumulated again.
    NaN/Inf keep their own error.
    """
    try:
        m = Moments(x.shape[1], y.shape[1])._accumulate(x, y)
        sxx, _, syy = m.covariance()
        if all(np.max(np.diagonal(s)) >= cka.VARIANCE_FLOOR for s in (sxx, syy)):
            return x, y, m
    except ValueError:
        for name, arr in (("X", x), ("Y", y)):
            if not np.isfinite(arr).all():
                check_finite_values(name, arr, known_bad=True)  # NaN/Inf: counted, side named
    x, y = cka.unit_scaled(x, "X"), cka.unit_scaled(y, "Y")
    return x, y, Moments(x.shape[1], y.shape[1])._accumulate(x, y)


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019): ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``.

    Symmetric; invariant to translation, isotropic scaling and orthogonal maps, not to general
    invertible linear maps.

    Any finite scale of the data gives the value of the data brought to order one: each side is
    rescaled by a power of two where its products would overflow or underflow float64
    (:mod:`cca_core.cka`'s notes on scale). ``ValueError`` naming the side for NaN/Inf, and for a
    side with no variance.
    """
    x, y = check_pair(X, Y, check_finite=False, warn=False)
    if _wide(x, y):
        return _data_space("linear_cka", x, y)
    return _cka_moments(x, y)[2].linear_cka()


def debiased_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA with the unbiased HSIC estimator of Song et al. (2012).

    Less biased upward when neurons are many compared with datapoints; may be slightly negative
    for unrelated data. Needs at least 4 datapoints. Same invariances as :func:`linear_cka`.

    Any finite scale of the data gives the value of the data brought to order one: each side is
    rescaled by a power of two where its products would overflow or underflow float64
    (:mod:`cca_core.cka`'s notes on scale). ``ValueError`` naming the side for NaN/Inf, and for a
    side with no variance.
    """
    x, y = check_pair(X, Y, check_finite=False, warn=False)  # the accumulator finds NaN/Inf in its pass
    if _wide(x, y):
        if x.shape[0] < 4:
            raise ValueError(f"debiased CKA needs at least 4 datapoints, got {x.shape[0]}")
        return _data_space("debiased_linear_cka", x, y)
    x, y, m = _cka_moments(x, y)
    sxx, sxy, syy = m._blocks_checked()
    return cka.debiased_linear_cka_from_data(x, y, m.mean_x, m.mean_y, sxx, sxy, syy)


def rbf_cka(X: np.ndarray, Y: np.ndarray, threshold: float = 0.5) -> float:
    """CKA with Gaussian (RBF) kernels, bandwidth ``threshold`` times the median distance.

    Memory and time ``O(n_datapoints^2)``: for up to a few thousand datapoints. Symmetric;
    invariant to translation, isotropic scaling (the bandwidth follows the median) and orthogonal maps.

    Any finite scale of the data gives the value of the data brought to order one: each side is
    rescaled by a power of two where its products would overflow or underflow float64
    (:mod:`cca_core.cka`'s notes on scale). ``ValueError`` naming the side for NaN/Inf, and for a
    side with no variance.
    """
    # NaN/Inf are found (and counted, naming the side) where each side is rescaled: the gate's sum
    # over all values would overflow for finite data near float64's largest numbers.
    x, y = check_pair(X, Y, check_finite=False, warn=False)
    with single_blas_thread(enabled=x.shape[0] <= 2000):
        return cka.rbf_cka_from_data(x, y, threshold)


def _distance(similarity: Callable[..., float]) -> Callable[..., float]:
    @functools.wraps(similarity)
    def distance(*args, **kwargs) -> float:
        return 1.0 - similarity(*args, **kwargs)

    distance.__name__ = distance.__qualname__ = f"{similarity.__name__}_distance"
    distance.__doc__ = f"``1 - {similarity.__name__}(...)``; same arguments.\n\n" + (similarity.__doc__ or "")
    return distance


mean_cca_distance = _distance(mean_cca)
svcca_distance = _distance(svcca)
pwcca_distance = _distance(pwcca)
linear_cka_distance = _distance(linear_cka)
debiased_linear_cka_distance = _distance(debiased_linear_cka)
rbf_cka_distance = _distance(rbf_cka)



#: Every similarity measure of the package by name; the names ``pairwise`` and ``cca_core.stats`` take.
MEASURES: dict[str, Callable[..., float]] = {
    "mean_cca": mean_cca,
    "svcca": svcca,
    "pwcca": pwcca,
    "linear_cka": linear_cka,
    "debiased_linear_cka": debiased_linear_cka,
    "rbf_cka": rbf_cka,
}


def get_measure(name: str) -> Callable[..., float]:
    """The similarity function called ``name`` (a key of :data:`MEASURES`).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if not isinstance(name, str) or name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; known measures: {', '.join(MEASURES)}")
    return MEASURES[name]


# ------------------------------------------------------------------ shape metrics (cca_core.shapes)
# Registered by their similarity (cos of the angular metric), so that every name ``m`` of the registry
# keeps ``m_distance = 1 - m``; the metrics themselves are cca_core.shape_distance and
# cca_core.procrustes_distance (arccos, and the Euclidean Procrustes distance).
from .shapes import procrustes_similarity, shape_similarity  # noqa: E402  (shapes needs Moments only)

procrustes_similarity_distance = _distance(procrustes_similarity)
shape_similarity_distance = _distance(shape_similarity)
MEASURES["procrustes_similarity"] = procrustes_similarity
MEASURES["shape_similarity"] = shape_similarity
__all__ += ["procrustes_similarity", "shape_similarity", "procrustes_similarity_distance",
            "shape_similarity_distance"]

"""Similarity measures on in-memory activations ``(n_datapoints, n_neurons)``, and their registry.

Each is a thin wrapper: one chunked pass builds :class:`~cca_core.Moments`, and the measure is
computed from it. When a side has more neurons than there are datapoints (flattened conv layers),
the measures work in data space instead (``n x n`` Gram matrices, :mod:`cca_core.factors`), with
memory ``O(n^2 + n d)`` above the inputs rather than ``O(d^2)``; the values are the same. Each
similarity ``s`` has a distance ``1 - s`` beside it.

:data:`REGISTRY` is the one list of the package's measures: name, function, distance, options and
family (CCA family, CKA, shape metrics), which :func:`cca_core.pairwise`, :mod:`cca_core.stats` and
the experiments read (:func:`lookup`, :func:`measure_names`; :data:`MEASURES` maps names to functions).

Small linear algebra runs with one BLAS thread (:mod:`cca_core._threads`), so that a call on a
machine whose cores are busy (training beside it) is not stalled by BLAS threads waiting for cores.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import cka
from ._scaling import order_one
from ._threads import single_blas_thread
from .validation import check_finite_values, check_pair
from .canonical import CCAResult
from .factors import pair_similarity
from .moments import Moments
from .shapes import PROCRUSTES_METRICS, check_alpha, check_rtol

__all__ = [
    "cca", "mean_cca", "svcca", "pwcca", "linear_cka", "debiased_linear_cka", "rbf_cka",
    "procrustes_similarity", "shape_similarity", "procrustes_distance", "shape_distance",
    "mean_cca_distance", "svcca_distance", "pwcca_distance", "linear_cka_distance",
    "debiased_linear_cka_distance", "rbf_cka_distance", "procrustes_similarity_distance",
    "shape_similarity_distance", "Measure", "REGISTRY", "FAMILIES", "MEASURES", "lookup", "get_measure",
    "measure_names",
]


def _wide(x: np.ndarray, y: np.ndarray) -> bool:
    """Data space: some side has more neurons than there are datapoints."""
    return max(x.shape[1], y.shape[1]) > x.shape[0]


def _data_space(measure: str, x: np.ndarray, y: np.ndarray, **kwargs) -> float:
    """The measure of checked arrays through the per-network factors, in data space."""
    return pair_similarity(x, y, measure, REGISTRY[measure].family, space="data", **kwargs)


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
        ``max(n_neurons, 10) * 2.2e-16``); see :mod:`cca_core.shapes`' notes.

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
    check_rtol(rtol)
    # Whitening (alpha < 1) matches anything when neurons reach datapoints, as CCA does: same warning.
    x, y = check_pair(X, Y, check_finite=False, warn=alpha < 1.0)
    x, y = order_one(x), order_one(y)
    if _wide(x, y):
        return _data_space("shape_similarity", x, y, alpha=alpha, rtol=rtol)
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
    ``LinearMetric(alpha, score_method="angular")`` (see :mod:`cca_core.shapes`' notes on scale). A metric on
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
# The shape metrics are registered by their similarity (cos of the angular metric), so that every
# name m of the registry keeps m_distance = 1 - m; the metrics themselves are shape_distance and
# procrustes_distance (arccos, and the Euclidean Procrustes distance).
procrustes_similarity_distance = _distance(procrustes_similarity)
shape_similarity_distance = _distance(shape_similarity)


# ------------------------------------------------------------------------------------ the registry
#: The families of :class:`Measure`: the CCA family, centered kernel alignment, the shape metrics.
FAMILIES = ("cca", "cka", "shape")


@dataclass(frozen=True)
class Measure:
    """One similarity measure of the package, as :data:`REGISTRY` lists it.

    Attributes
    ----------
    name : str
        Its name, e.g. ``"pwcca"``: what :func:`cca_core.pairwise` and :mod:`cca_core.stats` take.
    function : callable
        ``function(X, Y, **options) -> float``, the similarity on ``(n_datapoints, n_neurons)`` arrays.
    distance : callable
        ``1 - function(...)``, same arguments (``cca_core.<name>_distance``).
    options : tuple of str
        Its keyword arguments (read from ``function``'s signature), the options ``pairwise`` accepts.
    family : str
        ``"cca"`` (mean CCA, SVCCA, PWCCA: canonical correlations), ``"cka"`` (linear, debiased and
        RBF CKA) or ``"shape"`` (Procrustes and the shape metrics of Williams et al. 2021).
    resampled_moments : bool
        :mod:`cca_core.stats` resamples its joint moments (:class:`~cca_core.Moments` has a method of
        the same name) instead of recomputing it from resampled rows.
    """

    name: str
    function: Callable[..., float]
    distance: Callable[..., float]
    options: tuple[str, ...]
    family: str
    resampled_moments: bool = False


def _entry(function: Callable[..., float], distance: Callable[..., float], family: str,
           resampled_moments: bool = False) -> Measure:
    options = tuple(list(inspect.signature(function).parameters)[2:])  # after X, Y
    return Measure(function.__name__, function, distance, options, family, resampled_moments)


#: Every similarity measure of the package by name, in the order error messages list them.
REGISTRY: dict[str, Measure] = {m.name: m for m in (
    _entry(mean_cca, mean_cca_distance, "cca", resampled_moments=True),
    _entry(svcca, svcca_distance, "cca", resampled_moments=True),
    _entry(pwcca, pwcca_distance, "cca", resampled_moments=True),
    _entry(linear_cka, linear_cka_distance, "cka", resampled_moments=True),
    _entry(debiased_linear_cka, debiased_linear_cka_distance, "cka"),
    _entry(rbf_cka, rbf_cka_distance, "cka"),
    _entry(procrustes_similarity, procrustes_similarity_distance, "shape"),
    _entry(shape_similarity, shape_similarity_distance, "shape"),
)}

#: Name -> similarity function, for every measure of :data:`REGISTRY`.
MEASURES: dict[str, Callable[..., float]] = {name: m.function for name, m in REGISTRY.items()}


def lookup(name: str) -> Measure:
    """The :class:`Measure` called ``name``.

    Raises
    ------
    ValueError
        For an unknown name (or a non-string), listing the known ones.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown measure {name!r}; known measures: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def get_measure(name: str) -> Callable[..., float]:
    """The similarity function called ``name`` (a key of :data:`MEASURES`); ``ValueError`` as :func:`lookup`."""
    return lookup(name).function


def measure_names(family: str | None = None, *, resampled_moments: bool | None = None) -> tuple[str, ...]:
    """Names of the registered measures, in :data:`REGISTRY`'s order, of ``family`` (one of
    :data:`FAMILIES`; ``None``: all) and with that ``resampled_moments`` (``None``: either).

    Raises
    ------
    ValueError
        ``family`` not in :data:`FAMILIES`.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)} or None, got {family!r}")
    return tuple(name for name, m in REGISTRY.items()
                 if (family is None or m.family == family)
                 and (resampled_moments is None or m.resampled_moments == resampled_moments))

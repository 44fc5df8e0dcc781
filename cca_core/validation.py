"""The one input gate: clear errors that name the argument, its shape or type, and what is wrong.

Activations (:func:`check_activations`, :func:`check_pair`, :func:`check_conv_activations`) for the
measures; settings (:func:`check_int`, :func:`check_count`, :func:`check_confidence_level`,
:func:`check_probability`, :func:`check_choice`, :func:`check_seed`) and distance matrices
(:func:`check_distance_matrix`, :func:`check_labels`) for :mod:`cca_core.stats` and the experiments.
A value of the wrong type raises ``TypeError``; a value of the right type out of range ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

__all__ = ["RankWarning", "ForcedCorrelationWarning", "ConditioningWarning", "warn_forced", "check_activations",
           "check_conv_activations", "check_finite_values", "check_pair", "MIN_RESAMPLES", "check_int",
           "check_count", "check_confidence_level", "check_probability", "check_choice", "check_seed",
           "check_distance_matrix", "check_labels"]

#: Fewest resamples or permutations :func:`check_count` accepts. With 99 a permutation p-value can
#: reach 0.01 (``1 / (99 + 1)``) and a 95% interval's ends rest on at least two resamples beyond each end.
MIN_RESAMPLES = 99


# ---------------------------------------------------------------------------------------- settings
def check_int(name: str, value: Any, minimum: int = 1, why: str = "") -> int:
    """``value`` as an int, at least ``minimum``.

    Raises
    ------
    TypeError
        Not an integer (bool, float and str included: ``3.0`` is refused).
    ValueError
        Below ``minimum``; the message adds ``why``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}{why}, got {value}")
    return int(value)


def check_count(name: str, value: Any, minimum: int = MIN_RESAMPLES) -> int:
    """A number of resamples or permutations: an integer, at least :data:`MIN_RESAMPLES` (99) unless
    ``minimum`` says otherwise (a chance level from a few shuffles, say). Errors as :func:`check_int`."""
    why = (" (with fewer, a p-value cannot reach 0.01 and an interval's ends rest on one or two resamples)"
           if minimum == MIN_RESAMPLES else "")
    return check_int(name, value, minimum, why)


def check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    """``value`` as a float in (0, 1) (``open_interval``) or [0, 1].

    Raises
    ------
    TypeError
        Not a real number (bool and str included).
    ValueError
        Outside the interval, or NaN.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in {'(0, 1)' if open_interval else '[0, 1]'}, got {value!r} "
                        f"of type {type(value).__name__}")
    v = float(value)
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1) (open interval)' if open_interval else '[0, 1]'}, "
                         f"got {value!r}")
    return v


def check_confidence_level(confidence_level: Any, n_resamples: int | None = None) -> float:
    """A confidence level in (0, 1); with ``n_resamples``, also enough resamples that each tail of a
    percentile interval holds one: ``(1 - confidence_level) / 2 * (n_resamples + 1) >= 1``.

    Raises
    ------
    TypeError
        Not a real number.
    ValueError
        Outside (0, 1), or too few resamples for it (the message says how many are needed).
    """
    cl = check_probability("confidence_level", confidence_level)
    if n_resamples is not None:
        tail = (1.0 - cl) / 2.0
        if tail * (n_resamples + 1) < 1.0:
            need = math.ceil(1.0 / tail) - 1
            raise ValueError(f"n_resamples={n_resamples} leaves no resample beyond the ends of a "
                             f"{cl:g} interval; use at least {need} (each tail needs "
                             "(1 - confidence_level) / 2 * (n_resamples + 1) >= 1)")
    return cl


def check_choice(name: str, value: Any, choices: dict[str, str] | Sequence[str]) -> str:
    """``value`` (case-insensitive) among ``choices``; a dict maps lower-case keys to the canonical
    spelling returned. ``ValueError`` listing the choices otherwise."""
    table = choices if isinstance(choices, dict) else {c: c for c in choices}
    key = value.lower() if isinstance(value, str) else None
    if key not in table:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, table.values()))}, got {value!r}")
    return table[key]


def check_seed(seed: Any) -> np.random.Generator:
    """A Generator from ``None`` (fresh entropy), a non-negative int, or a Generator (used as is).

    Raises
    ------
    TypeError
        Another type (bool, float, str).
    ValueError
        A negative int.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be None, an int or a numpy.random.Generator, got {seed!r} "
                        f"of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def check_distance_matrix(d: Any, name: str = "D", atol: float = 1e-9) -> np.ndarray:
    """Return ``d`` as a float array after checking it is a square, symmetric, finite matrix with a
    zero diagonal and non-negative entries (shape ``(K, K)``, ``K >= 2``).

    Raises
    ------
    ValueError
        Naming ``name``, its shape and what is wrong.
    """
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {d.shape}")
    if d.shape[0] < 2:
        raise ValueError(f"{name} must compare at least 2 items, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(d)))} NaN/Inf entries")
    if not np.allclose(d, d.T, atol=atol, rtol=0):
        raise ValueError(f"{name} must be symmetric (max |D - D.T| = {np.max(np.abs(d - d.T)):.3g}); "
                         "use pairwise_matrix(..., symmetric=True)")
    if np.any(np.abs(np.diag(d)) > atol):
        raise ValueError(f"{name} must have a zero diagonal")
    if np.any(d < -atol):
        raise ValueError(f"{name} has negative entries (min {d.min():.3g})")
    return d


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """``labels`` as an array of shape ``(n,)`` (one label per network); ``ValueError`` otherwise."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have one label per network ({n}, the size of D), got shape "
                         f"{labels.shape}")
    return labels


# ---------------------------------------------------------------------------------------- activations


class RankWarning(UserWarning):
    """Neurons >= datapoints: CCA will find correlations of 1 whatever the data."""


def check_activations(name: str, arr: object, datapoint_axis: int = 0, min_datapoints: int = 2,
                      check_finite: bool = True) -> np.ndarray:
    """Return ``arr`` as a 2-D real numeric array, without copying.

    Datapoints run along ``datapoint_axis``: 0 for this package's ``(n_datapoints, n_neurons)``,
    1 for google/svcca's ``(n_neurons, n_datapoints)``; error messages name the layout expected.
    ``min_datapoints`` is 2 for a whole dataset; a streamed chunk may have 1 (or 0).
    ``check_finite=False`` leaves the NaN/Inf check to the caller (:func:`check_finite_values`), e.g. to
    the accumulator, which sees non-finite values in its Gram matrix without another pass.

    float32 stays float32 (the accumulator converts chunk by chunk); integer and bool arrays
    are accepted as they are. Raises ``TypeError`` for complex, object or string data and
    ``ValueError`` for the wrong number of dimensions, fewer than 2 datapoints, or NaN/Inf.
    """
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if np.iscomplexobj(arr):
        raise TypeError(
            f"{name} has complex dtype {arr.dtype} (shape {arr.shape}); "
            "similarity measures need real activations"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(
            f"{name} has non-numeric dtype {arr.dtype} (shape {arr.shape}); "
            "pass a real-valued numeric array"
        )
    layout = "(n_datapoints, n_neurons)" if datapoint_axis == 0 else "(n_neurons, n_datapoints)"
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 4:
            hint = (
                "; for conv activations (N, H, W, C) use cca_core.conv_to_2d(acts, mode=...) "
                "to get datapoints x neurons"
            )
        raise ValueError(
            f"{name} must be 2-D {layout}, got {arr.ndim}-D array "
            f"of shape {arr.shape}{hint}"
        )
    n_datapoints, n_neurons = arr.shape[datapoint_axis], arr.shape[1 - datapoint_axis]
    if n_datapoints < min_datapoints:
        raise ValueError(
            f"{name} has {n_datapoints} datapoint(s) (shape {arr.shape}, read as {layout}); "
            f"at least {min_datapoints} are needed"
        )
    if n_neurons < 1:
        raise ValueError(f"{name} has no neurons (shape {arr.shape}, read as {layout})")
    if check_finite and np.issubdtype(arr.dtype, np.floating) and arr.size:
        check_finite_values(name, arr)
    return arr


def check_finite_values(name: str, arr: np.ndarray, known_bad: bool = False) -> None:
    """``ValueError`` with the number of NaN and Inf values when ``arr`` has any.

    One reduction and no temporary of the array's size: NaN or Inf anywhere makes the sum
    non-finite. ``known_bad`` skips that test (the caller saw a non-finite result already).
    """
    if not known_bad:
        with np.errstate(over="ignore", invalid="ignore"):
            total = arr.sum(dtype=np.float64)
        if np.isfinite(total):
            return
    n_nan = n_inf = 0
    for start in range(0, arr.shape[0], 4096):
        block = arr[start : start + 4096]  # counts without an array-sized temporary
        n_nan += int(np.isnan(block).sum())
        n_inf += int(np.isinf(block).sum())
    if n_nan or n_inf:
        raise ValueError(
            f"{name} (shape {arr.shape}) contains {n_nan} NaN and {n_inf} Inf value(s); "
            "remove or impute them first"
        )
    raise ValueError(
        f"{name} (shape {arr.shape}) has values so large that their sums or squares overflow "
        "float64; rescale the activations"
    )


def check_pair(x: object, y: object, names: tuple[str, str] = ("X", "Y"),
               datapoint_axis: int = 0, whole: bool = True,
               check_finite: bool = True, warn: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Check two activation arrays and that they share their datapoints.

    ``whole``: the arrays are whole datasets (at least 2 datapoints; warn when a side has neurons >=
    datapoints, unless ``warn=False`` as for CKA, which is made for that regime), not streamed
    chunks (any number of datapoints, no warning).
    """
    min_datapoints = 2 if whole else 0
    x = check_activations(names[0], x, datapoint_axis, min_datapoints, check_finite)
    y = check_activations(names[1], y, datapoint_axis, min_datapoints, check_finite)
    if x.shape[datapoint_axis] != y.shape[datapoint_axis]:
        which = "first" if datapoint_axis == 0 else "second"
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of datapoints ({which} axis): "
            f"{names[0]} has shape {x.shape}, {names[1]} has shape {y.shape}"
        )
    for name, arr in zip(names, (x, y) if whole and warn else ()):
        n_datapoints, n_neurons = arr.shape[datapoint_axis], arr.shape[1 - datapoint_axis]
        warn_if_underdetermined(name, n_neurons, n_datapoints)
    return x, y


def warn_if_underdetermined(name: str, n_neurons: int, n_datapoints: int, stacklevel: int = 4) -> None:
    """Warn when a side has at least as many neurons as datapoints."""
    if n_neurons >= n_datapoints:
        warnings.warn(
            f"{name} has {n_neurons} neurons and only {n_datapoints} datapoints: with neurons >= "
            "datapoints CCA can match anything perfectly; use more datapoints or reduce dimensions "
            "first (e.g. svcca)",
            RankWarning,
            stacklevel=stacklevel,
        )


def check_conv_activations(name: str, arr: object, min_datapoints: int = 2,
                           layout: str = "(N, H, W, C)") -> np.ndarray:
    """Return ``arr`` as a 4-D real numeric array of conv activations, without copying.

    ``TypeError`` for complex, object or string data; ``ValueError`` for another number of
    dimensions, fewer than ``min_datapoints`` inputs, an empty spatial or channel axis, or NaN/Inf.
    ``layout`` is how the axes are named in the messages (the caller reorders them).
    """
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} has complex dtype {arr.dtype} (shape {arr.shape}); conv activations "
                        "must be real (the DFT is taken inside)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} has non-numeric dtype {arr.dtype} (shape {arr.shape}); "
                        "pass a real-valued numeric array")
    if arr.ndim != 4:
        raise ValueError(f"{name} must be 4-D {layout}, got {arr.ndim}-D array of shape {arr.shape}")
    if arr.shape[0] < min_datapoints:
        raise ValueError(f"{name} has {arr.shape[0]} input(s) (shape {arr.shape}, read as {layout}); "
                         f"at least {min_datapoints} are needed")
    if 0 in arr.shape[1:]:
        raise ValueError(f"{name} has an empty spatial or channel axis (shape {arr.shape}, read as "
                         f"{layout})")
    if np.issubdtype(arr.dtype, np.floating) and arr.size:
        check_finite_values(name, arr)
    return arr


class ForcedCorrelationWarning(RankWarning):
    """rank(X) + rank(Y) > n - 1 after centring: some canonical correlations are 1 whatever the data."""


class ConditioningWarning(UserWarning):
    """Directions of the data that the covariance route cannot resolve in float64 were dropped."""


def warn_forced(n_forced: int, x_rank: int, y_rank: int, dof: int, names: tuple[str, str] = ("X", "Y"),
                stacklevel: int = 4) -> None:
    """:class:`ForcedCorrelationWarning` when ``n_forced > 0`` (see :func:`cca_core.canonical.forced_count`)."""
    if n_forced > 0:
        warnings.warn(
            f"{n_forced} canonical correlation(s) are 1 whatever the data: rank({names[0]}) = {x_rank} plus "
            f"rank({names[1]}) = {y_rank} exceeds the {dof} dimensions the centred datapoints span, so "
            f"the two subspaces share at least {n_forced} dimension(s). Use more datapoints, SVCCA "
            "(cca_core.svcca), or a shared reduction of both sides to fewer dimensions",
            ForcedCorrelationWarning, stacklevel=stacklevel)

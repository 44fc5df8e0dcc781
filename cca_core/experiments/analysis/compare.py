"""Distances between the representations of many networks: pairs within a group, pairs across groups.

The notebooks compare groups of networks layer by layer. These helpers take the activations of each
network (``(n_datapoints, n_neurons)`` arrays on the same inputs) and a distance -- a measure name
such as ``"pwcca"``, one of the package's distance functions such as :func:`cca_core.pwcca_distance`,
or any callable ``f(a, b) -> float`` -- and return the matrix or the list of pair values. Names and
the package's own distances go through the pairwise engine (:func:`cca_core.pairwise`: each network
factored once, parallel over pairs, on the Dask cluster of ``$CCA_CORE_SCHEDULER`` when it is set);
other callables are called once per ordered pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence


import numpy as np

from cca_core import measures
from cca_core.pairs import pairwise
from cca_core.stats import DATAPOINT_RESAMPLES, percentile_interval, permutation_test
from cca_core.validation import check_confidence_level

__all__ = ["pairwise_matrix", "chance_distance"]

Distance = Callable[[np.ndarray, np.ndarray], float] | str

#: The package's distance functions and the measure the engine computes for each.
_ENGINE_DISTANCES = {getattr(measures, f"{name}_distance"): name for name in measures.MEASURES}


def _executor():
    """The cluster named by ``$CCA_CORE_SCHEDULER`` (:func:`cca_core.experiments.cluster.client_from_env`), else
    None: the engine's own threads. The book's pairwise work thus runs where its sweeps run."""
    if not os.environ.get("CCA_CORE_SCHEDULER", "").strip():
        return None
    from cca_core.experiments.cluster import client_from_env

    return client_from_env()


def _engine_measure(distance: Distance) -> str | None:
    if isinstance(distance, str):
        measures.get_measure(distance)  # unknown names list the known ones
        return distance
    return _ENGINE_DISTANCES.get(distance)


def _check(acts: Sequence[np.ndarray], name: str, minimum: int) -> list[np.ndarray]:
    acts = list(acts)
    if len(acts) < minimum:
        raise ValueError(f"{name} needs at least {minimum} networks' activations, got {len(acts)}")
    n = {a.shape[0] for a in acts}
    if len(n) > 1:
        raise ValueError(f"{name}: activations must share the number of datapoints, got {sorted(n)}")
    return acts


def pairwise_matrix(acts: Sequence[np.ndarray], distance: Distance, *, symmetric: bool = False) -> np.ndarray:
    """``D[i, j] = distance(acts[i], acts[j])`` for every ordered pair, 0 on the diagonal.

    PWCCA is not symmetric (its weights come from the first argument); with ``symmetric=True`` each
    pair is computed once and ``D[i, j] = D[j, i] = (d(i, j) + d(j, i)) / 2``, as Morcos et al. (2018)
    average both directions. Otherwise both directions are computed and kept.
    """
    acts = _check(acts, "pairwise_matrix", 1)
    k = len(acts)
    measure = _engine_measure(distance)
    if measure is not None and k > 1:
        result = pairwise(acts, measure, executor=_executor())
        d = result.distances() if symmetric else 1.0 - result.values
        np.fill_diagonal(d, 0.0)
        return d
    d = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            dij, dji = distance(acts[i], acts[j]), distance(acts[j], acts[i])
            if symmetric:
                d[i, j] = d[j, i] = 0.5 * (dij + dji)
            else:
                d[i, j], d[j, i] = dij, dji
    return d


# ---------------------------------------------------------------------------------------- uncertainty
#: Measures computed from the joint moments, as :class:`cca_core.Moments` methods.
_MOMENT_MEASURES = measures.measure_names(resampled_moments=True)


def _moment_measure(name: str) -> str:
    if name not in _MOMENT_MEASURES:
        raise ValueError(f"measure must be one of {_MOMENT_MEASURES}, got {name!r}")
    return name


def chance_distance(a: np.ndarray, b: np.ndarray, measure: str = "pwcca", *, symmetric: bool = True,
                    n_permutations: int = DATAPOINT_RESAMPLES, confidence_level: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float]:
    """The distance two *unrelated* representations of these shapes have: ``(level, low, high)``.

    The permutation null of :func:`cca_core.stats.permutation_test` (rows of ``b`` shuffled against
    ``a``: the same marginals, no relation), in distance units ``1 - similarity``: ``level`` is the
    mean of the null (the chance level), ``low``/``high`` its central ``confidence_level`` band. With
    ``symmetric`` and an asymmetric measure (PWCCA) both directions are tested, the level is the
    mean of the two directions' levels and the band spans both directions' bands (a conservative
    band for the mean of both directions, as :func:`pairwise_matrix` symmetrizes).
    """
    measure = _moment_measure(measure)
    confidence_level = check_confidence_level(confidence_level)
    orders = [(a, b), (b, a)] if symmetric and measure == "pwcca" else [(a, b)]
    levels, lows, highs = [], [], []
    for x, y in orders:
        res = permutation_test(x, y, measure, n_permutations=n_permutations, seed=seed)
        dist = 1.0 - res.null_distribution
        levels.append(float(dist.mean()))
        lo, hi = percentile_interval(dist, confidence_level)
        lows.append(float(lo))
        highs.append(float(hi))
    return float(np.mean(levels)), min(lows), max(highs)

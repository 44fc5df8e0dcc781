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

__all__ = ["pairwise_matrix", "within_pairs", "between_pairs", "summarize"]

Distance = Callable[[np.ndarray, np.ndarray], float] | str

#: The package's distance functions and the measure the engine computes for each.
_ENGINE_DISTANCES = {getattr(measures, f"{name}_distance"): name for name in measures.MEASURES}


def _executor():
    """The cluster named by ``$CCA_CORE_SCHEDULER`` (:func:`cca_core.distributed.client_from_env`), else
    None: the engine's own threads. The book's pairwise work thus runs where its sweeps run."""
    if not os.environ.get("CCA_CORE_SCHEDULER", "").strip():
        return None
    from cca_core.distributed import client_from_env

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


def within_pairs(acts: Sequence[np.ndarray], distance: Distance) -> np.ndarray:
    """Symmetrized distance of every unordered pair within one group (``k (k - 1) / 2`` values)."""
    acts = _check(acts, "within_pairs", 2)
    d = pairwise_matrix(acts, distance, symmetric=True)
    return d[np.triu_indices(len(acts), 1)]


def between_pairs(acts_a: Sequence[np.ndarray], acts_b: Sequence[np.ndarray], distance: Distance) -> np.ndarray:
    """Symmetrized distance of every pair (one network from each group, ``len(a) * len(b)`` values)."""
    acts_a = _check(acts_a, "between_pairs (first group)", 1)
    acts_b = _check(acts_b, "between_pairs (second group)", 1)
    both = _check(acts_a + acts_b, "between_pairs", 2)
    measure = _engine_measure(distance)
    if measure is not None:
        ka = len(acts_a)
        cross = [(i, ka + j) for i in range(ka) for j in range(len(acts_b))]
        d = pairwise(both, measure, pairs=cross, executor=_executor()).distances()
        return np.array([d[i, j] for i, j in cross])
    return np.array([0.5 * (distance(a, b) + distance(b, a)) for a in acts_a for b in acts_b])


def summarize(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (ddof=1 when there are at least two values, else 0)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("summarize needs at least one value")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std

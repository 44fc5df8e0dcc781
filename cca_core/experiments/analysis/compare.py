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
from typing import Any

import numpy as np

from cca_core import measures
from cca_core.pairs import pairwise

__all__ = ["pairwise_matrix", "within_pairs", "between_pairs", "summarize", "chance_distance", "BlockBootstrap"]

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


# ---------------------------------------------------------------------------------------- uncertainty
#: Measures computed from the joint moments, as :class:`cca_core.Moments` methods.
_MOMENT_MEASURES = measures.measure_names(resampled_moments=True)


def _moment_measure(name: str) -> str:
    if name not in _MOMENT_MEASURES:
        raise ValueError(f"measure must be one of {_MOMENT_MEASURES}, got {name!r}")
    return name


def chance_distance(a: np.ndarray, b: np.ndarray, measure: str = "pwcca", *, symmetric: bool = True,
                    n_permutations: int = 199, confidence_level: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float]:
    """The distance two *unrelated* representations of these shapes have: ``(level, low, high)``.

    The permutation null of :func:`cca_core.stats.permutation_test` (rows of ``b`` shuffled against
    ``a``: the same marginals, no relation), in distance units ``1 - similarity``: ``level`` is the
    mean of the null (the chance level), ``low``/``high`` its central ``confidence_level`` band. With
    ``symmetric`` and an asymmetric measure (PWCCA) both directions are tested, the level is the
    mean of the two directions' levels and the band spans both directions' bands (a conservative
    band for the mean of both directions, as :func:`pairwise_matrix` symmetrizes).
    """
    from cca_core.stats import permutation_test

    measure = _moment_measure(measure)
    tail = (1.0 - confidence_level) / 2.0
    orders = [(a, b), (b, a)] if symmetric and measure == "pwcca" else [(a, b)]
    levels, lows, highs = [], [], []
    for x, y in orders:
        res = permutation_test(x, y, measure, n_permutations=n_permutations, seed=seed)
        dist = 1.0 - res.null_distribution
        levels.append(float(dist.mean()))
        lo, hi = np.quantile(dist, [tail, 1.0 - tail])
        lows.append(float(lo))
        highs.append(float(hi))
    return float(np.mean(levels)), min(lows), max(highs)


class BlockBootstrap:
    """Distances between pairs of representations, resampled by blocks of datapoints.

    For one trained network compared with itself at other moments (checkpoints, timesteps) there
    are no networks to resample; what a rerun on other datapoints would change is estimated by
    resampling the datapoints. Datapoints that are not independent (the tokens of one window of
    text) are resampled in blocks of consecutive rows. Every pair is resampled with the *same*
    draws of blocks, so statistics across pairs (orders of layers, differences between measures)
    get joint intervals. A resample's moments are the count-weighted sums of per-block moments
    (one matrix product for all resamples, no copies of rows), and each measure comes from them as
    in :class:`cca_core.Moments`.

    Parameters
    ----------
    pairs : sequence of (X, Y)
        Each ``(n, p)`` and ``(n, q)``, every pair on the same ``n`` datapoints in the same order.
    measures : sequence of str
        Names among ``"pwcca"``, ``"mean_cca"``, ``"svcca"``, ``"linear_cka"``.
    block_size : int
        Consecutive rows per block (the last block may be shorter).
    symmetric : bool
        PWCCA as the mean of both directions (as :func:`pairwise_matrix` with ``symmetric=True``).
    n_resamples : int
        At least 99.
    confidence_level : float
    seed : int

    Attributes
    ----------
    estimate : ndarray, shape (n_pairs, n_measures)
        Distances ``1 - similarity`` on all datapoints.
    distribution : ndarray, shape (n_resamples, n_pairs, n_measures)
        The same on each resample.
    n_blocks, n_datapoints : int

    Intervals are *basic* bootstrap intervals (``[2 t - q_hi, 2 t - q_lo]``): resampling with
    replacement keeps about 63% of the blocks, which biases CCA similarities upward, and the basic
    interval corrects for it (:func:`cca_core.stats.bootstrap`).
    """

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], measures: Sequence[str], *,
                 block_size: int, symmetric: bool = True, n_resamples: int = 199,
                 confidence_level: float = 0.95, seed: int = 0) -> None:
        from cca_core._threads import single_blas_thread
        from cca_core.moments import Moments
        from cca_core.stats import _check_confidence, _check_count

        self.measures = [_moment_measure(m) for m in measures]
        if not self.measures:
            raise ValueError("BlockBootstrap needs at least one measure")
        self.n_resamples = _check_count("n_resamples", n_resamples)
        self.confidence_level = _check_confidence(confidence_level, self.n_resamples)
        pairs = [(np.asarray(x), np.asarray(y)) for x, y in pairs]
        if not pairs:
            raise ValueError("BlockBootstrap needs at least one pair")
        n = pairs[0][0].shape[0]
        for i, (x, y) in enumerate(pairs):
            if x.ndim != 2 or y.ndim != 2 or x.shape[0] != n or y.shape[0] != n:
                raise ValueError(f"pair {i}: expected two 2-D arrays of {n} rows, got {x.shape} and {y.shape}")
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
            raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
        n_blocks = -(-n // int(block_size))
        if n_blocks < 10:
            raise ValueError(f"{n} datapoints in blocks of {block_size} give {n_blocks} blocks; a block "
                             "bootstrap needs at least 10")
        self.n_blocks, self.n_datapoints, self.block_size = n_blocks, n, int(block_size)
        block_of = np.arange(n) // int(block_size)
        rows_per_block = np.bincount(block_of, minlength=n_blocks).astype(float)
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, n_blocks, size=(self.n_resamples, n_blocks))
        counts = np.stack([np.bincount(r, minlength=n_blocks) for r in draws]).astype(float)  # (B, nb)
        n_w = counts @ rows_per_block                                                       # (B,)
        self.symmetric = bool(symmetric)
        self.estimate = np.empty((len(pairs), len(self.measures)))
        self.distribution = np.empty((self.n_resamples, len(pairs), len(self.measures)))

        def values(m: "Moments", p: int, q: int) -> list[float]:
            out = []
            for name in self.measures:
                sim = getattr(m, name)()
                if name == "pwcca" and self.symmetric:
                    order = np.r_[p:p + q, 0:p]
                    swapped = Moments(q, p, m.count, m.mean[order], m.m2[np.ix_(order, order)])
                    sim = 0.5 * (sim + swapped.pwcca())
                out.append(1.0 - sim)
            return out

        with single_blas_thread():
            for i, (x, y) in enumerate(pairs):
                p, q = x.shape[1], y.shape[1]
                z = np.concatenate([x, y], axis=1).astype(np.float64)
                shift = z.mean(axis=0)
                z -= shift
                full = Moments(p, q, n, shift.copy(), z.T @ z)
                self.estimate[i] = values(full, p, q)
                d = p + q
                sums = np.zeros((n_blocks, d))
                np.add.at(sums, block_of, z)
                grams = np.zeros((n_blocks, d, d))
                for b in range(n_blocks):
                    zb = z[b * self.block_size:(b + 1) * self.block_size]
                    grams[b] = zb.T @ zb
                s_w = counts @ sums                                  # (B, d)
                g_w = (counts @ grams.reshape(n_blocks, d * d)).reshape(-1, d, d)
                for r in range(self.n_resamples):
                    offset = s_w[r] / n_w[r]
                    m2 = g_w[r] - n_w[r] * np.outer(offset, offset)
                    m = Moments(p, q, int(round(n_w[r])), shift + offset, 0.5 * (m2 + m2.T))
                    self.distribution[r, i] = values(m, p, q)

    @classmethod
    def from_distribution(cls, estimate: Any, distribution: Any, *, n_blocks: int, block_size: int,
                          measures: Sequence[str], confidence_level: float = 0.95) -> "BlockBootstrap":
        """A result from distances computed elsewhere (``estimate`` (n_pairs, n_measures),
        ``distribution`` (n_resamples, n_pairs, n_measures)): to apply the rules to given numbers."""
        self = cls.__new__(cls)
        self.estimate = np.asarray(estimate, dtype=float)
        self.distribution = np.asarray(distribution, dtype=float)
        if self.distribution.shape[1:] != self.estimate.shape:
            raise ValueError(f"distribution has shape {self.distribution.shape}, estimate {self.estimate.shape}")
        self.measures = [_moment_measure(m) for m in measures]
        self.n_resamples = self.distribution.shape[0]
        self.confidence_level, self.symmetric = float(confidence_level), True
        self.n_blocks, self.block_size = int(n_blocks), int(block_size)
        self.n_datapoints = self.n_blocks * self.block_size
        return self

    def _basic(self, estimate: np.ndarray, dist: np.ndarray, clip: tuple[float, float] | None
               ) -> tuple[np.ndarray, np.ndarray]:
        tail = (1.0 - self.confidence_level) / 2.0
        q_lo, q_hi = np.quantile(dist, [tail, 1.0 - tail], axis=0)
        lo, hi = 2 * estimate - q_hi, 2 * estimate - q_lo
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        return lo, hi

    def interval(self, statistic: Callable[[np.ndarray], Any] | None = None,
                 clip: tuple[float, float] | None = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(estimate, low, high)`` of ``statistic(distances)`` (default: the distances themselves,
        shape ``(n_pairs, n_measures)``), computed on all data and on every resample; ``clip`` bounds
        the interval (distances lie in [0, 1]; None for differences)."""
        f = statistic if statistic is not None else (lambda d: d)
        est = np.asarray(f(self.estimate), dtype=float)
        dist = np.stack([np.asarray(f(self.distribution[r]), dtype=float) for r in range(self.n_resamples)])
        lo, hi = self._basic(est, dist, clip)
        return est, lo, hi

    def evidence(self, name: str, statistic: Callable[[np.ndarray], Any], *,
                 clip: tuple[float, float] | None = None, n: dict[str, Any] | None = None) -> Any:
        """A scalar ``statistic(distances)`` with its interval as :class:`~cca_core.experiments.verdicts.findings.Evidence`
        (sample sizes: the blocks and datapoints, and ``n``)."""
        from cca_core.experiments.verdicts.findings import Evidence

        est, lo, hi = self.interval(statistic, clip)
        if est.ndim != 0:
            raise ValueError(f"evidence needs a scalar statistic, got shape {est.shape}")
        sizes = dict(n or {})
        sizes.update({"blocks": self.n_blocks, "datapoints": self.n_datapoints})
        return Evidence(name, float(est), (float(lo), float(hi)), self.confidence_level, n=sizes,
                        method=f"block bootstrap over datapoints (basic, {self.n_resamples} resamples of "
                               f"{self.n_blocks} blocks of {self.block_size})")

"""The conv-layer chapter's rules (Raghu et al. 2017, Theorem 1; google/svcca's README and tutorial
002): DFT-CCA on conv layers.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkGroups
from cca_core.experiments.verdicts.findings import Judgement, at_most, below, enough, judge, significant, within
from cca_core.experiments.verdicts.premises import ALPHA
from cca_core.stats import NETWORK_RESAMPLES

__all__ = ["conv_layers_evidence", "conv_layers"]


def _faster_test(fast: Sequence[float], slow: Sequence[float], max_exact: int = 20_000,
                 n_permutations: int = NETWORK_RESAMPLES, seed: int = 0) -> tuple[float, float, bool]:
    """One-sided permutation test that the runs ``fast`` take less time than ``slow`` (statistic:
    mean of ``slow`` minus mean of ``fast``): ``(p, smallest attainable p, exact)``.

    :func:`scipy.stats.permutation_test` (``permutation_type="independent"``): exact over every
    split of the pooled runs when there are at most ``max_exact`` of them, else ``n_permutations``
    random ones (p = (hits + 1) / (n_permutations + 1))."""
    import scipy.stats
    from itertools import combinations
    from math import comb

    from cca_core.stats.datapoints import RNG_KEYWORD

    a, b = np.asarray(fast, dtype=float), np.asarray(slow, dtype=float)
    splits = comb(a.size + b.size, a.size)
    exact = splits <= max_exact
    if min(a.size, b.size) < 2:  # scipy needs two runs per side; one run: the splits are few, enumerate them
        pooled, obs = np.concatenate([a, b]), b.mean() - a.mean()
        null = np.array([np.delete(pooled, list(c)).mean() - pooled[list(c)].mean()
                         for c in combinations(range(pooled.size), a.size)])
        return float(np.mean(null >= obs - 1e-12 * max(1.0, abs(obs)))), 1 / splits, True
    res = scipy.stats.permutation_test((a, b), lambda x, y, axis=-1: y.mean(axis=axis) - x.mean(axis=axis),
                                       permutation_type="independent", vectorized=True,
                                       n_resamples=max_exact if exact else n_permutations, alternative="greater",
                                       **{RNG_KEYWORD: np.random.default_rng(seed)})
    return float(res.pvalue), (1 / splits if exact else 1 / (n_permutations + 1)), exact


def conv_layers_evidence(same: NetworkGroups, methods: Sequence[str], layers: Sequence[str],
                         real_layers: Sequence[int], *, rho_dft: Any, rho_flat: Any, dft_cost: Any, flat_cost: Any
                         ) -> dict[str, Evidence]:
    """Evidence for the conv-layer chapter.

    Parameters
    ----------
    same : NetworkGroups
        Mean CCA between the same layer of every two networks, shape ``(n_methods, n_layers, K, K)``
        (one group of networks trained alike), methods in the order of ``methods`` (which must hold
        ``"DFT-CCA"``, ``"positions as datapoints"`` and ``"mean over positions"``), layers in the
        order of ``layers``.
    real_layers : sequence of int
        Indices of the layers with more than one position (at 1x1 every method coincides).
    rho_dft, rho_flat : arrays
        Canonical correlations on translation-invariant data: DFT-CCA pooled over frequencies, and
        the CCA of the flattened maps.
    dft_cost, flat_cost : :class:`~.costs.Cost`
        What each of those two computations cost (with every timed run in ``times``).

    Keys: ``max_diff`` (exact: the largest difference between the two sets of canonical
    correlations, over as many as both have), ``count_diff`` (exact: how many more correlations
    one gives than the other), ``time`` (best time of DFT-CCA over the flattened CCA's, with the
    p-value of a one-sided permutation test over the timed runs that DFT-CCA is faster),
    ``memory`` (exact: peak traced memory of DFT-CCA over the flattened CCA's), ``dft_vs_positions``
    and ``mean_vs_positions`` (the largest difference over ``real_layers`` between the two
    methods' mean CCA, each a mean over pairs of networks; network bootstrap).
    """
    rho_dft, rho_flat = np.asarray(rho_dft, dtype=float).ravel(), np.asarray(rho_flat, dtype=float).ravel()
    n_common = int(min(rho_dft.size, rho_flat.size))
    max_diff = float(np.max(np.abs(rho_dft[:n_common] - rho_flat[:n_common]))) if n_common else float("nan")
    out: dict[str, Evidence] = {
        "max_diff": Evidence.point("largest difference, DFT-CCA pooled vs flattened CCA correlations", max_diff,
                                   n={"correlations": n_common}, why="a deterministic computation on fixed data")
        if n_common else Evidence("largest difference, DFT-CCA pooled vs flattened CCA correlations", max_diff,
                                  n={"correlations": 0}, note="no correlation to compare"),
        "count_diff": Evidence.point("number of correlations, DFT-CCA - flattened", float(rho_dft.size - rho_flat.size),
                                     n={"correlations": n_common}, why="a count"),
    }
    times_dft, times_flat = list(getattr(dft_cost, "times", ())), list(getattr(flat_cost, "times", ()))
    if not times_dft or not times_flat:
        raise ValueError("conv_layers_evidence needs every timed run of both computations (Cost.times)")
    p, min_p, exact = _faster_test(times_dft, times_flat)
    out["time"] = Evidence(f"time, DFT-CCA / flattened CCA (best of {len(times_dft)} runs each)",
                           float(dft_cost.seconds / flat_cost.seconds), p_value=p, min_p_value=min_p,
                           n={"timed_runs": [len(times_dft), len(times_flat)]},
                           method="one-sided permutation test that DFT-CCA's runs are faster ("
                                  + ("every split of the runs" if exact else "9999 random permutations") + ")")
    memory = "peak traced memory, DFT-CCA / flattened CCA"
    out["memory"] = (Evidence.point(memory, float(dft_cost.peak_mb / flat_cost.peak_mb),
                                    why="tracemalloc counts the same allocations on every run")
                     if flat_cost.peak_mb > 0 else Evidence(memory, float("nan"), note="no traced memory to compare"))
    methods = list(methods)
    real = [int(i) for i in real_layers]
    if not real:
        raise ValueError("conv_layers_evidence needs at least one layer with more than one position")
    i_dft, i_pos, i_mean = (methods.index(m) for m in ("DFT-CCA", "positions as datapoints", "mean over positions"))
    if len(same.groups) != 1:
        raise ValueError(f"conv_layers_evidence needs one group of networks, got {same.groups}")
    group = same.groups[0]
    names = ", ".join(layers[i] for i in real)
    for key, i_m, label in (("dft_vs_positions", i_dft, "DFT-CCA"), ("mean_vs_positions", i_mean, "mean over positions")):
        out[key] = same.evidence(f"largest |{label} - positions as datapoints| mean CCA over {names}",
                                 lambda m, i_m=i_m: np.abs(np.asarray(m(group))[..., i_m, real]
                                                           - np.asarray(m(group))[..., i_pos, real]).max(axis=-1))
    return out


def conv_layers(ev: Mapping[str, Evidence], alpha: float = ALPHA) -> list[Judgement]:
    """The four findings of the conv-layer chapter (Raghu et al. 2017, Theorem 1; google/svcca's
    README and tutorial 002).

    1. Theorem 1: as many correlations from DFT-CCA as from the flattened CCA and the largest
       difference at most 1e-8 (reproduced), at most 1e-4 (partly).
    2. DFT-CCA is cheaper: faster (the permutation test over the timed runs significant at
       ``alpha``) and less peak memory (reproduced); one of the two (partly). A test that cannot
       reach ``alpha`` (fewer than 3 timed runs each: p >= 0.1) makes it inconclusive.
    3. DFT-CCA close to positions as datapoints: the largest difference over the layers with more
       than one position at most 0.05 (reproduced), at most 0.10 (partly).
    4. Mean over positions close to positions as datapoints: the same rule.

    Findings 3 and 4 need 3 networks (an interval over networks).
    """
    same_count = within(ev["count_diff"], 0.0, 0.0)
    faster, smaller = significant(ev["time"], alpha), below(ev["memory"], 1.0)
    close = [judge(at_most(ev[k], 0.05), at_most(ev[k], 0.10), requires=[enough(ev[k], networks=MIN_NETWORKS)])
             for k in ("dft_vs_positions", "mean_vs_positions")]
    return [
        judge(same_count & at_most(ev["max_diff"], 1e-8), same_count & at_most(ev["max_diff"], 1e-4),
              requires=[enough(ev["max_diff"], correlations=1)]),
        judge(faster & smaller, faster | smaller),
        *close,
    ]

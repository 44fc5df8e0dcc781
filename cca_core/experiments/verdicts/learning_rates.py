"""The learning-rate chapter's rules (Morcos et al. 2018, section 3.3, figure 5): networks trained
with the same learning rate cluster together.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkGroups
from cca_core.experiments.verdicts.findings import Judgement, above, at_least, enough, judge, significant
from cca_core.experiments.verdicts.premises import ALPHA
from cca_core.stats import NETWORK_RESAMPLES

__all__ = ["learning_rates_evidence", "learning_rates"]


def learning_rates_evidence(D: np.ndarray, groups: Sequence[Any], ari: Any, separation: Any, *,
                            n_resamples: int = NETWORK_RESAMPLES, seed: int = 0) -> dict[str, Evidence]:
    """Evidence for the learning-rate chapter.

    ``D`` (K, K) symmetric PWCCA distances, ``groups`` the learning rate (index) of each network,
    ``ari`` a :class:`~.clustering.PermutationResult` of :func:`~.clustering.permutation_ari` and
    ``separation`` one of :func:`~.clustering.separation_test` on the same matrix and groups.

    Keys: ``ari`` (ARI with its permutation p and minimum), ``separation`` (mean between-group minus
    mean within-group distance: its p and minimum from the label permutation test, its interval
    from a network bootstrap within each learning rate), ``rel_separation`` (the separation over the
    mean between-group distance), ``within``, ``between``. "Mean within" is the mean over learning
    rates of each one's mean within-group distance, "mean between" the mean over pairs of learning
    rates (equal to the means over pairs when groups have equal sizes).
    """
    g = NetworkGroups(D, groups, n_resamples=n_resamples, seed=seed)
    labels = g.groups
    sizes = [int(g.members[x].size) for x in labels]

    def within(m: Any) -> np.ndarray:
        return np.mean([m(x) for x in labels], axis=0)

    def between(m: Any) -> np.ndarray:
        return np.mean([m(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]], axis=0)

    sep_boot = g.evidence("between - within", lambda m: between(m) - within(m))
    out = {
        "within": g.evidence("mean within-learning-rate distance", within),
        "between": g.evidence("mean between-learning-rate distance", between),
        "rel_separation": g.evidence("(between - within) / between", lambda m: (between(m) - within(m)) / between(m)),
        "ari": Evidence.from_permutation("ARI of clusters vs learning rates", ari, n={"networks": sizes}),
    }
    perm = Evidence.from_permutation("between - within", separation, n={"networks": sizes})
    out["separation"] = Evidence(perm.name, float(separation.observed), sep_boot.interval,
                                 sep_boot.confidence_level, perm.p_value, perm.min_p_value,
                                 n=sep_boot.n, method=f"{perm.method}; {sep_boot.method}", note=sep_boot.note)
    return out


def learning_rates(ev: Mapping[str, Evidence], alpha: float = ALPHA) -> list[Judgement]:
    """The two findings of the learning-rate chapter (Morcos et al. 2018, section 3.3, figure 5).

    1. Clusters match learning rates: ARI at least 0.9 (its estimate) and significant at ``alpha``
       (reproduced); ARI above 0 and significant (partly).
    2. Same learning rate closer: the separation significant at ``alpha`` and its interval at least
       10% of the between-group distance (reproduced); the separation's interval above 0 and
       either significant or at least 10% (partly).

    A permutation test that cannot reach ``alpha`` at these group sizes (3 vs 3 networks: p >= 0.1)
    makes the finding inconclusive; so do fewer than 3 networks per learning rate (finding 2).
    """
    ari, sep, rel = ev["ari"], ev["separation"], ev["rel_separation"]
    return [
        judge(significant(ari, alpha) & at_least(ari, 0.9, on="estimate"),
              significant(ari, alpha) & above(ari, 0.0, on="estimate")),
        judge(significant(sep, alpha) & at_least(rel, 0.10),
              above(sep, 0.0) & (significant(sep, alpha) | at_least(rel, 0.10)),
              requires=[enough(sep, networks=MIN_NETWORKS)]),
    ]

"""The rules of the chapter "Which measure to trust?" (Kornblith et al. 2019; Ding, Denain & Steinhardt
2021; ReSi, Klabunde et al. 2024); the analysis is :mod:`cca_core.experiments.analysis.measure_checks`.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkGroups, NetworkMeans
from cca_core.experiments.verdicts.findings import (Check, Judgement, above, all_of, any_of, at_least,
                                                    at_least_fraction, below, enough, judge)

__all__ = ["IDENTIFICATION_NEAR_PERFECT", "IDENTIFICATION_MOSTLY", "IDENTIFICATION_GAP", "measure_checks_evidence",
           "measure_checks"]


#: Layer identification accuracy that counts as "near-perfect" (reproduced) and as "mostly right" (partly).
IDENTIFICATION_NEAR_PERFECT = 0.9
IDENTIFICATION_MOSTLY = 0.7
#: Lead of linear CKA over each CCA-family measure in layer identification that counts as "much worse".
IDENTIFICATION_GAP = 0.1


def measure_checks_evidence(measures: Sequence[str], identification: NetworkGroups, probe: NetworkMeans,
                            layers: NetworkMeans, auprc: Mapping[str, Evidence],
                            group_violations: Mapping[str, Evidence], *, procrustes: str = "Procrustes",
                            linear_cka: str = "linear CKA",
                            cca_family: Sequence[str] = ("mean CCA", "SVCCA", "PWCCA")) -> dict[str, Evidence]:
    """Evidence for the chapter "Which measure to trust?" (:mod:`~cca_core.experiments.analysis.measure_checks`).

    Parameters
    ----------
    measures : sequence of str
        The measures' labels, in the order of the measure axis of every array below; must hold
        ``procrustes``, ``linear_cka`` and every name of ``cca_family``.
    identification : NetworkGroups
        Layer identification accuracy of every pair of networks trained alike (one group), shape
        ``(n_measures, K, K)`` (Kornblith et al. 2019, section 6.1); network bootstrap.
    probe : NetworkMeans
        ``"sensitivity"`` and ``"specificity"``, each ``(n_networks, n_measures)``: per network, the
        Spearman correlation between distance and probe change over its PCA deletions, and the
        fraction of layers at which the other seeds are no farther than a harmless deletion (Ding,
        Denain & Steinhardt 2021); Student t over networks.
    layers : NetworkMeans
        ``"rho"`` and ``"violations"``, each ``(n_networks, n_measures)``: per network, the Spearman
        correlation between layer gap and similarity and the monotonicity violation rate (ReSi).
    auprc, group_violations : mapping measure -> Evidence
        ReSi's grouping test (memorizing vs generalizing), with network-bootstrap intervals.

    Keys ``<statistic>|<measure>``: ``identification``, ``sensitivity``, ``specificity``,
    ``balance`` (the smaller of sensitivity and specificity, per network), ``auprc``,
    ``group_violations``, ``monotonicity`` (Spearman of gap and similarity), ``layer_violations``;
    and the differences ``identification_gap|<m>`` (linear CKA - m, CCA family),
    ``sensitivity_gap|<linear CKA>`` (Procrustes - linear CKA), ``specificity_gap|<m>`` (Procrustes
    - m, CCA family) and ``balance_gap|<m>`` (Procrustes - m, every other measure). Differences are
    resampled jointly (the same networks for both measures).
    """
    measures = list(measures)
    for name in (procrustes, linear_cka, *cca_family):
        if name not in measures:
            raise ValueError(f"measure_checks_evidence needs the measure {name!r}; got {measures}")
    idx = {m: i for i, m in enumerate(measures)}
    if len(identification.groups) != 1:
        raise ValueError(f"identification needs one group of networks, got {identification.groups}")
    group = identification.groups[0]
    out: dict[str, Evidence] = {}

    def balance(v: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.minimum(v["sensitivity"], v["specificity"])

    for m, i in idx.items():
        out[f"identification|{m}"] = identification.evidence(
            f"{m} layer identification accuracy", lambda mean, i=i: np.asarray(mean(group))[..., i])
        out[f"sensitivity|{m}"] = probe.evidence(f"{m} sensitivity (Spearman, distance vs probe change)",
                                                 lambda v, i=i: v["sensitivity"][i], clip=(-1.0, 1.0))
        out[f"specificity|{m}"] = probe.evidence(f"{m} specificity (fraction of layers)",
                                                 lambda v, i=i: v["specificity"][i], clip=(0.0, 1.0))
        out[f"balance|{m}"] = probe.evidence(f"{m} min(sensitivity, specificity)",
                                             lambda v, i=i: balance(v)[i], clip=(-1.0, 1.0))
        out[f"auprc|{m}"] = auprc[m]
        out[f"group_violations|{m}"] = group_violations[m]
        out[f"monotonicity|{m}"] = layers.evidence(f"{m} Spearman(layer gap, similarity)",
                                                   lambda v, i=i: v["rho"][i], clip=(-1.0, 1.0))
        out[f"layer_violations|{m}"] = layers.evidence(f"{m} monotonicity violation rate",
                                                       lambda v, i=i: v["violations"][i], clip=(0.0, 1.0))
    ic, ip = idx[linear_cka], idx[procrustes]
    for m in cca_family:
        i = idx[m]
        out[f"identification_gap|{m}"] = identification.evidence(
            f"{linear_cka} - {m} layer identification accuracy",
            lambda mean, i=i: np.asarray(mean(group))[..., ic] - np.asarray(mean(group))[..., i])
        out[f"specificity_gap|{m}"] = probe.evidence(f"{procrustes} - {m} specificity",
                                                     lambda v, i=i: v["specificity"][ip] - v["specificity"][i])
    out[f"sensitivity_gap|{linear_cka}"] = probe.evidence(
        f"{procrustes} - {linear_cka} sensitivity", lambda v: v["sensitivity"][ip] - v["sensitivity"][ic])
    for m, i in idx.items():
        if m != procrustes:
            out[f"balance_gap|{m}"] = probe.evidence(f"{procrustes} - {m} min(sensitivity, specificity)",
                                                     lambda v, i=i: balance(v)[ip] - balance(v)[i])
    return out


def measure_checks(ev: Mapping[str, Evidence], measures: Sequence[str], chance_auprc: float, *,
                   procrustes: str = "Procrustes", linear_cka: str = "linear CKA",
                   cca_family: Sequence[str] = ("mean CCA", "SVCCA", "PWCCA")) -> list[Judgement]:
    """The six findings of the chapter "Which measure to trust?" from :func:`measure_checks_evidence`.

    Every rule needs at least 3 networks (an interval over networks); each condition is judged on
    its whole interval.

    1. Kornblith et al. (2019), section 6.1: linear CKA identifies layers across seeds near-perfectly:
       accuracy at least 0.9 (reproduced), at least 0.7 (partly).
    2. Kornblith et al.: the CCA family does much worse: linear CKA's accuracy minus each of mean
       CCA's, SVCCA's and PWCCA's at least 0.1 (reproduced), every difference above 0 (partly).
    3. Ding et al. (2021): linear CKA is less sensitive than Procrustes to deletions a probe notices:
       Procrustes's sensitivity minus linear CKA's above 0 (reproduced; two-way rule).
    4. Ding et al.: the CCA family is over-sensitive to the seed (less specific than Procrustes):
       Procrustes's specificity minus each CCA-family measure's above 0 for all (reproduced), for at
       least one (partly).
    5. Ding et al.: Procrustes is the most balanced: its min(sensitivity, specificity) minus every
       other measure's above 0 (reproduced); every estimate at least 0 (partly).
    6. ReSi (Klabunde et al. 2024) grouping and monotonicity: memorizing and generalizing networks
       are told apart (AUPRC above the chance level ``chance_auprc``, the fraction of same-group
       pairs) and similarity falls as layers grow apart (Spearman of layer gap and similarity below
       0), by every measure (reproduced) or by at least half of them on both tests (partly).
    """
    measures = list(measures)
    others = [m for m in measures if m != procrustes]

    def needs(*keys: str) -> list[Check]:
        return [enough(ev[k], networks=MIN_NETWORKS) for k in keys]

    id_gaps = [ev[f"identification_gap|{m}"] for m in cca_family]
    spec_gaps = [ev[f"specificity_gap|{m}"] for m in cca_family]
    bal_gaps = [ev[f"balance_gap|{m}"] for m in others]
    grouped = [above(ev[f"auprc|{m}"], chance_auprc) for m in measures]
    monotone = [below(ev[f"monotonicity|{m}"], 0.0) for m in measures]
    resi_keys = [f"{t}|{m}" for t in ("auprc", "monotonicity") for m in measures]
    return [
        judge(at_least(ev[f"identification|{linear_cka}"], IDENTIFICATION_NEAR_PERFECT),
              at_least(ev[f"identification|{linear_cka}"], IDENTIFICATION_MOSTLY),
              requires=needs(f"identification|{linear_cka}")),
        judge(all_of(at_least(g, IDENTIFICATION_GAP) for g in id_gaps), all_of(above(g, 0.0) for g in id_gaps),
              requires=needs(*(f"identification_gap|{m}" for m in cca_family))),
        judge(above(ev[f"sensitivity_gap|{linear_cka}"], 0.0), requires=needs(f"sensitivity_gap|{linear_cka}")),
        judge(all_of(above(g, 0.0) for g in spec_gaps), any_of(above(g, 0.0) for g in spec_gaps),
              requires=needs(*(f"specificity_gap|{m}" for m in cca_family))),
        judge(all_of(above(g, 0.0) for g in bal_gaps), all_of(at_least(g, 0.0, on="estimate") for g in bal_gaps),
              requires=needs(*(f"balance_gap|{m}" for m in others))),
        judge(all_of(grouped) & all_of(monotone),
              at_least_fraction(grouped, 0.5) & at_least_fraction(monotone, 0.5),
              requires=needs(*resi_keys)),
    ]

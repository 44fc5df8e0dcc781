"""The rules of the chapter "Which measure to trust?" (verdicts.measure_checks) on synthetic evidence."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments import rules
from cca_core.experiments.analysis.measure_checks import MEASURE_CHECKS_MEASURES
from cca_core.experiments.verdicts.findings import Evidence, NetworkGroups
from cca_core.experiments.verdicts.rules import NetworkMeans


def test_rules_measure_checks_on_synthetic_evidence():
    measures = list(MEASURE_CHECKS_MEASURES)
    K, M = 4, len(measures)
    rng = np.random.default_rng(8)
    ident = np.full((M, K, K), 0.3)
    ident[measures.index("linear CKA")] = 1.0
    ident += 0.01 * rng.standard_normal((M, K, K))
    ident = (ident + ident.transpose(0, 2, 1)) / 2
    groups = NetworkGroups(ident, ["generalizing"] * K, n_resamples=199, seed=0)
    sens = np.tile(np.linspace(0.1, 0.8, M), (K, 1)) + 0.01 * rng.standard_normal((K, M))
    spec = np.tile(np.linspace(0.2, 0.6, M), (K, 1)) + 0.01 * rng.standard_normal((K, M))
    iP, iC = measures.index("Procrustes"), measures.index("linear CKA")
    sens[:, iP], spec[:, iP] = 0.95 + 0.01 * rng.standard_normal(K), 0.9 + 0.01 * rng.standard_normal(K)
    probe = NetworkMeans({"sensitivity": sens, "specificity": spec})
    layers = NetworkMeans({"rho": -0.8 + 0.01 * rng.standard_normal((K, M)), "violations": np.full((K, M), 0.1)})
    auprc = {m: Evidence(f"{m} AUPRC", 0.9, (0.8, 1.0), n={"networks": [3, 3]}) for m in measures}
    viol = {m: Evidence(f"{m} violations", 0.1, (0.0, 0.2), n={"networks": [3, 3]}) for m in measures}
    ev = rules.measure_checks_evidence(measures, groups, probe, layers, auprc, viol)
    assert ev["identification|linear CKA"].estimate == pytest.approx(
        ident[iC][~np.eye(K, dtype=bool)].mean())
    assert ev["sensitivity_gap|linear CKA"].estimate == pytest.approx((sens[:, iP] - sens[:, iC]).mean())
    verdicts = [j.verdict for j in rules.measure_checks(ev, measures, 0.4)]
    assert verdicts == ["reproduced"] * 6
    # a worse Procrustes: not reproduced where it must lead; AUPRC straddling chance: inconclusive
    probe_bad = NetworkMeans({"sensitivity": np.where(np.arange(M) == iP, 0.0, sens), "specificity": spec})
    auprc_bad = dict(auprc, **{"PWCCA": Evidence("PWCCA AUPRC", 0.5, (0.3, 0.7), n={"networks": [3, 3]})})
    ev_bad = rules.measure_checks_evidence(measures, groups, probe_bad, layers, auprc_bad, viol)
    verdicts = [j.verdict for j in rules.measure_checks(ev_bad, measures, 0.4)]
    assert verdicts[2] == "not reproduced" and verdicts[4] == "not reproduced"
    assert verdicts[5] == "partly"       # every measure but one above chance, every rho below 0
    # too few networks: inconclusive
    few = NetworkGroups(ident[:, :2, :2], ["generalizing"] * 2, n_resamples=199, seed=0)
    ev_few = rules.measure_checks_evidence(measures, few, probe, layers, auprc, viol)
    assert rules.measure_checks(ev_few, measures, 0.4)[0].verdict == "inconclusive"
    with pytest.raises(ValueError, match="needs the measure"):
        rules.measure_checks_evidence(measures[:3], groups, probe, layers, auprc, viol)

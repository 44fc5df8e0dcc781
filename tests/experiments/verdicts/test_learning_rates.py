"""The learning-rate chapter's rules (verdicts.learning_rates): permutation tests that cannot reach the
significance level give inconclusive."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments import rules
from cca_core.experiments.analysis.clustering import separation_test


def test_separation_test_at_three_vs_three_is_inconclusive_at_5_percent():
    # perfectly separated groups: the observed labeling is the most extreme of the 10 partitions
    d = np.full((6, 6), 0.8)
    d[:3, :3] = d[3:, 3:] = 0.2
    np.fill_diagonal(d, 0.0)
    groups = [0, 0, 0, 1, 1, 1]
    sep = separation_test(d, groups, n_permutations=200)
    assert sep.p_value == pytest.approx(0.1) and sep.min_p_value == pytest.approx(0.1)
    from cca_core.experiments.analysis.clustering import permutation_ari
    ari = permutation_ari(groups, groups, n_permutations=200)
    ev = rules.learning_rates_evidence(d, groups, ari, sep, n_resamples=999)
    assert ev["separation"].p_value == pytest.approx(0.1) and ev["separation"].min_p_value == pytest.approx(0.1)
    j_clusters, j_sep = rules.learning_rates(ev, alpha=0.05)
    assert j_sep.verdict == "inconclusive"
    assert any("smallest p-value this test can give is 0.1" in r for r in j_sep.reasons)
    assert "p = 0.1 (min 0.1)" in ev["separation"].summary()
    # 4 vs 4: 35 partitions, min p = 1/35 < 0.05, and the same perfect separation is reproduced
    d4 = np.full((8, 8), 0.8)
    d4[:4, :4] = d4[4:, 4:] = 0.2
    np.fill_diagonal(d4, 0.0)
    g4 = [0] * 4 + [1] * 4
    sep4 = separation_test(d4, g4, n_permutations=200)
    assert sep4.min_p_value == pytest.approx(1 / 35)
    ev4 = rules.learning_rates_evidence(d4, g4, permutation_ari(g4, g4, n_permutations=200), sep4, n_resamples=999)
    assert rules.learning_rates(ev4)[1].verdict == "reproduced"

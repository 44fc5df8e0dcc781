"""The conv-layer chapter's rules (verdicts.conv_layers) on planted evidence."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments import rules
from cca_core.experiments.verdicts.findings import NetworkGroups


# ---------------------------------------------------------------------------------------- conv layers
METHODS = ["mean over positions", "positions as datapoints", "DFT-CCA"]


def _conv_groups(n: int, offsets: tuple[float, float, float], noise: float = 0.0, seed: int = 0) -> NetworkGroups:
    """(3 methods, 2 layers, n, n) mean CCA between networks: 0.5 + the method's offset, plus noise
    per pair; the second layer is 1x1 (all methods 0.4)."""
    rng = np.random.default_rng(seed)
    d = np.zeros((3, 2, n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[:, 0, i, j] = d[:, 0, j, i] = 0.5 + np.asarray(offsets) + rng.normal(0, noise, 3)
            d[:, 1, i, j] = d[:, 1, j, i] = 0.4
    return NetworkGroups(d, ["networks"] * n, n_resamples=999)


def _cost(times, peak):
    from cca_core.experiments.analysis.costs import Cost

    return Cost(value=None, seconds=min(times), peak_mb=peak, times=tuple(times))


def _conv_ev(groups, rho_dft=(0.9, 0.5, 0.1), rho_flat=(0.9, 0.5, 0.1), dft=((1.0, 1.1, 1.2), 1.0),
             flat=((2.0, 2.1, 2.2), 8.0)):
    return rules.conv_layers_evidence(groups, METHODS, ["relu_1", "relu_2"], [0], rho_dft=np.array(rho_dft),
                                      rho_flat=np.array(rho_flat), dft_cost=_cost(*dft), flat_cost=_cost(*flat))


def test_conv_rules_decide_on_clear_evidence():
    # DFT-CCA 0.02 above positions as datapoints, the mean over positions 0.2 above it, 4 networks
    ev = _conv_ev(_conv_groups(4, (0.2, 0.0, 0.02), noise=0.002))
    # every DFT run faster than every flattened run: 1 of the 20 splits of 3 + 3 runs, p = 0.05
    assert ev["time"].p_value == pytest.approx(0.05) and ev["time"].min_p_value == pytest.approx(0.05)
    assert ev["time"].estimate == pytest.approx(0.5) and ev["memory"].estimate == pytest.approx(1 / 8)
    assert ev["dft_vs_positions"].estimate == pytest.approx(0.02, abs=0.005)
    verdicts = [j.verdict for j in rules.conv_layers(ev)]
    assert verdicts == ["reproduced", "reproduced", "reproduced", "not reproduced"]
    # the exactness and cost rules: 1e-6 apart is partly, 1e-2 or a missing correlation not reproduced
    assert rules.conv_layers(_conv_ev(_conv_groups(4, (0, 0, 0)), rho_dft=(0.9, 0.5, 0.100001)))[0].verdict == "partly"
    assert rules.conv_layers(_conv_ev(_conv_groups(4, (0, 0, 0)), rho_dft=(0.9, 0.5, 0.11)))[0].verdict == "not reproduced"
    assert rules.conv_layers(_conv_ev(_conv_groups(4, (0, 0, 0)), rho_dft=(0.9, 0.5)))[0].verdict == "not reproduced"
    more_memory = _conv_ev(_conv_groups(4, (0, 0, 0)), dft=((1.0, 1.1, 1.2), 48.3), flat=((2.0, 2.1, 2.2), 35.7))
    assert rules.conv_layers(more_memory)[1].verdict == "partly"
    slower = _conv_ev(_conv_groups(4, (0, 0, 0)), dft=((3.0, 3.1, 3.2), 48.3), flat=((2.0, 2.1, 2.2), 35.7))
    assert slower["time"].p_value == pytest.approx(1.0)
    assert rules.conv_layers(slower)[1].verdict == "not reproduced"


def test_conv_rules_are_inconclusive_on_thin_evidence():
    # two networks: one pair, no interval over networks
    two = rules.conv_layers(_conv_ev(_conv_groups(2, (0.2, 0.0, 0.02))))
    assert [j.verdict for j in two[2:]] == ["inconclusive", "inconclusive"]
    assert "the rule needs at least 3" in two[2].reasons[0]
    # one timed run each: the permutation test cannot go below 0.5
    once = rules.conv_layers(_conv_ev(_conv_groups(4, (0, 0, 0)), dft=((1.0,), 1.0), flat=((2.0,), 8.0)))
    assert once[1].verdict == "inconclusive" and "smallest p-value this test can give is 0.5" in once[1].reasons[0]
    # overlapping timed runs: a p-value above 0.05 (not shown faster); memory smaller: partly
    mixed = _conv_ev(_conv_groups(4, (0, 0, 0)), dft=((1.0, 2.5, 1.2), 1.0), flat=((2.0, 2.1, 2.2), 8.0))
    assert mixed["time"].p_value > 0.05 and rules.conv_layers(mixed)[1].verdict == "partly"
    # the DFT - positions difference scattered around 0.10 over pairs: the interval straddles 0.10
    around = _conv_ev(_conv_groups(6, (0.0, 0.0, 0.10), noise=0.03, seed=1))
    ev = around["dft_vs_positions"]
    assert ev.low < 0.10 < ev.high
    assert rules.conv_layers(around)[2].verdict == "inconclusive"

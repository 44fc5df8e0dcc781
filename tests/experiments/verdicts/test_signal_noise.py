"""The signal-and-noise chapter's rules (verdicts.signal_noise) on margins worked out by hand."""

from __future__ import annotations

import numpy as np

from cca_core.experiments import rules


# ---------------------------------------------------------------------------------------- signal noise
def test_signal_noise_rules():
    # margins per draw at three k: clear, clear, tiny
    results = {"mean CCA": np.array([[0.9, 0.6, 0.10], [0.9, 0.6, 0.10], [0.91, 0.61, 0.10]]),
               "PWCCA": np.array([[0.5, 0.3, 0.095], [0.5, 0.3, 0.095], [0.5, 0.3, 0.096]])}
    ev = rules.signal_noise_evidence(results, [10, 50, 199], n_neurons=200, paper_sizes=False)
    verdicts = [j.verdict for j in rules.signal_noise(ev)]
    assert verdicts == ["partly"]  # 2 of 3 k pass the margin 0.02 (the last gives 0.0047)
    ref = {m: np.full((3, 3), v) + np.array([[0.0], [0.01], [-0.01]]) for m, v in rules.REFERENCE_50.items()}
    ref["mean CCA"], ref["PWCCA"] = ref["mean CCA"] + 0.3, ref["PWCCA"]  # margins 0.32
    at = rules.signal_noise_evidence(ref, [10, 50, 199], n_neurons=200)
    # at k = 50: mean CCA 0.87 is 0.30 from 0.57; SVCCA and PWCCA on the reference
    assert [j.verdict for j in rules.signal_noise(at)] == ["reproduced", "not reproduced"]
    one = rules.signal_noise_evidence({m: v[:1] for m, v in results.items()}, [10, 50, 199], 200, False)
    assert rules.signal_noise(one)[0].verdict == "inconclusive"  # one draw: no interval

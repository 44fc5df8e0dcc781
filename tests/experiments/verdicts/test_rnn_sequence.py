"""The RNN sequence-dynamics chapter's rules (verdicts.rnn_sequence) on a planted pattern."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments import rules
from cca_core.experiments.verdicts.findings import Evidence


# ---------------------------------------------------------------------------------------- RNN sequences
def _sequence_evidence(n_networks: int = 3, layers: int = 2, steps: int = 20, spread: float = 0.005):
    """A planted pattern: window distances 0.8 up to the middle, falling to 0.2 two steps before the
    end (shuffled baseline 0.85); repeated input 0.3 at step 0, 0.05 at the middle, 0.01 two steps
    before the end."""
    rng = np.random.default_rng(1)
    window = np.full((n_networks, layers, steps), 0.8)
    window[..., steps - 2], window[..., -1] = 0.2, 0.0
    shuffled = np.full((n_networks, layers), 0.85)
    rep = np.linspace(0.3, 0.0, steps)
    rep[steps // 2], rep[steps - 2] = 0.05, 0.01
    rep = np.broadcast_to(rep, (n_networks, layers, steps)).copy()

    def noisy(a):
        return a + rng.normal(0, spread, a.shape)

    return rules.rnn_sequence_evidence(noisy(window), noisy(shuffled), {"early": noisy(rep), "late": noisy(rep)},
                                       [f"lstm_{i + 1}" for i in range(layers)])


def test_rnn_sequence_rules_on_a_planted_pattern():
    exact = dict(why="computed exactly")
    cca_max, naive_min = Evidence.point("cca", 1e-15, **exact), Evidence.point("naive", 0.9, **exact)
    ev = _sequence_evidence()
    fall = ev["window"]["lstm_1"]["fall"]
    assert fall.estimate == pytest.approx(0.6, abs=0.01) and fall.n == {"networks": 3}
    assert ev["window"]["lstm_1"]["far_margin"].estimate == pytest.approx(0.8 - 0.425, abs=0.01)
    assert ev["repeat"][("late", "lstm_2")]["early_fall"].estimate == pytest.approx(0.25, abs=0.01)
    verdicts = [j.verdict for j in rules.rnn_sequence(cca_max, naive_min, ev["window"], ev["repeat"])]
    assert verdicts == ["reproduced"] * 3
    one = _sequence_evidence(n_networks=1)
    verdicts = [j.verdict for j in rules.rnn_sequence(cca_max, naive_min, one["window"], one["repeat"])]
    assert verdicts == ["reproduced", "inconclusive", "inconclusive"]  # (a) is exact; (b), (c) need 2 networks

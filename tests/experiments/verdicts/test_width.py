"""The width chapter's rules (verdicts): the accuracy correlation's interval at the level asked for."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core.experiments import rules
from cca_core.experiments.verdicts.findings import NetworkGroups


def _width_groups(confidence_level: float, n: int = 4, seed: int = 0) -> tuple[NetworkGroups, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = 2 * n
    d = np.full((2, k, k), np.nan)
    for w, (base, init) in enumerate(((0.5, 0.6), (0.3, 0.58))):
        s = slice(w * n, (w + 1) * n)
        for stage, level in enumerate((base, init)):
            block = level + 0.05 * rng.random((n, n))
            block = 0.5 * (block + block.T)
            np.fill_diagonal(block, 0.0)
            d[stage, s, s] = block
    acc = 0.8 + 0.1 * rng.random(k)
    g = NetworkGroups(d, ["narrow"] * n + ["wide"] * n, n_resamples=999, confidence_level=confidence_level, seed=3)
    return g, acc


def _pearson_slow(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted Pearson r by the textbook formula, one resample at a time (numpy's weighted cov)."""
    if w.sum() == 0:
        return float("nan")
    c = np.cov(np.vstack([x, y]), aweights=w, ddof=0)
    return float(c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])) if c[0, 0] > 0 and c[1, 1] > 0 else float("nan")


@pytest.mark.parametrize("confidence_level", [0.8, 0.95])
def test_width_accuracy_correlation_uses_the_confidence_level(confidence_level):
    g, acc = _width_groups(confidence_level)
    ev = rules.width_evidence(g, [8, 16], acc)["r_accuracy"]
    assert ev.confidence_level == pytest.approx(confidence_level)
    # Reference: every trained pair of the same width, weighted by the product of its networks' draws.
    pairs = [(a, b) for w in g.groups for i, a in enumerate(g.members[w]) for b in g.members[w][i + 1:]]
    pos = {int(a): (w, k) for w in g.groups for k, a in enumerate(g.members[w])}
    x = np.array([g.D[0, a, b] for a, b in pairs])
    y = np.array([0.5 * (acc[a] + acc[b]) for a, b in pairs])
    boot = []
    for r in range(g.n_resamples):
        w = np.array([g.counts[pos[a][0]][r, pos[a][1]] * g.counts[pos[b][0]][r, pos[b][1]] for a, b in pairs])
        boot.append(_pearson_slow(x, y, w))
    boot = np.array(boot)
    boot = boot[np.isfinite(boot)]
    tail = 100 * (1 - confidence_level) / 2
    assert ev.interval == pytest.approx((np.percentile(boot, tail), np.percentile(boot, 100 - tail)), abs=1e-9)
    assert ev.estimate == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)

"""The convergence criterion (cca_core.experiments.analysis.learning) against its definition, written
out as a plain loop, and on curves whose answer is known."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from cca_core.experiments.analysis.learning import convergence_of, fits_labels, stopped_improving


def _by_definition(losses, window, tolerance):
    """Met iff the best of the last `window` losses is less than `tolerance` (relative) below the best
    before them: a direct loop, no numpy."""
    if len(losses) <= window or any(not math.isfinite(v) for v in losses):
        return False
    best_before = losses[0]
    for v in losses[:-window]:
        best_before = min(best_before, v)
    best_last = min(losses[-window:])
    return (best_before - best_last) < tolerance * abs(best_before)


@pytest.mark.parametrize("seed", range(40))
def test_random_curves_match_the_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    losses = list(np.exp(np.cumsum(rng.normal(-0.02, 0.05, n))) * rng.uniform(0.1, 5))
    window = int(rng.integers(1, 4))
    tolerance = float(rng.choice([0.0, 0.005, 0.01, 0.05]))
    got = stopped_improving(losses, window, tolerance)
    assert got.met == _by_definition(losses, window, tolerance)
    assert got.epochs == n


def test_known_curves():
    steady = [2.0 * 0.9 ** k for k in range(10)]  # 10% better every epoch: still learning
    assert not stopped_improving(steady).met
    flat = [2.0, 1.0, 0.7, 0.6, 0.6, 0.6]
    assert stopped_improving(flat).met
    overfit = [1.0, 0.5, 0.4, 0.45, 0.5, 0.6]  # best early, then worse: stopped improving
    c = stopped_improving(overfit)
    assert c.met and "best 0.4 at epoch 3 of 6" in c.detail
    lm = stopped_improving([6.0, 5.0, 4.9, 4.895, 4.894], first_epoch=0)  # epochs 0..4
    assert lm.met and lm.epochs == 4
    assert not stopped_improving([1.0, 0.5]).met  # too short to judge
    assert not stopped_improving([1.0, 0.5, float("nan"), 0.4, 0.4]).met


def test_bad_criteria_are_refused():
    with pytest.raises(ValueError, match="window"):
        stopped_improving([1.0, 0.9, 0.8], window=0)
    with pytest.raises(TypeError, match="window"):
        stopped_improving([1.0, 0.9, 0.8], window=1.5)
    with pytest.raises(ValueError, match="tolerance"):
        stopped_improving([1.0, 0.9, 0.8], tolerance=-0.1)
    with pytest.raises(ValueError, match="threshold"):
        fits_labels(0.5, 1.5, 3)


def test_dispatch_by_kind_of_network():
    cnn = SimpleNamespace(config=SimpleNamespace(labels="true", epochs=4, short=lambda: "cnn"),
                          history={"val_loss": [1.0, 0.8, 0.8, 0.8]}, train_accuracy=0.5)
    assert convergence_of(cnn).met and convergence_of(cnn).epochs == 4
    memorizer = SimpleNamespace(config=SimpleNamespace(labels="random", epochs=4, short=lambda: "m"),
                                history={"val_loss": [2.3, 2.3, 2.3, 2.3]}, train_accuracy=0.42)
    c = convergence_of(memorizer)
    assert not c.met and c.criterion == "fits its training labels" and "42.0%" in c.detail
    lm = SimpleNamespace(config=SimpleNamespace(epochs=3, short=lambda: "lm"),
                         history={"valid_loss": [7.0, 6.0, 5.5, 5.0]}, train_accuracy=None)
    assert not convergence_of(lm).met
    old = SimpleNamespace(config=SimpleNamespace(labels="true", epochs=4, short=lambda: "old"),
                          history={"loss": [1.0]}, train_accuracy=0.5)
    with pytest.raises(ValueError, match="old: no validation loss"):
        convergence_of(old)

"""The CNN training-dynamics chapter's rules (verdicts.cnn_training) on planted similarity curves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cca_core.experiments import rules


# ---------------------------------------------------------------------------------------- CNN training
CNN_CHECKPOINTS = (0, 1, 2, 3, 4, 5)


def _cnn_curves(n_networks: int, order: tuple[int, ...] = (0, 1, 2), checkpoints=CNN_CHECKPOINTS,
                noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(networks, checkpoints, 3 layers) similarity to the end: layer at depth ``d`` (its place in
    ``order``) starts at 1 - (0.4 + 0.2 d) and rises as 1 - (0.4 + 0.2 d)(1 - c / last)**2, so
    lower layers are closer to their end at every checkpoint and cross any threshold first."""
    rng = np.random.default_rng(seed)
    c = np.asarray(checkpoints, dtype=float)[:, None] / checkpoints[-1]
    base = np.array([0.4 + 0.2 * order.index(l) for l in range(3)])[None, :]
    one = 1 - base * (1 - c) ** 2
    out = np.repeat(one[None], n_networks, axis=0)
    if noise:
        out[:, :-1] += rng.normal(0, noise, out[:, :-1].shape)
    return out


def _cnn_ev(pw: np.ndarray, mc: np.ndarray | None = None, checkpoints=CNN_CHECKPOINTS, threshold: float = 0.9):
    mc = pw if mc is None else mc
    return rules.cnn_training_evidence({"PWCCA": pw, "SVCCA": pw, "mean CCA": mc}, checkpoints, threshold,
                                       n_resamples=999)


def test_cnn_rules_reproduce_clear_bottom_up_and_refute_top_down():
    pw = _cnn_curves(4)
    # mean CCA: layers 2 and 3 swapped, so half of its adjacent pairs are ordered at every checkpoint
    mc = _cnn_curves(4, order=(0, 2, 1))
    ev = _cnn_ev(pw, mc)
    # threshold 0.9, interpolated between checkpoints: layer 1 (0.856 at epoch 2, 0.936 at 3) crosses
    # at 2.55, layer 2 (0.904 at 3) at 2.97, layer 3 (0.872 at 3, 0.968 at 4) at 3.29: both pairs ordered
    assert ev["ordered_pwcca"].estimate == 1.0 and ev["ordered_pwcca"].interval == (1.0, 1.0)
    # first - last layer: 0.4 (1 - c/5)^2, mean over the trained checkpoints 1..4: 0.4 x 0.30
    assert ev["gap_pwcca"].estimate == pytest.approx(0.12)
    assert ev["frac_pwcca"].estimate == 1.0 and ev["frac_mean_cca"].estimate == 0.5
    assert ev["clearer"].estimate == pytest.approx(0.5)
    assert ev["min_step"].estimate > 0 and ev["rise"].estimate > 0
    assert ev["below_pwcca"].estimate == 3  # every layer starts below 0.9
    assert [j.verdict for j in rules.cnn_training(ev, 0.98)] == ["reproduced"] * 4
    # top-down at every checkpoint: the order findings are not reproduced, the rise still holds
    top = _cnn_curves(4, order=(2, 1, 0))
    verdicts = [j.verdict for j in rules.cnn_training(_cnn_ev(top, pw), 0.98)]
    assert verdicts == ["not reproduced", "not reproduced", "not reproduced", "reproduced"]


def test_cnn_rules_partly_when_the_order_fraction_straddles_its_threshold():
    # networks 0-3: bottom-up; network 4: layers 2 and 3 swapped (one pair ordered, one reversed).
    # Ordered fraction (4 + 0.5) / 5 = 0.9, but resamples with 3 or more draws of network 4 (6% of
    # them) fall below 0.8: undecided. Bottom-up minus top-down (4 + 0) / 5 = 0.8, above 0 unless
    # every draw is network 4 (0.03%): partly.
    pw = np.concatenate([_cnn_curves(4), _cnn_curves(1, order=(0, 2, 1))])
    ev = _cnn_ev(pw)
    assert ev["ordered_pwcca"].estimate == pytest.approx(0.9)
    assert ev["net_order_pwcca"].estimate == pytest.approx(0.8)
    assert ev["ordered_pwcca"].low < 0.8 < ev["ordered_pwcca"].high
    assert ev["net_order_pwcca"].low > 0 and ev["gap_pwcca"].low > 0
    assert rules.cnn_training(ev, 0.98)[0].verdict == "partly"


def test_cnn_rules_are_inconclusive_on_thin_evidence():
    # two networks: no interval over networks, whatever the curves say
    two = rules.cnn_training(_cnn_ev(_cnn_curves(2)), 0.98)
    assert [j.verdict for j in two] == ["inconclusive"] * 4
    assert any("2 networks, the rule needs at least 3" in r for r in two[0].reasons)
    # one trained checkpoint (epochs 0, 1, 2): the order rules need 3, the rise rule 2
    short = rules.cnn_training(_cnn_ev(_cnn_curves(4, checkpoints=(0, 1, 2)), checkpoints=(0, 1, 2)), 0.98)
    assert [j.verdict for j in short] == ["inconclusive"] * 4
    assert any("1 trained checkpoints, the rule needs at least 3" in r for r in short[0].reasons)
    assert any("1 trained checkpoints, the rule needs at least 2" in r for r in short[3].reasons)
    # networks that did not learn
    unlearned = rules.cnn_training(_cnn_ev(_cnn_curves(4)), 0.3)
    assert [j.verdict for j in unlearned] == ["inconclusive"] * 4
    assert "30% test accuracy" in unlearned[0].reasons[0]
    # every layer already above the threshold at initialization: nothing to order
    early = rules.cnn_training(_cnn_ev(_cnn_curves(4), threshold=0.15), 0.98)  # layers start at 0.6, 0.4, 0.2
    assert early[0].verdict == "inconclusive" and "nothing to order" in early[0].reasons[0]


def test_cnn_clearer_is_inconclusive_when_the_difference_straddles_zero():
    """The book's 4-network run: PWCCA ordered 196, mean CCA 197 of 200 (network, checkpoint, pair):
    per network the difference is 0, 0, 0 or -1/50. The old page said "not reproduced"; the interval
    over networks reaches 0 from below, which cannot tell "clearer" from "as clear"."""
    pw = _cnn_curves(4, checkpoints=tuple(range(11)), noise=0.0)
    mc = pw.copy()
    pw[3, 5, :] = [0.95, 0.90, 0.91]  # network 3, epoch 5: layers 2 and 3 out of order by PWCCA only
    ev = _cnn_ev(pw, mc, checkpoints=tuple(range(11)))
    # 9 trained checkpoints x 2 pairs = 18 per network: the difference is -1/18 for network 3, 0 elsewhere
    assert ev["clearer"].estimate == pytest.approx(-1 / 18 / 4)
    assert ev["clearer"].low < 0 and ev["clearer"].high == 0.0
    assert rules.cnn_training(ev, 0.98)[2].verdict == "inconclusive"
    # in every network: not reproduced
    pw_all = mc.copy()
    pw_all[:, 5, :] = [0.95, 0.90, 0.91]
    assert rules.cnn_training(_cnn_ev(pw_all, mc, checkpoints=tuple(range(11))), 0.98)[2].verdict == "not reproduced"


# ---------------------------------------------------------------------------------------- convergence
STILL_IMPROVING = ("1 of 4 networks were still improving at their last epoch (first: best 0.31 at epoch 5 of 5): "
                   "their layers are compared with a final representation that was still moving")


def _converged(*met: bool):
    return rules.convergence_premise([SimpleNamespace(met=m, detail="best 0.31 at epoch 5 of 5") for m in met])


def test_cnn_rules_need_networks_that_stopped_improving_when_asked():
    ev = _cnn_ev(_cnn_curves(4), _cnn_curves(4, order=(0, 2, 1)))  # as in the first test: reproduced x 4
    # every network converged: the verdicts of the clear bottom-up curves, the premise in each rule
    judged = rules.cnn_training(ev, 0.98, converged=_converged(True, True, True, True))
    assert [j.verdict for j in judged] == ["reproduced"] * 4
    assert all("validation loss stopped improving" in j.rule for j in judged)
    # one network still improving: every finding inconclusive, for that reason alone
    judged = rules.cnn_training(ev, 0.98, converged=_converged(True, False, True, True))
    assert [j.verdict for j in judged] == ["inconclusive"] * 4
    assert all(j.reasons == (STILL_IMPROVING,) for j in judged)
    # whatever the curves say: top-down curves (3 x not reproduced, reproduced) become inconclusive too
    top = _cnn_ev(_cnn_curves(4, order=(2, 1, 0)), _cnn_curves(4))
    assert [j.verdict for j in rules.cnn_training(top, 0.98, converged=_converged(False, True, True, True))] == \
        ["inconclusive"] * 4
    # not given: no convergence requirement
    assert all("validation loss" not in j.rule for j in rules.cnn_training(ev, 0.98))
    with pytest.raises(TypeError, match="converged must be a Check"):
        rules.cnn_training(ev, 0.98, converged=True)

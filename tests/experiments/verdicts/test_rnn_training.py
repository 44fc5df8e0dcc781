"""The RNN training-dynamics chapter's rules (verdicts.rnn_training) on a real rerun and planted curves.

Expected verdicts are worked out by hand in the comments. Issue 13's "wrong verdict" is here with the
right value: an RNN rerun on Tiny Shakespeare with epochs=2.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cca_core.experiments import rules


# ---------------------------------------------------------------------------------------- RNN training
# PWCCA and mean CCA similarity to the last epoch of the rerun `rnn_training_dynamics -p
# corpus=tinyshakespeare -p epochs=2` (3 x LSTM(32), 4980 validation characters): epoch 0 and 1.
RNN_RERUN_PWCCA = [[0.441, 0.245, 0.207], [0.917, 0.897, 0.906]]
RNN_RERUN_MEAN_CCA = [[0.364, 0.163, 0.112], [0.816, 0.649, 0.593]]


def _nets_from(pw: list, mc: list, n_networks: int = 3, spread: float = 0.005, seed: int = 0) -> "rules.NetworkMeans":
    """Per-network similarities (networks, checkpoints incl. the last at 1, layers): the given curves
    (checkpoints before the end) plus Gaussian noise of standard deviation ``spread`` per network."""
    rng = np.random.default_rng(seed)

    def per_network(curve: list) -> np.ndarray:
        c = np.vstack([np.asarray(curve, dtype=float), np.ones((1, len(curve[0])))])
        noisy = c[None] + rng.normal(0, spread, size=(n_networks,) + c.shape)
        noisy[:, -1] = 1.0
        return noisy

    return rules.NetworkMeans({"pwcca": per_network(pw), "mean_cca": per_network(mc)})


def test_rnn_rerun_tinyshakespeare_two_epochs_is_inconclusive():
    """Issue 13: finding 1 said "reproduced" from one trained checkpoint whose layers were top-down
    (0.917 > 0.897 < 0.906), the initialization counted as one of two. Judged on trained checkpoints
    only, one is too few for every finding."""
    ev = rules.rnn_training_evidence(_nets_from(RNN_RERUN_PWCCA, RNN_RERUN_MEAN_CCA, spread=0.001), (0, 1, 2))
    assert ev["strict"].n["trained_checkpoints"] == 1 and ev["strict"].n["networks"] == 3
    assert ev["strict"].estimate == 0.0          # epoch 1 is not in bottom-up order
    judgements = rules.rnn_training(ev, 3)
    assert [j.verdict for j in judgements] == ["inconclusive"] * 3
    assert "1 trained checkpoints, the rule needs at least 3" in " ".join(judgements[0].reasons)
    # the epochs the page names: init, the middle and the last trained one, each once
    assert rules.epochs_to_show((0, 1, 2)) == [0, 1]
    assert rules.epochs_to_show(tuple(range(13))) == [0, 6, 11]


# 4 trained checkpoints, layers strictly ordered, PWCCA ordered everywhere, mean CCA at half
RNN_BOTTOM_UP_PWCCA = [[0.5, 0.4, 0.3], [0.6, 0.5, 0.4], [0.7, 0.6, 0.5], [0.8, 0.7, 0.6], [0.9, 0.8, 0.7]]
RNN_BOTTOM_UP_MEAN_CCA = [[0.5, 0.4, 0.3], [0.6, 0.5, 0.55], [0.7, 0.6, 0.65], [0.8, 0.7, 0.75], [0.9, 0.8, 0.85]]


def test_rnn_rules_reproduce_bottom_up_with_enough_checkpoints():
    ev = rules.rnn_training_evidence(_nets_from(RNN_BOTTOM_UP_PWCCA, RNN_BOTTOM_UP_MEAN_CCA), (0, 1, 2, 3, 4, 5))
    assert ev["strict"].estimate == 1.0 and ev["clearer"].estimate == pytest.approx(1.0 - 0.5)
    assert ev["order_0"].estimate == pytest.approx(0.1, abs=0.01)   # 0.6..0.9 minus 0.5..0.8, plus noise
    assert [j.verdict for j in rules.rnn_training(ev, 3)] == ["reproduced", "reproduced", "reproduced"]
    # top-down at every trained checkpoint: not reproduced
    top = [row[::-1] for row in RNN_BOTTOM_UP_PWCCA]
    ev = rules.rnn_training_evidence(_nets_from(top, top), (0, 1, 2, 3, 4, 5))
    assert rules.rnn_training(ev, 3)[0].verdict == "not reproduced"


def test_rnn_rules_need_models_that_learned_beyond_word_frequencies():
    ev = rules.rnn_training_evidence(_nets_from(RNN_BOTTOM_UP_PWCCA, RNN_BOTTOM_UP_MEAN_CCA), (0, 1, 2, 3, 4, 5))
    # a third of 709 is 236.3: every model at or below it, or one above
    learned = rules.perplexity_premise([120.0, 236.0, 200.0], 709.0)
    assert [j.verdict for j in rules.rnn_training(ev, 3, learned)] == ["reproduced"] * 3
    short = rules.perplexity_premise([120.0, 237.0, 200.0], 709.0)
    judged = rules.rnn_training(ev, 3, short)
    assert [j.verdict for j in judged] == ["inconclusive"] * 3
    assert all("perplexity of 237" in " ".join(j.reasons) and "236" in " ".join(j.reasons) for j in judged)


def test_rnn_rules_need_two_networks():
    """Issue 13: one network gives no interval over networks, so no verdict but inconclusive."""
    ev = rules.rnn_training_evidence(_nets_from(RNN_BOTTOM_UP_PWCCA, RNN_BOTTOM_UP_MEAN_CCA, n_networks=1),
                                     (0, 1, 2, 3, 4, 5))
    judgements = rules.rnn_training(ev, 3)
    assert [j.verdict for j in judgements] == ["inconclusive"] * 3
    assert all(any("1 networks, the rule needs at least 2" in r for r in j.reasons) for j in judgements)


def test_rnn_rules_are_inconclusive_when_the_networks_disagree():
    # two networks bottom-up, one top-down: the order's interval over networks straddles 0
    bottom = np.vstack([np.asarray(RNN_BOTTOM_UP_PWCCA), np.ones((1, 3))])
    per_net = np.stack([bottom, bottom, bottom[:, ::-1]])
    nets = rules.NetworkMeans({"pwcca": per_net, "mean_cca": per_net})
    ev = rules.rnn_training_evidence(nets, (0, 1, 2, 3, 4, 5))
    assert ev["order_0"].low < 0 < ev["order_0"].high
    assert rules.rnn_training(ev, 3)[0].verdict == "inconclusive"


def test_rnn_rules_need_models_that_stopped_improving_when_asked():
    ev = rules.rnn_training_evidence(_nets_from(RNN_BOTTOM_UP_PWCCA, RNN_BOTTOM_UP_MEAN_CCA), (0, 1, 2, 3, 4, 5))
    done = rules.convergence_premise([SimpleNamespace(met=True, detail="flat")] * 3)
    judged = rules.rnn_training(ev, 3, converged=done)
    assert [j.verdict for j in judged] == ["reproduced"] * 3
    assert all("validation loss stopped improving" in j.rule for j in judged)
    moving = rules.convergence_premise([SimpleNamespace(met=m, detail=d) for m, d in
                                        ((True, "flat"), (False, "best 4.2 at epoch 6 of 6"), (False, "falling"))])
    still = ("2 of 3 networks were still improving at their last epoch (first: best 4.2 at epoch 6 of 6): their "
             "layers are compared with a final representation that was still moving")
    judged = rules.rnn_training(ev, 3, None, moving)  # positional, after learned
    assert [j.verdict for j in judged] == ["inconclusive"] * 3
    assert all(j.reasons == (still,) for j in judged)
    # with a failing perplexity premise too: both reasons, the perplexity's first
    short = rules.perplexity_premise([120.0, 237.0, 200.0], 709.0)
    judged = rules.rnn_training(ev, 3, short, moving)
    assert all(len(j.reasons) == 2 and "perplexity of 237" in j.reasons[0] and j.reasons[1] == still
               for j in judged)
    with pytest.raises(TypeError, match="converged must be a Check"):
        rules.rnn_training(ev, 3, converged="yes")

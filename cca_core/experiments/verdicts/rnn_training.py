"""The RNN training-dynamics chapter's rules (Morcos et al. 2018, section 4.1, figure 6): the layers
of a language model converge bottom-up.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_RNN_NETWORKS, Evidence, NetworkMeans
from cca_core.experiments.verdicts.findings import Check, Judgement, above, all_of, at_least, enough, judge, premise
from cca_core.experiments.verdicts.premises import MIN_TRAINED_CHECKPOINTS

__all__ = ["rnn_training_evidence", "epochs_to_show", "LEARNED_PERPLEXITY_FRACTION", "perplexity_premise",
           "rnn_training"]


def rnn_training_evidence(nets: NetworkMeans, checkpoints: Sequence[int]) -> dict[str, Evidence]:
    """Evidence for the RNN training-dynamics chapter, with intervals over networks.

    ``nets`` holds ``"pwcca"`` and ``"mean_cca"``: arrays ``(n_networks, n_checkpoints, n_layers)``
    of the similarity (1 - distance) of each layer at each checkpoint to the same layer at the last
    checkpoint of the same network (whose row is 1). Every statistic is computed on each network and
    averaged over networks, with its Student-t interval over networks (:class:`NetworkMeans`). The
    judged checkpoints are the *trained* ones before the end (``0 < epoch < last``): the
    initialization is reported, not counted.

    Keys, each a mean over networks: ``sim_<l>`` (mean PWCCA similarity of layer l+1 over the
    judged checkpoints), ``order_<l>`` (layer l+1 minus layer l+2 of those means), ``lead`` (layer 1 minus the most
    similar other layer), ``strict`` (fraction of judged checkpoints with the layers in strict
    bottom-up order), ``frac_pwcca``, ``frac_mean_cca`` (fraction of ordered adjacent layer pairs
    over the judged checkpoints), ``clearer`` (their difference), ``min_step`` (smallest change of
    PWCCA similarity between consecutive checkpoints, initialization and end included, over
    layers), ``rise`` (smallest over layers of the similarity at the last judged checkpoint minus
    at initialization). Each has ``n["networks"]`` and ``n["trained_checkpoints"]``.
    """
    checkpoints = list(checkpoints)
    shape = nets.values["pwcca"].shape
    if len(shape) != 3 or shape[1] != len(checkpoints) or nets.values["mean_cca"].shape != shape:
        raise ValueError(f"pwcca and mean_cca must be (networks, {len(checkpoints)} checkpoints, layers), got "
                         f"{shape} and {nets.values['mean_cca'].shape}")
    L = shape[2]
    judged = [i for i, c in enumerate(checkpoints[:-1]) if c > 0]
    n_cp = {"trained_checkpoints": len(judged)}

    def judged_sims(m: Mapping[str, np.ndarray], measure: str = "pwcca") -> np.ndarray:
        s = m[measure][judged]
        return s if s.size else np.full((1, L), np.nan)

    def mean_sim(m: Mapping[str, np.ndarray]) -> np.ndarray:
        return judged_sims(m).mean(axis=0)

    def frac(m: Mapping[str, np.ndarray], measure: str) -> float:
        s = judged_sims(m, measure)
        return float(np.mean(s[:, :-1] > s[:, 1:]))

    def ev(name: str, statistic: Any, clip: tuple[float, float] | None = None) -> Evidence:
        return nets.evidence(name, statistic, clip=clip, n=n_cp)

    out: dict[str, Evidence] = {}
    for l in range(L):
        out[f"sim_{l}"] = ev(f"mean PWCCA similarity, layer {l + 1}, trained checkpoints",
                             lambda m, l=l: mean_sim(m)[l], (0.0, 1.0))
    for l in range(L - 1):
        out[f"order_{l}"] = ev(f"layer {l + 1} - layer {l + 2}, mean PWCCA similarity",
                               lambda m, l=l: mean_sim(m)[l] - mean_sim(m)[l + 1])
    out["lead"] = ev("layer 1 - most similar other layer, mean PWCCA similarity",
                     lambda m: mean_sim(m)[0] - mean_sim(m)[1:].max())
    out["strict"] = ev("fraction of trained checkpoints in strict bottom-up order",
                       lambda m: float(np.mean(np.all(np.diff(judged_sims(m), axis=1) < 0, axis=1))), (0.0, 1.0))
    out["frac_pwcca"] = ev("ordered adjacent layer pairs, PWCCA", lambda m: frac(m, "pwcca"), (0.0, 1.0))
    out["frac_mean_cca"] = ev("ordered adjacent layer pairs, mean CCA", lambda m: frac(m, "mean_cca"), (0.0, 1.0))
    out["clearer"] = ev("ordered pairs, PWCCA - mean CCA", lambda m: frac(m, "pwcca") - frac(m, "mean_cca"),
                        (-1.0, 1.0))
    out["min_step"] = ev("smallest change of PWCCA similarity between consecutive checkpoints",
                         lambda m: float(np.diff(m["pwcca"], axis=0).min()))
    last_judged = judged[-1] if judged else 0
    out["rise"] = ev("smallest rise over layers, initialization to the last trained checkpoint",
                     lambda m: float((m["pwcca"][last_judged] - m["pwcca"][0]).min()))
    return out


def epochs_to_show(checkpoints: Sequence[int]) -> list[int]:
    """The checkpoints a page names: initialization, the middle one and the last before the end,
    each once (with epochs=2 the middle *is* the last before the end)."""
    before = list(checkpoints)[:-1]
    if not before:
        return []
    mid = before[min(max(len(before) // 2, 1), len(before) - 1)] if len(before) > 1 else before[0]
    return list(dict.fromkeys([before[0], mid, before[-1]]))


#: A language model counts as trained for the convergence rules when its validation perplexity is at
#: most this fraction of the add-one unigram (word-frequency) model's on the same training tokens: a
#: model near the unigram's knows word frequencies, not context (issue 19).
LEARNED_PERPLEXITY_FRACTION = 1 / 3


def perplexity_premise(final_perplexity: Sequence[float], unigram: float,
                       fraction: float = LEARNED_PERPLEXITY_FRACTION) -> Check:
    """Premise "every model learned beyond word frequencies": each model's final validation
    perplexity at most ``fraction`` times the word-frequency model's ``unigram`` (same tokens)."""
    worst = float(np.max(np.asarray(final_perplexity, dtype=float)))
    bar = fraction * float(unigram)
    return premise(worst <= bar, f"every model's validation perplexity at most {bar:,.0f} ({fraction:.2g} of the "
                                 f"word-frequency model's {unigram:,.0f})",
                   f"the models reach a validation perplexity of {worst:,.0f} (the highest), above the bar of "
                   f"{bar:,.0f} ({fraction:.2g} of the word-frequency model's {unigram:,.0f}): they have learned too "
                   "little for their convergence to say how a language model converges")


def rnn_training(ev: Mapping[str, Evidence], n_layers: int, learned: Check | None = None,
                 converged: Check | None = None) -> list[Judgement]:
    """The three findings of the RNN training-dynamics chapter (Morcos et al. 2018, section 4.1, figure 6).

    Judged on the mean over networks at the trained checkpoints before the end (at least 3 for
    findings 1 and 2, 2 for 3), each number by its interval over networks (at least
    :data:`MIN_RNN_NETWORKS` networks):

    1. Bottom-up: every adjacent difference of mean PWCCA similarity (layer l minus l + 1) above 0
       and the strict order at least at half of the checkpoints (reproduced); layer 1 above every
       other layer on average (partly).
    2. Clearer with PWCCA: PWCCA's fraction of ordered adjacent pairs minus mean CCA's above 0
       (reproduced), at least 0 (partly).
    3. Every layer approaches its final representation: no drop of more than 0.01 between
       consecutive checkpoints (reproduced); every layer higher at the last trained checkpoint than
       at initialization (partly).

    ``learned`` (:func:`perplexity_premise`), when given, is required by every finding: models that
    did not learn beyond word frequencies give inconclusive, saying so. ``converged``
    (:func:`~.premises.convergence_premise`), when given, likewise: models still improving at their
    last epoch give inconclusive. Raises ``TypeError`` when either is not a :class:`~.findings.Check`.
    """
    for name, c in (("learned", learned), ("converged", converged)):
        if c is not None and not isinstance(c, Check):
            raise TypeError(f"{name} must be a Check, got {type(c).__name__}")
    nets = ([enough(ev["strict"], networks=MIN_RNN_NETWORKS)] + ([learned] if learned is not None else [])
            + ([converged] if converged is not None else []))
    need3 = nets + [enough(ev["strict"], trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]
    need2 = nets + [enough(ev["min_step"], trained_checkpoints=2)]
    order = all_of(above(ev[f"order_{l}"], 0.0) for l in range(int(n_layers) - 1))
    return [
        judge(order & at_least(ev["strict"], 0.5), above(ev["lead"], 0.0), requires=need3),
        judge(above(ev["clearer"], 0.0), at_least(ev["clearer"], 0.0), requires=need3),
        judge(at_least(ev["min_step"], -0.01), above(ev["rise"], 0.0), requires=need2),
    ]

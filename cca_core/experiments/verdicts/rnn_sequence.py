"""The RNN sequence-dynamics chapter's rules (Morcos et al. 2018, section 4.2, appendix A.3).

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_RNN_NETWORKS, Evidence, NetworkMeans
from cca_core.experiments.verdicts.findings import Judgement, above, all_of, any_of, at_least, below, enough, judge

__all__ = ["rnn_sequence", "rnn_sequence_evidence"]


def rnn_sequence(linear_cca_max: Evidence, linear_naive_min: Evidence, window: Mapping[str, Mapping[str, Evidence]],
                 repeat: Mapping[tuple[str, str], Mapping[str, Evidence]]) -> list[Judgement]:
    """The three findings of the RNN sequence-dynamics chapter (Morcos et al. 2018, section 4.2, A.3).

    (a) The largest CCA distance below 1e-6 and the smallest mean naive distance above 0.1
    (reproduced); only the CCA part (partly). (b) Per layer, ``window[layer]`` has ``far_margin``
    (the smaller of the distances at step 0 and the middle step, minus half the shuffled baseline)
    and ``fall`` (that smaller distance minus the distance two steps before the end): the layer
    holds when ``far_margin >= 0`` and ``fall > 0.02``; reproduced when every layer holds, partly
    when one does. (c) Per (start, layer), ``repeat[...]`` has ``first`` (distance at the first
    repeated step), ``early_fall`` (first minus middle) and ``late_fall`` (middle minus two steps
    before the end): holds when ``first >= 0.05``, ``early_fall > 0`` and ``late_fall >= 0``;
    reproduced when all hold, partly when one does. (b) and (c) are judged by their intervals over
    networks (:func:`rnn_sequence_evidence`) and need at least :data:`MIN_RNN_NETWORKS` networks.
    """
    ok_b = [at_least(e["far_margin"], 0.0) & above(e["fall"], 0.02) for e in window.values()]
    ok_c = [at_least(e["first"], 0.05) & above(e["early_fall"], 0.0) & at_least(e["late_fall"], 0.0)
            for e in repeat.values()]
    need_b = [enough(e["fall"], networks=MIN_RNN_NETWORKS) for e in list(window.values())[:1]]
    need_c = [enough(e["first"], networks=MIN_RNN_NETWORKS) for e in list(repeat.values())[:1]]
    return [
        judge(below(linear_cca_max, 1e-6) & above(linear_naive_min, 0.1), below(linear_cca_max, 1e-6)),
        judge(all_of(ok_b), any_of(ok_b), requires=need_b),
        judge(all_of(ok_c), any_of(ok_c), requires=need_c),
    ]


def rnn_sequence_evidence(window: Any, shuffled: Any, repeat: Mapping[str, Any], layers: Sequence[str], *,
                          confidence_level: float = 0.95) -> dict[str, Any]:
    """Evidence for findings (b) and (c) of the RNN sequence-dynamics chapter, with intervals over networks.

    ``window`` is ``(n_networks, n_layers, T)``: each network's symmetrized PWCCA distance between
    a layer's states at each step of the window and at its last step (a datapoint is a sequence);
    ``shuffled`` ``(n_networks, n_layers)``: the last step against itself with the sequences
    shuffled; ``repeat[start]`` ``(n_networks, n_layers, R)``: the same along ``R`` repeated steps.
    Every statistic is computed on each network and averaged over networks, with its Student-t
    interval over networks (:class:`NetworkMeans`).

    Returns ``{"window": {layer: {"far_margin", "fall"}}, "repeat": {(start, layer): {"first",
    "early_fall", "late_fall"}}}`` as described in :func:`rnn_sequence`.
    """
    values = {"window": window, "shuffled": shuffled, **{f"repeat:{s}": v for s, v in repeat.items()}}
    nets = NetworkMeans(values, confidence_level=confidence_level)
    layers = list(layers)
    steps = nets.values["window"].shape[-1]
    if nets.values["window"].shape[1:] != (len(layers), steps) or nets.values["shuffled"].shape[1:] != (len(layers),):
        raise ValueError(f"window must be (networks, {len(layers)} layers, steps) and shuffled (networks, "
                         f"{len(layers)} layers), got {nets.values['window'].shape} and "
                         f"{nets.values['shuffled'].shape}")
    mid = steps // 2
    out: dict[str, Any] = {"window": {}, "repeat": {}}
    for i, l in enumerate(layers):
        def far(m: Mapping[str, np.ndarray], i: int = i) -> float:
            return min(m["window"][i, 0], m["window"][i, mid])

        out["window"][l] = {
            "far_margin": nets.evidence(f"{l}: min(step 0, step {mid}) - shuffled / 2",
                                        lambda m, i=i, far=far: far(m) - 0.5 * m["shuffled"][i]),
            "fall": nets.evidence(f"{l}: min(step 0, step {mid}) - step {steps - 2}",
                                  lambda m, i=i, far=far: far(m) - m["window"][i, steps - 2]),
        }
    for start in repeat:
        key = f"repeat:{start}"
        r = nets.values[key].shape[-1]
        for i, l in enumerate(layers):
            out["repeat"][(start, l)] = {
                "first": nets.evidence(f"{l}, {start} start: step 0", lambda m, i=i, k=key: m[k][i, 0],
                                       clip=(0.0, 1.0)),
                "early_fall": nets.evidence(f"{l}, {start} start: step 0 - step {r // 2}",
                                            lambda m, i=i, k=key, r=r: m[k][i, 0] - m[k][i, r // 2]),
                "late_fall": nets.evidence(f"{l}, {start} start: step {r // 2} - step {r - 2}",
                                           lambda m, i=i, k=key, r=r: m[k][i, r // 2] - m[k][i, r - 2]),
            }
    return out

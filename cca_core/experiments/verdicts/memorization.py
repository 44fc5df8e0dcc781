"""The memorization chapter's rules (Morcos et al. 2018, section 3.1, figure 3): generalizing vs
memorizing networks.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkGroups
from cca_core.experiments.verdicts.findings import (Check, Judgement, above, all_of, any_of, at_least, at_most, enough,
                                                    judge, within)
from cca_core.experiments.verdicts.premises import fit_premise

__all__ = ["memorization_layers", "memorization_evidence", "memorization"]


def memorization_layers(depth: int) -> tuple[list[int], list[int]]:
    """Indices of the "early" (first third, at least one) and "last" (last third) conv layers."""
    n_third = max(1, depth // 3)
    return list(range(n_third)), list(range(depth - n_third, depth))


def memorization_evidence(groups: Mapping[str, NetworkGroups], layers: Sequence[str], depth: int
                          ) -> dict[str, Evidence]:
    """Evidence for the memorization chapter from one :class:`NetworkGroups` per split.

    ``groups[split]`` holds the PWCCA distances of shape ``(n_layers, K, K)`` between the networks
    of groups ``"generalizing"`` and ``"memorizing"``, layers in the order of ``layers`` (conv layers
    ``relu_1..relu_<depth>``, then ``logits`` and ``softmax``). "Early" conv layers are the first
    third (at least one), "last" the last third; a value over several layers is the mean over them
    of the mean over pairs. Keys: ``early_<comparison>_<split>``, ``last_<comparison>_<split>``
    (comparisons ``gen``, ``mem``, ``between``), ``early_spread_<split>`` (largest minus smallest of
    the three early values), ``gap_<split>`` (memorizing minus generalizing, last layers),
    ``between_minus_mem_<split>``, ``closer_<split>`` (``|between - gen| - |between - mem|``, positive
    when the between-group distance is closer to the memorizing one), and at the softmax
    ``softmax_gen_<split>``, ``softmax_mem_<split>``, ``softmax_gap_<split>``.
    """
    early, last = memorization_layers(depth)
    i_soft = list(layers).index("softmax")
    names = {"early": ", ".join(layers[i] for i in early), "last": ", ".join(layers[i] for i in last)}
    out: dict[str, Evidence] = {}
    for split, g in groups.items():
        def over(m: Any, comparison: str, idx: list[int]) -> np.ndarray:
            value = {"gen": lambda: m("generalizing"), "mem": lambda: m("memorizing"),
                     "between": lambda: m("generalizing", "memorizing")}[comparison]()
            return np.asarray(value)[..., idx].mean(axis=-1)

        for part, idx in (("early", early), ("last", last)):
            for c in ("gen", "mem", "between"):
                out[f"{part}_{c}_{split}"] = g.evidence(
                    f"{c} PWCCA distance, {names[part]}, {split}", lambda m, c=c, idx=idx: over(m, c, idx))
        out[f"early_spread_{split}"] = g.evidence(
            f"largest - smallest of gen, mem, between, {names['early']}, {split}",
            lambda m: np.max([over(m, c, early) for c in ("gen", "mem", "between")], axis=0)
            - np.min([over(m, c, early) for c in ("gen", "mem", "between")], axis=0))
        out[f"gap_{split}"] = g.evidence(f"mem - gen, {names['last']}, {split}",
                                         lambda m: over(m, "mem", last) - over(m, "gen", last))
        out[f"between_minus_mem_{split}"] = g.evidence(
            f"between - mem, {names['last']}, {split}", lambda m: over(m, "between", last) - over(m, "mem", last))
        out[f"closer_{split}"] = g.evidence(
            f"|between - gen| - |between - mem|, {names['last']}, {split}",
            lambda m: np.abs(over(m, "between", last) - over(m, "gen", last))
            - np.abs(over(m, "between", last) - over(m, "mem", last)))
        for c in ("gen", "mem"):
            out[f"softmax_{c}_{split}"] = g.evidence(f"{c} PWCCA distance, softmax, {split}",
                                                     lambda m, c=c: over(m, c, [i_soft]))
        out[f"softmax_gap_{split}"] = g.evidence(f"mem - gen, softmax, {split}",
                                                 lambda m: over(m, "mem", [i_soft]) - over(m, "gen", [i_soft]))
    return out


def memorization(ev: Mapping[str, Evidence], lowest_accuracy: Mapping[str, float],
                 splits: Sequence[str] = ("train", "test")) -> list[Judgement]:
    """The five findings of the memorization chapter (Morcos et al. 2018, section 3.1, figure 3).

    Every rule needs at least 3 networks per group and every network fitting its training labels
    (:func:`fit_premise`); each interval is a network bootstrap (:func:`memorization_evidence`).
    Findings 1-3 are judged on every split: reproduced when the reproduced condition holds on every
    split, partly when the partly condition holds on at least one.

    1. Early layers: the spread of gen / mem / between at most 0.05 (reproduced), 0.10 (partly).
    2. Last conv layers: mem - gen at least 0.05 (reproduced), above 0 (partly).
    3. Last conv layers: between - mem within +-0.05 (reproduced), or between closer to mem than to
       gen (partly).
    4. Softmax, training images: both groups' distances at most 0.05 (reproduced), 0.15 (partly).
    5. Softmax, test images: gen at most 0.10 and mem - gen at least 0.10 (reproduced), mem - gen at
       least 0.05 (partly).
    """
    fit = fit_premise(lowest_accuracy)

    def needs(*keys: str) -> list[Check]:
        return [fit] + [enough(ev[k], networks=MIN_NETWORKS) for k in keys]

    spread = [ev[f"early_spread_{s}"] for s in splits]
    gap = [ev[f"gap_{s}"] for s in splits]
    bm = [ev[f"between_minus_mem_{s}"] for s in splits]
    closer = [ev[f"closer_{s}"] for s in splits]
    return [
        judge(all_of(at_most(e, 0.05) for e in spread), any_of(at_most(e, 0.10) for e in spread),
              requires=needs(*(f"early_spread_{s}" for s in splits))),
        judge(all_of(at_least(e, 0.05) for e in gap), any_of(above(e, 0.0) for e in gap),
              requires=needs(*(f"gap_{s}" for s in splits))),
        judge(all_of(within(e, -0.05, 0.05) for e in bm),
              any_of(within(b, -0.05, 0.05) | above(c, 0.0) for b, c in zip(bm, closer)),
              requires=needs(*(f"closer_{s}" for s in splits))),
        judge(at_most(ev["softmax_gen_train"], 0.05) & at_most(ev["softmax_mem_train"], 0.05),
              at_most(ev["softmax_gen_train"], 0.15) & at_most(ev["softmax_mem_train"], 0.15),
              requires=needs("softmax_gen_train", "softmax_mem_train")),
        judge(at_most(ev["softmax_gen_test"], 0.10) & at_least(ev["softmax_gap_test"], 0.10),
              at_least(ev["softmax_gap_test"], 0.05), requires=needs("softmax_gap_test")),
    ]

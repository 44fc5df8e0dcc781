"""The CNN training-dynamics chapter's rules (Raghu et al. 2017, section 4 and figure 4; Morcos et al.
2018, section 4.1): the layers of a CNN converge bottom-up.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkValues
from cca_core.experiments.verdicts.findings import Check, Judgement, above, at_least, enough, judge, premise
from cca_core.experiments.verdicts.premises import MIN_TRAINED_CHECKPOINTS
from cca_core.stats import NETWORK_RESAMPLES

__all__ = ["LEARNED_ACCURACY", "learned_premise", "cnn_training_evidence", "BOTTOM_UP_FRACTION", "cnn_training"]


#: Test accuracy every network must reach for the CNN training-dynamics rules (the claim is about
#: networks that learn; chance is 10% on the book's 10-class datasets).
LEARNED_ACCURACY = 0.5


def learned_premise(lowest_accuracy: float, threshold: float = LEARNED_ACCURACY) -> Check:
    """Premise "every network learned": the lowest test accuracy over networks at least ``threshold``."""
    ok = bool(lowest_accuracy >= threshold)
    return premise(ok, f"every network reaches {threshold:.0%} test accuracy",
                   f"a network reaches only {lowest_accuracy:.0%} test accuracy, below {threshold:.0%}: the claim is "
                   "about networks that learn")


def _slug(measure: str) -> str:
    return measure.lower().replace(" ", "_")


def cnn_training_evidence(similarity: Mapping[str, np.ndarray], checkpoints: Sequence[int], threshold: float, *,
                          measures: Sequence[str] = ("PWCCA", "SVCCA"), clearer: tuple[str, str] = ("PWCCA", "mean CCA"),
                          n_resamples: int = NETWORK_RESAMPLES, confidence_level: float = 0.95, seed: int = 0
                          ) -> dict[str, Evidence]:
    """Evidence for the CNN training-dynamics chapter from each network's similarities to its end.

    ``similarity[measure]`` has shape ``(n_networks, n_checkpoints, n_layers)``: the similarity of
    each conv layer at each checkpoint (``checkpoints``, epochs, the last being the reference) to the
    same layer at the last checkpoint, for independently trained networks. Intervals resample the
    networks (percentile bootstrap of the mean over networks); fewer than 3 networks give none. The
    *judged* checkpoints are the trained ones before the end (``0 < epoch < last``); the
    initialization is reported, not counted.

    Keys, for each of ``measures`` (``<m>``: the measure's name in lower case, spaces as ``_``):
    ``ordered_<m>`` (fraction of adjacent layer pairs whose convergence epochs, the interpolated
    epoch at which similarity first reaches ``threshold``, grow with depth; mean over networks),
    ``net_order_<m>`` (ordered minus reversed fraction), ``gap_<m>`` (first minus last conv layer,
    mean similarity over the judged checkpoints) and ``below_<m>`` (exact: the fewest layers of a
    network below ``threshold`` at initialization). For both of ``clearer``: ``frac_<m>``
    (fraction of judged checkpoints and adjacent layer pairs with the lower layer more similar),
    and ``clearer`` (the first's fraction minus the second's). For the first of ``measures``:
    ``min_step`` (smallest change of the mean similarity between consecutive checkpoints,
    initialization and end included, over layers) and ``rise`` (smallest over layers of the mean
    similarity at the last judged checkpoint minus at initialization). Each has
    ``n["trained_checkpoints"]``.
    """
    from cca_core.experiments.analysis.convergence import crossing_epochs

    checkpoints = list(checkpoints)
    shapes = {np.shape(v) for v in similarity.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[1] != len(checkpoints):
        raise ValueError(f"similarity must map each measure to (n_networks, {len(checkpoints)} checkpoints, "
                         f"n_layers), got shapes {sorted(shapes)}")
    n_layers = next(iter(shapes))[2]
    if n_layers < 2:
        raise ValueError(f"cnn_training_evidence needs at least 2 layers, got {n_layers}")
    judged = [i for i, c in enumerate(checkpoints[:-1]) if c > 0]
    n_cp = {"trained_checkpoints": len(judged)}
    values: dict[str, np.ndarray] = {}
    for m in dict.fromkeys([*measures, *clearer]):
        s = np.asarray(similarity[m], dtype=float)
        values[f"sim_{_slug(m)}"] = s
        step = np.diff(crossing_epochs(s, checkpoints, threshold), axis=-1)     # (networks, layers - 1)
        valid = np.isfinite(step)
        with np.errstate(invalid="ignore"):
            counted = valid.sum(axis=1)
            values[f"ordered_{_slug(m)}"] = np.where(counted > 0, ((step > 0) & valid).sum(axis=1) / counted, np.nan)
            values[f"reversed_{_slug(m)}"] = np.where(counted > 0, ((step < 0) & valid).sum(axis=1) / counted, np.nan)
        j = s[:, judged, :] if judged else np.full((s.shape[0], 1, n_layers), np.nan)
        values[f"gap_{_slug(m)}"] = j.mean(axis=1)[:, 0] - j.mean(axis=1)[:, -1]
        values[f"frac_{_slug(m)}"] = np.mean(j[:, :, :-1] > j[:, :, 1:], axis=(1, 2))
    boot = NetworkValues(values, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed)
    out: dict[str, Evidence] = {}
    for m in measures:
        k = _slug(m)
        out[f"ordered_{k}"] = boot.evidence(f"adjacent layer pairs converging in bottom-up order, {m}",
                                            lambda f, k=k: f(f"ordered_{k}"), n=n_cp)
        out[f"net_order_{k}"] = boot.evidence(f"bottom-up minus top-down adjacent layer pairs, {m}",
                                              lambda f, k=k: f(f"ordered_{k}") - f(f"reversed_{k}"), n=n_cp)
        out[f"gap_{k}"] = boot.evidence(f"first - last conv layer, mean {m} similarity over trained checkpoints",
                                        lambda f, k=k: f(f"gap_{k}"), n=n_cp)
        start = np.asarray(similarity[m], dtype=float)[:, 0, :]
        out[f"below_{k}"] = Evidence.point(f"fewest layers of a network below {threshold:g} at initialization, {m}",
                                           float((start < threshold).sum(axis=1).min()),
                                           n={"networks": start.shape[0]}, why="a count")
    for m in clearer:
        k = _slug(m)
        out[f"frac_{k}"] = boot.evidence(f"ordered adjacent layer pairs over trained checkpoints, {m}",
                                         lambda f, k=k: f(f"frac_{k}"), n=n_cp)
    a, b = (_slug(m) for m in clearer)
    out["clearer"] = boot.evidence(f"ordered adjacent layer pairs, {clearer[0]} - {clearer[1]}",
                                   lambda f: f(f"frac_{a}") - f(f"frac_{b}"), n=n_cp)
    k = _slug(measures[0])
    out["min_step"] = boot.evidence(f"smallest change of mean {measures[0]} similarity between consecutive checkpoints",
                                    lambda f: np.diff(f(f"sim_{k}"), axis=-2).min(axis=(-2, -1)), n=n_cp)
    last_judged = judged[-1] if judged else 0
    out["rise"] = boot.evidence(f"smallest rise over layers of mean {measures[0]} similarity, initialization to "
                                f"epoch {checkpoints[last_judged]}",
                                lambda f: (f(f"sim_{k}")[..., last_judged, :] - f(f"sim_{k}")[..., 0, :]).min(axis=-1),
                                n=n_cp)
    return out


#: Fraction of adjacent layer pairs in bottom-up order that counts as "the layers converge bottom-up".
BOTTOM_UP_FRACTION = 0.8


def cnn_training(ev: Mapping[str, Evidence], lowest_test_accuracy: float,
                 measures: Sequence[str] = ("PWCCA", "SVCCA"), converged: Check | None = None) -> list[Judgement]:
    """The findings of the CNN training-dynamics chapter (Raghu et al. 2017, section 4 and figure 4;
    Morcos et al. 2018, section 4.1), one bottom-up finding per measure, then two.

    Every rule needs 3 networks (an interval over networks), every network learning
    (:func:`learned_premise`) and, for the order rules, 3 trained checkpoints before the end (2 for
    the last rule); intervals are those of :func:`cnn_training_evidence`.

    1. Bottom-up, per measure: the fraction of adjacent layer pairs whose convergence epochs grow
       with depth at least :data:`BOTTOM_UP_FRACTION` and the first-minus-last gap above 0
       (reproduced); more bottom-up than top-down pairs and the gap above 0 (partly). Needs, in
       every network, a layer below the threshold at initialization (else every layer converges at
       epoch 0 and there is nothing to order).
    2. Clearer with PWCCA: PWCCA's fraction of ordered adjacent pairs minus mean CCA's above 0
       (reproduced), at least 0 (partly).
    3. Every layer approaches its final representation: no drop of the mean similarity of more
       than 0.01 between consecutive checkpoints (reproduced); every layer higher at the last
       trained checkpoint than at initialization (partly).

    ``converged`` (:func:`~.premises.convergence_premise`), when given, is required by every finding:
    networks still improving at their last epoch give inconclusive, saying so. Raises ``TypeError``
    when it is not a :class:`~.findings.Check`.
    """
    if converged is not None and not isinstance(converged, Check):
        raise TypeError(f"converged must be a Check (convergence_premise), got {type(converged).__name__}")
    learned = learned_premise(lowest_test_accuracy)
    premises = [learned] + ([converged] if converged is not None else [])
    out = []
    for m in measures:
        k = _slug(m)
        below_ = ev[f"below_{k}"]
        starts = premise(below_.estimate >= 1, f"every network has a layer below the threshold at initialization ({m})",
                         f"some network has every layer at or above the threshold at initialization ({m}): every "
                         "layer converges at epoch 0 and there is nothing to order")
        out.append(judge(at_least(ev[f"ordered_{k}"], BOTTOM_UP_FRACTION) & above(ev[f"gap_{k}"], 0.0),
                         above(ev[f"net_order_{k}"], 0.0) & above(ev[f"gap_{k}"], 0.0),
                         requires=[*premises, starts, enough(ev[f"gap_{k}"], networks=MIN_NETWORKS,
                                                              trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]))
    out.append(judge(above(ev["clearer"], 0.0), at_least(ev["clearer"], 0.0),
                     requires=[*premises, enough(ev["clearer"], networks=MIN_NETWORKS,
                                                 trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]))
    out.append(judge(at_least(ev["min_step"], -0.01), above(ev["rise"], 0.0),
                     requires=[*premises, enough(ev["min_step"], networks=MIN_NETWORKS, trained_checkpoints=2)]))
    return out

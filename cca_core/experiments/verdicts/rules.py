"""The verdict rules of the book's chapters: evidence from the analysis in, judgements out.

A chapter's notebook does the analysis (trains, measures, builds distance matrices) and states its
rules in prose; the functions here turn the analysis into :class:`~.findings.Evidence` (intervals by
resampling networks for distances between networks; Student t over networks where each network is
compared only with itself, as in the RNN chapters; p-values with their minimum) and apply the rules
(:func:`~.findings.judge`), so that a rule is tested once here rather than re-typed in a page. Each ``<chapter>`` function returns one :class:`~.findings.Judgement` per
finding, in the order of the chapter's findings; each ``<chapter>_evidence`` function computes what
its rules need. Thresholds are the chapter's, given as module constants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import (MIN_NETWORKS, MIN_RNN_NETWORKS, Evidence, NetworkGroups, NetworkMeans,
                                           NetworkValues, mean_interval)
from cca_core.experiments.verdicts.findings import (Check, Judgement, above, all_of, any_of, at_least,
                                                    at_least_fraction, at_most, below, enough, judge, premise,
                                                    significant, within)
from cca_core.stats import NETWORK_RESAMPLES, percentile_interval

__all__ = ["FIT_THRESHOLD", "ALPHA", "fit_premise", "memorization_layers", "memorization_evidence", "memorization",
           "width_evidence", "width", "learning_rates_evidence", "learning_rates",
           "NetworkMeans", "rnn_training_evidence", "rnn_training", "epochs_to_show", "signal_noise_evidence",
           "signal_noise", "rnn_sequence_evidence", "rnn_sequence", "LEARNED_ACCURACY", "learned_premise",
           "cnn_training_evidence", "cnn_training", "conv_layers_evidence", "conv_layers"]

#: Training accuracy that counts as "fits its training labels" (the paper: 100%).
FIT_THRESHOLD = 0.99
#: Significance level of every permutation test in the book.
ALPHA = 0.05


def fit_premise(lowest_accuracy: Mapping[str, float], threshold: float = FIT_THRESHOLD) -> Check:
    """Premise "every network fits its training labels": the lowest training accuracy of each group
    (on the labels it was trained on) at least ``threshold``."""
    short = {g: a for g, a in lowest_accuracy.items() if not a >= threshold}
    failure = "; ".join(f"the {g} networks reach only {a:.0%} training accuracy (lowest), below "
                        f"{threshold:.0%}: the paper compares networks that fit their labels" for g, a in short.items())
    return premise(not short, f"every network reaches {threshold:.0%} training accuracy", failure)


# ---------------------------------------------------------------------------------------- memorization
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


# ---------------------------------------------------------------------------------------- width
def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of x and y (shape (P,)) under weights w (shape (B, P)), one value per row of w."""
    sw = w.sum(axis=1, keepdims=True)  # 0 when no resampled width kept two distinct networks: NaN, dropped
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = (w @ x)[:, None] / sw, (w @ y)[:, None] / sw
        dx, dy = x[None, :] - mx, y[None, :] - my
        cov = (w * dx * dy).sum(axis=1)
        return cov / np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))


def width_evidence(groups: NetworkGroups, filters: Sequence[int], accuracy: Sequence[float]) -> dict[str, Evidence]:
    """Evidence for the width chapter.

    Parameters
    ----------
    groups : NetworkGroups
        PWCCA distances of shape ``(2, K, K)`` between networks, ``[0]`` trained and ``[1]`` at
        initialization, grouped by width (narrowest first; pairs of networks of different widths
        are NaN, never compared), e.g. from :meth:`NetworkGroups.from_pair_table`.
    filters : sequence of int
        Filters of the compared layer per width, in the order of ``groups.groups``.
    accuracy : sequence, length K
        Test accuracy of each network, in the order of the networks of ``groups``.

    Keys: ``trained_narrow``, ``trained_wide``, ``init_narrow``, ``init_wide`` (mean distances),
    ``drop`` (narrowest minus widest, trained), ``rel_drop`` (drop over the narrowest's distance),
    ``rho`` (Spearman correlation of filters and the width's mean trained distance), ``init_change``
    (narrowest minus widest at initialization), ``init_rel`` (its absolute value over the
    narrowest's), ``half_drop_margin`` (half the drop minus the absolute init change),
    ``drop_margin`` (the drop minus the absolute init change) and ``r_accuracy`` (Pearson r of
    pair distance and the pair's mean test accuracy, all trained pairs, resampled by network).
    Every interval resamples the networks within each width (:class:`NetworkGroups`).
    """
    from scipy.stats import rankdata

    g = groups
    if g.D.ndim != 3 or g.D.shape[0] < 2:
        raise ValueError(f"width_evidence needs distances of shape (2, K, K) (trained, initial), got {g.D.shape}")
    if g.D.shape[0] > 2:  # further stacked curves (context only) are not judged
        g = NetworkGroups(g.D[:2], g.labels, n_resamples=g.n_resamples,
                          confidence_level=g.confidence_level, seed=g.seed)
    D = g.D
    widths = g.groups
    if len(widths) < 2 or len(filters) != len(widths):
        raise ValueError(f"width_evidence needs at least 2 widths and one filter count per width, got "
                         f"{widths} and {list(filters)}")
    lo_w, hi_w = widths[0], widths[-1]
    f_rank = rankdata(np.asarray(filters, dtype=float))

    def means(m: Any, stage: int) -> np.ndarray:
        return np.stack([np.asarray(m(w))[..., stage] for w in widths], axis=-1)

    def spearman(m: Any) -> np.ndarray:
        r = rankdata(means(m, 0), axis=-1)
        a, b = r - r.mean(axis=-1, keepdims=True), f_rank - f_rank.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum())

    drop = lambda m: np.asarray(m(lo_w))[..., 0] - np.asarray(m(hi_w))[..., 0]  # noqa: E731
    change = lambda m: np.asarray(m(lo_w))[..., 1] - np.asarray(m(hi_w))[..., 1]  # noqa: E731
    out = {
        "trained_narrow": g.evidence(f"trained distance, width {lo_w}", lambda m: np.asarray(m(lo_w))[..., 0]),
        "trained_wide": g.evidence(f"trained distance, width {hi_w}", lambda m: np.asarray(m(hi_w))[..., 0]),
        "init_narrow": g.evidence(f"initial distance, width {lo_w}", lambda m: np.asarray(m(lo_w))[..., 1]),
        "init_wide": g.evidence(f"initial distance, width {hi_w}", lambda m: np.asarray(m(hi_w))[..., 1]),
        "drop": g.evidence("trained drop, narrowest - widest", drop),
        "rel_drop": g.evidence("trained drop / narrowest distance",
                               lambda m: drop(m) / np.asarray(m(lo_w))[..., 0]),
        "rho": g.evidence(f"Spearman rho, filters vs mean trained distance over {len(widths)} widths", spearman),
        "init_change": g.evidence("initial change, narrowest - widest", change),
        "init_rel": g.evidence("|initial change| / narrowest initial distance",
                               lambda m: np.abs(change(m)) / np.asarray(m(lo_w))[..., 1]),
        "half_drop_margin": g.evidence("drop / 2 - |initial change|", lambda m: 0.5 * drop(m) - np.abs(change(m))),
        "drop_margin": g.evidence("drop - |initial change|", lambda m: drop(m) - np.abs(change(m))),
    }
    # Pearson r over pairs, each pair weighted by the product of its networks' resampled counts.
    acc = np.asarray(accuracy, dtype=float)
    pairs = [(w, a, b) for w in widths for i, a in enumerate(g.members[w]) for b in g.members[w][i + 1:]]
    d_pair = np.array([D[0, a, b] for _, a, b in pairs])
    acc_pair = np.array([0.5 * (acc[a] + acc[b]) for _, a, b in pairs])
    pos = {w: {int(a): k for k, a in enumerate(g.members[w])} for w in widths}
    weights = np.stack([g.counts[w][:, pos[w][a]] * g.counts[w][:, pos[w][b]] for w, a, b in pairs], axis=1)
    r_full = float(_weighted_pearson(d_pair, acc_pair, np.ones((1, len(pairs))))[0])
    sizes = {"networks": [int(g.members[w].size) for w in widths], "pairs": len(pairs)}
    if np.ptp(acc_pair) == 0 or np.ptp(d_pair) == 0 or min(sizes["networks"]) < MIN_NETWORKS:
        out["r_accuracy"] = Evidence("Pearson r, pair distance vs pair test accuracy",
                                     r_full if np.isfinite(r_full) else float("nan"), n=sizes,
                                     note="no interval: " + ("constant accuracy or distance"
                                                             if np.ptp(acc_pair) == 0 or np.ptp(d_pair) == 0 else
                                                             f"fewer than {MIN_NETWORKS} networks per width"))
    else:
        r_boot = _weighted_pearson(d_pair, acc_pair, weights)
        r_boot = r_boot[np.isfinite(r_boot)]
        lo, hi = percentile_interval(r_boot, g.confidence_level)
        out["r_accuracy"] = Evidence("Pearson r, pair distance vs pair test accuracy", r_full,
                                     (float(lo), float(hi)), g.confidence_level, n=sizes,
                                     method=f"network bootstrap (percentile, {r_boot.size} resamples)")
    return out


def width(ev: Mapping[str, Evidence]) -> list[Judgement]:
    """The three findings of the width chapter (Morcos et al. 2018, section 3.2, figure 4).

    1. Trained distance falls with width: the drop (narrowest - widest) at least 10% of the
       narrowest's distance and Spearman rho (filters vs width means) below 0 (reproduced); a drop
       above 0 with rho below 0 (partly).
    2. Little change at initialization: a positive drop after training with half of it at least the
       absolute change at initialization (reproduced); a positive drop larger than that change, or
       a change of at most 10% of the narrowest initial distance (partly).
    3. Distance correlates negatively with test accuracy: r's interval below 0 (reproduced), above
       0 (not reproduced), across 0 (inconclusive).

    Every rule needs 3 networks per width.
    """
    need = [enough(ev["drop"], networks=MIN_NETWORKS)]
    return [
        judge(at_least(ev["rel_drop"], 0.10) & below(ev["rho"], 0.0), above(ev["drop"], 0.0) & below(ev["rho"], 0.0),
              requires=need),
        judge(above(ev["drop"], 0.0) & at_least(ev["half_drop_margin"], 0.0),
              (above(ev["drop"], 0.0) & above(ev["drop_margin"], 0.0)) | at_most(ev["init_rel"], 0.10),
              requires=need),
        judge(below(ev["r_accuracy"], 0.0), requires=[enough(ev["r_accuracy"], networks=MIN_NETWORKS)]),
    ]


# ---------------------------------------------------------------------------------------- learning rates
def learning_rates_evidence(D: np.ndarray, groups: Sequence[Any], ari: Any, separation: Any, *,
                            n_resamples: int = NETWORK_RESAMPLES, seed: int = 0) -> dict[str, Evidence]:
    """Evidence for the learning-rate chapter.

    ``D`` (K, K) symmetric PWCCA distances, ``groups`` the learning rate (index) of each network,
    ``ari`` a :class:`~.clustering.PermutationResult` of :func:`~.clustering.permutation_ari` and
    ``separation`` one of :func:`~.clustering.separation_test` on the same matrix and groups.

    Keys: ``ari`` (ARI with its permutation p and minimum), ``separation`` (mean between-group minus
    mean within-group distance: its p and minimum from the label permutation test, its interval
    from a network bootstrap within each learning rate), ``rel_separation`` (the separation over the
    mean between-group distance), ``within``, ``between``. "Mean within" is the mean over learning
    rates of each one's mean within-group distance, "mean between" the mean over pairs of learning
    rates (equal to the means over pairs when groups have equal sizes).
    """
    g = NetworkGroups(D, groups, n_resamples=n_resamples, seed=seed)
    labels = g.groups
    sizes = [int(g.members[x].size) for x in labels]

    def within(m: Any) -> np.ndarray:
        return np.mean([m(x) for x in labels], axis=0)

    def between(m: Any) -> np.ndarray:
        return np.mean([m(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]], axis=0)

    sep_boot = g.evidence("between - within", lambda m: between(m) - within(m))
    out = {
        "within": g.evidence("mean within-learning-rate distance", within),
        "between": g.evidence("mean between-learning-rate distance", between),
        "rel_separation": g.evidence("(between - within) / between", lambda m: (between(m) - within(m)) / between(m)),
        "ari": Evidence.from_permutation("ARI of clusters vs learning rates", ari, n={"networks": sizes}),
    }
    perm = Evidence.from_permutation("between - within", separation, n={"networks": sizes})
    out["separation"] = Evidence(perm.name, float(separation.observed), sep_boot.interval,
                                 sep_boot.confidence_level, perm.p_value, perm.min_p_value,
                                 n=sep_boot.n, method=f"{perm.method}; {sep_boot.method}", note=sep_boot.note)
    return out


def learning_rates(ev: Mapping[str, Evidence], alpha: float = ALPHA) -> list[Judgement]:
    """The two findings of the learning-rate chapter (Morcos et al. 2018, section 3.3, figure 5).

    1. Clusters match learning rates: ARI at least 0.9 (its estimate) and significant at ``alpha``
       (reproduced); ARI above 0 and significant (partly).
    2. Same learning rate closer: the separation significant at ``alpha`` and its interval at least
       10% of the between-group distance (reproduced); the separation's interval above 0 and
       either significant or at least 10% (partly).

    A permutation test that cannot reach ``alpha`` at these group sizes (3 vs 3 networks: p >= 0.1)
    makes the finding inconclusive; so do fewer than 3 networks per learning rate (finding 2).
    """
    ari, sep, rel = ev["ari"], ev["separation"], ev["rel_separation"]
    return [
        judge(significant(ari, alpha) & at_least(ari, 0.9, on="estimate"),
              significant(ari, alpha) & above(ari, 0.0, on="estimate")),
        judge(significant(sep, alpha) & at_least(rel, 0.10),
              above(sep, 0.0) & (significant(sep, alpha) | at_least(rel, 0.10)),
              requires=[enough(sep, networks=MIN_NETWORKS)]),
    ]


# ---------------------------------------------------------------------------------------- RNN training
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


#: Trained checkpoints (strictly between initialization and the end) that the order rules need.
MIN_TRAINED_CHECKPOINTS = 3


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


def rnn_training(ev: Mapping[str, Evidence], n_layers: int, learned: Check | None = None) -> list[Judgement]:
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
    did not learn beyond word frequencies give inconclusive, saying so.
    """
    nets = [enough(ev["strict"], networks=MIN_RNN_NETWORKS)] + ([learned] if learned is not None else [])
    need3 = nets + [enough(ev["strict"], trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]
    need2 = nets + [enough(ev["min_step"], trained_checkpoints=2)]
    order = all_of(above(ev[f"order_{l}"], 0.0) for l in range(int(n_layers) - 1))
    return [
        judge(order & at_least(ev["strict"], 0.5), above(ev["lead"], 0.0), requires=need3),
        judge(above(ev["clearer"], 0.0), at_least(ev["clearer"], 0.0), requires=need3),
        judge(at_least(ev["min_step"], -0.01), above(ev["rise"], 0.0), requires=need2),
    ]


# ---------------------------------------------------------------------------------------- signal noise
def signal_noise_evidence(results: Mapping[str, np.ndarray], k_values: Sequence[int], n_neurons: int,
                          paper_sizes: bool = True) -> dict[str, Any]:
    """Evidence for the signal-and-noise chapter from the distances of independent draws.

    ``results[measure]`` has shape ``(n_draws, len(k_values))``. Keys: ``margin`` (list, one
    :class:`Evidence` per ``k < n_neurons``: mean CCA minus PWCCA distance, Student-t interval over
    draws) with ``margin_k`` the k values, and ``at_50`` (dict measure -> Evidence at ``k = 50``,
    when it was run at the paper's sizes, ``paper_sizes``: 200 neurons, 2000 datapoints, noise 0.1).
    """
    k_values = list(k_values)
    gap = np.asarray(results["mean CCA"]) - np.asarray(results["PWCCA"])
    noisy = [j for j, k in enumerate(k_values) if k < n_neurons]
    out: dict[str, Any] = {
        "margin": [mean_interval(gap[:, j], f"mean CCA - PWCCA distance, k = {k_values[j]}") for j in noisy],
        "margin_k": [k_values[j] for j in noisy],
    }
    if 50 in k_values and paper_sizes:
        j = k_values.index(50)
        out["at_50"] = {m: mean_interval(np.asarray(v)[:, j], f"{m} distance, k = 50") for m, v in results.items()}
    return out


#: Smallest gap between the mean CCA and PWCCA distances that counts as "far below".
MARGIN = 0.02
#: The reference simulation of the paper's recipe at k = 50 (200 neurons, 2000 datapoints, noise 0.1).
REFERENCE_50 = {"mean CCA": 0.57, "SVCCA (singular values)": 0.57, "PWCCA": 0.25}


def signal_noise(ev: Mapping[str, Any]) -> list[Judgement]:
    """The signal-and-noise chapter (Morcos et al. 2018, section 2.2, figure 2).

    (a) At every ``k < n_neurons`` the margin's interval lies above :data:`MARGIN` (reproduced), at
    at least half of them (partly); needs 2 draws per k. (b) At ``k = 50`` (only when it was run at
    the paper's sizes; the caller decides) mean CCA, SVCCA and PWCCA within 0.05 of the reference
    (reproduced), within 0.10 (partly). Returns (a), then (b) when ``ev`` has ``at_50``.
    """
    passes = [above(e, MARGIN) for e in ev["margin"]]
    need = [enough(e, draws=2) for e in ev["margin"][:1]]
    out = [judge(all_of(passes), at_least_fraction(passes, 0.5), requires=need)]
    if "at_50" in ev:
        at = ev["at_50"]
        out.append(judge(all_of(within(at[m], r - 0.05, r + 0.05) for m, r in REFERENCE_50.items()),
                         all_of(within(at[m], r - 0.10, r + 0.10) for m, r in REFERENCE_50.items()),
                         requires=[enough(at["PWCCA"], draws=2)]))
    return out


# ---------------------------------------------------------------------------------------- RNN sequences
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


# ---------------------------------------------------------------------------------------- CNN training
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
                 measures: Sequence[str] = ("PWCCA", "SVCCA")) -> list[Judgement]:
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
    """
    learned = learned_premise(lowest_test_accuracy)
    out = []
    for m in measures:
        k = _slug(m)
        below_ = ev[f"below_{k}"]
        starts = premise(below_.estimate >= 1, f"every network has a layer below the threshold at initialization ({m})",
                         f"some network has every layer at or above the threshold at initialization ({m}): every "
                         "layer converges at epoch 0 and there is nothing to order")
        out.append(judge(at_least(ev[f"ordered_{k}"], BOTTOM_UP_FRACTION) & above(ev[f"gap_{k}"], 0.0),
                         above(ev[f"net_order_{k}"], 0.0) & above(ev[f"gap_{k}"], 0.0),
                         requires=[learned, starts, enough(ev[f"gap_{k}"], networks=MIN_NETWORKS,
                                                           trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]))
    out.append(judge(above(ev["clearer"], 0.0), at_least(ev["clearer"], 0.0),
                     requires=[learned, enough(ev["clearer"], networks=MIN_NETWORKS,
                                               trained_checkpoints=MIN_TRAINED_CHECKPOINTS)]))
    out.append(judge(at_least(ev["min_step"], -0.01), above(ev["rise"], 0.0),
                     requires=[learned, enough(ev["min_step"], networks=MIN_NETWORKS, trained_checkpoints=2)]))
    return out


# ---------------------------------------------------------------------------------------- conv layers
def _faster_test(fast: Sequence[float], slow: Sequence[float], max_exact: int = 20_000,
                 n_permutations: int = NETWORK_RESAMPLES, seed: int = 0) -> tuple[float, float, bool]:
    """One-sided permutation test that the runs ``fast`` take less time than ``slow`` (statistic:
    mean of ``slow`` minus mean of ``fast``): ``(p, smallest attainable p, exact)``.

    :func:`scipy.stats.permutation_test` (``permutation_type="independent"``): exact over every
    split of the pooled runs when there are at most ``max_exact`` of them, else ``n_permutations``
    random ones (p = (hits + 1) / (n_permutations + 1))."""
    import scipy.stats
    from itertools import combinations
    from math import comb

    from cca_core.stats.datapoints import RNG_KEYWORD

    a, b = np.asarray(fast, dtype=float), np.asarray(slow, dtype=float)
    splits = comb(a.size + b.size, a.size)
    exact = splits <= max_exact
    if min(a.size, b.size) < 2:  # scipy needs two runs per side; one run: the splits are few, enumerate them
        pooled, obs = np.concatenate([a, b]), b.mean() - a.mean()
        null = np.array([np.delete(pooled, list(c)).mean() - pooled[list(c)].mean()
                         for c in combinations(range(pooled.size), a.size)])
        return float(np.mean(null >= obs - 1e-12 * max(1.0, abs(obs)))), 1 / splits, True
    res = scipy.stats.permutation_test((a, b), lambda x, y, axis=-1: y.mean(axis=axis) - x.mean(axis=axis),
                                       permutation_type="independent", vectorized=True,
                                       n_resamples=max_exact if exact else n_permutations, alternative="greater",
                                       **{RNG_KEYWORD: np.random.default_rng(seed)})
    return float(res.pvalue), (1 / splits if exact else 1 / (n_permutations + 1)), exact


def conv_layers_evidence(same: NetworkGroups, methods: Sequence[str], layers: Sequence[str],
                         real_layers: Sequence[int], *, rho_dft: Any, rho_flat: Any, dft_cost: Any, flat_cost: Any
                         ) -> dict[str, Evidence]:
    """Evidence for the conv-layer chapter.

    Parameters
    ----------
    same : NetworkGroups
        Mean CCA between the same layer of every two networks, shape ``(n_methods, n_layers, K, K)``
        (one group of networks trained alike), methods in the order of ``methods`` (which must hold
        ``"DFT-CCA"``, ``"positions as datapoints"`` and ``"mean over positions"``), layers in the
        order of ``layers``.
    real_layers : sequence of int
        Indices of the layers with more than one position (at 1x1 every method coincides).
    rho_dft, rho_flat : arrays
        Canonical correlations on translation-invariant data: DFT-CCA pooled over frequencies, and
        the CCA of the flattened maps.
    dft_cost, flat_cost : :class:`~.costs.Cost`
        What each of those two computations cost (with every timed run in ``times``).

    Keys: ``max_diff`` (exact: the largest difference between the two sets of canonical
    correlations, over as many as both have), ``count_diff`` (exact: how many more correlations
    one gives than the other), ``time`` (best time of DFT-CCA over the flattened CCA's, with the
    p-value of a one-sided permutation test over the timed runs that DFT-CCA is faster),
    ``memory`` (exact: peak traced memory of DFT-CCA over the flattened CCA's), ``dft_vs_positions``
    and ``mean_vs_positions`` (the largest difference over ``real_layers`` between the two
    methods' mean CCA, each a mean over pairs of networks; network bootstrap).
    """
    rho_dft, rho_flat = np.asarray(rho_dft, dtype=float).ravel(), np.asarray(rho_flat, dtype=float).ravel()
    n_common = int(min(rho_dft.size, rho_flat.size))
    max_diff = float(np.max(np.abs(rho_dft[:n_common] - rho_flat[:n_common]))) if n_common else float("nan")
    out: dict[str, Evidence] = {
        "max_diff": Evidence.point("largest difference, DFT-CCA pooled vs flattened CCA correlations", max_diff,
                                   n={"correlations": n_common}, why="a deterministic computation on fixed data")
        if n_common else Evidence("largest difference, DFT-CCA pooled vs flattened CCA correlations", max_diff,
                                  n={"correlations": 0}, note="no correlation to compare"),
        "count_diff": Evidence.point("number of correlations, DFT-CCA - flattened", float(rho_dft.size - rho_flat.size),
                                     n={"correlations": n_common}, why="a count"),
    }
    times_dft, times_flat = list(getattr(dft_cost, "times", ())), list(getattr(flat_cost, "times", ()))
    if not times_dft or not times_flat:
        raise ValueError("conv_layers_evidence needs every timed run of both computations (Cost.times)")
    p, min_p, exact = _faster_test(times_dft, times_flat)
    out["time"] = Evidence(f"time, DFT-CCA / flattened CCA (best of {len(times_dft)} runs each)",
                           float(dft_cost.seconds / flat_cost.seconds), p_value=p, min_p_value=min_p,
                           n={"timed_runs": [len(times_dft), len(times_flat)]},
                           method="one-sided permutation test that DFT-CCA's runs are faster ("
                                  + ("every split of the runs" if exact else "9999 random permutations") + ")")
    memory = "peak traced memory, DFT-CCA / flattened CCA"
    out["memory"] = (Evidence.point(memory, float(dft_cost.peak_mb / flat_cost.peak_mb),
                                    why="tracemalloc counts the same allocations on every run")
                     if flat_cost.peak_mb > 0 else Evidence(memory, float("nan"), note="no traced memory to compare"))
    methods = list(methods)
    real = [int(i) for i in real_layers]
    if not real:
        raise ValueError("conv_layers_evidence needs at least one layer with more than one position")
    i_dft, i_pos, i_mean = (methods.index(m) for m in ("DFT-CCA", "positions as datapoints", "mean over positions"))
    if len(same.groups) != 1:
        raise ValueError(f"conv_layers_evidence needs one group of networks, got {same.groups}")
    group = same.groups[0]
    names = ", ".join(layers[i] for i in real)
    for key, i_m, label in (("dft_vs_positions", i_dft, "DFT-CCA"), ("mean_vs_positions", i_mean, "mean over positions")):
        out[key] = same.evidence(f"largest |{label} - positions as datapoints| mean CCA over {names}",
                                 lambda m, i_m=i_m: np.abs(np.asarray(m(group))[..., i_m, real]
                                                           - np.asarray(m(group))[..., i_pos, real]).max(axis=-1))
    return out


def conv_layers(ev: Mapping[str, Evidence], alpha: float = ALPHA) -> list[Judgement]:
    """The four findings of the conv-layer chapter (Raghu et al. 2017, Theorem 1; google/svcca's
    README and tutorial 002).

    1. Theorem 1: as many correlations from DFT-CCA as from the flattened CCA and the largest
       difference at most 1e-8 (reproduced), at most 1e-4 (partly).
    2. DFT-CCA is cheaper: faster (the permutation test over the timed runs significant at
       ``alpha``) and less peak memory (reproduced); one of the two (partly). A test that cannot
       reach ``alpha`` (fewer than 3 timed runs each: p >= 0.1) makes it inconclusive.
    3. DFT-CCA close to positions as datapoints: the largest difference over the layers with more
       than one position at most 0.05 (reproduced), at most 0.10 (partly).
    4. Mean over positions close to positions as datapoints: the same rule.

    Findings 3 and 4 need 3 networks (an interval over networks).
    """
    same_count = within(ev["count_diff"], 0.0, 0.0)
    faster, smaller = significant(ev["time"], alpha), below(ev["memory"], 1.0)
    close = [judge(at_most(ev[k], 0.05), at_most(ev[k], 0.10), requires=[enough(ev[k], networks=MIN_NETWORKS)])
             for k in ("dft_vs_positions", "mean_vs_positions")]
    return [
        judge(same_count & at_most(ev["max_diff"], 1e-8), same_count & at_most(ev["max_diff"], 1e-4),
              requires=[enough(ev["max_diff"], correlations=1)]),
        judge(faster & smaller, faster | smaller),
        *close,
    ]


# ---------------------------------------------------------------------------------------- measure checks
__all__ += ["IDENTIFICATION_NEAR_PERFECT", "IDENTIFICATION_MOSTLY", "IDENTIFICATION_GAP", "measure_checks_evidence",
            "measure_checks"]

#: Layer identification accuracy that counts as "near-perfect" (reproduced) and as "mostly right" (partly).
IDENTIFICATION_NEAR_PERFECT = 0.9
IDENTIFICATION_MOSTLY = 0.7
#: Lead of linear CKA over each CCA-family measure in layer identification that counts as "much worse".
IDENTIFICATION_GAP = 0.1


def measure_checks_evidence(measures: Sequence[str], identification: NetworkGroups, probe: NetworkMeans,
                            layers: NetworkMeans, auprc: Mapping[str, Evidence],
                            group_violations: Mapping[str, Evidence], *, procrustes: str = "Procrustes",
                            linear_cka: str = "linear CKA",
                            cca_family: Sequence[str] = ("mean CCA", "SVCCA", "PWCCA")) -> dict[str, Evidence]:
    """Evidence for the chapter "Which measure to trust?" (:mod:`~.measure_checks`).

    Parameters
    ----------
    measures : sequence of str
        The measures' labels, in the order of the measure axis of every array below; must hold
        ``procrustes``, ``linear_cka`` and every name of ``cca_family``.
    identification : NetworkGroups
        Layer identification accuracy of every pair of networks trained alike (one group), shape
        ``(n_measures, K, K)`` (Kornblith et al. 2019, section 6.1); network bootstrap.
    probe : NetworkMeans
        ``"sensitivity"`` and ``"specificity"``, each ``(n_networks, n_measures)``: per network, the
        Spearman correlation between distance and probe change over its PCA deletions, and the
        fraction of layers at which the other seeds are no farther than a harmless deletion (Ding,
        Denain & Steinhardt 2021); Student t over networks.
    layers : NetworkMeans
        ``"rho"`` and ``"violations"``, each ``(n_networks, n_measures)``: per network, the Spearman
        correlation between layer gap and similarity and the monotonicity violation rate (ReSi).
    auprc, group_violations : mapping measure -> Evidence
        ReSi's grouping test (memorizing vs generalizing), with network-bootstrap intervals.

    Keys ``<statistic>|<measure>``: ``identification``, ``sensitivity``, ``specificity``,
    ``balance`` (the smaller of sensitivity and specificity, per network), ``auprc``,
    ``group_violations``, ``monotonicity`` (Spearman of gap and similarity), ``layer_violations``;
    and the differences ``identification_gap|<m>`` (linear CKA - m, CCA family),
    ``sensitivity_gap|<linear CKA>`` (Procrustes - linear CKA), ``specificity_gap|<m>`` (Procrustes
    - m, CCA family) and ``balance_gap|<m>`` (Procrustes - m, every other measure). Differences are
    resampled jointly (the same networks for both measures).
    """
    measures = list(measures)
    for name in (procrustes, linear_cka, *cca_family):
        if name not in measures:
            raise ValueError(f"measure_checks_evidence needs the measure {name!r}; got {measures}")
    idx = {m: i for i, m in enumerate(measures)}
    if len(identification.groups) != 1:
        raise ValueError(f"identification needs one group of networks, got {identification.groups}")
    group = identification.groups[0]
    out: dict[str, Evidence] = {}

    def balance(v: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.minimum(v["sensitivity"], v["specificity"])

    for m, i in idx.items():
        out[f"identification|{m}"] = identification.evidence(
            f"{m} layer identification accuracy", lambda mean, i=i: np.asarray(mean(group))[..., i])
        out[f"sensitivity|{m}"] = probe.evidence(f"{m} sensitivity (Spearman, distance vs probe change)",
                                                 lambda v, i=i: v["sensitivity"][i], clip=(-1.0, 1.0))
        out[f"specificity|{m}"] = probe.evidence(f"{m} specificity (fraction of layers)",
                                                 lambda v, i=i: v["specificity"][i], clip=(0.0, 1.0))
        out[f"balance|{m}"] = probe.evidence(f"{m} min(sensitivity, specificity)",
                                             lambda v, i=i: balance(v)[i], clip=(-1.0, 1.0))
        out[f"auprc|{m}"] = auprc[m]
        out[f"group_violations|{m}"] = group_violations[m]
        out[f"monotonicity|{m}"] = layers.evidence(f"{m} Spearman(layer gap, similarity)",
                                                   lambda v, i=i: v["rho"][i], clip=(-1.0, 1.0))
        out[f"layer_violations|{m}"] = layers.evidence(f"{m} monotonicity violation rate",
                                                       lambda v, i=i: v["violations"][i], clip=(0.0, 1.0))
    ic, ip = idx[linear_cka], idx[procrustes]
    for m in cca_family:
        i = idx[m]
        out[f"identification_gap|{m}"] = identification.evidence(
            f"{linear_cka} - {m} layer identification accuracy",
            lambda mean, i=i: np.asarray(mean(group))[..., ic] - np.asarray(mean(group))[..., i])
        out[f"specificity_gap|{m}"] = probe.evidence(f"{procrustes} - {m} specificity",
                                                     lambda v, i=i: v["specificity"][ip] - v["specificity"][i])
    out[f"sensitivity_gap|{linear_cka}"] = probe.evidence(
        f"{procrustes} - {linear_cka} sensitivity", lambda v: v["sensitivity"][ip] - v["sensitivity"][ic])
    for m, i in idx.items():
        if m != procrustes:
            out[f"balance_gap|{m}"] = probe.evidence(f"{procrustes} - {m} min(sensitivity, specificity)",
                                                     lambda v, i=i: balance(v)[ip] - balance(v)[i])
    return out


def measure_checks(ev: Mapping[str, Evidence], measures: Sequence[str], chance_auprc: float, *,
                   procrustes: str = "Procrustes", linear_cka: str = "linear CKA",
                   cca_family: Sequence[str] = ("mean CCA", "SVCCA", "PWCCA")) -> list[Judgement]:
    """The six findings of the chapter "Which measure to trust?" from :func:`measure_checks_evidence`.

    Every rule needs at least 3 networks (an interval over networks); each condition is judged on
    its whole interval.

    1. Kornblith et al. (2019), section 6.1: linear CKA identifies layers across seeds near-perfectly:
       accuracy at least 0.9 (reproduced), at least 0.7 (partly).
    2. Kornblith et al.: the CCA family does much worse: linear CKA's accuracy minus each of mean
       CCA's, SVCCA's and PWCCA's at least 0.1 (reproduced), every difference above 0 (partly).
    3. Ding et al. (2021): linear CKA is less sensitive than Procrustes to deletions a probe notices:
       Procrustes's sensitivity minus linear CKA's above 0 (reproduced; two-way rule).
    4. Ding et al.: the CCA family is over-sensitive to the seed (less specific than Procrustes):
       Procrustes's specificity minus each CCA-family measure's above 0 for all (reproduced), for at
       least one (partly).
    5. Ding et al.: Procrustes is the most balanced: its min(sensitivity, specificity) minus every
       other measure's above 0 (reproduced); every estimate at least 0 (partly).
    6. ReSi (Klabunde et al. 2024) grouping and monotonicity: memorizing and generalizing networks
       are told apart (AUPRC above the chance level ``chance_auprc``, the fraction of same-group
       pairs) and similarity falls as layers grow apart (Spearman of layer gap and similarity below
       0), by every measure (reproduced) or by at least half of them on both tests (partly).
    """
    measures = list(measures)
    others = [m for m in measures if m != procrustes]

    def needs(*keys: str) -> list[Check]:
        return [enough(ev[k], networks=MIN_NETWORKS) for k in keys]

    id_gaps = [ev[f"identification_gap|{m}"] for m in cca_family]
    spec_gaps = [ev[f"specificity_gap|{m}"] for m in cca_family]
    bal_gaps = [ev[f"balance_gap|{m}"] for m in others]
    grouped = [above(ev[f"auprc|{m}"], chance_auprc) for m in measures]
    monotone = [below(ev[f"monotonicity|{m}"], 0.0) for m in measures]
    resi_keys = [f"{t}|{m}" for t in ("auprc", "monotonicity") for m in measures]
    return [
        judge(at_least(ev[f"identification|{linear_cka}"], IDENTIFICATION_NEAR_PERFECT),
              at_least(ev[f"identification|{linear_cka}"], IDENTIFICATION_MOSTLY),
              requires=needs(f"identification|{linear_cka}")),
        judge(all_of(at_least(g, IDENTIFICATION_GAP) for g in id_gaps), all_of(above(g, 0.0) for g in id_gaps),
              requires=needs(*(f"identification_gap|{m}" for m in cca_family))),
        judge(above(ev[f"sensitivity_gap|{linear_cka}"], 0.0), requires=needs(f"sensitivity_gap|{linear_cka}")),
        judge(all_of(above(g, 0.0) for g in spec_gaps), any_of(above(g, 0.0) for g in spec_gaps),
              requires=needs(*(f"specificity_gap|{m}" for m in cca_family))),
        judge(all_of(above(g, 0.0) for g in bal_gaps), all_of(at_least(g, 0.0, on="estimate") for g in bal_gaps),
              requires=needs(*(f"balance_gap|{m}" for m in others))),
        judge(all_of(grouped) & all_of(monotone),
              at_least_fraction(grouped, 0.5) & at_least_fraction(monotone, 0.5),
              requires=needs(*resi_keys)),
    ]

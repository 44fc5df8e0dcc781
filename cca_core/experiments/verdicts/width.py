"""The width chapter's rules (Morcos et al. 2018, section 3.2, figure 4): wider networks converge
to more similar solutions.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import MIN_NETWORKS, Evidence, NetworkGroups
from cca_core.experiments.verdicts.findings import Judgement, above, at_least, at_most, below, enough, judge
from cca_core.stats import percentile_interval

__all__ = ["width_evidence", "width"]


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

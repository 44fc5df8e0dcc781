"""The signal-and-noise chapter's rules (Morcos et al. 2018, section 2.2, figure 2): PWCCA sees the
shared signal where mean CCA counts the noise.

Conventions (evidence in, one :class:`~.findings.Judgement` per finding out, thresholds as module
constants) are those of :mod:`cca_core.experiments.verdicts.rules`, which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cca_core.experiments.evidence import mean_interval
from cca_core.experiments.verdicts.findings import Judgement, above, all_of, at_least_fraction, enough, judge, within

__all__ = ["signal_noise_evidence", "MARGIN", "REFERENCE_50", "signal_noise"]


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

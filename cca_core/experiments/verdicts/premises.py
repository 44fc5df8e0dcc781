"""Premises and constants that several chapters' rules share.

A premise is a :func:`~.findings.premise` check: when it fails, every finding that requires it is
inconclusive, saying why. Here: the book's fit threshold and significance level, the trained
checkpoints the training-dynamics order rules need, "every network fits its training labels"
(:func:`fit_premise`) and "every network converged" (:func:`convergence_premise`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cca_core.experiments.verdicts.findings import Check, premise

__all__ = ["FIT_THRESHOLD", "ALPHA", "MIN_TRAINED_CHECKPOINTS", "fit_premise", "convergence_premise"]

#: Training accuracy that counts as "fits its training labels" (the paper: 100%).
FIT_THRESHOLD = 0.99
#: Significance level of every permutation test in the book.
ALPHA = 0.05


def _below(accuracy: float, threshold: float) -> str:
    """``accuracy`` as a percentage with the decimals that show it is below ``threshold`` (98.6%, not 99%)."""
    for decimals in range(0, 6):
        text = f"{accuracy:.{decimals}%}"
        if float(text.rstrip("%")) / 100 < threshold:
            return text
    return f"{accuracy:.6%}"


def fit_premise(lowest_accuracy: Mapping[str, float], threshold: float = FIT_THRESHOLD) -> Check:
    """Premise "every network fits its training labels": the lowest training accuracy of each group
    (on the labels it was trained on) at least ``threshold``."""
    short = {g: a for g, a in lowest_accuracy.items() if not a >= threshold}
    failure = "; ".join(f"the {g} networks reach only {_below(a, threshold)} training accuracy (lowest), below "
                        f"{threshold:.0%}: the paper compares networks that fit their labels" for g, a in short.items())
    return premise(not short, f"every network reaches {threshold:.0%} training accuracy", failure)


#: Trained checkpoints (strictly between initialization and the end) that the order rules need.
MIN_TRAINED_CHECKPOINTS = 3


def convergence_premise(convergences: Iterable[Any]) -> Check:
    """Premise "every network converged": each network's validation loss stopped improving by its last
    epoch, so that its last checkpoint is a final representation to compare the others with.

    The training-dynamics chapters (Raghu et al. 2017, section 4; Morcos et al. 2018, section 4.1)
    compare every layer during training with the same layer at the end of training; a network that
    was still improving at its last epoch gives a reference that was still moving.

    Parameters
    ----------
    convergences : iterable of :class:`~cca_core.experiments.analysis.learning.Convergence`, length n >= 1
        One per network (e.g. from :func:`~cca_core.experiments.analysis.learning.convergence_of`);
        any objects with ``met`` (bool) and ``detail`` (str) will do.

    Returns
    -------
    Check
        Met when every ``met`` is true; otherwise unmet, the reason naming how many of the n networks
        were still improving and the ``detail`` of the first of them (in the order given).

    Raises
    ------
    ValueError
        No networks.
    TypeError
        An item without a boolean ``met`` or without a ``detail``.
    """
    items = list(convergences)
    if not items:
        raise ValueError("convergence_premise needs the convergence of at least one network, got none")
    for c in items:
        if not isinstance(getattr(c, "met", None), (bool, np.bool_)) or not hasattr(c, "detail"):
            raise TypeError(f"convergence_premise takes objects with a boolean .met and a .detail (Convergence), "
                            f"got {c!r}")
    moving = [c for c in items if not c.met]
    return premise(not moving, "every network's validation loss stopped improving by its last epoch",
                   f"{len(moving)} of {len(items)} networks were still improving at their last epoch (first: "
                   f"{moving[0].detail}): their layers are compared with a final representation that was still "
                   "moving" if moving else "")

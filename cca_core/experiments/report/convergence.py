"""The learning curves of a page's networks, and whether each met the convergence criterion.

Two calls per page, after its networks are trained, in two cells (a cell whose output is a figure
carries the figure's caption and label, so it shows nothing else): :func:`show_convergence` draws
every network's curve (validation loss by epoch; training accuracy for networks trained on permuted
labels, which are asked to memorize) and returns the
:class:`~cca_core.experiments.analysis.learning.Convergence` of each network, so that the page's
verdicts can depend on it; :func:`convergence_table` shows one row per group (how many of its
networks met the criterion and the numbers behind the first that missed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cca_core.experiments.analysis.learning import STOP_TOLERANCE, STOP_WINDOW, Convergence, convergence_of

__all__ = ["convergence_table", "show_convergence"]


def show_convergence(groups: Mapping[str, Sequence[Any]], fit_threshold: float = 0.99,
                     title: str | None = None) -> dict[str, list[Convergence]]:
    """Draw the learning curves of ``groups`` (name -> trained results); :func:`convergence_table`
    tabulates the criterion.

    Parameters
    ----------
    groups : mapping str -> sequence of TrainResult or LMResult
        The page's networks by group (one colour per group); a group may be empty.
    fit_threshold : float
        Training accuracy at which a network trained on permuted labels has memorized them.
    title : str, optional
        The figure's title.

    Returns
    -------
    dict str -> list of Convergence
        Per group, in the order of its results.

    Raises
    ------
    ValueError
        A result without per-epoch validation loss (:func:`~cca_core.experiments.analysis.learning.convergence_of`).
    """
    import numpy as np

    from cca_core.experiments.report.plots import group_colors, label_axes, new_axes
    verdicts = {g: [convergence_of(r, fit_threshold) for r in rs] for g, rs in groups.items()}
    memorizing = {g for g, rs in groups.items() if rs and getattr(rs[0].config, "labels", "true") == "random"}
    panels = [kind for kind, present in (("loss", any(g not in memorizing and rs for g, rs in groups.items())),
                                          ("accuracy", bool(memorizing))) if present]
    if not panels:
        return verdicts
    fig, axes = new_axes(ncols=len(panels), size=(3.4 if len(panels) > 1 else 5.0, 3.2))
    axes = list(np.atleast_1d(axes).ravel())
    colors = group_colors(list(groups))
    for kind, ax in zip(panels, axes):
        for g, rs in groups.items():
            if (g in memorizing) != (kind == "accuracy"):
                continue
            for k, (r, c) in enumerate(zip(rs, verdicts[g])):
                h = r.history
                if kind == "accuracy":
                    y, first = h.get("accuracy", []), 1
                elif "valid_loss" in h:
                    y, first = h["valid_loss"], 0
                else:
                    y, first = h.get("val_loss", []), 1
                x = np.arange(first, first + len(y))
                ax.plot(x, y, color=colors[g], alpha=0.8, linewidth=1.2, linestyle="-" if c.met else ":",
                        label=g if k == 0 else None)
        if kind == "accuracy":
            ax.axhline(fit_threshold, color="0.4", linestyle="--", linewidth=1)
            label_axes(ax, "epoch", "training accuracy", "permuted labels: memorized?", legend=True)
        else:
            label_axes(ax, "epoch", "validation loss", "stopped improving?", legend=True)
    if title:
        fig.suptitle(title)
    return verdicts


def convergence_table(verdicts: Mapping[str, Sequence[Convergence]]) -> None:
    """Show one row per group of :func:`show_convergence`'s result: how many networks met the
    criterion, which criterion, and the numbers behind the first network that missed it (else the last)."""
    from cca_core.experiments.report.tables import show_table

    rows = []
    for g, cs in verdicts.items():
        if not cs:
            continue
        met = sum(c.met for c in cs)
        worst = next((c for c in cs if not c.met), cs[-1])
        rows.append([g, f"{met} of {len(cs)}", cs[0].criterion, worst.detail])
    show_table(["group", "met the criterion", "criterion", "the numbers (first that missed, else the last)"], rows,
               caption=f"Convergence: validation loss improved by less than {100 * STOP_TOLERANCE:.0f}% over the "
                       f"last {STOP_WINDOW} epochs (dotted curves missed it)")

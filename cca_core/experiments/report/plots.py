"""Shared matplotlib helpers for the notebooks: labelled axes, mean +- std per group, stable colours.

matplotlib is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["GROUP_COLORS", "PALETTE", "STYLE", "MAX_FIGURE_WIDTH", "group_colors", "label_axes", "errorbar_by_group",
           "new_axes", "interval_curves", "chance_band"]

#: Colour-blind-safe cycle (Okabe & Ito 2008) used for groups in order of appearance.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                            "#F0E442", "#000000")
#: Fixed colours for groups that recur across notebooks, so a figure's legend means the same everywhere.
GROUP_COLORS: dict[str, str] = {"true": "#0072B2", "random": "#D55E00",
                                "generalizing": "#0072B2", "memorizing": "#D55E00"}


#: The book's figure style (matplotlib rcParams), set by :func:`new_axes`: fonts that stay readable at
#: the page's width, no top/right spines, a light grid, the :data:`PALETTE` cycle.
STYLE: dict[str, Any] = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9.5,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 110, "savefig.dpi": 110,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "lines.linewidth": 1.8, "lines.markersize": 5, "legend.frameon": False,
    "figure.facecolor": "white",
}
#: Widest figure in inches: the book's text column shows about this much at 100% without shrinking the
#: fonts below ~9 pt; wider requests are scaled down, panels keeping their proportions.
MAX_FIGURE_WIDTH: float = 10.0


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    """Colour of each group: :data:`GROUP_COLORS` for known names, then :data:`PALETTE` in order.

    The same list of groups always gets the same colours, whatever the data.
    """
    colors: dict[str, str] = {}
    used = {GROUP_COLORS[g] for g in groups if g in GROUP_COLORS}
    free = [c for c in PALETTE if c not in used] or list(PALETTE)
    k = 0
    for g in groups:
        if g in colors:
            continue
        if g in GROUP_COLORS:
            colors[g] = GROUP_COLORS[g]
        else:
            colors[g] = free[k % len(free)]
            k += 1
    return colors


def new_axes(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.0, 3.6), **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots`` in the book's :data:`STYLE`, ``size`` (inches) per panel, constrained layout.

    The whole figure is at most :data:`MAX_FIGURE_WIDTH` inches wide (panels shrink in proportion), so
    every chapter's figures show their fonts at the same size. Returns ``(figure, axes)``; ``axes`` is
    an array when there is more than one panel.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from cycler import cycler

    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))
    width, height = size[0] * ncols, size[1] * nrows
    if width > MAX_FIGURE_WIDTH:
        width, height = MAX_FIGURE_WIDTH, height * MAX_FIGURE_WIDTH / width
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained",
                        squeeze=False if (ncols > 1 or nrows > 1) else True, **kwargs)


def label_axes(ax: "Axes", xlabel: str, ylabel: str, title: str | None = None, legend: bool = False) -> "Axes":
    """Set axis labels (with units, e.g. ``"epoch"``, ``"PWCCA distance"``), an optional title and legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if legend:
        ax.legend(frameon=False)
    return ax


def errorbar_by_group(ax: "Axes", x: Sequence[float], values: Mapping[str, Any], xlabel: str, ylabel: str,
                      title: str | None = None, colors: Mapping[str, str] | None = None,
                      marker: str = "o") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Plot the mean +- standard deviation over runs of each group against ``x``.

    Parameters
    ----------
    ax : matplotlib Axes
    x : sequence of float, length m
        Positions (layer index, epoch, width, ...).
    values : mapping group -> array-like (n_runs, m)
        One row per run (network or pair of networks); NaNs are ignored. A 1-D array is one run.
    xlabel, ylabel, title : str
    colors : mapping group -> colour, optional
        Default :func:`group_colors` of the groups.

    Returns
    -------
    dict group -> (mean, std)
        What was plotted (std with ``ddof=0``; zero for a single run).
    """
    x = np.asarray(x, dtype=float)
    colors = dict(colors) if colors is not None else group_colors(list(values))
    summary: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for group, v in values.items():
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if v.shape[1] != len(x):
            raise ValueError(f"values[{group!r}] has shape {v.shape}; expected (n_runs, {len(x)}) to match x")
        counts = np.sum(~np.isnan(v), axis=0)
        safe = np.where(np.isnan(v), 0.0, v)
        mean = np.where(counts > 0, safe.sum(axis=0) / np.maximum(counts, 1), np.nan)
        var = np.where(counts > 0, (np.where(np.isnan(v), 0.0, (v - mean) ** 2)).sum(axis=0) / np.maximum(counts, 1), np.nan)
        std = np.sqrt(var)
        n_runs = int(v.shape[0])
        ax.errorbar(x, mean, yerr=std, color=colors.get(group), marker=marker, capsize=3,
                    label=f"{group} (n={n_runs})")
        summary[group] = (mean, std)
    label_axes(ax, xlabel, ylabel, title, legend=True)
    return summary


def interval_curves(ax: "Axes", x: Sequence[float], curves: Mapping[str, tuple[Any, Any, Any]],
                    colors: Mapping[str, str] | None = None, marker: str = "o",
                    labels: Mapping[str, str] | None = None) -> None:
    """Each curve as a line through its estimates with its interval as a shaded band.

    Parameters
    ----------
    ax : matplotlib Axes
    x : sequence of float, length m
    curves : mapping name -> (estimate, low, high)
        Arrays of length m; ``low``/``high`` None (no interval, e.g. too few networks) draws the
        line alone.
    colors : mapping name -> colour, optional
        Default :func:`group_colors`.
    labels : mapping name -> legend label, optional
    """
    x = np.asarray(x, dtype=float)
    colors = dict(colors) if colors is not None else group_colors(list(curves))
    for name, (est, lo, hi) in curves.items():
        est = np.asarray(est, dtype=float)
        if est.shape != x.shape:
            raise ValueError(f"curve {name!r} has shape {est.shape}; expected {x.shape} to match x")
        color = colors.get(name)
        ax.plot(x, est, marker=marker, color=color, label=(labels or {}).get(name, name))
        if lo is not None and hi is not None:
            ax.fill_between(x, np.asarray(lo, dtype=float), np.asarray(hi, dtype=float), color=color,
                            alpha=0.2, linewidth=0)


def chance_band(ax: "Axes", x: Sequence[float], level: Any, low: Any, high: Any,
                label: str = "chance (permutation null)", color: str = "0.5") -> None:
    """The chance level (a dashed line) and the central band of the permutation null (grey)."""
    x = np.asarray(x, dtype=float)
    level = np.broadcast_to(np.asarray(level, dtype=float), x.shape)
    ax.fill_between(x, np.broadcast_to(np.asarray(low, dtype=float), x.shape),
                    np.broadcast_to(np.asarray(high, dtype=float), x.shape), color=color, alpha=0.18,
                    linewidth=0, label=label)
    ax.plot(x, level, color=color, linestyle="--", linewidth=1)

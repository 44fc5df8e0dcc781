"""Shared matplotlib helpers for the notebooks: labelled axes, mean +- std per group, stable colours.

matplotlib is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["GROUP_COLORS", "PALETTE", "STYLE", "MAX_FIGURE_WIDTH", "group_colors", "label_axes", "errorbar_by_group",
           "new_axes", "interval_curves", "chance_band", "COLUMN_WIDTH_PX", "MIN_TEXT_PX", "MIN_PANEL_HEIGHT",
           "smallest_font_px", "min_display_scale"]

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
#: Width of the book's content column in CSS pixels: sphinx-book-theme's ``article.bd-article`` at a
#: 1280-px-wide window (the width tests/book/test_browser.py opens pages at), as measured in the built
#: book. A figure in a cell's output is indented by myst-nb's 1 em, so it has 672 px.
COLUMN_WIDTH_PX: int = 688
#: Widest figure in inches. Jupyter's inline backend saves with ``bbox_inches="tight"``, which adds up
#: to 0.1 in on each side (22 px at most); 5.9 in at 110 dpi is 649 px, saved as at most 671 px, which
#: fits the 672 px a cell's output has, so figures are shown at their natural size and their text at
#: the size :data:`STYLE` sets. Wider requests are scaled down, panels keeping their proportions and
#: fonts keeping their size.
MAX_FIGURE_WIDTH: float = 5.9
#: Shortest panel in inches that :func:`new_axes` makes when it scales a wide request down (a shorter
#: request is kept): below this a panel's title, tick labels and axis labels leave little room for data.
MIN_PANEL_HEIGHT: float = 2.6
#: Smallest text, in CSS pixels, a figure may show: an image may be shown at no less than
#: ``MIN_TEXT_PX / (smallest STYLE font in pt * dpi / 72)`` of its natural width (about 0.69).
MIN_TEXT_PX: float = 10.0
# The rcParams that set a font size in points.
_FONT_KEYS: tuple[str, ...] = ("font.size", "axes.titlesize", "axes.labelsize", "legend.fontsize",
                               "legend.title_fontsize", "xtick.labelsize", "ytick.labelsize", "figure.titlesize",
                               "figure.labelsize")


def smallest_font_px(style: Mapping[str, Any] | None = None) -> float:
    """Height in pixels of the smallest font :data:`STYLE` sets (``*size`` keys in points), at its ``figure.dpi``.

    Parameters
    ----------
    style : mapping, optional
        rcParams in the form of :data:`STYLE` (default :data:`STYLE`); sizes must be numbers (pt).

    Raises
    ------
    ValueError
        When a font size is not a number (e.g. ``"small"``) or there is none.
    """
    style = STYLE if style is None else style
    sizes = {k: style[k] for k in _FONT_KEYS if k in style}
    bad = [k for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad or not sizes:
        raise ValueError(f"font sizes must be numbers of points; got {({k: sizes[k] for k in bad}) or 'none'}")
    return float(min(sizes.values())) * float(style["figure.dpi"]) / 72.0


def min_display_scale(style: Mapping[str, Any] | None = None) -> float:
    """Least ratio (shown width / natural width) at which a figure's smallest text is :data:`MIN_TEXT_PX`."""
    return MIN_TEXT_PX / smallest_font_px(style)


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

    The whole figure is at most :data:`MAX_FIGURE_WIDTH` inches wide, so that it is shown at its natural
    size in the book's column (:data:`COLUMN_WIDTH_PX`): a wider request is scaled down, every panel's
    width and height by the same factor, except that a panel is not made shorter than
    :data:`MIN_PANEL_HEIGHT` (or its requested height, if that is less). The fonts are always
    :data:`STYLE`'s, never scaled, so text is as large on a figure of three narrow panels as on one
    panel; the ``(nrows, ncols)`` shape of the axes is the caller's. The layout is matplotlib's
    constrained layout, extended to place :func:`label_axes`'s legends off the data.

    Parameters
    ----------
    ncols, nrows : int
        Panels per row and rows, at least 1.
    size : (float, float)
        Width and height of one panel in inches, both > 0.
    **kwargs
        Passed to ``plt.subplots`` (``sharex``, ``sharey``, ``gridspec_kw``, ...).

    Returns
    -------
    (figure, axes)
        ``axes`` is one Axes for a single panel, else an array of shape ``(nrows, ncols)``.

    Raises
    ------
    ValueError
        When ``ncols``/``nrows`` is not a positive integer or ``size`` is not two positive numbers.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from cycler import cycler

    for name, n in (("ncols", ncols), ("nrows", nrows)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer; got {n!r}")
    try:
        panel_w, panel_h = (float(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height) in inches; got {size!r}") from None
    if not (np.isfinite(panel_w) and np.isfinite(panel_h) and panel_w > 0 and panel_h > 0):
        raise ValueError(f"size must be two positive numbers of inches; got {size!r}")
    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))
    width, height = panel_w * ncols, panel_h * nrows
    if width > MAX_FIGURE_WIDTH:
        scale = MAX_FIGURE_WIDTH / width
        width, height = MAX_FIGURE_WIDTH, nrows * max(panel_h * scale, min(panel_h, MIN_PANEL_HEIGHT))
    return plt.subplots(nrows, ncols, figsize=(width, height), layout=_book_layout_classes()[1](),
                        squeeze=False if (ncols > 1 or nrows > 1) else True, **kwargs)


def label_axes(ax: "Axes", xlabel: str, ylabel: str, title: str | None = None, legend: bool = False) -> "Axes":
    """Set axis labels (with units, e.g. ``"epoch"``, ``"PWCCA distance"``), an optional title and legend.

    With ``legend=True`` the legend goes where it covers no data: matplotlib's ``loc="best"`` place
    inside the axes when one of its nine places is free of the lines, markers, bands, bars and texts
    drawn, otherwise outside the axes: to the right, or under the x axis's label, whichever takes the
    smaller share of the axes (of their width beside them, of their height under them).
    The place is chosen when the figure is laid out (by :func:`new_axes`'s layout engine, which then
    makes room for a legend outside) or else drawn, so limits and scales set after this call count.
    """
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if legend:
        _clear_legend(ax)
    return ax


def _clear_legend(ax: "Axes") -> Any:
    """``ax.legend(loc="best")`` that moves itself outside the axes when every place inside covers data."""
    legend = ax.legend(loc="best", frameon=False)
    if legend is not None:
        legend.__class__ = _book_layout_classes()[0]  # the object ax.get_legend() returns, placed as below
    return legend


def _layout_renderer(fig: Any) -> Any:
    """The renderer matplotlib's own constrained layout measures with (``Figure._get_renderer``)."""
    getter = getattr(fig, "_get_renderer", None)
    return getter() if getter is not None else fig.canvas.get_renderer()


@functools.cache
def _book_layout_classes() -> tuple[type, type]:
    """``(ClearLegend, BookLayout)``, made once matplotlib is imported."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.legend import Legend
    from matplotlib.transforms import ScaledTranslation

    class ClearLegend(Legend):
        """A legend at ``loc="best"`` unless that place covers data; then outside the axes.

        In a figure from :func:`new_axes` the place is chosen by its layout engine (``BookLayout``)
        once the axes have their laid-out size; elsewhere when the legend is first drawn.
        """

        outside = False
        placed = False  # by a layout pass or a draw; a later draw keeps the place (the layout is for it)

        def reset(self) -> None:
            self.outside = False
            self.set_bbox_to_anchor(None)
            self.set_loc("best")

        def place(self, renderer: Any) -> bool:
            """Keep the best place inside the axes if it covers no data, else move outside; True if moved."""
            self.reset()
            self.placed = True
            box = Legend.get_window_extent(self, renderer)
            if not _covers_data(self.axes, box, renderer):
                return False
            self.outside = True
            axes_box = self.axes.get_window_extent(renderer)
            # the axes give up this fraction of their width beside them, of their height under them
            beside = box.width / max(axes_box.width, 1.0)
            under = box.height / max(axes_box.height, 1.0)
            if beside <= under:
                self.set_loc("upper left")
                self.set_bbox_to_anchor((1.02, 1.0), transform=self.axes.transAxes)
                return True
            # under the x axis (its ticks and label)
            fig = self.get_figure(root=True)
            below_px = max(0.0, axes_box.y0 - self.axes.xaxis.get_tightbbox(renderer).y0)
            shift = ScaledTranslation(0.0, -below_px / fig.dpi, fig.dpi_scale_trans)
            self.set_loc("upper center")
            self.set_bbox_to_anchor((0.5, 0.0), transform=self.axes.transAxes + shift)
            return True

        def draw(self, renderer: Any) -> None:
            if not self.placed:
                self.place(renderer)
            Legend.draw(self, renderer)

    class BookLayout(ConstrainedLayoutEngine):
        """Constrained layout that places :func:`label_axes`'s legends where they cover no data.

        The figure is laid out with every such legend inside its axes; each is then kept there or
        moved outside (see ``ClearLegend.place``) with the axes at their laid-out size, and the figure
        is laid out again if one moved, so that it has room for it.
        """

        def execute(self, fig: Any) -> Any:
            legends = [ax.get_legend() for ax in fig.axes if isinstance(ax.get_legend(), ClearLegend)]
            for legend in legends:
                legend.reset()
            result = super().execute(fig)
            if legends:
                renderer = _layout_renderer(fig)
                if sum(legend.place(renderer) for legend in legends):
                    result = super().execute(fig)
            return result

    return ClearLegend, BookLayout


def _covers_data(ax: "Axes", box: Any, renderer: Any) -> bool:
    """Whether the display-coordinate Bbox ``box`` (grown by 2 pt) overlaps what is drawn in ``ax``.

    Lines count by their markers (vertices, grown by half the marker size) and by the segments that
    cross the box; filled areas (``fill_between`` bands, bars, patches) and images when they overlap
    the box at all; error bars and other line collections by their segments; scatter points by their
    centres (grown by 4 pt); texts by their extents.
    """
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.transforms import Bbox

    def grown(points: float) -> Any:
        d = renderer.points_to_pixels(points)
        return Bbox.from_extents(box.x0 - d, box.y0 - d, box.x1 + d, box.y1 + d)

    near = grown(2.0)
    for line in ax.lines:
        if not line.get_visible():
            continue
        path = line.get_transform().transform_path(line.get_path())
        vertices = path.vertices[np.all(np.isfinite(path.vertices), axis=1)]
        if not len(vertices):
            continue
        has_markers = line.get_marker() not in (None, "None", "", " ")
        if has_markers and grown(2.0 + line.get_markersize() / 2.0).count_contains(vertices):
            return True
        if line.get_linestyle() not in ("None", "", " ") and (near.count_contains(vertices)
                                                              or path.intersects_bbox(near, filled=False)):
            return True
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter: marker shapes placed at offsets
            offsets = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            if len(offsets) and grown(6.0).count_contains(offsets[np.all(np.isfinite(offsets), axis=1)]):
                return True
            continue
        transform = coll.get_transform()
        filled = isinstance(coll, PolyCollection)
        if any(transform.transform_path(p).intersects_bbox(near, filled=filled) for p in coll.get_paths()
               if len(p.vertices)):
            return True
    for patch in ax.patches:
        if patch.get_visible() and patch.get_window_extent(renderer).overlaps(near):
            return True
    for image in ax.images:
        if image.get_visible() and image.get_window_extent(renderer).overlaps(near):
            return True
    for text in ax.texts:
        if text.get_visible() and text.get_text() and text.get_window_extent(renderer).overlaps(near):
            return True
    return False


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

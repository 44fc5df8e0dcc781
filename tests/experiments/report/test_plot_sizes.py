"""Figures sized for the book's column: ``new_axes`` never draws wider than the column, its fonts are
STYLE's whatever the request, so text shows at >= 10 px; ``label_axes(legend=True)`` keeps legends off
the data.

References are independent of the implementation: the figure's size in inches times its dpi, the
PNG header of the saved image (width at bytes 16-20), the font size of every text artist drawn, and
the pixel geometry of the legend against the data's vertices.
"""

from __future__ import annotations

import io
import itertools
import struct

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from cca_core.experiments.report.plots import (  # noqa: E402
    COLUMN_WIDTH_PX, MAX_FIGURE_WIDTH, MIN_PANEL_HEIGHT, MIN_TEXT_PX, STYLE, label_axes, min_display_scale, new_axes,
    smallest_font_px)

REQUESTS = list(itertools.product([1, 2, 3, 4, 6], [1, 2, 3], [(5.0, 3.6), (3.0, 3.2), (3.3, 3.2), (9.0, 5.0),
                                                             (2.0, 2.0), (7.0, 4.0), (0.5, 8.0)]))
#: Room for a figure in a notebook's output: the column less myst-nb's 1-em indent of cell outputs.
OUTPUT_WIDTH_PX = COLUMN_WIDTH_PX - 16
FONT_KEYS = ("font.size", "axes.titlesize", "axes.labelsize", "legend.fontsize", "xtick.labelsize",
             "ytick.labelsize")


def _png_width(fig) -> int:
    """Width in pixels of the figure saved as Jupyter's inline backend saves it (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    head = buf.getvalue()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", head[16:20])[0]


def test_smallest_font_and_display_scale_follow_style():
    smallest = min(STYLE[k] for k in FONT_KEYS)
    assert smallest == 9.5  # the legend's
    assert smallest_font_px() == pytest.approx(9.5 * STYLE["figure.dpi"] / 72)
    assert min_display_scale() == pytest.approx(10.0 * 72 / (9.5 * 110))
    assert 0.68 < min_display_scale() < 0.70
    assert smallest_font_px({"font.size": 12, "legend.fontsize": 6, "figure.dpi": 144}) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="numbers of points"):
        smallest_font_px({"font.size": "small", "figure.dpi": 100})


@pytest.mark.parametrize("ncols,nrows,size", REQUESTS)
def test_new_axes_fits_the_column_with_style_fonts(ncols, nrows, size):
    import matplotlib.pyplot as plt

    fig, axes = new_axes(ncols=ncols, nrows=nrows, size=size)
    try:
        width_in, height_in = fig.get_size_inches()
        width_px = width_in * fig.dpi
        assert fig.dpi == STYLE["figure.dpi"]
        assert width_px <= COLUMN_WIDTH_PX
        assert width_in <= MAX_FIGURE_WIDTH + 1e-9
        want_w, want_h = size[0] * ncols, size[1] * nrows
        if want_w <= MAX_FIGURE_WIDTH:
            assert (width_in, height_in) == pytest.approx((want_w, want_h))
        else:  # shrunk in proportion (the panels keep their aspect ratio), down to a floor on their height
            assert width_in == pytest.approx(MAX_FIGURE_WIDTH)
            proportional = want_h * MAX_FIGURE_WIDTH / want_w
            floor = nrows * min(size[1], MIN_PANEL_HEIGHT)
            assert height_in == pytest.approx(max(proportional, floor))
            if proportional >= floor:
                assert height_in / width_in == pytest.approx(want_h / want_w)
            assert height_in <= want_h + 1e-9  # never taller than asked
        if ncols * nrows > 1:
            assert np.shape(axes) == (nrows, ncols)
        # fonts are STYLE's (never scaled down to fit), so as shown (at most the column's width, no
        # downscaling) the smallest text is >= 10 px
        for key in FONT_KEYS:
            assert matplotlib.rcParams[key] == STYLE[key]
        shown = min(1.0, COLUMN_WIDTH_PX / width_px)
        assert smallest_font_px() * shown >= MIN_TEXT_PX
    finally:
        plt.close(fig)


@pytest.mark.parametrize("ncols,nrows,size", [(1, 1, (5.0, 3.6)), (2, 1, (5.0, 3.6)), (3, 1, (3.3, 3.2)),
                                              (2, 2, (4.5, 3.0)), (1, 1, (9.0, 5.0))])
def test_drawn_figure_fits_the_column_and_every_text_is_10_px(ncols, nrows, size):
    """A labelled figure with legends, saved as the notebooks' inline backend saves it."""
    import matplotlib.pyplot as plt

    fig, axes = new_axes(ncols=ncols, nrows=nrows, size=size)
    try:
        x = np.linspace(0, 10, 30)
        for i, ax in enumerate(np.ravel(axes)):
            ax.plot(x, np.sin(x + i), marker="o", label="layer 1")
            ax.plot(x, np.cos(x + i), label="layer 2")
            label_axes(ax, "epoch", "PWCCA similarity", f"panel {i}", legend=True)
        width = _png_width(fig)
        assert width <= OUTPUT_WIDTH_PX, width
        texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
        assert texts
        smallest = min(t.get_fontsize() for t in texts) * fig.dpi / 72
        assert smallest * min(1.0, COLUMN_WIDTH_PX / width) >= MIN_TEXT_PX
    finally:
        plt.close(fig)


@pytest.mark.parametrize("bad", [dict(ncols=0), dict(nrows=-1), dict(ncols=1.5), dict(ncols=True),
                                 dict(size=(0, 3)), dict(size=(3,)), dict(size=(np.nan, 2)), dict(size="big")])
def test_new_axes_rejects_bad_requests(bad):
    with pytest.raises(ValueError, match="ncols|nrows|size"):
        new_axes(**bad)


def _legend_and_axes_boxes(fig, ax):
    fig.canvas.draw()
    return ax.get_legend().get_window_extent(), ax.get_window_extent()


def _outside(legend_box, axes_box, fig) -> bool:
    """The legend is right of the axes or under them, and within the figure."""
    beside = legend_box.x0 >= axes_box.x1 - 1e-6
    under = legend_box.y1 <= axes_box.y0 + 1e-6
    figure = fig.bbox
    within = (legend_box.x0 >= figure.x0 - 1 and legend_box.x1 <= figure.x1 + 1
              and legend_box.y0 >= figure.y0 - 1 and legend_box.y1 <= figure.y1 + 1)
    return (beside or under) and within


def _points_inside(box, ax, artists):
    """Data vertices of ``artists`` (pixels) inside ``box``, counted directly from the data."""
    total = 0
    for line in artists:
        xy = ax.transData.transform(np.column_stack(line.get_data()))
        total += int(np.sum((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)))
    return total


def test_legend_stays_inside_when_a_corner_is_free():
    import matplotlib.pyplot as plt

    fig, ax = new_axes()
    x = np.linspace(0, 1, 50)
    lines = ax.plot(x, x ** 2, marker=".", label="rising")
    label_axes(ax, "x", "y", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert axes_box.x0 <= legend_box.x0 and legend_box.x1 <= axes_box.x1  # inside
    assert _points_inside(legend_box, ax, lines) == 0
    plt.close(fig)


def test_dense_axes_get_their_legend_outside():
    import matplotlib.pyplot as plt

    fig, ax = new_axes()
    x = np.linspace(0, 10, 60)
    lines = [ax.plot(x, np.sin(x + k), label=f"curve {k}")[0] for k in range(6)]
    label_axes(ax, "x", "y", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert _outside(legend_box, axes_box, fig)
    assert _points_inside(legend_box, ax, lines) == 0
    assert _png_width(fig) <= OUTPUT_WIDTH_PX  # room made inside the figure, not beyond it
    plt.close(fig)


def test_legend_place_is_decided_with_the_limits_set_after_label_axes():
    """Data filling the axes only after ``set_ylim`` (as the notebooks do) still moves the legend out."""
    import matplotlib.pyplot as plt

    fig, ax = new_axes()
    x = np.linspace(0, 10, 80)
    lines = [ax.plot(x, 0.5 + 0.5 * np.sin(x + k), label=f"curve {k}")[0] for k in range(4)]
    ax.set_ylim(-5, 5)  # lots of free room above and below the curves
    label_axes(ax, "x", "y", legend=True)
    ax.set_ylim(-0.02, 1.02)  # now the curves fill the axes
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert _points_inside(legend_box, ax, lines) == 0
    assert _outside(legend_box, axes_box, fig)
    plt.close(fig)


def test_legend_avoids_bands_and_bars():
    import matplotlib.pyplot as plt

    fig, ax = new_axes()
    x = np.linspace(0, 1, 20)
    ax.fill_between(x, 0, 1, color="0.5", alpha=0.2, label="chance band covering everything")
    ax.plot(x, 0.5 + 0 * x, label="level")
    label_axes(ax, "x", "y", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert _outside(legend_box, axes_box, fig)
    plt.close(fig)
    fig, ax = new_axes()
    ax.bar([0, 1, 2], [1.0, 0.2, 0.2], label="bars")
    ax.set_ylim(0, 1.05)
    label_axes(ax, "x", "y", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert legend_box.x0 < axes_box.x1  # a free upper-right corner above the low bars
    for bar in ax.patches:
        assert not bar.get_window_extent().overlaps(legend_box)
    plt.close(fig)
    fig, ax = new_axes()
    ax.imshow(np.arange(16.0).reshape(4, 4), aspect="auto")
    ax.plot([0, 3], [0, 3], color="white", label="diagonal")
    label_axes(ax, "column", "row", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert _outside(legend_box, axes_box, fig)  # a heat map fills its axes
    plt.close(fig)


def test_legend_outside_goes_where_it_costs_the_axes_least():
    """A short legend of long labels goes under the x axis (one row per label at most), a tall narrow
    one beside; either way the figure keeps its size and the legend stays inside it."""
    import matplotlib.pyplot as plt

    x = np.linspace(0, 10, 60)
    fig, ax = new_axes()
    ax.plot(x, np.sin(x), label="mean CCA distance - PWCCA distance, one line per seed")
    ax.plot(x, np.cos(x), label="margin 0.02")
    label_axes(ax, "epoch", "distance", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert legend_box.y1 <= axes_box.y0 and _outside(legend_box, axes_box, fig)
    assert legend_box.y1 <= ax.xaxis.get_tightbbox().y0 + 1  # under the x axis's label, not on it
    plt.close(fig)
    fig, ax = new_axes(size=(5.0, 4.5))
    for k in range(8):
        ax.plot(x, np.sin(x + k), label=f"L{k}")
    label_axes(ax, "epoch", "distance", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert legend_box.x0 >= axes_box.x1 and _outside(legend_box, axes_box, fig)
    assert tuple(fig.get_size_inches()) == pytest.approx((5.0, 4.5))
    plt.close(fig)


def test_legend_on_a_figure_not_from_new_axes_is_placed_when_drawn():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    x = np.linspace(0, 10, 60)
    lines = [ax.plot(x, np.sin(x + k), label=f"curve {k}")[0] for k in range(6)]
    label_axes(ax, "x", "y", legend=True)
    legend_box, axes_box = _legend_and_axes_boxes(fig, ax)
    assert _points_inside(legend_box, ax, lines) == 0
    assert legend_box.x0 >= axes_box.x1 or legend_box.y1 <= axes_box.y0
    plt.close(fig)

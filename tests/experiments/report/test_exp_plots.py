"""Plot helpers: colours stable per group, mean +- std per group, labelled axes."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from cca_core.experiments import errorbar_by_group, group_colors, label_axes  # noqa: E402
from cca_core.experiments.report.plots import GROUP_COLORS, PALETTE, new_axes  # noqa: E402


def test_group_colors_are_consistent():
    a = group_colors(["random", "true", "width 4"])
    b = group_colors(["true", "width 4", "random"])
    assert a["true"] == b["true"] == GROUP_COLORS["true"]
    assert a["random"] == b["random"] == GROUP_COLORS["random"]
    assert len(set(group_colors(["a", "b", "c"]).values())) == 3
    # unknown groups take the palette in order of appearance, skipping the colours of known groups
    assert group_colors(["a", "b"]) == {"a": PALETTE[0], "b": PALETTE[1]}
    reserved = {GROUP_COLORS["true"]}
    free = [c for c in PALETTE if c not in reserved]
    assert group_colors(["true", "a", "b"]) == {"true": GROUP_COLORS["true"], "a": free[0], "b": free[1]}
    many = [f"g{i}" for i in range(len(PALETTE) + 2)]  # more groups than colours: the palette repeats
    assert [group_colors(many)[g] for g in many] == [PALETTE[i % len(PALETTE)] for i in range(len(many))]


def test_errorbar_by_group_mean_std_and_labels():
    import matplotlib.pyplot as plt

    fig, ax = new_axes()
    values = {"true": [[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]], "random": [[0.5, np.nan, 0.7]]}
    summary = errorbar_by_group(ax, [1, 2, 3], values, xlabel="layer", ylabel="PWCCA distance", title="t")
    np.testing.assert_allclose(summary["true"][0], [0.2, 0.3, 0.4])
    np.testing.assert_allclose(summary["true"][1], [0.1, 0.1, 0.1])
    assert np.isnan(summary["random"][0][1]) and summary["random"][1][0] == 0
    assert ax.get_xlabel() == "layer" and ax.get_ylabel() == "PWCCA distance" and ax.get_title() == "t"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["true (n=2)", "random (n=1)"]
    with pytest.raises(ValueError, match="expected"):
        errorbar_by_group(ax, [1, 2], values, "x", "y")
    label_axes(ax, "epoch", "accuracy")
    assert ax.get_xlabel() == "epoch"
    plt.close(fig)


def test_interval_curves_and_chance_band_draw_bands():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from cca_core.experiments.report.plots import chance_band, interval_curves

    fig, ax = new_axes()
    interval_curves(ax, [1, 2, 3], {"a": ([0.2, 0.3, 0.4], [0.1, 0.2, 0.3], [0.3, 0.4, 0.5]),
                                    "b": ([0.5, 0.5, 0.5], None, None)})  # no interval: the line alone
    chance_band(ax, [1, 2, 3], 0.9, [0.85, 0.86, 0.87], 0.95)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # curve a and the chance band
    assert [line.get_label() for line in ax.get_lines()][:2] == ["a", "b"]
    with pytest.raises(ValueError, match="shape"):
        interval_curves(ax, [1, 2], {"a": ([0.1, 0.2, 0.3], None, None)})
    plt.close(fig)

"""The learning-curve section of the training pages (report.convergence): what it draws and tabulates,
against the criterion computed directly (analysis.learning)."""

from types import SimpleNamespace

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from cca_core.experiments.analysis.learning import stopped_improving  # noqa: E402
from cca_core.experiments.report.convergence import convergence_table, show_convergence  # noqa: E402


def _net(curve, labels="true", accuracy=None):
    history = {"val_loss": curve, "accuracy": accuracy or [0.5] * len(curve)}
    return SimpleNamespace(config=SimpleNamespace(labels=labels, epochs=len(curve), short=lambda: "net"),
                           history=history, train_accuracy=(accuracy or [0.5])[-1])


def test_curves_and_table_match_the_criterion(capsys):
    import matplotlib.pyplot as plt

    flat, still = [1.0, 0.5, 0.4, 0.4, 0.4], [1.0, 0.8, 0.6, 0.4, 0.2]
    groups = {"true": [_net(flat), _net(still), _net(flat)],
              "random": [_net([2.3] * 5, "random", [0.2, 0.5, 0.9, 0.995, 0.999])]}
    verdicts = show_convergence(groups)
    assert [c.met for c in verdicts["true"]] == [stopped_improving(c).met for c in (flat, still, flat)] == [True, False, True]
    assert verdicts["random"][0].met and verdicts["random"][0].criterion == "fits its training labels"
    fig = plt.gcf()
    assert len(fig.axes) == 2  # validation loss, and training accuracy for the permuted labels
    assert sum(line.get_linestyle() == ":" for line in fig.axes[0].get_lines()) == 1  # the one that missed
    plt.close(fig)
    convergence_table(verdicts)
    out = capsys.readouterr().out
    assert "| true | 2 of 3 | validation loss stopped improving | best 0.2 at epoch 5 of 5" in out
    assert "| random | 1 of 1 | fits its training labels | training accuracy 99.9% (at least 99%) |" in out


def test_a_network_without_a_learning_curve_is_named():
    old = SimpleNamespace(config=SimpleNamespace(labels="true", epochs=3, short=lambda: "digits depth=2"),
                          history={"loss": [1.0, 0.9, 0.8]}, train_accuracy=0.9)
    with pytest.raises(ValueError, match="digits depth=2: no validation loss"):
        show_convergence({"networks": [old]})

"""Premises shared by several chapters (verdicts.premises): "every network converged"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cca_core.experiments import rules
from cca_core.experiments.analysis.learning import Convergence, stopped_improving
from cca_core.experiments.verdicts.premises import convergence_premise

STATEMENT = "every network's validation loss stopped improving by its last epoch"


def _conv(met: bool, detail: str) -> Convergence:
    return Convergence(met, "validation loss stopped improving", detail, 5)


def test_convergence_premise_is_met_when_every_network_stopped_improving():
    c = convergence_premise([_conv(True, "a"), _conv(True, "b")])
    assert c.value is True and c.unmet == () and c.text == STATEMENT
    assert rules.convergence_premise is convergence_premise  # rules.<name> as in the notebooks


def test_convergence_premise_names_how_many_were_still_improving_and_the_first():
    c = convergence_premise([_conv(True, "flat"), _conv(False, "still falling"), _conv(False, "also falling")])
    assert c.unmet == ("2 of 3 networks were still improving at their last epoch (first: still falling): their "
                       "layers are compared with a final representation that was still moving",)
    assert c.text == STATEMENT


def test_convergence_premise_on_curves_whose_answer_is_known():
    # falling to the end: the best before the last 2 epochs is 0.8, the best of them 0.6, 25% lower
    falling = stopped_improving([1.0, 0.9, 0.8, 0.7, 0.6])
    flat = stopped_improving([1.0, 0.5, 0.5, 0.5, 0.5])  # no gain over the last 2 epochs
    assert convergence_premise([flat, flat]).unmet == ()
    c = convergence_premise(iter([flat, falling, flat]))  # any iterable
    assert c.unmet == ("1 of 3 networks were still improving at their last epoch (first: best 0.6 at epoch 5 of 5; "
                       "the last 2 epochs improved on the best before by 25.0%): their layers are compared with a "
                       "final representation that was still moving",)


def test_convergence_premise_takes_any_object_with_met_and_detail():
    c = convergence_premise([SimpleNamespace(met=False, detail="epoch 3 of 3")])
    assert c.unmet[0].startswith("1 of 1 networks were still improving at their last epoch (first: epoch 3 of 3)")


@pytest.mark.parametrize("bad, error, match", [
    ([], ValueError, "at least one network"),
    ([SimpleNamespace(detail="x")], TypeError, "boolean .met"),
    ([SimpleNamespace(met="yes", detail="x")], TypeError, "boolean .met"),
    ([SimpleNamespace(met=True)], TypeError, "a .detail"),
])
def test_convergence_premise_refuses_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        convergence_premise(bad)

"""Findings with evidence and the verdict rules: checks in three-valued logic, judge, Finding.

Expected values are computed by hand in the comments, not taken from the code under test. Each
chapter's rules are tested in ``tests/experiments/verdicts/test_<chapter>.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cca_core.experiments.verdicts.findings import (VERDICTS, Check, Evidence, Finding, above, all_of, any_of,
                                                    at_least, at_least_fraction, at_most, below, enough, judge,
                                                    premise, significant, within)
from cca_core.experiments.report.findings import load_findings, report_findings


# ---------------------------------------------------------------------------------------- evidence
def test_verdicts_are_four_with_inconclusive():
    assert VERDICTS == ("reproduced", "partly", "not reproduced", "inconclusive")


def test_interval_checks_are_three_valued():
    e = Evidence("g", 0.2, (0.1, 0.3))
    assert above(e, 0.05).value is True
    assert above(e, 0.2).value is None          # straddles
    assert above(e, 0.3).value is False         # high <= threshold
    assert at_least(e, 0.1).value is True and above(e, 0.1).value is None
    assert below(e, 0.31).value is True and below(e, 0.1).value is False
    assert at_most(e, 0.3).value is True and at_most(e, 0.2).value is None
    assert within(e, 0.0, 0.35).value is True
    assert within(e, 0.25, 0.5).value is None
    assert within(e, 0.4, 0.5).value is False
    assert above(e, 0.15, on="estimate").value is True and above(e, 0.25, on="estimate").value is False
    missing = above(Evidence("g", 0.2, note="no interval: 2 networks"), 0.0)
    assert missing.value is None and missing.unmet == ("g: no interval: 2 networks",)


def test_kleene_logic():
    t, f, u = Check(True, "t"), Check(False, "f"), Check(None, "u")
    table = {(t, t): True, (t, f): False, (t, u): None, (f, u): False, (u, u): None}
    for (a, b), expected in table.items():
        assert (a & b).value is expected
    assert (t | u).value is True and (f | u).value is None and (f | f).value is False
    assert (~u).value is None and (~t).value is False
    assert all_of([]).value is True and any_of([]).value is False
    with pytest.raises(TypeError, match="three-valued"):
        bool(t)


def test_at_least_fraction():
    t, f, u = Check(True, "t"), Check(False, "f"), Check(None, "u")
    assert at_least_fraction([t, t, f, f], 0.5).value is True     # 2 of 4
    assert at_least_fraction([t, f, f, f], 0.5).value is False    # 1 of 4, none undecided
    assert at_least_fraction([t, u, f, f], 0.5).value is None     # 1 or 2 of 4


@pytest.mark.parametrize("interval, verdict", [
    ((0.06, 0.20), "reproduced"),      # wholly above 0.05
    ((0.03, 0.20), "partly"),          # straddles 0.05, wholly above 0
    ((-0.01, 0.20), "inconclusive"),   # straddles 0: cannot tell whether the claim holds
    ((-0.20, -0.01), "not reproduced"),
])
def test_judge_on_intervals(interval, verdict):
    e = Evidence("gap", float(np.mean(interval)), interval, n={"networks": [5, 5]})
    j = judge(above(e, 0.05), above(e, 0.0), requires=[enough(e, networks=3)])
    assert j.verdict == verdict
    assert j.evidence == (e,)
    assert (j.reasons != ()) == (verdict == "inconclusive")


def test_judge_inconclusive_on_unmet_requirements():
    e = Evidence("gap", 0.3, (0.2, 0.4), n={"networks": [2, 5]})
    j = judge(above(e, 0.05), requires=[enough(e, networks=3)])
    assert j.verdict == "inconclusive" and "2+5 networks, the rule needs at least 3 each" in j.reasons[0]
    j = judge(above(e, 0.05), requires=[premise(False, "networks fit", "memorizing at 29%")])
    assert j.verdict == "inconclusive" and j.reasons == ("memorizing at 29%",)
    assert judge(above(e, 0.05), requires=[premise(True, "networks fit")]).verdict == "reproduced"


def test_significance_needs_an_attainable_level():
    e = Evidence("sep", 0.2, p_value=0.1, min_p_value=0.1, n={"networks": [3, 3]})
    j = judge(significant(e, 0.05))
    assert j.verdict == "inconclusive"
    assert "smallest p-value this test can give is 0.1" in j.reasons[0] and "networks 3+3" in j.reasons[0]
    assert judge(significant(e, 0.10)).verdict == "reproduced"  # p = 0.1 <= 0.1 is attainable
    assert judge(significant(Evidence("s", 0.1, p_value=0.3, min_p_value=0.001))).verdict == "not reproduced"
    assert judge(significant(Evidence("s", 0.1))).verdict == "inconclusive"  # no p-value


# ---------------------------------------------------------------------------------------- findings
def test_finding_takes_a_judgement_and_stays_backwards_compatible(tmp_path):
    old = Finding("claim", "paper", "ours", "partly", "details")  # the positional form of before
    assert old.evidence == () and old.verdict == "partly"
    e = Evidence("gap", 0.3, note="no interval: 2 networks")
    f = Finding("claim", "paper", f"{e:.2f}", judge(above(e, 0.0)), details="PWCCA")
    assert f.verdict == "inconclusive" and f.evidence == (e,)
    assert f.details.startswith("PWCCA; inconclusive: gap: no interval: 2 networks")
    with pytest.raises(ValueError, match="verdict must be one of"):
        Finding("c", "p", "o", "maybe")
    path = tmp_path / "f.json"
    report_findings([f, old], notebook="nb", title="T", scale="s", path=path)
    data = load_findings(path)
    assert data["findings"][0]["evidence"][0]["note"] == "no interval: 2 networks"
    legacy = tmp_path / "legacy.json"  # a file written before evidence existed
    legacy.write_text(json.dumps({"notebook": "nb", "title": "T", "scale": "s", "findings": [
        {"claim": "c", "paper": "p", "ours": "o", "verdict": "reproduced", "details": ""}]}))
    assert load_findings(legacy)["findings"][0]["evidence"] == []

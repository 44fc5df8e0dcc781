"""Checks keep what they compare (evidence, op, threshold, on), judgements keep their checks and the
ones that decided, and findings JSON records them; verdicts are those of an explicit table.

References are independent of the implementation: verdicts are written out by hand, and a single
check's three values are computed by evaluating its predicate on a fine grid over the interval.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cca_core.experiments.report.findings import load_findings, report_findings
from cca_core.experiments.verdicts.findings import (Check, Evidence, Finding, Judgement, above, all_of, any_of,
                                                    at_least, at_least_fraction, at_most, below, decisive, enough,
                                                    judge, premise, significant, singles, within)


def E(name, est, lo=None, hi=None, **kw):
    return Evidence(name, est, None if lo is None else (lo, hi), **kw)


POS = E("pos", 0.3, 0.2, 0.4)          # clearly above 0
STRADDLE = E("mid", 0.1, -0.1, 0.3)    # across 0
NEG = E("neg", -0.3, -0.4, -0.2)       # clearly below 0
SMALL = E("small", 0.03, 0.01, 0.04)   # above 0, below 0.05
NONE = E("nointerval", 0.3, note="no interval: 2 networks")
P_OK = E("perm", 0.95, p_value=0.002, min_p_value=0.001)
P_SHORT = E("perm3", 0.95, p_value=0.1, min_p_value=0.1, n={"networks": [3, 3]})

#: (case, judgement, expected verdict, expected decisive checks as (level, evidence, op, threshold))
CASES = [
    ("above, interval above", lambda: judge(above(POS, 0)), "reproduced", [("reproduced", "pos", ">", 0.0)]),
    ("above, interval across", lambda: judge(above(STRADDLE, 0)), "inconclusive",
     [("reproduced", "mid", ">", 0.0)]),
    ("above, interval below", lambda: judge(above(NEG, 0)), "not reproduced", [("reproduced", "neg", ">", 0.0)]),
    ("three-way, partly", lambda: judge(at_least(SMALL, 0.05), above(SMALL, 0)), "partly",
     [("partly", "small", ">", 0.0)]),
    ("three-way, not reproduced", lambda: judge(at_least(NEG, 0.05), above(NEG, 0)), "not reproduced",
     [("partly", "neg", ">", 0.0)]),
    ("three-way, reproduced", lambda: judge(at_least(POS, 0.05), above(POS, 0)), "reproduced",
     [("reproduced", "pos", ">=", 0.05)]),
    ("three-way, undecided partly", lambda: judge(at_least(STRADDLE, 0.5), above(STRADDLE, 0)), "inconclusive",
     [("partly", "mid", ">", 0.0)]),
    ("below", lambda: judge(below(NEG, 0)), "reproduced", [("reproduced", "neg", "<", 0.0)]),
    ("at_most fails", lambda: judge(at_most(POS, 0.1)), "not reproduced", [("reproduced", "pos", "<=", 0.1)]),
    ("within", lambda: judge(within(SMALL, -0.05, 0.05)), "reproduced",
     [("reproduced", "small", "in", (-0.05, 0.05))]),
    ("within, outside", lambda: judge(within(POS, -0.05, 0.05)), "not reproduced",
     [("reproduced", "pos", "in", (-0.05, 0.05))]),
    ("estimate only", lambda: judge(at_least(STRADDLE, 0.05, on="estimate")), "reproduced",
     [("reproduced", "mid", ">=", 0.05)]),
    ("and: one fails", lambda: judge(above(POS, 0) & above(NEG, 0)), "not reproduced",
     [("reproduced", "neg", ">", 0.0)]),
    ("and: all hold", lambda: judge(all_of([above(POS, 0), above(SMALL, 0)])), "reproduced",
     [("reproduced", "pos", ">", 0.0), ("reproduced", "small", ">", 0.0)]),
    ("or: one holds", lambda: judge(any_of([above(NEG, 0), above(POS, 0)])), "reproduced",
     [("reproduced", "pos", ">", 0.0)]),
    ("or: all fail", lambda: judge(above(NEG, 0) | at_least(SMALL, 0.05)), "not reproduced",
     [("reproduced", "neg", ">", 0.0), ("reproduced", "small", ">=", 0.05)]),
    ("and: one undecided", lambda: judge(above(POS, 0) & above(STRADDLE, 0)), "inconclusive",
     [("reproduced", "mid", ">", 0.0)]),
    ("not of a single check", lambda: judge(~above(NEG, 0)), "reproduced", [("reproduced", "neg", "<=", 0.0)]),
    ("significance and size", lambda: judge(significant(P_OK) & at_least(P_OK, 0.9, on="estimate")), "reproduced",
     [("reproduced", "perm", "<=", 0.05), ("reproduced", "perm", ">=", 0.9)]),
    ("test that cannot reach alpha", lambda: judge(significant(P_SHORT)), "inconclusive", []),
    ("no interval", lambda: judge(above(NONE, 0)), "inconclusive", []),
    ("too few networks", lambda: judge(above(POS, 0), requires=[enough(E("n", 1.0, n={"networks": 2}),
                                                                      networks=3)]), "inconclusive", []),
    ("premise fails", lambda: judge(above(POS, 0), requires=[premise(False, "fits", "42% training accuracy")]),
     "inconclusive", []),
    ("fraction holds", lambda: judge(at_least_fraction([above(POS, 0), above(NEG, 0), above(SMALL, 0)], 0.5)),
     "reproduced", [("reproduced", "pos", ">", 0.0), ("reproduced", "small", ">", 0.0)]),
]


@pytest.mark.parametrize("case,make,verdict,expected", CASES, ids=[c[0] for c in CASES])
def test_verdicts_and_decisive_checks_are_those_of_the_table(case, make, verdict, expected):
    j = make()
    assert isinstance(j, Judgement) and j.verdict == verdict
    got = [(level, c.evidence[0].name, c.op, c.threshold) for level, c in j.decisive]
    assert got == expected
    records = Finding("c", "p", "o", j).to_dict()["checks"]
    marked = [(r["level"], r["evidence"], r["op"], tuple(r["threshold"]) if r["op"] == "in" else r["threshold"])
              for r in records if r["decisive"]]
    assert marked == expected


def test_inconclusive_reasons_and_rule_text_are_unchanged_in_form():
    j = judge(at_least(STRADDLE, 0.5), above(STRADDLE, 0))
    assert j.reasons == ("the interval cannot decide mid 0.10 [-0.10, 0.30] > 0",)
    assert j.rule == "reproduced if mid 0.10 [-0.10, 0.30] >= 0.5; partly if mid 0.10 [-0.10, 0.30] > 0"
    assert j.explain() == "inconclusive: the interval cannot decide mid 0.10 [-0.10, 0.30] > 0"


def test_single_checks_keep_op_threshold_evidence_and_on():
    c = at_least(SMALL, 0.05)
    assert (c.kind, c.op, c.threshold, c.on, c.evidence) == ("single", ">=", 0.05, "interval", (SMALL,))
    assert above(SMALL, 0.01, on="estimate").on == "estimate"
    w = within(SMALL, -0.05, 0.05)
    assert (w.op, w.threshold) == ("in", (-0.05, 0.05))
    s = significant(P_OK, 0.01)
    assert (s.op, s.threshold, s.on) == ("<=", 0.01, "p_value")
    for req in (enough(POS, networks=1), premise(True, "x")):
        assert req.kind == "" and singles(req) == ()


def test_composite_checks_keep_their_parts_flattened():
    a, b, c = above(POS, 0), below(NEG, 0), within(SMALL, 0, 1)
    both = a & b & c
    assert both.kind == "and" and both.parts == (a, b, c)  # (a & b) & c: associative, one level
    either = any_of([a, b])
    assert either.kind == "or" and either.parts == (a, b)
    mixed = (a | b) & c
    assert mixed.kind == "and" and mixed.parts[0].kind == "or" and singles(mixed) == (a, b, c)
    neg = ~within(SMALL, 0, 1)
    assert neg.kind == "not" and neg.parts[0].op == "in"
    frac = at_least_fraction([a, b, c], 0.5)
    assert frac.kind == "fraction" and singles(frac) == (a, b, c)
    assert decisive(~(a & b), False) == (a, b)  # not (a and b) is false because both hold


def test_three_values_of_a_single_check_match_a_grid_over_the_interval():
    rng = np.random.default_rng(3)
    preds = {">": lambda x, t: x > t, ">=": lambda x, t: x >= t, "<": lambda x, t: x < t, "<=": lambda x, t: x <= t}
    makers = {">": above, ">=": at_least, "<": below, "<=": at_most}
    for _ in range(400):
        lo, hi = np.sort(rng.choice(np.arange(-5, 6) / 10, size=2))
        t = float(rng.choice(np.arange(-5, 6) / 10))
        ev = E("x", float((lo + hi) / 2), float(lo), float(hi))
        a, b = sorted(rng.choice(np.arange(-5, 6) / 10, size=2))
        points = np.array([t, a, b])  # the grid holds every threshold that lies in the interval
        grid = np.union1d(np.linspace(lo, hi, 201), points[(points >= lo) & (points <= hi)])
        for op, pred in preds.items():
            holds = pred(grid, t)
            expected = True if holds.all() else False if not holds.any() else None
            c = makers[op](ev, t)
            assert c.value is expected, (op, lo, hi, t)
            assert (~c).value is (None if expected is None else not expected)
            assert (~c).kind == "single" and (~c).op == {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[op]
        inside = (grid >= a) & (grid <= b)
        expected = True if inside.all() else False if not inside.any() else None
        assert within(ev, a, b).value is expected, (lo, hi, a, b)


def test_findings_json_records_the_checks_and_loads_back(tmp_path):
    gap, spread = E("gap", 0.03, 0.01, 0.04), E("spread", 0.02, 0.0, 0.03)
    j = judge(at_least(gap, 0.05) & at_most(spread, 0.05), above(gap, 0))
    f = Finding("claim", "paper", "ours", j)
    assert f.verdict == "partly" and f.details == ""  # verdict and details as before
    records = f.to_dict()["checks"]
    assert records == [
        {"evidence": "gap", "op": ">=", "threshold": 0.05, "on": "interval", "level": "reproduced", "holds": False,
         "decisive": False},
        {"evidence": "spread", "op": "<=", "threshold": 0.05, "on": "interval", "level": "reproduced",
         "holds": True, "decisive": False},
        {"evidence": "gap", "op": ">", "threshold": 0.0, "on": "interval", "level": "partly", "holds": True,
         "decisive": True}]
    path = tmp_path / "f.json"
    report_findings([f, Finding("old", "p", "o", "reproduced")], notebook="nb", title="T", scale="s", path=path)
    raw = json.loads(path.read_text())
    assert raw["findings"][0]["checks"] == records and raw["findings"][1]["checks"] == []
    loaded = load_findings(path)
    assert loaded["findings"][0]["checks"] == records
    assert Finding(**loaded["findings"][0]).checks == tuple(records)
    legacy = {k: v for k, v in raw["findings"][0].items() if k != "checks"}  # written before checks existed
    assert Finding(**legacy).checks == ()


def test_two_way_rules_record_one_level_and_bad_records_are_refused():
    records = Finding("c", "p", "o", judge(above(POS, 0))).to_dict()["checks"]
    assert [r["level"] for r in records] == ["reproduced"]
    with pytest.raises(ValueError, match="op in"):
        Finding("c", "p", "o", "reproduced", checks=[{"evidence": "x", "op": "!=", "threshold": 0}])
    with pytest.raises(ValueError, match="threshold"):
        Finding("c", "p", "o", "reproduced", checks=[{"evidence": "x", "op": "in", "threshold": 0}])
    with pytest.raises(TypeError, match="dicts"):
        Finding("c", "p", "o", "reproduced", checks=["x > 0"])


def test_a_check_is_constructed_as_before():
    c = Check(True, "x")  # positional form of before
    assert c.kind == "" and c.parts == () and c.op == ""
    j = Judgement("reproduced", (), "rule", ())
    assert j.checks == () and j.decisive == () and j.records() == []

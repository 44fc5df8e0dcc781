"""The scorecard from findings JSON that records the rules' checks: a row for every claim resting on one
decisive single check, the others counted with the reason; reasons that name the deciding check in
our numbers; the book's own (older) findings files still render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cca_core.experiments.report.findings import finding_view, load_findings, report_findings
from cca_core.experiments.report.scorecard import Chapter, forest_rows, scorecard_figure, scorecard_markdown
from cca_core.experiments.verdicts.findings import (Evidence, Finding, above, all_of, at_least, at_most, below,
                                                    enough, judge, significant, within)

BOOK_FINDINGS = sorted((Path(__file__).resolve().parents[3] / "book" / "findings").glob("*.json"))

GAP = Evidence("gap", 0.03, (0.01, 0.04), n={"networks": [5, 5]})
SPREAD = Evidence("spread", 0.02, (0.0, 0.03), n={"networks": [5, 5]})
POS = Evidence("pos", 0.3, (0.2, 0.4))
NEG = Evidence("neg", -0.3, (-0.4, -0.2))
MID = Evidence("mid", 0.1, (-0.1, 0.3))
PERM = Evidence("ari", 0.95, p_value=0.002, min_p_value=0.001, n={"networks": [5, 5]})


def _synthetic() -> list[Finding]:
    return [
        Finding("single, reproduced", "p", "o", judge(above(POS, 0.05))),                       # row
        Finding("three-way, partly", "p", "o",
                judge(at_least(GAP, 0.05) & at_most(SPREAD, 0.05), above(GAP, 0))),            # row: gap > 0
        Finding("several estimates", "p", "o", judge(all_of([above(POS, 0), below(NEG, 0)]))),  # several
        Finding("a p-value alone", "p", "o", judge(significant(PERM))),                          # p_value
        Finding("too few", "p", "o", judge(above(POS, 0), requires=[enough(POS, networks=3)])),  # requirement
        Finding("by hand", "p", "o", "reproduced"),                                              # unrecorded
        Finding("undecided", "p", "o", judge(above(MID, 0))),                                    # row
        Finding("size and significance", "p", "o",
                judge(significant(PERM) & at_least(PERM, 0.9, on="estimate"))),                 # row: estimate
        Finding("one of all fails", "p", "o", judge(all_of([above(POS, 0), above(NEG, 0)]))),  # row: neg > 0
    ]


@pytest.fixture
def chapters(tmp_path, capsys):
    path = tmp_path / "synthetic.json"
    report_findings(_synthetic(), notebook="synthetic", title="Synthetic", scale="none", path=path)
    legacy = {"notebook": "old", "title": "Old", "scale": "s", "findings": [
        {"claim": "written before checks", "paper": "p", "ours": "o", "verdict": "partly", "details": "",
         "evidence": [POS.to_dict()]}]}
    capsys.readouterr()
    return [Chapter.from_json("synthetic", load_findings(path)), Chapter.from_json("old", legacy)]


def test_every_claim_resting_on_one_single_check_gets_a_row(chapters):
    rows, missing = forest_rows(chapters)
    drawn = {(r.chapter, r.number): (r.check.evidence.name, r.check.op, r.check.threshold, r.check.on) for r in rows}
    assert drawn == {("Synthetic", 1): ("pos", ">", 0.05, "interval"),
                     ("Synthetic", 2): ("gap", ">", 0.0, "interval"),
                     ("Synthetic", 7): ("mid", ">", 0.0, "interval"),
                     ("Synthetic", 8): ("ari", ">=", 0.9, "estimate"),
                     ("Synthetic", 9): ("neg", ">", 0.0, "interval")}
    assert [(ch.page, i, why) for ch, i, why in missing] == [
        ("synthetic", 3, "several"), ("synthetic", 4, "p_value"), ("synthetic", 5, "requirement"),
        ("synthetic", 6, "unrecorded"), ("old", 1, "unrecorded")]


def test_the_page_says_how_many_claims_have_no_row_and_why(chapters, tmp_path):
    text = scorecard_markdown(chapters)
    assert "**10 claims: 5 reproduced, 2 partly, 1 not reproduced, 2 inconclusive.**" in text
    assert "(5 of 10)" in text  # rows
    line = next(l for l in text.splitlines() if l.startswith("Not in the figure"))
    assert line == ("Not in the figure, and marked so below (5 of 10): 1 claim whose verdict rests on several "
                    "estimates, each against its own threshold (one row could not show the rule); 1 claim whose "
                    "verdict rests on a significance test (a p-value, not an estimate against a threshold); 1 claim "
                    "whose verdict rests on a requirement that is not met (networks that did not learn, too few of "
                    "them); 2 claims whose findings file records no check of their rule (a file written before "
                    "checks were recorded, or a verdict given by hand): rerun the chapter to draw them.")
    assert text.count("*(not in the figure)*") == 5
    pytest.importorskip("matplotlib")
    assert scorecard_figure(chapters, tmp_path / "f.png") == 5 and (tmp_path / "f.png").stat().st_size > 0


@pytest.mark.parametrize("finding,reason", [
    (Finding("c", "p", "o", judge(above(POS, 0))), "pos: the interval [0.20, 0.40] lies above 0"),
    (Finding("c", "p", "o", judge(above(NEG, 0))), "neg: the interval [-0.40, -0.20] lies at or below 0"),
    (Finding("c", "p", "o", judge(at_least(NEG, 0.05), below(NEG, 0.1))), "neg: the interval [-0.40, -0.20] lies "
                                                                          "below 0.1"),
    (Finding("c", "p", "o", judge(at_least(GAP, 0.05), above(GAP, 0))), "gap: the interval [0.010, 0.040] lies "
                                                                        "above 0"),
    (Finding("c", "p", "o", judge(within(GAP, -0.05, 0.05))), "gap: the interval [0.010, 0.040] lies within "
                                                              "[-0.05, 0.05]"),
    (Finding("c", "p", "o", judge(within(POS, -0.05, 0.05))), "pos: the interval [0.20, 0.40] lies outside "
                                                              "[-0.05, 0.05]"),
    (Finding("c", "p", "o", judge(at_least(MID, 0.05, on="estimate"))), "mid: the estimate 0.100 is at or above 0.05"),
    (Finding("c", "p", "o", judge(significant(PERM))), "ari: p = 0.0020, at most the significance level 0.05"),
    (Finding("c", "p", "o", judge(significant(PERM) & at_least(PERM, 0.9, on="estimate"))),
     "ari: p = 0.0020, at most the significance level 0.05 (and 1 more check)"),
    (Finding("c", "p", "o", judge(below(Evidence.point("diff", 3e-9, why="closed form"), 1e-6))),
     "diff: the exact value 3.00e-09 is below 1e-06"),
    (Finding("c", "p", "o", judge(above(Evidence("tiny", -0.0001, (-0.0004, -0.0002)), 0))),
     "tiny: the interval [-0.00040, -0.00020] lies at or below 0"),
    (Finding("c", "p", "o", judge(all_of([above(POS, 0), below(NEG, 0)]))),
     "pos: the interval [0.20, 0.40] lies above 0 (and 1 more check)"),
])
def test_reasons_name_the_deciding_check_in_our_numbers(finding, reason):
    assert finding_view(finding).reason == reason
    assert finding_view(finding.to_dict()).reason == reason  # read back from the JSON


def test_reason_of_an_inconclusive_verdict_is_unchanged():
    view = finding_view(Finding("c", "p", "o", judge(above(MID, 0))))
    assert view.reason == "the interval cannot decide mid 0.10 [-0.10, 0.30] > 0"


def test_no_negative_zero_in_the_reasons():
    tiny = Evidence("t", -1e-7, (-0.04, 0.03))  # the estimate rounds to zero at the interval's resolution
    view = finding_view(Finding("c", "p", "o", judge(above(tiny, 0))))
    assert view.reason == "the interval cannot decide t 0.000 [-0.040, 0.030] > 0"
    zero = Evidence("z", -0.0003, (-0.0004, -0.0002))
    assert finding_view(Finding("c", "p", "o", judge(at_least(zero, 0)))).reason == (
        "z: the interval [-0.00040, -0.00020] lies below 0")


@pytest.mark.parametrize("path", BOOK_FINDINGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("old_format", [False, True], ids=["as written", "without checks"])
def test_the_books_findings_render_with_and_without_recorded_checks(path, old_format, tmp_path):
    data = load_findings(path)
    if old_format:  # a findings file written before checks were recorded
        stripped = [{k: v for k, v in f.items() if k != "checks"} for f in data["findings"]]
        old = tmp_path / "old.json"
        old.write_text(json.dumps({**data, "findings": stripped}))
        data = load_findings(old)
        assert all(f["checks"] == [] for f in data["findings"])
    chapter = Chapter.from_json(path.stem, data)
    text = scorecard_markdown([chapter])
    assert f"]({path.stem}.ipynb)" in text
    rows, missing = forest_rows([chapter])
    assert len(rows) + len(missing) == len(data["findings"])
    if rows:
        pytest.importorskip("matplotlib")
        assert scorecard_figure([chapter], tmp_path / "f.png") == len(rows)

"""The findings as readers meet them: the page's table (and its toggles), the terminal's, the
scorecard; on the book's own findings (book/findings/*.json) and on findings made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cca_core.experiments.report.findings import (MAX_CELL, finding_view, findings_table, findings_text,
                                                  load_findings, report_findings, shorten)
from cca_core.experiments.report.scorecard import Chapter, forest_rows, scorecard_markdown
from cca_core.experiments.verdicts.findings import Evidence, Finding, above, at_most, enough, judge, within

markdown_it = pytest.importorskip("markdown_it")

BOOK_FINDINGS = sorted((Path(__file__).resolve().parents[3] / "book" / "findings").glob("*.json"))


def _visible(markdown: str) -> tuple[list[str], list[str]]:
    """Table cells and list items outside any toggle (``<details>``), as a Markdown parser reads them."""
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    kept, depth = [], 0
    for line in markdown.splitlines():
        if line.startswith("<details>"):
            depth += 1
        elif line.strip() == "</details>" and depth:
            depth -= 1
        elif not depth:
            kept.append(line)
    tokens = md.parse("\n".join(kept))
    cells, items = [], []
    for i, t in enumerate(tokens):
        if t.type in ("th_open", "td_open"):
            cells.append(tokens[i + 1].content)
        elif t.type == "list_item_open":
            items.append(tokens[i + 2].content)
    return cells, items


def test_the_book_has_findings():
    assert len(BOOK_FINDINGS) >= 9


@pytest.mark.parametrize("path", BOOK_FINDINGS, ids=lambda p: p.stem)
def test_no_visible_cell_of_the_books_findings_is_over_300_characters(path: Path):
    data = load_findings(path)
    table = findings_table(data["findings"])
    cells, _ = _visible(table)
    assert len(cells) == 5 * (len(data["findings"]) + 1)  # header and one row per finding, nothing lost
    longest = max(cells, key=len)
    assert len(longest) <= MAX_CELL, f"{path.stem}: a {len(longest)}-character cell: {longest[:120]}..."
    # the full evidence is behind one toggle per finding
    assert table.count("<details>") == table.count("</details>") == len(data["findings"])
    for f in data["findings"]:
        for ev in f["evidence"]:
            assert ev["name"] in table
    # the terminal shows the same findings, each verdict with its reason in one line of the terminal's width
    text = findings_text(data["findings"], width=100).splitlines()
    whys = [line for line in text if line.startswith("  why: ")]
    assert len(whys) == len(data["findings"]) and all(len(line) <= 100 for line in text)
    for f, why in zip(data["findings"], whys):
        view = finding_view(f)
        assert view.reason.startswith(why[len("  why: "):].removesuffix(" …").rstrip()[:40])
        assert f"**{view.verdict}**: {view.reason}".replace("|", "\\|") in table.replace("\\|", "\\|")


def test_scorecard_of_the_book_is_short_and_lists_every_claim():
    chapters = [Chapter.from_json(p.stem, load_findings(p)) for p in BOOK_FINDINGS]
    text = scorecard_markdown(chapters)
    cells, items = _visible(text)
    n = sum(len(c.findings) for c in chapters)
    assert len(items) == n and not cells  # one line per claim; no chapter table repeated
    longest = max(items, key=len)
    assert len(longest) <= MAX_CELL, longest
    for c in chapters:
        assert f"]({c.page}.ipynb)" in text
    rows, missing = forest_rows(chapters)
    assert len(rows) + len(missing) == n
    assert text.count("*(not in the figure)*") == len(missing)
    assert "Evidence" not in text and "<details>" not in text


def test_inconclusive_reason_is_one_sentence_with_its_numbers_and_the_count_of_others():
    evs = [Evidence(f"layer {i} - layer {i + 1}", 0.007, (-0.008, 0.022), n={"networks": 5}) for i in range(5)]
    f = Finding("bottom-up", "L1 > L2", "0.007", judge(all_of_above(evs)))
    view = finding_view(f)
    assert view.verdict == "inconclusive"
    assert view.reason == "the interval cannot decide layer 0 - layer 1 0.007 [-0.008, 0.022] > 0 (and 4 more)"
    assert len(view.checks) == 5  # every undecided check is recorded
    assert [c.threshold for c in view.checks] == [0.0] * 5 and view.checks[0].op == ">"
    legacy = {k: v for k, v in f.to_dict().items() if k != "checks"}  # a file written before checks were recorded
    old = finding_view(legacy)
    assert old.reason == view.reason and len(old.checks) == 3  # read back from the three reasons listed
    assert [c.threshold for c in old.checks] == [0.0, 0.0, 0.0] and old.checks[0].op == ">"
    unmet = finding_view(Finding("c", "p", "o", judge(above(evs[0], 0.0), requires=[enough(evs[0], networks=9)])))
    assert unmet.reason == "layer 0 - layer 1: 5 networks, the rule needs at least 9" and not unmet.checks


def all_of_above(evs):
    out = above(evs[0], 0.0)
    for e in evs[1:]:
        out = out & above(e, 0.0)
    return out


@pytest.mark.parametrize("check,op,threshold", [
    (lambda e: above(e, 0.05), ">", 0.05), (lambda e: at_most(e, 0.1), "<=", 0.1),
    (lambda e: within(e, -0.05, 0.05), "in", (-0.05, 0.05))])
def test_statements_of_the_verdict_rules_are_read_back(check, op, threshold):
    e = Evidence("largest |a - b| over relu_1, relu_2 (mean [CCA])", 0.04, (-0.01, 0.11))
    view = finding_view(Finding("c", "p", "o", judge(check(e))))
    assert view.verdict == "inconclusive" and len(view.checks) == 1
    assert view.checks[0].op == op and view.checks[0].threshold == threshold
    assert view.checks[0].evidence == e


def test_recorded_checks_give_the_reason_and_the_row():
    e = Evidence("gap", 0.38, (0.30, 0.45), n={"networks": [5, 5]})
    data = Finding("c", "p", "ours", "reproduced", evidence=[e]).to_dict()
    data["checks"] = [{"evidence": "gap", "op": ">=", "threshold": 0.05, "level": "reproduced"},
                      {"evidence": "gap", "op": ">", "threshold": 0.0, "level": "partly"}]
    view = finding_view(data)
    assert view.reason == "gap: the interval [0.30, 0.45] lies at or above 0.05"
    rows, missing = forest_rows([Chapter("p", "T", "s", (view,))])
    assert len(rows) == 1 and not missing and rows[0].check.threshold == 0.05


def test_long_text_is_cut_at_a_clause_and_the_whole_kept_for_the_toggle():
    ours = "; ".join(f"part {i} (a; b) {'x' * 40}" for i in range(10))
    assert shorten(ours, 120).endswith(" …") and len(shorten(ours, 120)) <= 120
    assert shorten(ours, 120).startswith("part 0 (a; b) ")  # not cut inside the parentheses
    assert shorten("short", 10) == "short"
    view = finding_view(Finding("c", "p", ours, "partly"))
    assert view.ours_full == ours and len(view.ours) <= 142
    table = findings_table([Finding("c", "p", ours, "partly")])
    assert ours in table  # in full, behind the toggle


def test_report_findings_writes_json_and_prints_the_terminal_table(tmp_path, capsys):
    e = Evidence("gap", 0.3, (0.2, 0.4))
    path = tmp_path / "f.json"
    markdown = report_findings([Finding("c1", "p", "0.3", judge(above(e, 0.0)))], notebook="nb", title="T",
                               scale="s", path=path)
    printed = capsys.readouterr().out
    assert "| 1 | c1 | p | 0.3 | **reproduced**:" in markdown and "<details>" in markdown
    assert printed.startswith("claim") and "  why: " in printed and "<details>" not in printed
    assert json.loads(path.read_text())["findings"][0]["evidence"][0]["interval"] == [0.2, 0.4]


def test_table_gives_intervals_p_values_and_sizes_behind_the_toggle():
    from cca_core.experiments.verdicts.findings import significant

    gap = Evidence("gap", 0.38, (0.30, 0.45), n={"networks": [5, 5], "pairs": 20})
    sep = Evidence("sep", 0.02, p_value=0.1, min_p_value=0.1, n={"networks": [3, 3]})
    table = findings_table([Finding("c1", "p", f"{gap:.2f}", judge(above(gap, 0))),
                            Finding("c2", "p", "x", judge(significant(sep)))])
    cells, _ = _visible(table)
    assert cells[5:10] == ["1", "c1", "p", "0.38 [0.30, 0.45]", "**reproduced**: gap: the interval [0.30, 0.45] "
                           "lies above 0"]
    assert cells[-1].startswith("**inconclusive**: sep: the smallest p-value this test can give is 0.1")
    assert "- gap: 0.38 [0.30, 0.45] (95% interval); 5 + 5 networks, 20 pairs" in table
    assert "- sep: 0.0200; p = 0.10 (smallest possible 0.10); 3 + 3 networks" in table


def test_forest_plot_is_drawn_for_the_column_with_legible_text(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from cca_core.experiments.report.scorecard import FIGURE_WIDTH_PX, forest_figure, scorecard_figure

    chapters = [Chapter.from_json(p.stem, load_findings(p)) for p in BOOK_FINDINGS]
    rows, _ = forest_rows(chapters)
    fig = forest_figure(chapters)
    assert fig is not None and len(rows) >= 1
    try:
        assert fig.get_figwidth() * 96 == pytest.approx(FIGURE_WIDTH_PX)  # 1 inch = 96 CSS pixels
        fig.canvas.draw()
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        hidden = {id(t) for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if not lo <= x <= hi}  # not drawn
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
        assert texts and min(t.get_fontsize() for t in texts) * 96 / 72 >= 10  # pixels, as shown
        width, height = fig.canvas.get_width_height()
        for t in texts:  # no text outside the figure
            box = t.get_window_extent()
            assert box.x0 >= -1 and box.x1 <= width + 1, t.get_text()
        legend = fig.legends[0].get_window_extent()
        for ax in fig.axes:  # the legend is off the data
            assert not legend.overlaps(ax.get_window_extent()), "legend over the data"
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == len(rows)
    finally:
        plt.close(fig)
    path = tmp_path / "f.png"
    assert scorecard_figure(chapters, path) == len(rows) and path.stat().st_size > 0
    assert scorecard_figure([], tmp_path / "none.png") == 0 and not (tmp_path / "none.png").exists()

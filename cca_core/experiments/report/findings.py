"""A notebook's findings as readers meet them: the page's table, the JSON file the scorecard is built from.

Every notebook ends with :func:`report_findings`. Under ``book/pipeline.py`` the JSON goes where the
pipeline says (``$CCA_CORE_FINDINGS_PATH``), and the pipeline moves it to ``book/findings/<page>.json``,
from which the scorecard page is generated; elsewhere it goes to the ``findings_path`` parameter, and
with an empty path (a notebook's default) the table is only shown. The findings themselves
(:class:`~cca_core.experiments.verdicts.findings.Finding`, their evidence and verdicts) are made in
:mod:`cca_core.experiments.verdicts.findings`; the JSON layout is described there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cca_core.experiments.files import atomic_write
from cca_core.experiments.paths import findings_target
from cca_core.experiments.verdicts.findings import Evidence, Finding

__all__ = ["evidence_text", "findings_table", "training_record", "report_findings", "load_findings"]


def _evidence_tuple(value: Iterable[Evidence | Mapping[str, Any]]) -> tuple[Evidence, ...]:
    return tuple(e if isinstance(e, Evidence) else Evidence.from_dict(e) for e in value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def evidence_text(evidence: Iterable[Evidence | Mapping[str, Any]]) -> str:
    """The evidence of a finding in one table cell: each number with its interval or p-value
    (with its minimum) and its sample sizes; ``"-"`` for none."""
    items = _evidence_tuple(list(evidence))
    return "; ".join(e.summary() for e in items) if items else "-"


def findings_table(findings: Sequence[Finding]) -> str:
    """The findings as a Markdown table: claim | paper | ours | evidence | verdict.

    The evidence column gives each number's interval (with its confidence level), p-values with the
    smallest attainable p-value, and the sample sizes."""
    lines = ["| Claim | Paper | Ours | Evidence (interval, p, n) | Verdict |", "|---|---|---|---|---|"]
    for f in findings:
        ours = f.ours if not f.details else f"{f.ours} ({f.details})"
        lines.append(f"| {_cell(f.claim)} | {_cell(f.paper)} | {_cell(ours)} | "
                     f"{_cell(evidence_text(f.evidence))} | **{f.verdict}** |")
    return "\n".join(lines)


def training_record(trained: Iterable[Any]) -> dict[str, Any]:
    """``{"networks": n, "seconds": s}``: how many results and the sum of their recorded
    ``train_seconds`` (the time each took when it was trained, not when it was loaded from the cache).

    Raises
    ------
    TypeError
        An item has no ``train_seconds``.
    """
    items = list(trained)
    for r in items:
        if not hasattr(r, "train_seconds"):
            raise TypeError(f"trained= takes training results (with train_seconds), got {type(r).__name__}")
    return {"networks": len(items), "seconds": round(float(sum(float(r.train_seconds) for r in items)), 1)}


def report_findings(findings: Sequence[Finding], *, notebook: str, title: str, scale: str,
                    path: str | os.PathLike | None = None, trained: Iterable[Any] | None = None) -> str:
    """Show ``findings`` as a table and, when ``path`` is non-empty, write them as JSON there.

    Parameters
    ----------
    findings : sequence of Finding
    notebook : str
        Template name (``"memorization"``), recorded for the scorecard.
    title : str
        The chapter's title.
    scale : str
        What was run, in a phrase: dataset, number of networks, depth, epochs.
    path : path or str, optional
        Where to write the JSON (parent directories are created). ``None`` or ``""``: not written.
        Ignored when ``$CCA_CORE_FINDINGS_PATH`` is set (by ``book/pipeline.py``); a path in the book's
        ``book/findings/`` is not written (with a warning): see
        :func:`~cca_core.experiments.paths.findings_target`.
    trained : iterable, optional
        The page's trained networks (results with ``train_seconds``, as ``train_many`` and
        ``train_lm_many`` return them, cached or not): their number and the training time recorded
        when each was trained (seconds, summed) go into the JSON as ``"training"``, which the book's
        "How this page was made" box shows.

    Returns
    -------
    str
        The Markdown table (also displayed in a notebook, printed elsewhere).
    """
    findings = list(findings)
    if not findings:
        raise ValueError("report_findings needs at least one Finding")
    for f in findings:
        if not isinstance(f, Finding):
            raise TypeError(f"expected Finding objects, got {type(f).__name__}")
    table = findings_table(findings)
    path = findings_target(path)  # $CCA_CORE_FINDINGS_PATH under the pipeline; never into book/findings/
    if path is not None and str(path).strip():
        payload: dict[str, Any] = {"notebook": notebook, "title": title, "scale": scale,
                                   "findings": [f.to_dict() for f in findings]}
        if trained is not None:
            payload["training"] = training_record(trained)
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
        atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside IPython
        print(table)
    else:
        if get_ipython() is not None:
            display(Markdown(table))
        else:
            print(table)
    return table


def load_findings(path: str | os.PathLike) -> dict[str, Any]:
    """Read a findings JSON file written by :func:`report_findings`, checking its layout.

    Files without ``evidence`` (written before it existed) load with an empty list."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("notebook", "title", "scale", "findings"):
        if key not in data:
            raise ValueError(f"{path}: findings file lacks {key!r}")
    data["findings"] = [Finding(**f).to_dict() for f in data["findings"]]
    return data

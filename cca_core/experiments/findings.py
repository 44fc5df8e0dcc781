"""A notebook's findings, claim by claim, next to the paper's: shown as a table, saved as JSON.

Every notebook ends with :func:`report_findings`. Under ``book/pipeline.py`` the JSON goes where the
pipeline says (``$CCA_CORE_FINDINGS_PATH``), and the pipeline moves it to ``book/findings/<page>.json``,
from which the scorecard page is generated; elsewhere it goes to the ``findings_path`` parameter, and
with an empty path (a notebook's default) the table is only shown.

JSON layout (one file per executed notebook)::

    {"notebook": "memorization",            # template name
     "title": "Generalizing vs memorizing networks",
     "scale": "digits, 5 + 5 networks, 6 conv layers, 40 epochs",
     "findings": [{"claim": ..., "paper": ..., "ours": ..., "verdict": "reproduced", "details": ...}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .files import atomic_write
from .paths import findings_target

__all__ = ["VERDICTS", "Finding", "findings_table", "report_findings", "load_findings"]

#: The verdicts a finding may carry, strongest first.
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not reproduced")


@dataclass(frozen=True)
class Finding:
    """One claim of the paper and what this notebook found.

    Parameters
    ----------
    claim : str
        The paper's claim in one sentence.
    paper : str
        The paper's value(s) with their context, e.g. ``"0.42-0.45 (generalizing) vs 0.60"``.
    ours : str
        Our value(s), formatted, e.g. ``"0.31 +- 0.02 vs 0.48 +- 0.03"``.
    verdict : {"reproduced", "partly", "not reproduced"}
        Judged on the claim's direction and rough size, at the scale we ran.
    details : str, optional
        How ``ours`` was computed or why the verdict (one or two sentences).
    """

    claim: str
    paper: str
    ours: str
    verdict: str
    details: str = ""

    def __post_init__(self) -> None:
        for name in ("claim", "paper", "ours", "verdict", "details"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Finding.{name} must be a str, got {type(getattr(self, name)).__name__}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.claim.strip():
            raise ValueError("Finding.claim must not be empty")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def findings_table(findings: Sequence[Finding]) -> str:
    """The findings as a Markdown table: claim | paper | ours | verdict."""
    lines = ["| Claim | Paper | Ours | Verdict |", "|---|---|---|---|"]
    for f in findings:
        ours = f.ours if not f.details else f"{f.ours} ({f.details})"
        lines.append(f"| {_cell(f.claim)} | {_cell(f.paper)} | {_cell(ours)} | **{f.verdict}** |")
    return "\n".join(lines)


def report_findings(findings: Sequence[Finding], *, notebook: str, title: str, scale: str,
                    path: str | os.PathLike | None = None) -> str:
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
                                   "findings": [asdict(f) for f in findings]}
        text = json.dumps(payload, indent=2) + "\n"
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
    """Read a findings JSON file written by :func:`report_findings`, checking its layout."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("notebook", "title", "scale", "findings"):
        if key not in data:
            raise ValueError(f"{path}: findings file lacks {key!r}")
    data["findings"] = [asdict(Finding(**f)) for f in data["findings"]]
    return data

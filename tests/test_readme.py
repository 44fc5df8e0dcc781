"""The README stays short and true: at most 260 lines, and every `make` target and repository path it
names exists (the same for benchmarks/README.md's paths, and its links' anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
#: Paths that a command creates: named by the README, absent from a fresh clone.
GENERATED = ("book/_build/", "book/reruns/", ".experiment-cache", ".venv/")
#: Where a path must start to be taken for a path of this repository (data directories, /shared/... and
#: ../shared/... are elsewhere).
TOP = sorted(p.name for p in ROOT.iterdir() if p.name not in {".git", ".venv"} and not p.name.startswith(".pytest"))


#: ``make TARGET`` as a command: at a line's start (code), after a backtick or ``$ ``, or after
#: ``VAR=value `` (prose such as "make it" is not one).
MAKE_COMMAND = r"(?:^|`|\$ |=\S* )make ([a-z][\w-]*)"


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M)}


def named_paths(text: str) -> set[str]:
    """Repository paths in ``text``: words with a ``/`` whose first part is a top-level entry of the
    repository (``cca_core/compat.py``, ``.ci/run``, ``benchmarks/README.md#netrep``)."""
    out = set()
    for word in re.findall(r"[\w.\-/#]+", text):
        word = word.rstrip(".,:;)")
        if "/" in word and word.split("/", 1)[0] in TOP:
            out.add(word)
    return out


def test_the_readme_is_at_most_260_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines; benchmark tables belong in benchmarks/README.md"


def test_the_readme_opens_with_the_two_commands() -> None:
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:6])
    assert "make book" in head and "make test" in head


def test_every_make_target_the_readmes_name_exists() -> None:
    targets = makefile_targets()
    assert {"book", "test", "page", "lab", "bench", "bench-dask"} <= targets
    for readme in READMES:
        named = set(re.findall(MAKE_COMMAND, readme.read_text(encoding="utf-8"), re.M))
        assert named, readme
        assert named <= targets, f"{readme.name} names make targets that do not exist: {sorted(named - targets)}"


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_readmes_name_exists(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    paths = named_paths(text)
    assert paths, "no path found: the pattern is wrong"
    missing = []
    for path in sorted(paths):
        if any(ch in path for ch in "<>{}*") or path.startswith(GENERATED):
            continue
        file, _, anchor = path.partition("#")
        target = ROOT / file
        if not target.exists():
            missing.append(path)
        elif anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            if anchor not in slugs:
                missing.append(f"{path} (no heading for #{anchor})")
    assert not missing, f"{readme.name} names paths that do not exist: {missing}"


def test_named_paths_finds_paths_and_skips_data_and_prose() -> None:
    text = ("see `cca_core/compat.py`, book/experiments.yml and [b](benchmarks/README.md#netrep); "
            "`ptb/ptb.train.txt` in the data directory, ../shared/data, /shared/cca-cache; Makefile.")
    assert named_paths(text) == {"cca_core/compat.py", "book/experiments.yml", "benchmarks/README.md#netrep"}


def test_make_commands_are_told_from_prose() -> None:
    text = "`make book`\nmake page NB=x\n$ make test\nA=1 make bench-dask\nthreads make it slower"
    assert set(re.findall(MAKE_COMMAND, text, re.M)) == {"book", "page", "test", "bench-dask"}


def test_no_private_paths_in_the_readmes() -> None:
    for readme in READMES:
        text = readme.read_text(encoding="utf-8")
        assert "/work/" not in text and "mirror" not in text.lower() and "git-dir" not in text, readme.name

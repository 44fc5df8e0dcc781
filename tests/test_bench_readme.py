"""benchmarks/readme.py: each benchmark writes its own section of benchmarks/README.md, with its load."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def readme() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "benchmarks" / "readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_readme"] = module
    spec.loader.exec_module(module)
    return module


TABLE = """| case | time (s) | target |
|---|---:|---|
| pwcca(X, Y) | 2.6 | <= 1.2x (ok) |
| get_cca_similarity(X.T, Y.T) | 6.1 | <= 2x (MISS) |

- a note that says MISS in prose"""


def test_busy_is_a_load_average_of_one_or_more_at_the_start(readme: ModuleType) -> None:
    assert readme.BUSY_LOAD == 1.0
    assert not readme.Load(start=0.99, end=5.0, cpus=2).busy  # the run's own load at the end does not count
    assert readme.Load(start=1.0, end=0.0, cpus=2).busy
    idle = readme.Load(start=0.21, end=1.95, cpus=2).sentence()
    assert idle == ("Load: idle (1-minute load average 0.21 at the start, 1.95 at the end with this run's own work; "
                    "2 cores).")
    busy = readme.Load(start=4.6, end=None, cpus=1).sentence()
    assert busy.startswith("Load: busy (1-minute load average 4.60 at the start; 1 core): ") and "'MISS under load'" in busy


def test_a_miss_under_load_says_so_on_its_table_row(readme: ModuleType) -> None:
    assert readme.mark_misses(TABLE, busy=False) == TABLE
    marked = readme.mark_misses(TABLE, busy=True)
    assert "| get_cca_similarity(X.T, Y.T) | 6.1 | <= 2x (MISS under load) |" in marked
    assert "- a note that says MISS in prose" in marked  # prose is not a result
    assert readme.mark_misses(marked, busy=True) == marked  # marking twice changes nothing
    assert marked.count("MISS under load") == 1


def test_section_text_heads_the_report_with_command_time_and_load(readme: ModuleType) -> None:
    load = readme.Load(start=2.0, end=3.0, cpus=2)
    text = readme.section_text("run", "One pair", "python benchmarks/run.py --markdown", TABLE + "\n", load,
                               "2026-12-02 18:00 UTC")
    lines = text.split("\n")
    assert lines[0] == "<!-- bench run begin -->" and lines[-1] == "<!-- bench run end -->"
    assert lines[1] == "## One pair"
    assert lines[3].startswith("Written by `python benchmarks/run.py --markdown` on 2026-12-02 18:00 UTC. Load: busy")
    assert "(MISS under load)" in text and "```" not in text
    plain = readme.section_text("dft", "DFT", "python benchmarks/dft_bench.py", "a  b\n1  2", load, "now",
                                markdown=False)
    assert "\n```\na  b\n1  2\n```\n" in plain


def test_write_section_replaces_its_own_section_and_keeps_the_rest(readme: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    idle = readme.Load(start=0.1, end=0.5, cpus=2)
    readme.write_section(path, "a", readme.section_text("a", "A", "cmd a", "first a", idle, "t1"))
    assert path.read_text().startswith(readme.HEADER)
    readme.write_section(path, "b", readme.section_text("b", "B", "cmd b", "only b", idle, "t1"))
    path.write_text(path.read_text() + "\nProse after the sections, by hand.\n")
    readme.write_section(path, "a", readme.section_text("a", "A", "cmd a", r"second a \1 \\n", idle, "t2"))
    text = path.read_text()
    assert "first a" not in text and r"second a \1 \\n" in text  # replaced, backslashes as written
    assert text.count("<!-- bench a begin -->") == 1 and text.index("bench a begin") < text.index("bench b begin")
    assert "only b" in text and text.endswith("Prose after the sections, by hand.\n")
    assert not list(tmp_path.glob("*.tmp"))


def test_command_line_is_the_rerun_without_readme(readme: ModuleType) -> None:
    argv = ["/x/y/benchmarks/run.py", "--markdown", "--readme", "benchmarks/README.md", "--repeats", "2"]
    assert readme.command_line(argv) == "python benchmarks/run.py --markdown --repeats 2"
    assert readme.command_line(["benchmarks/dft_bench.py", "--readme=R.md"]) == "python benchmarks/dft_bench.py"


def test_recorded_prints_as_usual_and_writes_what_was_printed(readme: ModuleType, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    loads = iter([3.5, 4.0, 0.2, 0.3])
    monkeypatch.setattr(readme, "load_now", lambda: next(loads))
    path = tmp_path / "README.md"
    with readme.recorded(path, "run", "One pair", command="python benchmarks/run.py --markdown"):
        print(TABLE)
    assert TABLE in capsys.readouterr().out  # the terminal gets the report unchanged
    text = path.read_text()
    assert "Load: busy (1-minute load average 3.50 at the start, 4.00 at the end" in text
    assert "| get_cca_similarity(X.T, Y.T) | 6.1 | <= 2x (MISS under load) |" in text
    with readme.recorded(None, "run", "One pair"):
        print("not written")
    assert "not written" not in path.read_text()
    with pytest.raises(RuntimeError, match="the benchmark failed"), readme.recorded(path, "run", "One pair", command="c"):
        print("half a report")
        raise RuntimeError("the benchmark failed")
    assert "half a report" not in path.read_text()  # a failed run leaves the last good section


SCRIPTS = ("run", "pairwise_bench", "stats_bench", "dft_bench", "dask_bench", "train_bench")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_can_write_its_section(script: str) -> None:
    source = (ROOT / "benchmarks" / f"{script}.py").read_text(encoding="utf-8")
    assert 'add_argument("--readme"' in source and "with recorded(args.readme, " in source


def test_make_bench_writes_benchmarks_readme() -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    for target, scripts in (("bench", ("run", "pairwise_bench", "stats_bench", "dft_bench", "train_bench")), ("bench-dask", ("dask_bench",))):
        done = subprocess.run(["make", "-n", "-C", str(ROOT), "-o", ".venv/.installed", target],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        commands = [line for line in done.stdout.splitlines() if "benchmarks/" in line]
        assert [c.split("benchmarks/", 1)[1].split(".py", 1)[0] for c in commands] == list(scripts)
        assert all(c.endswith("--readme benchmarks/README.md") for c in commands)

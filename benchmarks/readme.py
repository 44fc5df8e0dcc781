"""benchmarks/README.md: each benchmark script writes its own section, with the load it ran under.

A section sits between two marker lines, ``<!-- bench NAME begin -->`` and ``<!-- bench NAME end -->``;
:func:`write_section` replaces the text between them (or appends the section when the file has
none), so a run rewrites its own figures and leaves the others', and the prose outside the
sections, as they were. Each section opens with the load the run started under:

- **idle**: the 1-minute load average at the start was below :data:`BUSY_LOAD` (1.0: less than one
  core's worth of other work; the benchmarks' BLAS threads wait for any core that is busy);
- **busy** otherwise, and then every ``MISS`` in the section's tables reads ``MISS under load``,
  so a target missed on a busy machine says so.

Usage, in a benchmark script::

    from readme import recorded
    with recorded(args.readme, "pairwise", "Many networks, busy machines, wide layers", markdown=True):
        ... run the benchmark and print its report to stdout as usual ...

With ``args.readme`` ``None`` (no ``--readme``) nothing is written; the report still goes to stdout.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The 1-minute load average at or above which a run counts as busy.
BUSY_LOAD = 1.0
#: What :func:`write_section` puts at the top of a file it creates.
HEADER = "# Benchmarks\n\nWritten by `make bench`; see the text above each section for how it was run.\n"


@dataclass(frozen=True)
class Load:
    """The 1-minute load average when a run started and when it ended (the run's own work
    included), and the machine's cores."""

    start: float
    end: float | None
    cpus: int

    @property
    def busy(self) -> bool:
        return self.start >= BUSY_LOAD

    def sentence(self) -> str:
        """``"Load: idle (1-minute load average 0.21 at the start, 1.95 at the end with this run's own
        work; 2 cores)."``"""
        end = f", {self.end:.2f} at the end with this run's own work" if self.end is not None else ""
        words = (f"{'busy' if self.busy else 'idle'} (1-minute load average {self.start:.2f} at the start{end}; "
                 f"{self.cpus} core{'s' if self.cpus != 1 else ''})")
        if self.busy:
            words += (f": other work held the machine, so seconds are inflated and a target missed here reads "
                      f"'MISS under load'; rerun on an idle machine (load average below {BUSY_LOAD:g}) to judge it")
        return f"Load: {words}."


def load_now() -> float:
    """The 1-minute load average (``os.getloadavg``; 0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def mark_misses(text: str, busy: bool) -> str:
    """``text`` with every ``MISS`` on a table row (a line starting with ``|``) made ``MISS under
    load`` when ``busy``; unchanged otherwise."""
    if not busy:
        return text
    return "\n".join(re.sub(r"\bMISS\b(?! under load)", "MISS under load", line) if line.lstrip().startswith("|")
                     else line for line in text.split("\n"))


def section_text(name: str, title: str, command: str, body: str, load: Load, when: str,
                 markdown: bool = True) -> str:
    """The section ``name``, markers included: a ``## title`` heading, the command that wrote it, when,
    the load, then ``body`` (the script's report; in a code block unless ``markdown``), its misses
    marked when the machine was busy."""
    body = mark_misses(body.strip("\n"), load.busy)
    if not markdown:
        body = f"```\n{body}\n```"
    return "\n".join([f"<!-- bench {name} begin -->", f"## {title}", "",
                      f"Written by `{command}` on {when}. {load.sentence()}", "", body, f"<!-- bench {name} end -->"])


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran this script (``sys.argv``), less ``--readme PATH``: how to rerun it."""
    argv = list(sys.argv if argv is None else argv)
    words, skip = [], False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word == "--readme":
            skip = True
        elif not word.startswith("--readme="):
            words.append(word if i else "python " + "/".join(Path(word).parts[-2:]))  # benchmarks/<script>.py
    return " ".join(words)


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` (from :func:`section_text`) in place of the section ``name`` of the file at
    ``path``, or append it (creating the file with :data:`HEADER`); the rest of the file is kept."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(rf"^<!-- bench {re.escape(name)} begin -->\n.*?^<!-- bench {re.escape(name)} end -->$",
                         re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new if new.endswith("\n") else new + "\n", encoding="utf-8")
    tmp.replace(path)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


@contextlib.contextmanager
def recorded(path: str | Path | None, name: str, title: str, markdown: bool = True,
             command: str | None = None) -> Iterator[None]:
    """Print as usual inside the block; with ``path``, also write what was printed to stdout as the
    section ``name`` of that file (:func:`write_section`), headed ``title``, with the command
    (default :func:`command_line`) and the load at the start and the end. Nothing is written when the
    block raises."""
    if path is None:
        yield
        return
    start, buffer = load_now(), io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield
    load = Load(start=start, end=load_now(), cpus=os.cpu_count() or 1)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = section_text(name, title, command or command_line(), buffer.getvalue(), load, when, markdown)
    write_section(Path(path), name, text)
    print(f"[bench] wrote section {name!r} of {path}", file=sys.stderr, flush=True)

"""Speed and memory figures for cca_core, each against a baseline measured in the same run.

Usage::

    python benchmarks/run.py              # full sizes (a minute or two on 2 cores)
    python benchmarks/run.py --quick      # smoke sizes (seconds)
    python benchmarks/run.py --markdown   # the table as markdown
    python benchmarks/run.py --markdown --readme benchmarks/README.md   # and as its section there (make bench)
    python benchmarks/run.py --repeats 5  # best of 5 instead of 3

Nothing is asserted: the script prints figures and whether each meets its target. Progress goes to
stderr, the report to stdout; its first line states the machine.

What the columns mean
---------------------
time (s)
    Best of N wall-clock runs (``time.perf_counter``) of one call, inputs already in memory.
ratio to Gram product
    ``time`` over the best-of-N time of the baseline ``Z.T @ Z`` with ``Z = [X, Y]`` prepared
    beforehand (untimed): the one BLAS product that every CCA-family measure and linear CKA needs,
    so 1.0 is the floor on this machine. The baseline is timed before the measures and again after
    them (Z is freed while they run) and the better time is used; the notes give both, so load
    that changed during the run shows. Ratios, unlike seconds, carry over between machines; on a
    noisy machine a few percent either way is noise. The streaming row's ratio is to the Gram
    product of the same rows: one chunk's ``Z.T @ Z`` (best of N) times the number of chunks.
target
    The project's speed goal for that call and whether this run meets it (ok / MISS).
peak extra memory (MB)
    Peak of what numpy and Python allocated during one call above what existed before it, by
    ``tracemalloc`` (numpy registers its buffers with it), started after the inputs exist. BLAS's
    own work buffers are not traced; the RSS peak sampled with psutil (in the notes) covers them.
    MB = 10**6 bytes.
memory target
    In memory: 100 MB + O(neurons^2), the O(neurons^2) allowance being a handful (4) of float64
    d x d matrices, d = n_x + n_y: 8 * d^2 * 4 bytes (33.6 MB at d = 1024).
    Streaming: 600 MB for the whole run, the generation of the chunks included.

Cases
-----
1-2. In memory: X and Y of (n, p) float64 with Y = X @ M + noise. ``pwcca``, ``linear_cka`` and
     ``svcca`` take this package's layout (n_datapoints, n_neurons); ``get_cca_similarity`` and
     ``compute_pwcca`` take google/svcca's (n_neurons, n_datapoints) and get the views X.T, Y.T
     (no copy). pwcca's time is also split between the pass over the data
     (``Moments.from_arrays``) and the linear algebra on the d x d moments (``Moments.pwcca``).
     Z is freed before the measures are timed.
3.   Streaming: rows generated chunk by chunk (never held whole) and fed to
     ``Moments(p, p).update``, then ``pwcca``, ``mean_cca`` and ``linear_cka``. Run once, under
     tracemalloc (a few hundred allocations: negligible overhead). The table's time is cca_core's
     share (updates + measures); the notes give the whole run with data generation, and rows/s
     over the updates alone.
4.   Check: the streamed measures against the in-memory functions on the same, smaller data
     (max abs difference), and the streamed covariance against ``np.cov`` of the stacked data.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import numpy as np
import scipy

import cca_core

try:
    import psutil
except ImportError:  # optional: only the sampled RSS peak needs it
    psutil = None

T = TypeVar("T")

MB = 1e6
SEED = 0
RSS_INTERVAL_S = 0.005
TIME_TARGETS = {"pwcca": 1.2, "get_cca_similarity": 2.0, "compute_pwcca": 2.0}
BASE_MEMORY_MB = 100.0
MATRICES_ALLOWED = 4  # float64 d x d matrices in the O(neurons^2) allowance
STREAM_MEMORY_MB = 600.0
HEADERS = ("case", "time (s)", "ratio to Gram product", "target", "peak extra memory (MB)",
           "memory target")


@dataclass(frozen=True)
class Sizes:
    rows: int            # in-memory datapoints
    neurons: int         # in-memory neurons per side
    stream_rows: int     # streamed datapoints
    stream_neurons: int  # streamed neurons per side (also the check's)
    chunk_rows: int      # rows per generated chunk
    check_rows: int      # datapoints of the streamed-versus-in-memory check


FULL = Sizes(rows=50_000, neurons=512, stream_rows=2_000_000, stream_neurons=256,
             chunk_rows=20_000, check_rows=200_000)
QUICK = Sizes(rows=5_000, neurons=128, stream_rows=100_000, stream_neurons=64,
              chunk_rows=10_000, check_rows=20_000)


@dataclass(frozen=True)
class Row:
    case: str
    seconds: float
    ratio: float | None = None
    time_target: float | None = None
    memory_mb: float | None = None
    memory_target_mb: float | None = None


@dataclass(frozen=True)
class Memory:
    traced_mb: float         # tracemalloc peak above the start
    rss_mb: float | None     # sampled RSS peak above the start (None without psutil)


@dataclass(frozen=True)
class StreamRun:
    total_s: float    # whole run, data generation included
    update_s: float   # Moments.update calls only
    measures_s: float
    moments: cca_core.Moments
    values: dict[str, float]


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- measuring
def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Best wall-clock time of ``repeats`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


class RssSampler(threading.Thread):
    """Samples the process's RSS every few milliseconds; :meth:`finish` gives the peak increase."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._done = threading.Event()
        self._base = self._peak = self._process.memory_info().rss

    def run(self) -> None:
        while not self._done.wait(RSS_INTERVAL_S):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def finish(self) -> float:
        self._done.set()
        self.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        return (self._peak - self._base) / MB


def peak_memory(fn: Callable[[], T]) -> tuple[Memory, T]:
    """Peak memory of one call above what existed before it (tracemalloc, and RSS if psutil)."""
    gc.collect()
    sampler = RssSampler() if psutil is not None else None
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    if sampler is not None:
        sampler.start()
    try:
        result = fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = sampler.finish() if sampler is not None else None
    return Memory((peak - base) / MB, rss), result


# ---------------------------------------------------------------------------- data
def chunk_pairs(rows: int, neurons: int, chunk_rows: int, seed: int = SEED
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Seeded chunks ``(x, y)``: x standard normal, ``y = x @ M + noise`` with one fixed M."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((neurons, neurons)) / np.sqrt(neurons)
    for start in range(0, rows, chunk_rows):
        n = min(chunk_rows, rows - start)
        x = rng.standard_normal((n, neurons))
        y = x @ mixing
        y += rng.standard_normal((n, neurons))
        yield x, y


def in_memory_pair(rows: int, neurons: int, chunk_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The same data as :func:`chunk_pairs`, held whole."""
    xs, ys = zip(*chunk_pairs(rows, neurons, chunk_rows))
    return np.concatenate(xs), np.concatenate(ys)


def scalar(result: object) -> float:
    """The headline number of a measure's result (google-style dict or tuple, or a float)."""
    if isinstance(result, dict):
        return float(result["mean"][0])
    if isinstance(result, tuple):
        return float(result[0])
    return float(result)


# ---------------------------------------------------------------------------- cases
def gram_baseline(x: np.ndarray, y: np.ndarray, repeats: int) -> tuple[float, Memory]:
    """Best time and peak memory of ``Z.T @ Z``, ``Z = [X, Y]`` built untimed and freed after."""
    z = np.hstack([x, y])
    seconds, _ = best_time(lambda: z.T @ z, repeats)
    memory, _ = peak_memory(lambda: z.T @ z)
    del z
    gc.collect()
    return seconds, memory


def bench_in_memory(sizes: Sizes, repeats: int, notes: list[str]) -> list[Row]:
    """Cases 1-2: the baseline Gram product, then each measure, timed and memory-traced.

    The baseline is measured before the measures and again after them (Z is never held while
    they run); ratios use the better of the two, and the notes give both to show drift.
    """
    progress(f"in memory: generating X, Y of {sizes.rows:,} x {sizes.neurons}")
    x, y = in_memory_pair(sizes.rows, sizes.neurons, sizes.chunk_rows)
    d = x.shape[1] + y.shape[1]
    memory_target = BASE_MEMORY_MB + MATRICES_ALLOWED * 8 * d * d / MB

    progress("timing the baseline Z.T @ Z")
    gram_before, gram_memory = gram_baseline(x, y, repeats)
    xt, yt = x.T, y.T
    moments = cca_core.Moments.from_arrays(x, y)
    cases: dict[str, tuple[str | None, Callable[[], object]]] = {
        "pwcca(X, Y)": ("pwcca", lambda: cca_core.pwcca(x, y)),
        "  pwcca stage 1: Moments.from_arrays(X, Y)": (None, lambda: cca_core.Moments.from_arrays(x, y)),
        "  pwcca stage 2: Moments.pwcca() (d x d algebra)": (None, moments.pwcca),
        "get_cca_similarity(X.T, Y.T)": ("get_cca_similarity",
                                         lambda: cca_core.get_cca_similarity(xt, yt, verbose=False)),
        "compute_pwcca(X.T, Y.T)": ("compute_pwcca", lambda: cca_core.compute_pwcca(xt, yt)),
        "linear_cka(X, Y)": ("linear_cka", lambda: cca_core.linear_cka(x, y)),
        "svcca(X, Y)": ("svcca", lambda: cca_core.svcca(x, y)),
    }
    measured = []
    for case, (measure, fn) in cases.items():
        progress(f"timing {case.strip()}")
        seconds, result = best_time(fn, repeats)
        memory, _ = peak_memory(fn)
        measured.append((case, measure, seconds, memory, result))
    progress("timing the baseline Z.T @ Z again")
    gram_after, _ = gram_baseline(x, y, repeats)
    gram_s = min(gram_before, gram_after)

    rows = [Row(f"Z.T @ Z, Z = [X, Y] {sizes.rows:,} x {d:,} (baseline)", gram_s, 1.0,
                memory_mb=gram_memory.traced_mb)]
    rss = [f"Z.T @ Z {gram_memory.rss_mb:.1f}"] if gram_memory.rss_mb is not None else []
    values = []
    for case, measure, seconds, memory, result in measured:
        rows.append(Row(case, seconds, seconds / gram_s, TIME_TARGETS.get(measure or ""),
                        memory.traced_mb, memory_target if measure else None))
        if memory.rss_mb is not None:
            rss.append(f"{case.strip()} {memory.rss_mb:.1f}")
        if measure:
            values.append(f"{measure} {scalar(result):.6f}")

    notes.append(f"In memory: X, Y each {sizes.rows:,} x {sizes.neurons} float64, Y = X @ M + noise; "
                 f"best of {repeats}. Baseline {gram_before:.3f} s before the measures, "
                 f"{gram_after:.3f} s after (a large gap means the machine's load changed). "
                 "Values: " + ", ".join(values) + ".")
    notes.append(f"Memory target = {BASE_MEMORY_MB:.0f} MB + {MATRICES_ALLOWED} x 8 x d^2 bytes "
                 f"(d = {d}) = {memory_target:.1f} MB.")
    if rss:
        notes.append("Sampled RSS peak above the start (MB; undercounts memory the allocator "
                     "reuses): " + ", ".join(rss) + ".")
    return rows


def stream(rows: int, neurons: int, chunk_rows: int) -> StreamRun:
    """Feed generated chunks to Moments, then compute the measures; times each part."""
    start = time.perf_counter()
    moments = cca_core.Moments(neurons, neurons)
    update_s = 0.0
    for x, y in chunk_pairs(rows, neurons, chunk_rows):
        t0 = time.perf_counter()
        moments.update(x, y)
        update_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    values = {"pwcca": moments.pwcca(), "mean_cca": moments.mean_cca(),
              "linear_cka": moments.linear_cka()}
    measures_s = time.perf_counter() - t0
    return StreamRun(time.perf_counter() - start, update_s, measures_s, moments, values)


def format_values(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.6f}" for name, value in values.items())


def bench_stream(sizes: Sizes, repeats: int, notes: list[str]) -> Row:
    """Case 3: one streaming run, memory-traced over the whole run.

    Its ratio is to the Gram product of the same rows: ``Z.T @ Z`` of one chunk (best of N)
    times the number of chunks.
    """
    n, p = sizes.stream_rows, sizes.stream_neurons
    progress(f"timing Z.T @ Z of one {sizes.chunk_rows:,}-row chunk")
    chunk_memory, chunk = peak_memory(lambda: next(chunk_pairs(sizes.chunk_rows, p, sizes.chunk_rows)))
    chunk_gram_s, _ = gram_baseline(*chunk, repeats)
    del chunk
    gram_s = chunk_gram_s * -(-n // sizes.chunk_rows)
    progress(f"streaming {n:,} x {p} per side in {sizes.chunk_rows:,}-row chunks")
    memory, run = peak_memory(lambda: stream(n, p, sizes.chunk_rows))
    rss = f", sampled RSS peak {memory.rss_mb:.1f} MB" if memory.rss_mb is not None else ""
    notes.append(f"Streaming {n:,} x {p} per side, {sizes.chunk_rows:,}-row chunks, run once: "
                 f"whole run {run.total_s:.2f} s with data generation; updates {run.update_s:.2f} s "
                 f"({n / run.update_s:,.0f} rows/s), measures {run.measures_s:.3f} s; Gram product "
                 f"of the same rows, chunk by chunk, {gram_s:.2f} s; "
                 f"tracemalloc peak {memory.traced_mb:.1f} MB (generating one chunk alone: "
                 f"{chunk_memory.traced_mb:.1f} MB){rss}. "
                 f"Values: {format_values(run.values)}.")
    seconds = run.update_s + run.measures_s
    return Row(f"streaming Moments, {n:,} x {p} per side", seconds, seconds / gram_s,
               memory_mb=memory.traced_mb, memory_target_mb=STREAM_MEMORY_MB)


def check_stream(sizes: Sizes, notes: list[str]) -> None:
    """Case 4: streamed against in-memory answers on the same smaller data."""
    n, p = sizes.check_rows, sizes.stream_neurons
    progress(f"checking streamed against in-memory at {n:,} x {p}")
    streamed = stream(n, p, sizes.chunk_rows)
    x, y = in_memory_pair(n, p, sizes.chunk_rows)
    in_memory = {"pwcca": cca_core.pwcca(x, y), "mean_cca": cca_core.mean_cca(x, y),
                 "linear_cka": cca_core.linear_cka(x, y)}
    measure_diff = max(abs(streamed.values[k] - in_memory[k]) for k in in_memory)
    reference = np.cov(np.hstack([x, y]), rowvar=False)
    sxx, sxy, syy = streamed.moments.covariance()
    cov_diff = np.max(np.abs(np.block([[sxx, sxy], [sxy.T, syy]]) - reference))
    notes.append(f"Check at {n:,} x {p}: streamed ({sizes.chunk_rows:,}-row chunks) vs in-memory "
                 f"max abs difference {measure_diff:.2e} over pwcca, mean_cca, linear_cka "
                 f"(in memory: {format_values(in_memory)}); streamed covariance vs np.cov "
                 f"max abs difference {cov_diff:.2e} (entries of order 1).")


# ---------------------------------------------------------------------------- report
def machine_facts() -> str:
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    coretype = f"OPENBLAS_CORETYPE={coretype} is set" if coretype else "OPENBLAS_CORETYPE not set"
    return (f"Machine: numpy {np.__version__}, scipy {scipy.__version__}, Python "
            f"{platform.python_version()}, os.cpu_count() = {os.cpu_count()}, {coretype}.")


def blas_facts() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
                        if k in os.environ) or "no thread variables set"
        return f"BLAS threads: threadpoolctl not installed ({env})."
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}), "
             f"{p.get('num_threads')} threads" for p in threadpool_info() if p.get("user_api") == "blas"]
    return "BLAS: " + ("; ".join(pools) or "none found") + "."


def verdict(value: float, limit: float, unit: str) -> str:
    return f"<= {limit:.4g}{unit} ({'ok' if value <= limit else 'MISS'})"


def cells(row: Row) -> list[str]:
    dash = "-"
    return [
        row.case,
        f"{row.seconds:.3f}",
        f"{row.ratio:.2f}x" if row.ratio is not None else dash,
        verdict(row.ratio, row.time_target, "x") if row.time_target is not None else dash,
        f"{row.memory_mb:.1f}" if row.memory_mb is not None else dash,
        verdict(row.memory_mb, row.memory_target_mb, " MB") if row.memory_target_mb is not None else dash,
    ]


def render(rows: list[Row], notes: list[str], markdown: bool) -> str:
    table = [list(HEADERS)] + [cells(row) for row in rows]
    if markdown:
        lines = ["| " + " | ".join(cell.replace("  ", "&nbsp;&nbsp;") for cell in line) + " |"
                 for line in table]
        lines.insert(1, "|---|---:|---:|---|---:|---|")
        bullets = [f"- {note}" for note in notes]
    else:
        widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                 for line in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        bullets = ["Notes:"] + [f"  * {note}" for note in notes]
    return "\n".join(lines + [""] + bullets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (default 3)")
    parser.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    sizes = QUICK if args.quick else FULL

    from readme import recorded

    with recorded(args.readme, "run", "One pair at the limit: speed and memory", markdown=args.markdown):
        start = time.perf_counter()
        notes: list[str] = [blas_facts()]
        rows = bench_in_memory(sizes, args.repeats, notes)
        rows.append(bench_stream(sizes, args.repeats, notes))
        check_stream(sizes, notes)
        notes.append(f"Benchmark wall time {time.perf_counter() - start:.0f} s"
                     f"{' (--quick sizes)' if args.quick else ''}.")
        print(machine_facts())
        print()
        print(render(rows, notes, args.markdown))


if __name__ == "__main__":
    main()

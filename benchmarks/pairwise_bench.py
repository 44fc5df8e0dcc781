"""Figures for the pairwise engine (issue 9): many networks, a busy machine, wide layers.

Usage::

    python benchmarks/pairwise_bench.py              # full sizes (estimated 5-7 minutes on 2 idle cores)
    python benchmarks/pairwise_bench.py --quick      # smoke sizes (141-206 s on a busy 2-core machine)
    python benchmarks/pairwise_bench.py --markdown   # tables as markdown
    python benchmarks/pairwise_bench.py --markdown --readme benchmarks/README.md   # and as its section there
    python benchmarks/pairwise_bench.py --repeats 5  # best of 5 for the heavy calls (default 3)
    python benchmarks/pairwise_bench.py --cases 1,3  # only some of the cases
    python benchmarks/pairwise_bench.py --no-netrep  # skip the peer

Nothing is asserted: the script prints figures and whether each meets its target (ok / MISS).
Progress goes to stderr, the report to stdout; its first lines state the machine. Every ratio is
to a baseline measured in the same run, so ratios, unlike seconds, carry over between machines.
Warnings raised by the measures are caught and summarized in the notes (RankWarning is expected
for the CCA family when neurons >= datapoints).

Cases
-----
1. Many networks: K networks (full: 20 of 10,000 x 512 float64; quick: 6 of 2,000 x 64) that share
   latent structure, ``X_k = Z @ M_k + noise``. Rows:

   * the limit (baseline): the K(K-1)/2 cross products ``Xc_i.T @ Xc_j`` of pre-centred arrays
     (centring untimed), default BLAS threads; timed before the engine rows and again after them
     (the heavy repeats are split between the two), the better time used, both in the notes;
   * the per-pair loop the package had before: ``cca_core.pwcca(acts[i], acts[j])`` for every
     ordered pair i != j (K(K-1) calls), run once;
   * ``pairwise(acts, "pwcca", progress=False)`` (default in-process executor); the same with an
     explicit ``ThreadPoolExecutor(2)``; ``pairwise`` for ``mean_cca`` and ``linear_cka``;
   * netrep (github.com/ahwillia/netrep, not on PyPI: ``pip install git+https://github.com/ahwillia/netrep``), the peer: its cached
     ``netrep.multiset.pairwise_distances(LinearMetric(alpha=0), acts, enable_caching=True)``,
     which whitens each network once; run once. Skipped, with the reason printed, when netrep is
     not installed or fails.

   Targets: engine at least 3x faster than the loop, and within 3x of the limit. Checks: the
   engine's PWCCA matrix against the loop's (max abs difference, target 1e-10); mean CCA and linear
   CKA against the single-pair functions on two pairs; ``cos`` of netrep's angular distances
   against the engine's mean CCA (with ``alpha=0`` netrep's distance is ``arccos`` of the mean
   canonical correlation when every network has full rank).
   At full size the engine and limit rows are best of ``min(--repeats, 2)`` to keep the run near
   6 minutes; the other rows run once. With ``--quick`` every row but the loop is best of
   ``--repeats``.
2. Busy machine: ``os.cpu_count()`` background processes started (spawned) and stopped by this
   script, each multiplying 300 x 300 matrices with one BLAS thread until told to stop or for at
   most 120 s. Each call is timed on the idle machine with one BLAS thread
   (``threadpool_limits(1)``, the reference) and with the default threads, then under the load with
   the default threads and with one thread: ``cca_core.pwcca`` at 5,000 x 128 and 2,000 x 64 per
   side, ``pairwise`` (PWCCA) of 8 networks of 2,000 x 64, and ``np.linalg.eigh`` of a 128 x 128
   symmetric matrix. Ratio: loaded time (default threads, what a user gets) over the idle
   single-thread time; target 2x for the measures (not for the raw ``eigh``, which shows what
   unscoped BLAS does). Best of N (N per row, 20 for the millisecond calls); the notes give the
   loaded medians, since one stall per call is what a busy machine costs.
3. Wide layers: each measure (``mean_cca, svcca, pwcca, linear_cka, debiased_linear_cka,
   rbf_cka``) on two 32 x 1,500 float64 arrays and on two 500 x 20,000 float32 arrays (quick:
   200 x 5,000). Time: best of ``--repeats``. Memory: one more call, peak above what existed
   before it (inputs included in the base): ``tracemalloc`` (numpy registers its buffers) and the
   process RSS sampled every 5 ms by a thread (psutil; covers BLAS's own buffers, undercounts
   memory the allocator reuses). MB = 10**6 bytes. Targets: linear and debiased CKA within 50 MB at
   32 x 1,500; every measure within 300 MB at 500 x 20,000 (tracemalloc peak).
5. Shape metrics against netrep (Williams et al. 2021): K networks as in case 1 (full: 10 of
   5,000 x 256; quick: 5 of 1,000 x 48). For ``alpha`` in {0, 0.5, 1}: ``pairwise(acts,
   "shape_similarity", alpha=alpha)`` (its ``arccos``) against netrep's cached
   ``pairwise_distances(LinearMetric(alpha), acts, enable_caching=True)`` (angular), both timed
   once; the max abs difference of the angles (radians) over the pairs. netrep partially whitens its
   input as given, while cca_core scales the centred data to ``||X||_F^2 = rank`` first: for
   ``alpha`` 0 and 1 the scale cancels and netrep gets the raw activations; for 0.5 it gets the
   centred data so scaled. One pair more with different widths (netrep's ``fit`` zero-pads the
   narrower side) per ``alpha``, and the Euclidean Procrustes distance against
   ``LinearMetric(alpha=1, score_method="euclidean")`` on normalised data. Skipped with
   ``--no-netrep`` or when netrep is not installed. Target: agreement within 1e-8 rad (the
   ``arccos`` of a value near 1 magnifies rounding).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402  (benchmarks/run.py: the shared measuring helpers)
    MB, best_time, blas_facts, in_memory_pair, machine_facts, peak_memory, progress, verdict)

import cca_core  # noqa: E402
from cca_core._threads import single_blas_thread  # noqa: E402
from cca_core.pairs import pairwise  # noqa: E402

SEED = 0


@dataclass(frozen=True)
class Sizes:
    networks: int           # case 1: K
    rows: int               # case 1: datapoints
    neurons: int            # case 1: neurons per network
    latent: int             # case 1: shared latent dimensions
    wide: tuple[tuple[int, int, str], ...]  # case 3: (datapoints, neurons, dtype) per size
    busy_repeats: dict[str, int]            # case 2: best of N per row
    busy_budget_s: float                    # case 2: at most this long per cell (at least one call)


FULL = Sizes(networks=20, rows=10_000, neurons=512, latent=128,
             wide=((32, 1_500, "float64"), (500, 20_000, "float32")),
             busy_repeats={"eigh": 20, "pwcca_small": 20, "pwcca_large": 10, "pairwise": 5},
             busy_budget_s=5.0)
QUICK = Sizes(networks=6, rows=2_000, neurons=64, latent=16,
              wide=((32, 1_500, "float64"), (200, 5_000, "float32")),
              busy_repeats={"eigh": 10, "pwcca_small": 10, "pwcca_large": 5, "pairwise": 3},
             busy_budget_s=1.5)

ENGINE_SPEEDUP_TARGET = 3.0    # engine at least this much faster than the per-pair loop
ENGINE_LIMIT_TARGET = 3.0      # engine within this ratio of the cross products
EQUALITY_TARGET = 1e-10
BUSY_TARGET = 2.0
LOAD_MAX_SECONDS = 120.0
LOAD_MATRIX = 300
WIDE_RSS_TARGET_MB = 250.0  # peak RSS above the inputs, wide layers' large size (issue 20, item 6)
MEASURE_NAMES = ("mean_cca", "svcca", "pwcca", "linear_cka", "debiased_linear_cka", "rbf_cka")
SHAPE_SIZES = {"full": (10, 5_000, 256), "quick": (5, 1_000, 48)}  # case 5: K, datapoints, neurons
SHAPE_ALPHAS = (0.0, 0.5, 1.0)
SHAPE_TARGET = 1e-8
NETREP_INSTALL = ("install it into this environment with `python -m pip install git+https://github.com/ahwillia/netrep` "
                  "(not on PyPI; its setup.py needs numpy, scipy, scikit-learn and tqdm)")


# ---------------------------------------------------------------------------- report pieces
@dataclass
class Section:
    title: str
    headers: tuple[str, ...]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(section: Section, markdown: bool) -> str:
    table = [list(section.headers)] + section.rows
    if markdown:
        lines = [f"### {section.title}", ""]
        lines += ["| " + " | ".join(c.replace("|", "\\|").replace("  ", "&nbsp;&nbsp;") for c in line) + " |"
                  for line in table]
        lines.insert(3, "|" + "|".join("---" if i == 0 else "---:" for i in range(len(section.headers))) + "|")
        bullets = [f"- {note}" for note in section.notes]
    else:
        widths = [max(len(line[i]) for line in table) for i in range(len(section.headers))]
        lines = [section.title, ""]
        lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
        lines.insert(3, "  ".join("-" * w for w in widths))
        bullets = ["Notes:"] + [f"  * {note}" for note in section.notes] if section.notes else []
    return "\n".join(lines + ([""] + bullets if bullets else []))


def at_least(value: float, limit: float, unit: str) -> str:
    return f">= {limit:.4g}{unit} ({'ok' if value >= limit else 'MISS'})"


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


class Warned:
    """Collects warnings raised inside ``catch()`` blocks, summarized per label."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[tuple[str, str], int]] = {}

    @contextlib.contextmanager
    def catch(self, label: str) -> Iterator[None]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for w in caught:
            key = (w.category.__name__, str(w.message).split("\n")[0][:90])
            bucket = self.seen.setdefault(label, {})
            bucket[key] = bucket.get(key, 0) + 1

    def summary(self) -> str:
        if not self.seen:
            return "Warnings: none."
        parts = []
        for label, bucket in self.seen.items():
            parts.append(f"{label}: " + "; ".join(f"{cat} x{n} ({msg!r})" for (cat, msg), n in bucket.items()))
        return "Warnings caught: " + " | ".join(parts) + "."


# ---------------------------------------------------------------------------- data
def latent_networks(k: int, n: int, d: int, latent: int, dtype: str = "float64",
                    seed: int = SEED) -> list[np.ndarray]:
    """``X_k = Z @ M_k + noise``: k networks of (n, d) sharing an (n, latent) standard normal Z."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent))
    out = []
    for _ in range(k):
        x = z @ (rng.standard_normal((latent, d)) / np.sqrt(latent))
        x += rng.standard_normal((n, d))
        out.append(np.ascontiguousarray(x, dtype=dtype))
    return out


def off_diagonal_max_diff(a: np.ndarray, b: np.ndarray) -> float:
    mask = ~np.eye(a.shape[0], dtype=bool)
    return float(np.max(np.abs(a[mask] - b[mask])))


# ---------------------------------------------------------------------------- case 1
def netrep_pairwise(acts: Sequence[np.ndarray]) -> tuple[float | None, np.ndarray | None, str]:
    """Time netrep's cached pairwise distances once; ``(seconds, D, why)``, seconds None if not run."""
    try:
        import netrep
        from netrep.metrics import LinearMetric
        from netrep.multiset import pairwise_distances
    except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
        return None, None, (f"netrep not run: import failed ({type(exc).__name__}: {exc}); "
                            f"to install it: {NETREP_INSTALL}")
    try:
        metric = LinearMetric(alpha=0.0, center_columns=True)
        gc.collect()
        start = time.perf_counter()
        dist = pairwise_distances(metric, list(acts), verbose=False, enable_caching=True)
        seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return None, None, f"netrep failed: {last}"
    where = Path(netrep.__file__).parent
    return seconds, dist, f"netrep from {where}"


def bench_many(sizes: Sizes, repeats: int, quick: bool, use_netrep: bool, warned: Warned) -> Section:
    k, n, d = sizes.networks, sizes.rows, sizes.neurons
    heavy = repeats if quick else min(repeats, 2)
    progress(f"case 1: generating {k} networks of {n:,} x {d} float64")
    acts = latent_networks(k, n, d, sizes.latent)
    pairs = k * (k - 1) // 2

    def limit_time(count: int) -> float:
        centred = [a - a.mean(axis=0) for a in acts]  # untimed

        def products() -> None:
            for i in range(k):
                for j in range(i + 1, k):
                    centred[i].T @ centred[j]

        seconds, _ = best_time(products, count)
        del centred
        gc.collect()
        return seconds

    before_n, after_n = math.ceil(heavy / 2), heavy // 2
    progress(f"case 1: limit, {pairs} cross products Xc_i.T @ Xc_j (best of {before_n})")
    limit_before = limit_time(before_n)

    progress(f"case 1: pairwise(acts, 'pwcca') default executor (best of {heavy})")
    with warned.catch("case 1 engine pwcca"):
        engine_s, engine = best_time(lambda: pairwise(acts, "pwcca", progress=False), heavy)

    progress(f"case 1: per-pair loop, {k * (k - 1)} cca_core.pwcca calls (once)")
    loop = np.eye(k)
    step = max(1, k * (k - 1) // 10)
    done = 0
    gc.collect()
    with warned.catch("case 1 loop pwcca"):
        start = time.perf_counter()
        for i in range(k):
            for j in range(k):
                if i != j:
                    loop[i, j] = cca_core.pwcca(acts[i], acts[j])
                    done += 1
                    if done % step == 0:
                        progress(f"  loop {done}/{k * (k - 1)} ({time.perf_counter() - start:.0f} s)")
        loop_s = time.perf_counter() - start
    loop_diff = off_diagonal_max_diff(engine.values, loop)

    progress(f"case 1: pairwise with ThreadPoolExecutor(2) (best of {heavy if quick else 1})")
    with ThreadPoolExecutor(2) as pool, warned.catch("case 1 engine pwcca, ThreadPoolExecutor(2)"):
        pool_s, pooled = best_time(lambda: pairwise(acts, "pwcca", executor=pool, progress=False),
                                   heavy if quick else 1)
    pool_diff = off_diagonal_max_diff(pooled.values, engine.values)

    others = {}
    for measure in ("mean_cca", "linear_cka"):
        progress(f"case 1: pairwise(acts, {measure!r}) (best of {heavy if quick else 1})")
        with warned.catch(f"case 1 engine {measure}"):
            others[measure] = best_time(lambda: pairwise(acts, measure, progress=False),
                                        heavy if quick else 1)
    single_checks = []
    for measure, fn in (("mean_cca", cca_core.mean_cca), ("linear_cka", cca_core.linear_cka)):
        values = others[measure][1].values
        diffs = [abs(values[i, j] - fn(acts[i], acts[j])) for i, j in ((0, 1), (k - 1, 1))]
        single_checks.append(f"{measure} {max(diffs):.1e}")

    netrep_s, netrep_note = None, "netrep skipped (--no-netrep)"
    netrep_check = None
    if use_netrep:
        progress("case 1: netrep pairwise_distances(LinearMetric(alpha=0), enable_caching=True) (once)")
        with warned.catch("case 1 netrep"):
            netrep_s, dist, netrep_note = netrep_pairwise(acts)
        if dist is not None:
            netrep_check = off_diagonal_max_diff(np.cos(dist), others["mean_cca"][1].values)
        if netrep_s is None:
            progress(netrep_note)

    limit_after = None
    if after_n:
        progress(f"case 1: limit again (best of {after_n})")
        limit_after = limit_time(after_n)
    limit_s = min(limit_before, limit_after) if limit_after is not None else limit_before

    section = Section(
        f"1. Many networks: {k} networks of {n:,} x {d} float64, all {k * (k - 1)} ordered pairs",
        ("case", "time (s)", "ratio to limit", "target", "speed-up over loop", "target"))

    def row(case: str, seconds: float | None, limit_target: float | None = None,
            loop_target: float | None = None) -> None:
        if seconds is None:
            section.rows.append([case, "not run", "-", "-", "-", "-"])
            return
        r, s = seconds / limit_s, loop_s / seconds
        section.rows.append([case, secs(seconds), ratio(r),
                             verdict(r, limit_target, "x") if limit_target else "-", ratio(s),
                             at_least(s, loop_target, "x") if loop_target else "-"])

    row(f"limit: {pairs} products Xc_i.T @ Xc_j (baseline)", limit_s)
    row(f"per-pair loop: {k * (k - 1)} x cca_core.pwcca (before the engine)", loop_s)
    row("pairwise(acts, 'pwcca')", engine_s, ENGINE_LIMIT_TARGET, ENGINE_SPEEDUP_TARGET)
    row("pairwise(acts, 'pwcca', executor=ThreadPoolExecutor(2))", pool_s, ENGINE_LIMIT_TARGET,
        ENGINE_SPEEDUP_TARGET)
    row("pairwise(acts, 'mean_cca')", others["mean_cca"][0])
    row("pairwise(acts, 'linear_cka')", others["linear_cka"][0])
    row("netrep pairwise_distances(LinearMetric(alpha=0)), cached", netrep_s)
    if netrep_s is not None:
        section.rows[-1][1] += f" ({netrep_s / engine_s:.2f}x engine)"

    section.notes += [
        f"Networks X_k = Z @ M_k + noise, Z {n:,} x {sizes.latent} shared, M_k {sizes.latent} x {d}, "
        f"unit noise. "
        + (f"Every row best of {heavy} except the loop and netrep (once)." if quick else
           f"Engine pwcca and limit rows best of {heavy}; the loop, ThreadPoolExecutor, mean_cca, "
           "linear_cka and netrep rows once."),
        f"Limit {limit_before:.3f} s before the engine rows"
        + (f", {limit_after:.3f} s after them" if limit_after is not None else "")
        + " (a large gap means the machine's load changed).",
        f"Engine PWCCA matrix vs the per-pair loop: max abs difference {loop_diff:.2e} over the "
        f"{k * (k - 1)} ordered pairs ({verdict(loop_diff, EQUALITY_TARGET, '')}); "
        f"ThreadPoolExecutor(2) vs default executor {pool_diff:.2e}; engine vs single-pair function "
        f"on 2 pairs: {', '.join(single_checks)}.",
        f"PWCCA values: off-diagonal range {np.min(loop[~np.eye(k, dtype=bool)]):.6f} .. "
        f"{np.max(loop[~np.eye(k, dtype=bool)]):.6f}; engine space {engine.space!r}.",
        netrep_note + (f"; cos(netrep distance) vs engine mean_cca: max abs difference {netrep_check:.2e}"
                       if netrep_check is not None else "") + ".",
    ]
    del acts, engine, pooled, others
    gc.collect()
    return section


# ---------------------------------------------------------------------------- case 2
def _load_worker(index: int, stop: Any, ready: Any, counts: Any, max_seconds: float) -> None:
    """Multiply 300 x 300 matrices with one BLAS thread until ``stop`` or ``max_seconds``."""
    with threadpool_limits(1):
        rng = np.random.default_rng(index)
        a = rng.standard_normal((LOAD_MATRIX, LOAD_MATRIX))
        b = rng.standard_normal((LOAD_MATRIX, LOAD_MATRIX))
        a @ b
        ready.put(index)
        deadline = time.monotonic() + max_seconds
        done = 0
        while not stop.is_set() and time.monotonic() < deadline:
            for _ in range(4):
                a @ b
            done += 4
            counts[index] = done


class BackgroundLoad:
    """``count`` spawned processes of BLAS work, started on enter and stopped on exit."""

    def __init__(self, count: int, max_seconds: float = LOAD_MAX_SECONDS) -> None:
        ctx = mp.get_context("spawn")
        self.count, self.max_seconds = count, max_seconds
        self.stop = ctx.Event()
        self.ready = ctx.Queue()
        self.counts = ctx.Array("q", count, lock=False)
        self.procs = [ctx.Process(target=_load_worker, args=(i, self.stop, self.ready, self.counts,
                                                             max_seconds), daemon=True)
                      for i in range(count)]

    def __enter__(self) -> "BackgroundLoad":
        for p in self.procs:
            p.start()
        for _ in self.procs:
            self.ready.get(timeout=60)
        time.sleep(0.5)
        self.started = time.monotonic()
        self.counts_start = list(self.counts)
        return self

    def status(self) -> str:
        """Processes alive and their matmul rate since the timing began."""
        elapsed = time.monotonic() - self.started
        rates = [(c - s) / elapsed for c, s in zip(self.counts, self.counts_start)]
        alive = sum(p.is_alive() for p in self.procs)
        return (f"{alive}/{self.count} load processes alive after {elapsed:.1f} s of timing, "
                f"{statistics.mean(rates):.0f} {LOAD_MATRIX}x{LOAD_MATRIX} matmuls/s each on average")

    def all_alive(self) -> bool:
        return all(p.is_alive() for p in self.procs)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(timeout=10)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


def times_of(fn: Callable[[], object], repeats: int, budget_s: float) -> list[float]:
    """Wall-clock time of each of up to ``repeats`` calls, stopping once ``budget_s`` is spent (at
    least one call). Unlike ``best_time`` it keeps every time, for the loaded medians, and it bounds
    the loaded section so that it ends well within the load's own time limit."""
    out: list[float] = []
    spent = 0.0
    while len(out) < repeats and (not out or spent < budget_s):
        gc.collect()
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
        spent += out[-1]
    return out


def bench_busy(sizes: Sizes, warned: Warned) -> Section:
    progress("case 2: generating inputs")
    large = in_memory_pair(5_000, 128, 5_000)
    small = in_memory_pair(2_000, 64, 2_000)
    nets = latent_networks(8, 2_000, 64, 16, seed=SEED + 1)
    sym = np.random.default_rng(SEED).standard_normal((128, 128))
    sym = sym @ sym.T
    reps = sizes.busy_repeats
    moments = cca_core.Moments.from_arrays(*large)
    calls: list[tuple[str, Callable[[], object], int, bool]] = [
        ("cca_core.pwcca, 5,000 x 128 per side", lambda: cca_core.pwcca(*large), reps["pwcca_large"], True),
        ("  its pass over the data: Moments.from_arrays", lambda: cca_core.Moments.from_arrays(*large),
         reps["pwcca_large"], False),
        ("  its d x d algebra: Moments.pwcca()", moments.pwcca, reps["pwcca_small"], False),
        ("cca_core.pwcca, 2,000 x 64 per side", lambda: cca_core.pwcca(*small), reps["pwcca_small"], True),
        ("pairwise pwcca, 8 networks of 2,000 x 64", lambda: pairwise(nets, "pwcca", progress=False),
         reps["pairwise"], True),
        ("np.linalg.eigh, 128 x 128", lambda: np.linalg.eigh(sym), reps["eigh"], False),
    ]

    def run_all(tag: str) -> dict[tuple[str, bool], list[float]]:
        out = {}
        for name, fn, n, _ in calls:
            for one_thread in (True, False):
                progress(f"case 2: {tag}, {'1 thread' if one_thread else 'default threads'}: "
                         f"{name.strip()} (best of {n}, at most {sizes.busy_budget_s:g} s)")
                with warned.catch(f"case 2 {name}"):
                    fn()  # warm-up
                    if one_thread:
                        with threadpool_limits(1):
                            out[name, True] = times_of(fn, n, sizes.busy_budget_s)
                    else:
                        out[name, False] = times_of(fn, n, sizes.busy_budget_s)
        return out

    idle = run_all("idle")
    cpus = os.cpu_count() or 1
    progress(f"case 2: starting {cpus} background load processes")
    with BackgroundLoad(cpus) as load:
        loaded = run_all("loaded")
        load_status = load.status()
        load_ok = load.all_alive()

    section = Section(
        f"2. Busy machine: {cpus} background processes of 1-thread BLAS work (os.cpu_count() = {cpus})",
        ("call", "idle, 1 thread (s)", "idle, default (s)", "loaded, default (s)", "loaded, 1 thread (s)",
         "loaded default / idle 1 thread", "target", "loaded 1 thread / idle 1 thread"))
    medians = []
    for name, _, n, is_measure in calls:
        ref = min(idle[name, True])
        worst = min(loaded[name, False])
        section.rows.append([
            name, secs(ref), secs(min(idle[name, False])), secs(worst), secs(min(loaded[name, True])),
            ratio(worst / ref), verdict(worst / ref, BUSY_TARGET, "x") if is_measure else "-",
            ratio(min(loaded[name, True]) / ref)])
        medians.append(f"{name.strip()}: {statistics.median(loaded[name, False]):.4f} s default, "
                       f"{statistics.median(loaded[name, True]):.4f} s 1 thread "
                       f"(idle 1 thread {statistics.median(idle[name, True]):.4f} s)")
    section.notes += [
        "Best of N per cell (N = " + ", ".join(f"{name.strip()} {n}" for name, _, n, _ in calls)
        + f"; fewer where a cell's calls passed {sizes.busy_budget_s:g} s, at least one: calls per "
          "cell idle/loaded " + ", ".join(f"{len(idle[name, False])}/{len(loaded[name, False])}"
                                          for name, _, _, _ in calls)
        + " with default threads); each cell after one untimed warm-up call. 'default' = the BLAS "
          "threads as loaded (the package scopes its own small algebra); '1 thread' = inside "
          "threadpool_limits(1). The target applies to whole measure calls; the two indented rows "
          "split pwcca at 5,000 x 128 into its parts.",
        f"Load: {cpus} spawned processes, each {LOAD_MATRIX}x{LOAD_MATRIX} float64 matmuls with 1 BLAS "
        f"thread, stopped by this script (at most {LOAD_MAX_SECONDS:.0f} s): {load_status}"
        + ("." if load_ok else " -- THE LOAD ENDED BEFORE THE TIMING DID: the loaded figures are not "
           "all under load."),
        "Loaded medians (one stall per call is what a busy machine costs): " + "; ".join(medians) + ".",
    ]
    return section


# ---------------------------------------------------------------------------- case 3
_PEAK_RSS_CHILD = """
import json, os, resource, sys
import numpy as np
sys.path[:0] = [{package_root!r}, {bench_dir!r}]  # the parent's cca_core, this script's helpers
from pairwise_bench import latent_networks
import cca_core
from threadpoolctl import threadpool_limits

def status(key):  # kB from /proc/self/status (Linux)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))

n, d, dtype, name, threads, seed = {args!r}
x, y = latent_networks(2, n, d, max(4, n // 10), dtype, seed=seed)
fn = getattr(cca_core, name)
with threadpool_limits(threads):
    base = status("VmRSS")
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        how = "VmHWM after reset"
    except OSError:
        how = "ru_maxrss"
    start_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = float(fn(x, y))
    peak = status("VmHWM") if how == "VmHWM after reset" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"value": value, "peak_mb": (peak - base) * 1024 / 1e6, "how": how,
                   "module": cca_core.__file__,
                   "ru_maxrss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024 / 1e6,
                   "ru_maxrss_before_call_mb": (start_max - base) * 1024 / 1e6}}))
"""


def fresh_peak_rss(n: int, d: int, dtype: str, name: str, threads: int, seed: int = SEED + 2) -> dict:
    """Peak RSS of one ``cca_core.<name>(x, y)`` call above the RSS with its inputs loaded, in MB.

    Measured in a fresh interpreter (nothing cached from earlier calls, BLAS buffers included),
    with ``threads`` BLAS threads: the high-water mark ``VmHWM`` of /proc/self/status, reset by
    writing 5 to /proc/self/clear_refs once the inputs exist, minus ``VmRSS`` at that moment.
    Where the reset is refused, ``ru_maxrss`` (the peak since the start, inputs' generation
    included) stands in and ``how`` says so.
    """
    import json
    import subprocess

    package_root = str(Path(cca_core.__file__).resolve().parents[1])
    code = _PEAK_RSS_CHILD.format(bench_dir=str(Path(__file__).resolve().parent), package_root=package_root,
                                  args=(n, d, dtype, name, threads, seed))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=package_root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_wide(sizes: Sizes, repeats: int, warned: Warned) -> Section:
    section = Section("3. Wide layers: neurons > datapoints, memory above the inputs",
                      ("measure", "size per side", "time (s)", "tracemalloc peak (MB)", "target",
                       "RSS peak (MB)", "fresh-process peak RSS (MB)", "RSS target"))
    for index, (n, d, dtype) in enumerate(sizes.wide):
        progress(f"case 3: generating two {n:,} x {d:,} {dtype} arrays")
        x, y = latent_networks(2, n, d, max(4, n // 10), dtype, seed=SEED + 2)
        input_mb = (x.nbytes + y.nbytes) / MB
        size = f"{n:,} x {d:,} {dtype}"
        for name in MEASURE_NAMES:
            fn = getattr(cca_core, name)
            progress(f"case 3: {name} at {size} (best of {repeats}, then memory)")
            with warned.catch(f"case 3 {name} {n}x{d}"):
                seconds, value = best_time(lambda: fn(x, y), repeats)
                memory, _ = peak_memory(lambda: fn(x, y))
            if index == 0:  # 32 x 1,500: the CKA measures' target
                target = 50.0 if name in ("linear_cka", "debiased_linear_cka") else None
            else:           # the large size: every measure
                target = 300.0
            rss = "-" if memory.rss_mb is None else f"{memory.rss_mb:.1f}"
            fresh, rss_target = "-", "-"
            if index > 0:  # the large size: peak RSS in a fresh process, BLAS buffers included
                progress(f"case 3: {name} at {size}, peak RSS in a fresh process")
                peaks = [fresh_peak_rss(n, d, dtype, name, threads)["peak_mb"] for threads in (1, 2)]
                fresh = " / ".join(f"{p:.1f}" for p in peaks)
                rss_target = verdict(max(peaks), WIDE_RSS_TARGET_MB, " MB")
            section.rows.append([f"{name} = {value:.4f}", size, secs(seconds), f"{memory.traced_mb:.1f}",
                                 verdict(memory.traced_mb, target, " MB") if target else "-", rss,
                                 fresh, rss_target])
        section.notes.append(f"{size}: inputs {input_mb:.1f} MB (both sides), X, Y = Z @ M + noise "
                             f"with {max(4, n // 10)} shared latent dimensions.")
        del x, y
        gc.collect()
    section.notes.append("Targets (tracemalloc peak): linear and debiased CKA within 50 MB at 32 x 1,500 "
                         "float64 (before the engine: 361 MB); every measure within 300 MB at the large "
                         "size (full: 500 x 20,000 float32). RSS peak: sampled every 5 ms (psutil), "
                         "includes BLAS buffers, undercounts reused memory; '-' without psutil. "
                         "Fresh-process peak RSS (large size only; 1 / 2 BLAS threads): one call in a new "
                         "interpreter, the high-water mark VmHWM (reset via /proc/self/clear_refs once the "
                         "inputs exist) minus the RSS with the inputs loaded; it sees BLAS's buffers, which "
                         f"tracemalloc does not. Target {WIDE_RSS_TARGET_MB:.0f} MB (issue 20).")
    return section


# ---------------------------------------------------------------------------- main
# The paper's scale (Morcos et al. 2018, figure 5 and section 3.3): 200 networks, 11 layers, 10,000 images.
PAPER_NETWORKS, PAPER_LAYERS, PAPER_IMAGES = 200, 11, 10_000
PAPER_WIDTHS = (64, 128, 256, 512)


def bench_paper_scale(quick: bool) -> Section:
    """Case 4: one factor and one pair at the paper's datapoints, one BLAS thread (as on a Dask worker),
    extrapolated to every pair of the paper's experiment."""
    from cca_core import factors
    from cca_core.canonical import default_rtol

    n = 2_000 if quick else PAPER_IMAGES
    pairs_per_layer = PAPER_NETWORKS * (PAPER_NETWORKS - 1) // 2
    section = Section(
        f"4. The paper's scale on paper: {PAPER_NETWORKS} networks x {PAPER_LAYERS} layers, "
        f"{PAPER_IMAGES:,} images ({pairs_per_layer * PAPER_LAYERS:,} pairs), from one measured pair",
        ("layer width", "factor (s)", "pair, both PWCCA directions (s)", "factor size (MB)",
         "one layer, all pairs (core-h)", "one layer on 16 workers (min)", f"{PAPER_LAYERS} layers on 16 workers (h)"))
    rng = np.random.default_rng(SEED)
    for d in PAPER_WIDTHS[:2] if quick else PAPER_WIDTHS:
        progress(f"paper scale: width {d}")
        z = rng.standard_normal((n, d // 2))
        a = z @ rng.standard_normal((d // 2, d)) + rng.standard_normal((n, d))
        b = z @ rng.standard_normal((d // 2, d)) + rng.standard_normal((n, d))
        kwargs: dict = {}
        with single_blas_thread():
            t0 = time.perf_counter()
            fa = factors.factor(a, "a", "pwcca", "cca", "neuron", kwargs, default_rtol(d))
            t_factor = time.perf_counter() - t0
            fb = factors.factor(b, "b", "pwcca", "cca", "neuron", kwargs, default_rtol(d))
            t_pair = best_time(lambda: factors.pair_values("pwcca", fa, fb, kwargs), 3)[0]
        size_mb = (fa.qt.nbytes + fa.proj.nbytes) / MB
        scale = PAPER_IMAGES / n  # factor and pair costs grow linearly in the datapoints
        core_h = (pairs_per_layer * t_pair + PAPER_NETWORKS * t_factor) * scale / 3600
        section.rows.append([f"{d}", secs(t_factor * scale), secs(t_pair * scale), f"{size_mb * scale:.0f}",
                             f"{core_h:.2f}", f"{core_h / 16 * 60:.1f}", f"{core_h / 16 * PAPER_LAYERS:.2f}"])
    section.notes.append(
        f"Per layer: {pairs_per_layer:,} pairs and {PAPER_NETWORKS} factors; each network's factor (its whitened "
        "basis Q, n x r float64, and PWCCA's projection, d x r) is computed on a worker and fetched by each "
        "other worker at most once, so a layer moves at most 16 x 200 factors; the pairs' results are 2 floats.")
    section.notes.append(f"The last column assumes all {PAPER_LAYERS} layers at that width: the widest row bounds "
                         "the whole experiment; transfers and scheduling (tens of ms a task on Dask) come on top.")
    if quick:
        section.notes.append(f"--quick: measured at {n:,} datapoints and scaled linearly to {PAPER_IMAGES:,}.")
    return section


# ---------------------------------------------------------------------------- case 5
def bench_shapes_netrep(quick: bool, use_netrep: bool, warned: Warned) -> Section:
    """Procrustes and shape metrics: the engine against netrep's ``LinearMetric`` (values and time)."""
    k, n, d = SHAPE_SIZES["quick" if quick else "full"]
    section = Section(f"5. Shape metrics against netrep: {k} networks of {n:,} x {d} float64, "
                      f"{k * (k - 1) // 2} pairs",
                      ("alpha", "cca_core pairwise (s)", "netrep cached (s)", "max |angle diff| (rad)",
                       "different widths, one pair", "target"))
    if not use_netrep:
        section.notes.append("netrep skipped (--no-netrep).")
        return section
    try:
        import netrep
        from netrep.metrics import LinearMetric
        from netrep.multiset import pairwise_distances
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        section.notes.append(f"netrep not run: import failed ({type(exc).__name__}: {exc}); "
                             f"to install it: {NETREP_INSTALL}")
        return section
    progress(f"case 5: generating {k} networks of {n:,} x {d} float64")
    acts = latent_networks(k, n, d, max(4, d // 4))
    normalised = [(a - a.mean(axis=0)) / np.linalg.norm(a - a.mean(axis=0)) for a in acts]
    # cca_core's scale for the partial whitening: centred, ||X||_F^2 = rank (full rank here: neurons)
    scaled = [a * math.sqrt(a.shape[1]) for a in normalised]
    narrow = np.ascontiguousarray(acts[1][:, : (3 * d) // 4])  # for the different-widths pair
    narrow_n = (narrow - narrow.mean(axis=0)) / np.linalg.norm(narrow - narrow.mean(axis=0))
    narrow_n *= math.sqrt(narrow.shape[1])
    ranges = []
    for alpha in SHAPE_ALPHAS:
        theirs_in = acts if alpha in (0.0, 1.0) else scaled
        progress(f"case 5: alpha={alpha}: cca_core pairwise, netrep pairwise_distances (once each)")
        with warned.catch(f"case 5 cca_core alpha={alpha}"):
            gc.collect()
            start = time.perf_counter()
            ours = pairwise(acts, "shape_similarity", alpha=alpha, progress=False)
            ours_s = time.perf_counter() - start
        try:
            metric = LinearMetric(alpha=alpha, center_columns=True, score_method="angular")
            gc.collect()
            start = time.perf_counter()
            theirs = pairwise_distances(metric, list(theirs_in), verbose=False, enable_caching=True)
            theirs_s = time.perf_counter() - start
            one = LinearMetric(alpha=alpha, center_columns=True, zero_pad=True).fit_score(
                theirs_in[0], narrow if alpha in (0.0, 1.0) else narrow_n)
        except Exception as exc:  # noqa: BLE001
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            section.notes.append(f"netrep failed at alpha={alpha}: {last}")
            return section
        diff = off_diagonal_max_diff(np.arccos(ours.values), theirs)
        off = theirs[~np.eye(k, dtype=bool)]
        ranges.append(f"alpha {alpha:g}: {off.min():.4f} .. {off.max():.4f}")
        one_diff = abs(cca_core.shape_distance(acts[0], narrow, alpha) - one)
        section.rows.append([f"{alpha:g}", secs(ours_s), f"{secs(theirs_s)} ({theirs_s / ours_s:.1f}x)",
                             f"{diff:.1e}", f"{one_diff:.1e}", verdict(max(diff, one_diff), SHAPE_TARGET, "")])
    euclid = LinearMetric(alpha=1.0, center_columns=True, score_method="euclidean").fit_score(
        normalised[0], normalised[1])
    euclid_diff = abs(cca_core.procrustes_distance(acts[0], acts[1]) - euclid)
    section.notes += [
        f"netrep from {Path(netrep.__file__).parent}; times once each, same machine, same run.",
        "netrep's angles over the pairs (rad): " + "; ".join(ranges) + ".",
        "Angles: arccos of the engine's shape_similarity vs netrep's angular distances; netrep got the raw "
        "activations for alpha 0 and 1 and for 0.5 the centred data scaled to ||X||_F^2 = rank (cca_core's "
        "scale before partial whitening: squared singular values averaging 1; netrep whitens its input as given).",
        f"Different widths: shape_distance(X_0, X_1[:, :{(3 * d) // 4}]) vs netrep's fit_score with zero_pad=True.",
        f"Euclidean Procrustes distance of one pair vs LinearMetric(alpha=1, score_method='euclidean') on "
        f"normalised data: max abs difference {euclid_diff:.1e} (value {euclid:.6f}).",
    ]
    del acts, normalised
    gc.collect()
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--repeats", type=int, default=3,
                        help="best of N for the heavy calls (default 3; case 1 at full size uses min(N, 2))")
    parser.add_argument("--cases", default="1,2,3,4,5", help="comma-separated cases to run (default 1,2,3,4,5)")
    parser.add_argument("--no-netrep", action="store_true", help="skip netrep in cases 1 and 5")
    parser.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    try:
        cases = {int(c) for c in args.cases.split(",") if c.strip()}
    except ValueError:
        parser.error(f"--cases must be numbers among 1,2,3,4,5, got {args.cases!r}")
    if not cases or not cases <= {1, 2, 3, 4, 5}:
        parser.error(f"--cases must be among 1,2,3,4,5, got {args.cases!r}")
    sizes = QUICK if args.quick else FULL
    from readme import recorded

    with recorded(args.readme, "pairwise", "Many networks, busy machines, wide layers, the paper's scale",
                  markdown=args.markdown):
        report(args, cases, sizes)


def report(args: argparse.Namespace, cases: set[int], sizes: Sizes) -> None:
    """Run the chosen cases and print the report."""
    start = time.perf_counter()
    warned = Warned()
    sections = []
    if 1 in cases:
        sections.append(bench_many(sizes, args.repeats, args.quick, not args.no_netrep, warned))
    if 2 in cases:
        sections.append(bench_busy(sizes, warned))
    if 3 in cases:
        sections.append(bench_wide(sizes, args.repeats, warned))
    if 4 in cases:
        sections.append(bench_paper_scale(args.quick))
    if 5 in cases:
        sections.append(bench_shapes_netrep(args.quick, not args.no_netrep, warned))
    wall = time.perf_counter() - start

    print(machine_facts())
    print(blas_facts())
    for section in sections:
        print()
        print(render(section, args.markdown))
    print()
    print(("- " if args.markdown else "") + warned.summary())
    print(("- " if args.markdown else "") + f"Benchmark wall time {wall:.0f} s"
          f"{' (--quick sizes)' if args.quick else ''}, cases {','.join(map(str, sorted(cases)))}.")


if __name__ == "__main__":
    main()

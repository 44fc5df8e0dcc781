"""Speed of cca_core.stats: bootstrap and permutation test against baselines measured in the same run.

Usage::

    python benchmarks/stats_bench.py              # 1,000 resamples of 2,000 x 64 per side (1-2 minutes)
    python benchmarks/stats_bench.py --quick      # 100 resamples of 500 x 16 (seconds)
    python benchmarks/stats_bench.py --repeats 5  # best of 5 rounds instead of 3
    python benchmarks/stats_bench.py --readme benchmarks/README.md   # also as its section there (make bench)

Nothing is asserted: the script prints figures, and whether the bootstrap meets the issue's target
(1,000 resamples of 2,000 x 64 per side in at most 10 s). Progress goes to stderr, the report to
stdout; its first lines state the machine and its load average, since the timings on a shared
machine move with what else runs.

What is timed (wall clock, ``time.perf_counter``, inputs in memory; X of (n, p) Gaussian and
Y = X M + noise). Each figure is the best of ``--repeats`` rounds, and a round times every case
once, baselines and module in turn, so that a change of load during the run hits both alike:

bootstrap
    ``cca_core.stats.bootstrap(X, Y, measure, n_resamples=R, seed=0)`` (method "basic").
permutation
    ``cca_core.stats.permutation_test(X, Y, measure, n_permutations=R, seed=0)``.
plain resampling (baseline 1)
    What a user would write without the module: ``measure(X[idx], Y[idx])`` for R index draws,
    the copy of the rows included. Timed on ``min(R, 200)`` draws and scaled to R (said so).
moments pass (baseline 2)
    R times one ``Moments.from_arrays(X, Y)`` (best of 5 single passes): the pass over the data that
    every moment measure needs, without the d x d algebra.

Both baselines run with one BLAS thread, as the module's statistic does (on a busy 2-core machine
OpenBLAS threads waiting for cores make these sizes several times slower, which would flatter the
ratios).

Ratios are bootstrap (or permutation) time over a baseline's time: below 1 is faster than it.
The check line gives the largest difference between the bootstrap's statistic and plain resampling
on the same draws.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import cca_core
from cca_core import stats
from cca_core.moments import Moments


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def machine() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{p.get('internal_api')} {p.get('num_threads')} threads"
                         for p in threadpool_info() if p.get("user_api") == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas}; "
            f"load average {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 resamples of 500 x 16 per side")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each figure is the best (default 3)")
    ap.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    from readme import recorded

    with recorded(args.readme, "stats", "Bootstrap and permutation tests (cca_core.stats)", markdown=False):
        report(args)


def report(args: argparse.Namespace) -> None:
    """Run the benchmark and print the report."""
    n, p, r = (500, 16, 100) if args.quick else (2000, 64, 1000)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, p))
    y = x @ rng.normal(size=(p, p)) * 0.3 + rng.normal(size=(n, p))
    print(machine())
    print(f"data: X, Y of {n} x {p} float64; {r} resamples / permutations; target: bootstrap of "
          f"1,000 resamples of 2,000 x 64 in <= 10 s")

    names = ("pwcca", "linear_cka")
    k = min(r, 200)
    idx = np.random.default_rng(1).integers(0, n, (k, n))
    best: dict[tuple[str, str], float] = {}

    def keep(key: tuple[str, str], seconds: float) -> None:
        best[key] = min(best.get(key, np.inf), seconds)

    results, checks = {}, {}
    for round_ in range(args.repeats):
        with threadpool_limits(1):
            keep(("", "pass"), min(timed(Moments.from_arrays, x, y)[0] for _ in range(5)))
        for name in names:
            fn = cca_core.measures.MEASURES[name]
            log(f"round {round_ + 1}/{args.repeats}, {name}: plain resampling ({k} draws), bootstrap, "
                "permutation test")
            with threadpool_limits(1):
                t_plain, plain = timed(lambda: [fn(x[i], y[i]) for i in idx])
            keep((name, "plain"), t_plain * r / k)
            t_boot, results[name] = timed(stats.bootstrap, x, y, name, n_resamples=r, seed=0)
            keep((name, "boot"), t_boot)
            keep((name, "perm"), timed(stats.permutation_test, x, y, name, n_permutations=r, seed=0)[0])
            if round_ == 0:
                fast = stats._ResampledMeasure(x, y, name, {})(idx)
                checks[name] = float(np.max(np.abs(fast - np.asarray(plain))))
    rows = [(name, best[name, "boot"], best[name, "perm"], best[name, "plain"], best["", "pass"] * r,
             checks[name], results[name]) for name in names]

    scaled = f" (timed on {k} draws, scaled)" if r > k else ""
    print()
    print(f"| measure | bootstrap (s) | permutation (s) | plain resampling{scaled} (s) | "
          f"{r} x moments pass (s) | bootstrap / plain | bootstrap / moments pass | "
          f"permutation / plain | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, t_boot, t_perm, t_plain, t_pass, _, _ in rows:
        target = ("ok" if t_boot <= 10 else "MISS") if (n, p, r) == (2000, 64, 1000) else "n/a (quick)"
        print(f"| {name} | {t_boot:.2f} | {t_perm:.2f} | {t_plain:.2f} | {t_pass:.2f} | "
              f"{t_boot / t_plain:.2f} | {t_boot / t_pass:.2f} | {t_perm / t_plain:.2f} | {target} |")
    print()
    for name, *_, diff, res in rows:
        print(f"check {name}: max |resampled moments - plain resampling| = {diff:.1e}; estimate "
              f"{res.statistic:.4f}, 95% basic interval [{res.low:.4f}, {res.high:.4f}], "
              f"bootstrap bias {res.bias:+.4f}")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
          if hasattr(os, "getloadavg") else "")


if __name__ == "__main__":
    main()

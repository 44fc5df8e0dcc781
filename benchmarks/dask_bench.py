"""Moments of a large dask array, and a pairwise PWCCA matrix, on 1, 2, ... Dask workers, against the local engines.

    python benchmarks/dask_bench.py            # 2,000,000 x 256 per side, 20,000-row chunks, 1 and 2 workers
    python benchmarks/dask_bench.py --quick    # 200,000 rows: a smoke run
    python benchmarks/dask_bench.py --workers 1 2 4 8 16   # on a bigger machine
    python benchmarks/dask_bench.py --readme benchmarks/README.md   # also as its section there (make bench-dask)

The data, ``X`` standard normal and ``Y = X M + noise``, are generated chunk by chunk by
``dask.array.random.default_rng(seed)``, so every engine sees the same numbers and none holds the
whole arrays. Engines, all in the same run and over the same chunks:

- local streaming: this process computes each pair of blocks (the synchronous scheduler) and adds it
  with ``Moments.update``, one block at a time; once with one BLAS thread (what a worker gets) and once
  with the default number of BLAS threads;
- ``Moments.from_dask`` on a ``LocalCluster`` of k worker processes with one thread each (Dask gives
  each worker one BLAS thread): blocks generated and reduced to moments on the workers, merged by a
  tree; the cluster's start-up is timed separately.

Then the PWCCA matrix of 20 networks (10,000 x 256 each; ``--networks``) with ``cca_core.pairwise`` in
this process (threads, one BLAS thread each) and with ``executor=client`` on each cluster.

Ratios are best wall times against the one-thread local run (above 1: overhead); with ``--repeat``
the engines take turns, so that a change in the machine's load hits all of them. Prints figures;
asserts nothing. Needs the ``distributed`` extra and threadpoolctl.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cca_core  # noqa: E402
from cca_core import Moments  # noqa: E402


def make_data(n: int, d: int, rows: int, seed: int):
    """Lazy ``X`` (n x d) and ``Y = 0.8 X M / sqrt(d) + noise``, chunked by ``rows`` datapoints."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    mix = np.random.default_rng(seed).standard_normal((d, d)) * (0.8 / np.sqrt(d))
    x = rng.standard_normal((n, d), chunks=(rows, -1))
    y = x @ mix + rng.standard_normal((n, d), chunks=(rows, -1))
    return x, y


def local_streaming(x, y, blas_threads: int | None) -> tuple[Moments, float, float]:
    """(moments, wall seconds, seconds in Moments.update) streaming block by block in this process."""
    import dask
    from threadpoolctl import threadpool_limits

    m = Moments(x.shape[1], y.shape[1])
    in_update = 0.0
    start = time.perf_counter()
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        for i in range(x.numblocks[0]):
            xb, yb = dask.compute(x.blocks[i], y.blocks[i], scheduler="sync")
            t = time.perf_counter()
            m.update(xb, yb)
            in_update += time.perf_counter() - t
    return m, time.perf_counter() - start, in_update


def start_cluster(workers: int):
    """A LocalCluster of ``workers`` processes with one thread each, a client on it, and its start-up time."""
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster, set_as_default=False)
    client.wait_for_workers(workers)
    return cluster, client, time.perf_counter() - start


def on_cluster(x, y, client) -> tuple[Moments, float]:
    """(moments, wall seconds of Moments.from_dask) on ``client``'s cluster."""
    start = time.perf_counter()
    m = Moments.from_dask(x, y, scheduler=client)
    return m, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 rows instead of 2,000,000")
    parser.add_argument("--rows", type=int, help="datapoints (default 2,000,000; 200,000 with --quick)")
    parser.add_argument("--neurons", type=int, default=256, help="neurons per side (default 256)")
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="datapoints per chunk (default 20,000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every engine, interleaved; best reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--networks", type=int, help="networks in the pairwise matrix (default 20; 8 with --quick)")
    parser.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = parser.parse_args(argv)
    from readme import recorded

    with recorded(args.readme, "dask", "Moments of a large dask array, and pairwise PWCCA, on Dask workers",
                  markdown=False):
        return report(args)


def report(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report."""
    n = args.rows or (200_000 if args.quick else 2_000_000)
    d, rows = args.neurons, args.chunk_rows

    import dask
    import distributed

    x, y = make_data(n, d, rows, args.seed)
    wall = time.perf_counter()
    print(f"Moments of X, Y: {n:,} x {d} per side (float64, {2 * n * d * 8 / 1e9:.1f} GB generated), "
          f"{x.numblocks[0]} chunks of {rows:,} rows, seed {args.seed}; best of {args.repeat}, engines interleaved")
    print(f"Machine: os.cpu_count() = {os.cpu_count()}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"dask {dask.__version__}, distributed {distributed.__version__}; load average before "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    clusters = {k: start_cluster(k) for k in args.workers}
    engines = {"local streaming Moments.update, 1 BLAS thread": lambda: local_streaming(x, y, 1),
               "local streaming Moments.update, default BLAS threads": lambda: local_streaming(x, y, None)}
    for k, (_, client, _) in clusters.items():
        engines[f"Moments.from_dask, LocalCluster {k} worker(s) x 1 thread"] = \
            lambda client=client: on_cluster(x, y, client) + (None,)
    times: dict[str, list[float]] = {name: [] for name in engines}
    updates: dict[str, list[float]] = {name: [] for name in engines}
    results: dict[str, Moments] = {}
    for _ in range(args.repeat):
        for name, run in engines.items():
            m, t, in_update = run()
            times[name].append(t)
            if in_update is not None:
                updates[name].append(in_update)
            results[name] = m
    pairwise_rows = bench_pairwise(clusters, args)
    logging.getLogger("distributed").setLevel(logging.ERROR)  # no INFO lines from closing the clusters
    for _, client, _ in clusters.values():
        client.close()
    for cluster, _, _ in clusters.values():
        cluster.close()

    base = min(times[next(iter(engines))])
    print()
    print("| engine | time (s), best | ratio to local, 1 BLAS thread | rows/s | all runs (s) | notes |")
    print("|---|---:|---:|---:|---|---|")
    for i, name in enumerate(engines):
        best = min(times[name])
        if updates[name]:
            note = f"{min(updates[name]):.2f} s in update, the rest generating blocks"
        else:
            k = args.workers[i - 2]
            note = f"cluster start {clusters[k][2]:.1f} s, not counted"
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"| {name} | {best:.2f} | {best / base:.2f}x | {n / best:,.0f} | {runs} | {note} |")
    print()
    ref = results[next(iter(engines))]
    values = ", ".join(f"{f} {getattr(ref, f)():.6f}" for f in ("pwcca", "mean_cca", "linear_cka"))
    print(f"- Values (local): {values}.")
    diffs = []
    for name, m in list(results.items())[1:]:
        cov = max(float(np.max(np.abs(a - b))) for a, b in zip(m.covariance(), ref.covariance()))
        meas = max(abs(getattr(m, f)() - getattr(ref, f)()) for f in ("pwcca", "mean_cca", "linear_cka"))
        diffs.append(f"{name.split(', ')[-1]}: covariance {cov:.1e}, measures {meas:.1e}")
    print(f"- Max abs difference from the local one-thread result: {'; '.join(diffs)}.")
    print()
    print(pairwise_rows)
    print(f"- Load average after: {os.getloadavg()[0]:.1f}. Benchmark wall time {time.perf_counter() - wall:.0f} s.")
    return 0


def bench_pairwise(clusters: dict, args: argparse.Namespace) -> str:
    """The PWCCA matrix of K networks (10,000 x 256 each; 2,000 x 64 with --quick) in-process and on each
    cluster, best of ``--repeat``, interleaved; values checked against the local engine."""
    k = args.networks or (8 if args.quick else 20)
    n, d = (2_000, 64) if args.quick else (10_000, 256)
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((n, d // 2))
    acts = [z @ rng.standard_normal((d // 2, d)) + rng.standard_normal((n, d)) for _ in range(k)]
    engines = {"pairwise, in-process (threads, 1 BLAS thread each)": None}
    engines.update({f"pairwise, LocalCluster {w} worker(s) x 1 thread": c[1] for w, c in clusters.items()})
    times: dict[str, list[float]] = {name: [] for name in engines}
    values = {}
    for _ in range(args.repeat):
        for name, client in engines.items():
            start = time.perf_counter()
            values[name] = cca_core.pairwise(acts, "pwcca", executor=client, progress=False).values
            times[name].append(time.perf_counter() - start)
    base_name = next(iter(engines))
    base = min(times[base_name])
    pairs = k * (k - 1) // 2
    lines = [f"PWCCA matrix of {k} networks of {n:,} x {d} ({pairs} pairs, both directions), best of {args.repeat}:",
             "", "| engine | time (s) | ratio to in-process | per pair (ms) | max abs difference |",
             "|---|---:|---:|---:|---:|"]
    for name in engines:
        best = min(times[name])
        diff = float(np.nanmax(np.abs(values[name] - values[base_name])))
        lines.append(f"| {name} | {best:.2f} | {best / base:.2f}x | {1000 * best / pairs:.1f} | {diff:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Speed and peak memory of DFT-CCA against positions-as-datapoints, measured in the same run.

Usage::

    python benchmarks/dft_bench.py            # 1,000 images x 16 x 16 x 64 channels per side
    python benchmarks/dft_bench.py --quick    # 100 x 8 x 8 x 16 (seconds)
    python benchmarks/dft_bench.py --repeats 5
    python benchmarks/dft_bench.py --readme benchmarks/README.md   # also as its section there (make bench)

Nothing is asserted; the script prints figures. Cases, on X, Y of shape (N, H, W, C) float32 with
Y = X @ M + noise (channel mixing at every position):

* ``dft_cca(X, Y)``: one CCA per spatial frequency on Hermitian C x C blocks (BLAS limited to one
  thread inside, by threadpoolctl when installed).
* ``mean_cca`` of ``conv_to_2d(., "positions")``: every position a datapoint, N*H*W x C per side
  (Raghu et al. 2017's other method; a view, no copy), with BLAS as configured, and again with BLAS
  limited to one thread, which separates the effect of threads from that of the method.
* ``compat.fourier_ccas(X, Y)`` (pandas table, google's layout), when pandas is installed.

A second table, on a circularly translation-invariant pair (every circular shift of every base
map; layer 2 a circular convolution of layer 1 with channel mixing) small enough for the flattened
layers' CCA (neurons = H*W*C) to be computed: ``dft_cca`` against ``mean_cca`` of
``conv_to_2d(., "flatten")``, the two values (equal up to rounding: DFT-CCA is exact there) and
their difference.

time: best of ``--repeats`` wall-clock runs. ratio: time over the positions-as-datapoints time of
the same run. peak MB: tracemalloc peak of one call above what existed before it (numpy registers
its buffers; BLAS work space is not traced), MB = 10**6 bytes; the inputs are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import tracemalloc

import numpy as np
import scipy

import cca_core


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_mb(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 1e6


def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = parser.parse_args(argv)
    from readme import recorded

    with recorded(args.readme, "dft", "Convolutional layers: DFT-CCA against positions as datapoints", markdown=False):
        report(args)


def report(args: argparse.Namespace) -> None:
    """Run the benchmark and print the report."""
    n, h, w, c = (100, 8, 8, 16) if args.quick else (1000, 16, 16, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    y = (x @ rng.standard_normal((c, c), dtype=np.float32)
         + 2.0 * rng.standard_normal((n, h, w, c), dtype=np.float32))

    def positions():
        return cca_core.mean_cca(cca_core.conv_to_2d(x, "positions").data,
                                 cca_core.conv_to_2d(y, "positions").data)

    def positions_one_thread():
        with one_blas_thread():
            return positions()

    cases = [("positions as datapoints: mean_cca(conv_to_2d(., 'positions'))", positions),
             ("  the same, BLAS limited to 1 thread", positions_one_thread),
             ("dft_cca(X, Y).mean", lambda: cca_core.dft_cca(x, y).mean)]
    try:
        import pandas  # noqa: F401
        from cca_core.compat import fourier_ccas

        cases.append(("compat.fourier_ccas(X, Y) (pandas table)",
                      lambda: float(np.concatenate(fourier_ccas(x, y)["cca_coef1"].to_numpy()).mean())))
    except ImportError:
        pass

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"DFT-CCA benchmark: X, Y each {n:,} x {h} x {w} x {c} float32 "
          f"({x.nbytes / 1e6:.1f} MB per side); numpy {np.__version__}, scipy {scipy.__version__}, "
          f"Python {platform.python_version()}, os.cpu_count() = {os.cpu_count()}, "
          f"load average at start {load:.1f}; best of {args.repeats}")
    results = []
    for name, fn in cases:
        print(f"  running: {name}", file=sys.stderr, flush=True)
        seconds, value = best_time(fn, args.repeats)
        results.append((name, seconds, peak_mb(fn), float(value)))
    reference_time = results[0][1]
    print(f"{'case':<66} {'time (s)':>9} {'ratio':>7} {'peak MB':>9} {'mean CCA':>9}")
    for name, seconds, mb, value in results:
        print(f"{name:<66} {seconds:9.3f} {seconds / reference_time:6.2f}x {mb:9.1f} {value:9.6f}")
    print("ratio: time over positions as datapoints (first row), same run. The two methods answer "
          "different questions (channels over positions vs per frequency), so their values differ.")

    # ---------------------------------------------------------------- against the flattened layer
    base, hs, cs = (12, 4, 3) if args.quick else (40, 8, 8)
    u = rng.standard_normal((base, hs, hs, cs))
    kernel = rng.standard_normal((3, 3, cs, cs)) / 3.0
    v = sum(np.roll(u, (a - 1, b - 1), axis=(1, 2)) @ kernel[a, b] for a in range(3) for b in range(3))
    v = np.tanh(v) + 0.5 * rng.standard_normal(v.shape)
    shifts = [(i, j) for i in range(hs) for j in range(hs)]
    xi = np.concatenate([np.roll(u, s_, axis=(1, 2)) for s_ in shifts])
    yi = np.concatenate([np.roll(v, s_, axis=(1, 2)) for s_ in shifts])
    ni = xi.shape[0]
    flat_cases = [
        ("flattened: mean_cca(conv_to_2d(., 'flatten'))",
         lambda: cca_core.mean_cca(cca_core.conv_to_2d(xi, "flatten").data,
                                   cca_core.conv_to_2d(yi, "flatten").data)),
        ("dft_cca(X, Y).mean", lambda: cca_core.dft_cca(xi, yi).mean),
    ]
    print()
    print(f"Translation-invariant pair: {base} base maps x all {hs * hs} circular shifts = {ni:,} "
          f"inputs of {hs} x {hs} x {cs} ({hs * hs * cs} flattened neurons per side)")
    rows = []
    for name, fn in flat_cases:
        print(f"  running: {name}", file=sys.stderr, flush=True)
        seconds, value = best_time(fn, args.repeats)
        rows.append((name, seconds, peak_mb(fn), float(value)))
    print(f"{'case':<66} {'time (s)':>9} {'ratio':>7} {'peak MB':>9} {'mean CCA':>9}")
    for name, seconds, mb, value in rows:
        print(f"{name:<66} {seconds:9.3f} {seconds / rows[0][1]:6.2f}x {mb:9.1f} {value:9.6f}")
    print(f"|dft_cca - flattened| = {abs(rows[1][3] - rows[0][3]):.2e}")


if __name__ == "__main__":
    main()

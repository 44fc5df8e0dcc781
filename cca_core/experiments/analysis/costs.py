"""What a computation costs: its best wall time over a few runs (and every run's) and the peak memory it allocates.

The conv-layer chapter compares ways of comparing two layers (mean pooling, positions as
datapoints, DFT-CCA, resizing, flattening) by their answer and by what they cost. :func:`measure_cost`
times the call ``repeats`` times without tracing (tracing slows allocation) and then runs it once
more under :mod:`tracemalloc` for the peak of the memory it allocated above what existed before it.
numpy registers its buffers with tracemalloc, so the peak counts the arrays a method creates; memory
that BLAS or LAPACK allocate internally is not traced.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cca_core.dft import CHUNK_ELEMENTS as DFT_CHUNK_ELEMENTS

__all__ = ["Cost", "DFT_CHUNK_ELEMENTS", "measure_cost"]

#: Numbers DFT-CCA transforms at once (:data:`cca_core.dft.CHUNK_ELEMENTS`), for memory estimates.
DFT_CHUNK_ELEMENTS = DFT_CHUNK_ELEMENTS


@dataclass(frozen=True)
class Cost:
    """The value a call returned, its best wall time and its peak traced allocation.

    Attributes
    ----------
    value : object
        What the (last timed) call returned.
    seconds : float
        Best wall-clock time over the timed calls (``time.perf_counter``).
    peak_mb : float
        Peak of the memory traced by :mod:`tracemalloc` during one more call, above what was
        allocated when it started, in MB (10**6 bytes).
    times : tuple of float
        Every timed call's wall-clock time, in order (``seconds`` is their minimum), for a test of
        whether one computation is faster than another.
    """

    value: Any
    seconds: float
    peak_mb: float
    times: tuple[float, ...] = ()


def measure_cost(fn: Callable[[], Any], repeats: int = 3) -> Cost:
    """Time ``fn()`` ``repeats`` times (best of them), then trace one more call's peak allocation.

    Parameters
    ----------
    fn : callable with no arguments
    repeats : int
        Timed calls, at least 1; the best (smallest) time is kept, as benchmarks on a shared machine
        do, since other processes only ever add time.

    Returns
    -------
    Cost

    Raises
    ------
    TypeError
        ``fn`` is not callable.
    ValueError
        ``repeats`` is not an integer >= 1.

    Notes
    -----
    When tracemalloc is already tracing (a caller measures something larger), the peak is reset
    for this call and tracing is left on afterwards; the caller's own peak is then lost.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable with no arguments, got {type(fn).__name__}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    times = []
    value: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return Cost(value=value, seconds=min(times), peak_mb=max(peak - base, 0) / 1e6, times=tuple(times))

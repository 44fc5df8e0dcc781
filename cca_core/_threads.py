"""BLAS threads: one thread for small linear algebra, so that busy cores do not stall it.

OpenBLAS splits even a 64 x 64 eigendecomposition over every core; when the cores are busy (a network
training beside the measures), its threads wait for each other and a 5 ms call takes 50-250 ms. The
measures therefore run their small ``d x d`` algebra with one BLAS thread (threadpoolctl), and the
pairwise engine runs one BLAS thread per worker, parallel over pairs instead. Large passes over the
data (:func:`blas_threads_for`) use every BLAS thread on an idle machine and one when other processes
keep every core busy (:func:`machine_is_busy`);
on a 2-core machine with 2 other processes running, a 500 x 20,000 linear CKA took 1.8 s with two
BLAS threads and 0.7 s with one.

:func:`single_blas_thread` is reentrant and thread-safe: the limit is set when the first caller
enters and restored when the last one leaves, so worker threads that nest it never restore the
default while another worker is still inside.
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading
from collections.abc import Iterator

__all__ = ["single_blas_thread", "blas_threads_for", "machine_is_busy", "SMALL_FLOPS"]

#: Below this many floating-point operations a BLAS call is run with one thread: splitting it gains
#: little on an idle machine and loses 10-50x on a busy one.
SMALL_FLOPS = 2e9

_lock = threading.Lock()
_depth = 0
_limiter = None
_controller = None


def _get_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def single_blas_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block with one BLAS thread (all BLAS libraries loaded: numpy's and scipy's OpenBLAS).

    ``enabled=False`` makes it a no-op, for callers that decide by problem size.
    """
    global _depth, _limiter
    if not enabled:
        yield
        return
    with _lock:
        if _depth == 0:
            _limiter = _get_controller().limit(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def _own_running_threads() -> int:
    running = 0
    for stat in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(stat) as f:
                running += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            pass
    return running


def machine_is_busy() -> bool:
    """Other processes keep every core this process may use busy, now.

    On Linux: the runnable tasks of ``/proc/loadavg`` (an instantaneous count, unlike the load
    averages beside it), less this process's own running threads, against the cores in this
    process's affinity mask. Elsewhere: the 1-minute load average against ``os.cpu_count()``.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
        return runnable - max(_own_running_threads(), 1) >= cores
    except (OSError, ValueError, IndexError):  # pragma: no cover - no /proc
        try:
            return os.getloadavg()[0] >= cores
        except OSError:
            return False


def blas_threads_for(flops: float) -> contextlib.AbstractContextManager:
    """One BLAS thread for work below :data:`SMALL_FLOPS` or on a busy machine, else the default."""
    return single_blas_thread(enabled=flops < SMALL_FLOPS or machine_is_busy())

"""BLAS threads: one thread for small linear algebra, so that busy cores do not stall it.

OpenBLAS splits even a 64 x 64 eigendecomposition over every core; when the cores are busy (a network
training beside the measures), its threads wait for each other and a 5 ms call takes 50-250 ms. The
measures therefore run their small ``d x d`` algebra with one BLAS thread (threadpoolctl), and the
pairwise engine runs one BLAS thread per worker, parallel over pairs instead.

:func:`single_blas_thread` is reentrant and thread-safe: the limit is set when the first caller
enters and restored when the last one leaves, so worker threads that nest it never restore the
default while another worker is still inside.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["single_blas_thread", "SMALL_FLOPS"]

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

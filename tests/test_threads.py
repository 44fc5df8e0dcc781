"""BLAS thread scoping: one thread inside, the caller's setting restored after, across threads."""

from __future__ import annotations

import io
import threading

import pytest
from threadpoolctl import threadpool_info

from cca_core import _threads


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_single_thread_inside_and_restored_after():
    before = _blas_threads()
    with _threads.single_blas_thread():
        assert _blas_threads() == {1}
        with _threads.single_blas_thread():  # nested
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    assert _blas_threads() == before
    with _threads.single_blas_thread(enabled=False):
        assert _blas_threads() == before


def test_worker_threads_see_the_limit_and_do_not_restore_it_early():
    """The engine sets the limit in the calling thread; its worker threads run BLAS under it and may
    nest the context themselves without restoring the default while the caller is still inside.
    (OpenBLAS ignores a thread count set from a thread other than the main one, so the limit must
    be taken in the calling thread: that is what the engine does.)"""
    before = _blas_threads()
    seen = []

    def worker():
        with _threads.single_blas_thread():
            seen.append(_blas_threads())
        seen.append(_blas_threads())

    with _threads.single_blas_thread():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert _blas_threads() == {1}
    assert seen == [{1}, {1}]
    assert _blas_threads() == before


@pytest.mark.parametrize("runnable, own, busy", [(3, 1, True), (2, 1, False), (5, 4, False), (1, 0, False)])
def test_machine_is_busy_counts_other_runnable_tasks(monkeypatch, runnable, own, busy):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(_threads, "_own_running_threads", lambda: own)
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/loadavg":
            return io.StringIO(f"0.50 0.40 0.30 {runnable}/200 12345\n")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert _threads.machine_is_busy() is busy


def test_small_work_always_single_threaded(monkeypatch):
    monkeypatch.setattr(_threads, "machine_is_busy", lambda: False)
    with _threads.blas_threads_for(1e6):
        assert _blas_threads() == {1}
    before = _blas_threads()
    with _threads.blas_threads_for(1e12):
        assert _blas_threads() == before
    monkeypatch.setattr(_threads, "machine_is_busy", lambda: True)
    with _threads.blas_threads_for(1e12):
        assert _blas_threads() == {1}

"""The cluster named by CCA_CORE_SCHEDULER and the executor of the training sweeps (cca_core.experiments.cluster).

The scheduler checks run against closed ports, a silent listener and a 2-worker LocalCluster; the
executor's failures against the errors of the jobs themselves. Tests that need Dask skip without the
``distributed`` extra. Moments of dask arrays are tests/test_distributed.py's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import socket
import threading
import time
import warnings

import pytest

from cca_core.experiments.cluster import (SCHEDULER_ENV, ClusterExecutor, JobFailed, SchedulerUnreachable,
                                          check_scheduler, client_from_env, executor_from_env)


@pytest.fixture
def env_clients():
    """Close the clients that client_from_env made, so tests stay independent."""
    from cca_core.experiments import cluster as module

    yield
    for c in module._CLIENTS.values():
        c.close()
    module._CLIENTS.clear()


# ----------------------------------------------------------------------------------------------------
# CCA_CORE_SCHEDULER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unset_means_local(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert check_scheduler() is None and client_from_env() is None and executor_from_env() is None
    monkeypatch.setenv(SCHEDULER_ENV, "  ")
    assert executor_from_env() is None


def test_refused_address_fails_at_once_in_one_line(monkeypatch):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(SCHEDULER_ENV, address)
    for call in (check_scheduler, client_from_env, executor_from_env):
        start = time.perf_counter()
        with pytest.raises(SchedulerUnreachable) as err:
            call()
        assert time.perf_counter() - start < 2
        msg = str(err.value)
        assert "\n" not in msg and address in msg and SCHEDULER_ENV in msg and "refused" in msg.lower()


def test_silent_listener_times_out_in_one_line(monkeypatch):
    pytest.importorskip("distributed")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv(SCHEDULER_ENV, address)
    try:
        start = time.perf_counter()
        with pytest.raises(SchedulerUnreachable, match=r"no answer within 1 s") as err:
            check_scheduler(timeout=1)
        assert time.perf_counter() - start < 5
        assert "\n" not in str(err.value) and address in str(err.value) and SCHEDULER_ENV in str(err.value)
    finally:
        for conn, _ in accepted:
            conn.close()
        server.close()


def test_check_works_inside_a_running_event_loop(cluster):
    async def as_in_a_jupyter_kernel():
        assert asyncio.get_running_loop() is not None
        return check_scheduler(cluster.scheduler_address, timeout=5)

    # A thread of its own, so that the loop is ours whatever the main thread is running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(asyncio.run, as_in_a_jupyter_kernel()).result(timeout=60)
    assert answer == cluster.scheduler_address


def test_bad_address_in_one_line(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv(SCHEDULER_ENV, "localhost")
    with pytest.raises(SchedulerUnreachable, match=rf"localhost \({SCHEDULER_ENV}\): not an address") as err:
        check_scheduler()
    assert "\n" not in str(err.value)


def test_reachable_scheduler_gives_an_executor(cluster, monkeypatch, env_clients):
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    assert check_scheduler() == cluster.scheduler_address
    executor = executor_from_env()
    assert isinstance(executor, ClusterExecutor) and client_from_env() is executor.client  # reused
    futures = [executor.submit(math.factorial, k) for k in range(8)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    done = {f.result() for f in concurrent.futures.as_completed(futures, timeout=60)}
    assert done == {math.factorial(k) for k in range(8)}


def test_failure_names_the_job(client):
    executor = ClusterExecutor(client)
    future = executor.submit(math.sqrt, -1.0)
    with pytest.raises(JobFailed, match=r"^sqrt\(-1\.0\) failed on the Dask cluster: ValueError: math domain error$") \
            as err:
        future.result(timeout=60)
    assert isinstance(err.value.__cause__, ValueError)
    assert executor.submit(math.sqrt, 4.0).result(timeout=60) == 2.0  # the executor still works


def test_sweep_executor_warns_about_workers_with_several_threads(monkeypatch):
    from types import SimpleNamespace

    from cca_core.experiments import cluster as module
    from cca_core.experiments import sweep_executor

    client = SimpleNamespace(nthreads=lambda: {"tcp://a:1": 1, "tcp://b:2": 4},
                             scheduler=SimpleNamespace(address="tcp://s:8786"))
    fake = SimpleNamespace(client=client)
    monkeypatch.setattr(module, "executor_from_env", lambda timeout: fake)
    with pytest.warns(UserWarning, match=r"1 Dask worker\(s\) of tcp://s:8786 run several threads .*--nthreads 1"):
        assert sweep_executor() is fake
    client.nthreads = lambda: {"tcp://a:1": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sweep_executor() is fake

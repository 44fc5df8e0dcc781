"""Dask: moments of dask arrays on a 2-worker LocalCluster, and the cluster named by CCA_CORE_SCHEDULER.

Moments are compared with numpy (means, ``np.cov``), the slow references of ``tests/reference.py``
and the in-memory accumulator. Tests that need Dask skip without the ``distributed`` extra; the
import test runs without it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import reference as ref
from cca_core import Moments
from cca_core.distributed import (SCHEDULER_ENV, ClusterExecutor, JobFailed, SchedulerUnreachable, check_scheduler,
                                  client_from_env, executor_from_env)

N, DX, DY = 600, 6, 4
TOL = 1e-10


def pair(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DX)) * np.geomspace(0.3, 3.0, DX) + rng.normal(5.0, 1.0, DX)
    y = 0.7 * x @ rng.standard_normal((DX, DY)) + rng.standard_normal((n, DY)) - 4.0
    return x, y


def assert_matches(m: Moments, x: np.ndarray, y: np.ndarray) -> None:
    """Count, means, covariance against numpy; measures against the references; all vs in memory."""
    assert m.count == x.shape[0] and (m.n_x, m.n_y) == (x.shape[1], y.shape[1])
    np.testing.assert_allclose(m.mean, np.hstack([x, y]).mean(axis=0), rtol=0, atol=TOL)
    full = np.cov(np.hstack([x, y]).T)
    np.testing.assert_allclose(np.block([[m.covariance()[0], m.covariance()[1]],
                                         [m.covariance()[1].T, m.covariance()[2]]]), full, rtol=0, atol=TOL)
    assert abs(m.pwcca() - ref.pwcca(x, y)) < TOL
    assert abs(m.mean_cca() - ref.mean_cca(x, y)) < TOL
    assert abs(m.linear_cka() - ref.linear_cka(x, y)) < TOL
    local = Moments.from_arrays(x, y)
    np.testing.assert_allclose(m.mean, local.mean, rtol=0, atol=TOL)
    np.testing.assert_allclose(m.covariance()[1], local.covariance()[1], rtol=0, atol=TOL)


@pytest.fixture(scope="module")
def da():
    return pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker LocalCluster (processes, one thread each) for the module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    import distributed

    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture
def env_clients():
    """Close the clients that client_from_env made, so tests stay independent."""
    from cca_core import distributed as module

    yield
    for c in module._CLIENTS.values():
        c.close()
    module._CLIENTS.clear()


# ----------------------------------------------------------------------------------------------------
# core without dask


def test_core_imports_without_dask():
    code = ("import sys\n"
            "sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
            "import numpy as np, cca_core, cca_core.distributed, cca_core.experiments\n"
            "from cca_core.experiments import sweep_executor\n"
            "x = np.random.default_rng(0).standard_normal((50, 3))\n"
            "assert cca_core.Moments.from_arrays(x, x[:, :2]).count == 50\n"
            "assert sweep_executor() is None\n"
            "try:\n"
            "    cca_core.Moments.from_dask(x, x)\n"
            "except ModuleNotFoundError as e:\n"
            "    assert \"pip install 'cca-core[distributed]'\" in str(e), e\n"
            "else:\n"
            "    raise AssertionError('no error without dask')\n")
    env = dict(os.environ, CCA_CORE_SCHEDULER="")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr


def test_importing_core_does_not_import_dask():
    proc = subprocess.run([sys.executable, "-c", "import sys, cca_core, cca_core.distributed, cca_core.experiments; "
                           "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ----------------------------------------------------------------------------------------------------
# moments of dask arrays on the cluster


@pytest.mark.parametrize("chunks", [
    (N,),                                    # one block
    (100,) * 6,                              # even
    (1, 2, 0, 97, 250, 3, 247),              # uneven, with a 1-row and an empty block
])
def test_moments_on_cluster_match_in_memory(da, client, chunks):
    x, y = pair()
    dx, dy = da.from_array(x, chunks=(chunks, -1)), da.from_array(y, chunks=(chunks, -1))
    assert_matches(Moments.from_dask(dx, dy, scheduler=client), x, y)


@pytest.mark.parametrize("split_every", [2, 3, 100])
def test_reduction_tree_shape_does_not_matter(da, client, split_every):
    x, y = pair()
    dx, dy = da.from_array(x, chunks=(37, -1)), da.from_array(y, chunks=(37, -1))
    assert_matches(Moments.from_dask(dx, dy, split_every=split_every, scheduler=client), x, y)


def test_default_client_is_used(da, cluster):
    import distributed

    x, y = pair()
    with distributed.Client(cluster) as c:  # the default client while open
        m = Moments.from_dask(da.from_array(x, chunks=(128, -1)), da.from_array(y, chunks=(200, -1)))
        assert c.run(lambda: __import__("cca_core").__file__)  # the workers import this checkout too
    assert_matches(m, x, y)


def test_float32_and_lazy_data(da, client):
    """Data made on the workers (y from x in the graph) and float32 blocks."""
    rng = da.random.default_rng(7)
    dx = rng.standard_normal((N, DX), chunks=(150, -1)).astype(np.float32)
    dy = dx[:, :DY] * 2.0 + rng.standard_normal((N, DY), chunks=(150, -1))
    x, y = (np.asarray(a) for a in client.compute([dx, dy], sync=True))
    m = Moments.from_dask(dx, dy, scheduler=client)
    assert x.dtype == np.float32
    assert_matches(m, x, y)


def test_chunked_along_neurons_is_rechunked_with_a_warning(da, client):
    x, y = pair()
    dx, dy = da.from_array(x, chunks=(120, 2)), da.from_array(y, chunks=(120, -1))
    with pytest.warns(UserWarning, match=r"X is chunked along neurons .*X\.rechunk\(\{1: -1\}\)"):
        m = Moments.from_dask(dx, dy, scheduler=client)
    assert_matches(m, x, y)


def test_mismatched_row_chunks_are_rechunked(da, client):
    x, y = pair()
    dx, dy = da.from_array(x, chunks=((50, 250, 300), -1)), da.from_array(y, chunks=(70, -1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Moments.from_dask(dx, dy, scheduler=client)
    assert_matches(m, x, y)


def test_compute_false_gives_a_delayed(da, client):
    import dask

    x, y = pair()
    lazy = Moments.from_dask(da.from_array(x, chunks=(90, -1)), da.from_array(y, chunks=(90, -1)), compute=False)
    (m,) = dask.compute(lazy, scheduler=client)
    assert_matches(m, x, y)


def test_progress_on_cluster_and_locally(da, client, capsys):
    x, y = pair()
    dx, dy = da.from_array(x, chunks=(100, -1)), da.from_array(y, chunks=(100, -1))
    assert_matches(Moments.from_dask(dx, dy, scheduler=client, progress=True), x, y)
    assert_matches(Moments.from_dask(dx, dy, scheduler="threads", progress=True), x, y)
    out = capsys.readouterr()
    assert "100%" in out.out + out.err


def test_different_datapoints_same_message_as_in_memory(da):
    x, y = pair()
    with pytest.raises(ValueError) as in_memory:
        Moments.from_arrays(x, y[:-1])
    with pytest.raises(ValueError) as lazy:
        Moments.from_dask(da.from_array(x, chunks=(100, -1)), da.from_array(y[:-1], chunks=(100, -1)))
    assert str(lazy.value) == str(in_memory.value)
    assert "X has shape (600, 6), Y has shape (599, 4)" in str(lazy.value)


@pytest.mark.parametrize("make, error, match", [
    (lambda da, x, y: (x, da.from_array(y)), TypeError, "X must be a dask array .*numpy.ndarray.*from_arrays"),
    (lambda da, x, y: (da.from_array(x[:, 0]), da.from_array(y)), ValueError, "X must be 2-D"),
    (lambda da, x, y: (da.from_array(x), da.from_array(y.astype(complex))), TypeError, "Y has complex dtype"),
    (lambda da, x, y: (da.from_array(x[:1]), da.from_array(y[:1])), ValueError, "X has 1 datapoint"),
    (lambda da, x, y: (da.from_array(x)[da.from_array(x[:, 0] > 5)], da.from_array(y)), ValueError,
     r"X has unknown chunk sizes .*compute_chunk_sizes\(\)"),
])
def test_bad_input(da, make, error, match):
    x, y = pair()
    a, b = make(da, x, y)
    with pytest.raises(error, match=match):
        Moments.from_dask(a, b)


def test_nan_names_the_block(da, client):
    x, y = pair()
    y[350, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y rows 300:400 \(shape \(100, 4\)\) contains 1 NaN"):
        Moments.from_dask(da.from_array(x, chunks=(100, -1)), da.from_array(y, chunks=(100, -1)), scheduler=client)


def test_bad_split_every(da):
    x, y = pair()
    with pytest.raises(ValueError, match="split_every must be an integer >= 2"):
        Moments.from_dask(da.from_array(x), da.from_array(y), split_every=1)


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

    from cca_core import distributed as module
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

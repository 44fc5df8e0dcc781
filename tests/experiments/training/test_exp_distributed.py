"""Training sweeps on a 2-worker Dask LocalCluster: trained on the workers, then found in the cache.

The cache directory is a temporary directory, which the LocalCluster's workers share with the test
process (same machine): the shared-storage requirement of a real cluster.
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest

from cca_core.experiments.training.sweeps import SweepError

from cca_core.experiments.cluster import SCHEDULER_ENV, JobFailed
from cca_core.experiments import TrainConfig, cache_key, load_result, sweep_executor, train_many

TINY = dict(dataset="digits", depth=2, width=4, epochs=1, batch_size=64)  # as conftest.TINY
pytestmark = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("tensorflow", "sklearn")),
                                reason="needs the 'experiments' extra (tensorflow, scikit-learn)")

CONFIGS = [TrainConfig(**TINY, seed=s) for s in (0, 1)]


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker LocalCluster (processes, one thread each) for the module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture
def executor(cluster, monkeypatch):
    """What a notebook gets from sweep_executor() with CCA_CORE_SCHEDULER set to the cluster."""
    from cca_core.experiments import cluster as module

    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    yield sweep_executor()
    for c in module._CLIENTS.values():
        c.close()
    module._CLIENTS.clear()


class NoSubmit:
    def submit(self, fn, *args, **kwargs):
        raise AssertionError(f"submitted {args[0].short()} although it is cached")


def test_trained_on_the_cluster_then_found_in_the_cache(executor, tmp_path):
    log = io.StringIO()
    results = train_many(CONFIGS, tmp_path, executor=executor, stream=log)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("sweep: 2 networks, 0 cached, 2 to train")
    assert sum(line.endswith(" submitted") for line in lines) == 2  # both handed to the cluster at once
    for i, c in enumerate(CONFIGS):
        assert any(line.startswith(f"[{i + 1}/2] {c.short()} ... done in ") for line in lines)
    assert lines[-1].startswith("sweep done: 2 trained, 0 cached")
    assert [r.config for r in results] == CONFIGS and not any(r.cached for r in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{cache_key(c)}.npz" for c in CONFIGS)

    # what the workers wrote is what this process reads back from the shared cache
    for r in results:
        stored = load_result(r.config, tmp_path)
        assert stored.test_accuracy == r.test_accuracy
        assert all(np.array_equal(a, b) for a, b in zip(stored.weights[1], r.weights[1]))
    assert any(not np.array_equal(a, b) for a, b in zip(results[0].weights[1], results[1].weights[1]))

    # a second sweep on the cluster finds both in the cache and trains nothing
    log = io.StringIO()
    again = train_many(CONFIGS, tmp_path, executor=executor, stream=log)
    assert all(r.cached for r in again)
    assert "2 cached, 0 to train" in log.getvalue() and "sweep done: 0 trained, 2 cached" in log.getvalue()
    assert all(r.cached for r in train_many(CONFIGS, tmp_path, executor=NoSubmit(), progress=False))


def test_worker_error_names_the_configuration(executor, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    config = TrainConfig(**dict(TINY, epochs=0))  # nothing to fit: it fails when it writes the result
    with pytest.raises(SweepError) as swept:
        train_many([config], blocker / "cache", executor=executor, progress=False)
    err = swept.value.__cause__
    assert isinstance(err, JobFailed) and [f[2] for f in swept.value.failures] == [err]
    msg = str(err)
    assert msg.startswith(f"train({config.short()}) failed on the Dask cluster: ")
    assert "\n" not in msg and isinstance(err.__cause__, OSError)
    assert "\n" not in str(swept.value) and msg in str(swept.value)

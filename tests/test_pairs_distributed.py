"""pairwise on a dask.distributed cluster (2 worker processes): same values, errors that name the network."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import cca_core  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def _networks(k=5, n=250, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 8))
    return {f"net{i}": z @ rng.standard_normal((8, 15 + i)) + rng.standard_normal((n, 15 + i)) for i in range(k)}


@pytest.mark.parametrize("measure", ["pwcca", "svcca", "linear_cka", "debiased_linear_cka"])
def test_cluster_equals_single_pair_functions(client, measure):
    acts = _networks()
    result = cca_core.pairwise(acts, measure, executor=client, progress=False)
    names = list(acts)
    fn = cca_core.measures.MEASURES[measure]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                assert abs(result.values[i, j] - fn(acts[a], acts[b])) < 1e-10, (a, b)
    assert result.labels == tuple(names)


def test_cluster_error_names_the_network(client):
    acts = _networks(3)
    acts["dead"] = np.ones((250, 4))
    with pytest.raises(ValueError, match="'dead' has no variance"):
        cca_core.pairwise(acts, "pwcca", executor=client, progress=False)


def test_cluster_bad_option_fails_before_work(client):
    with pytest.raises(ValueError, match="rtol"):
        cca_core.pairwise(_networks(3), "mean_cca", executor=client, progress=False, rtol="bad")


def test_compare_runs_on_the_cluster_of_the_environment(client, monkeypatch):
    """With CCA_CORE_SCHEDULER set, the book's pairwise work (compare) goes to that cluster."""
    from cca_core.experiments.analysis import compare

    acts = list(_networks(4).values())
    local = compare.pairwise_matrix(acts, cca_core.pwcca_distance, symmetric=True)
    monkeypatch.setenv("CCA_CORE_SCHEDULER", client.scheduler.address)
    seen = []
    real = cca_core.pairs._on_dask
    monkeypatch.setattr(cca_core.pairs, "_on_dask", lambda *a, **k: seen.append(1) or real(*a, **k))
    from cca_core.experiments import cluster as cluster_env

    try:
        remote = compare.pairwise_matrix(acts, cca_core.pwcca_distance, symmetric=True)
    finally:  # the client made from the environment must not outlive the test's cluster
        for address in list(cluster_env._CLIENTS):
            cluster_env._CLIENTS.pop(address).close()
    assert seen, "pairwise did not run on the cluster"
    np.testing.assert_allclose(remote, local, atol=1e-12, rtol=0)


def test_a_client_that_is_not_the_default(client, monkeypatch):
    """pairwise uses the client it is given, not Dask's default client (here there is none)."""
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    monkeypatch.setattr(distributed.client, "_get_global_client", lambda: None)
    try:
        acts = _networks(3)
        got = cca_core.pairwise(acts, "mean_cca", executor=other, progress=False).values
        want = cca_core.pairwise(acts, "mean_cca", progress=False).values
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
    finally:
        other.close()

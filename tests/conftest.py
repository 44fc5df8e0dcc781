"""Shared test setup: the slow references in ``tests/reference.py`` import as ``reference``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, _TESTS)


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator, so each test sees the same data whatever runs before it."""
    return np.random.default_rng(20240601)


# a Dask cluster for the tests of distributed moments and of the training cluster (tests/test_distributed.py,
# tests/experiments/test_exp_cluster.py); module scope: each module starts its own
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

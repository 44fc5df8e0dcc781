"""Dask: moments of dask arrays on a 2-worker LocalCluster (the cluster named by CCA_CORE_SCHEDULER
and the training executor are tests/experiments/test_exp_cluster.py's).

Moments are compared with numpy (means, ``np.cov``), the slow references of ``tests/reference.py``
and the in-memory accumulator. Tests that need Dask skip without the ``distributed`` extra; the
import test runs without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import reference as ref
from cca_core import Moments

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

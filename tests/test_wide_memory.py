"""The wide path's blocked helpers (issue 20, item 6) against the direct numpy formulas.

A small block size forces many blocks, so the blocking (boundaries, the last partial block) is
what is tested; the direct formulas form the whole float64 arrays at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from cca_core import factors


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(factors, "_WIDE_BLOCK_ELEMENTS", 997)  # odd: blocks end mid-array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_helpers_match_direct_formulas(small_blocks, dtype):
    rng = np.random.default_rng(3)
    n, d = 40, 1234
    x = (rng.standard_normal((n, d)) * rng.uniform(0.1, 5.0, d) + rng.uniform(-3, 3, d)).astype(dtype)
    mean = x.mean(axis=0, dtype=np.float64)
    xc = x.astype(np.float64) - mean
    scale = rng.uniform(0.5, 2.0, d)
    assert len(list(factors._column_chunks(d, n))) > 10
    np.testing.assert_allclose(factors._data_gram(x, mean), xc @ xc.T, rtol=1e-12, atol=1e-9)
    xs = xc * scale
    np.testing.assert_allclose(factors._data_gram(x, mean, scale), xs @ xs.T, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(factors._column_variances(x, mean), xc.var(axis=0, ddof=1), rtol=1e-12)
    w = rng.standard_normal((n, 7))
    np.testing.assert_allclose(factors._data_projection(x, mean, w), xc.T @ w, rtol=1e-12, atol=1e-10)


def test_blocked_alpha_matches_direct_formula(small_blocks):
    rng = np.random.default_rng(4)
    proj, directions = rng.standard_normal((2000, 9)), rng.standard_normal((9, 6))
    direct = np.abs(proj @ directions).sum(axis=0)
    np.testing.assert_allclose(factors._alpha(proj, directions), direct / direct.sum(), rtol=1e-13)


def test_blocked_helpers_leave_the_input_unchanged(small_blocks):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 500)).astype(np.float32)
    x0 = x.copy()
    mean = x.mean(axis=0, dtype=np.float64)
    factors._data_gram(x, mean, np.ones(500))
    factors._data_projection(x, mean, np.ones((30, 2)))
    np.testing.assert_array_equal(x, x0)

"""The shared numerical helpers: TSQR (cca_core.canonical.tsqr_r) against LAPACK's QR of the whole
matrix, and the power-of-two scaling (cca_core._scaling) against frexp/ldexp and exact formulas."""

from __future__ import annotations

import numpy as np
import pytest

from cca_core import _scaling
from cca_core.canonical import tsqr_r


def _blocks(z, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(z[start:start + s])
        start += s
    assert start == z.shape[0]
    return out


@pytest.mark.parametrize("sizes", [[300], [100, 100, 100], [3, 5, 292], [2] * 150, [1, 299]])
def test_tsqr_is_the_r_of_the_whole_matrix(sizes):
    z = np.random.default_rng(0).standard_normal((300, 7)) @ np.diag(np.geomspace(1, 1e-6, 7))
    r = tsqr_r(_blocks(z, sizes))
    ref = np.linalg.qr(z, mode="r")  # numpy's Householder QR of the whole matrix
    assert r.shape == (7, 7) and np.allclose(np.tril(r, -1), 0.0)
    # Unique up to the signs of the rows: compare |R| row by row, and R^T R = Z^T Z.
    signs = np.sign(np.diag(r)) * np.sign(np.diag(ref))
    np.testing.assert_allclose(r * signs[:, None], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(r.T @ r, z.T @ z, rtol=1e-12, atol=1e-12)


def test_tsqr_continues_from_a_running_r_and_keeps_at_most_as_many_rows_as_columns():
    z = np.random.default_rng(1).standard_normal((50, 4))
    blocks = _blocks(z, [2, 10, 38])
    first = tsqr_r(blocks[:1])
    assert first.shape == (2, 4)  # fewer rows than columns: the trapezoidal R
    np.testing.assert_array_equal(tsqr_r(blocks[1:], first), tsqr_r(blocks))
    assert tsqr_r([], first) is first and tsqr_r([]) is None


def test_largest_abs_and_exponent_against_numpy():
    rng = np.random.default_rng(2)
    for a in (rng.standard_normal(50) * 1e100, -np.abs(rng.standard_normal(9)), np.array([0.0, -0.0])):
        assert _scaling.largest_abs(a) == np.max(np.abs(a))
    assert np.isnan(_scaling.largest_abs(np.array([1.0, np.nan])))
    assert _scaling.largest_abs(np.array([1.0, -np.inf])) == np.inf
    for v in (1e-300, 2.0**-65, 2.0**-64, 1.0, 2.0**64, 2.0**65, 1e300):
        e = int(np.frexp(v)[1])
        assert _scaling.exponent(v) == (e if abs(e) > 64 else 0)
    for v in (0.0, -5.0, np.inf, np.nan):
        assert _scaling.exponent(v) == 0


@pytest.mark.parametrize("scale", [1e-200, 1e-25, 1.0, 1e30, 1e250])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_order_one_multiplies_by_a_power_of_two_outside_the_band(scale, sign):
    a = sign * np.abs(np.random.default_rng(3).standard_normal((20, 3))) * scale
    out = _scaling.order_one(a)
    top = np.max(np.abs(a))
    if 2.0**-65 < top < 2.0**64:
        assert out is a
    else:
        ratio = out / a
        assert np.all(ratio == ratio.flat[0]) and np.frexp(ratio.flat[0])[0] == 0.5  # one exact power of two
        assert 0.5 <= np.max(np.abs(out)) < 1.0


def test_order_one_leaves_what_the_input_gate_reports_and_keeps_dtypes_in_band():
    for a in (np.zeros((0, 3)), np.array([[np.nan, 1e300]]), np.array([[np.inf, 1.0]]), np.zeros((4, 2))):
        assert _scaling.order_one(a) is a
    f32 = np.ones((3, 2), dtype=np.float32)
    assert _scaling.order_one(f32) is f32


def test_safe_mean_and_centred_exponent_at_float64s_ends():
    x = np.array([[1.5e308, -1e-300], [1.7e308, 3e-300], [1.6e308, 1e-300]])
    with np.errstate(over="ignore"):
        assert not np.isfinite(x.mean(axis=0)[0])  # the plain mean overflows
    # One power of two for all columns: exact to rounding relative to the largest value.
    np.testing.assert_allclose(_scaling.safe_mean(x, "X"), [1.6e308, 1e-300], rtol=1e-15, atol=1.7e308 * 1e-15)
    with pytest.raises(ValueError, match="X"):
        _scaling.safe_mean(np.array([[np.inf, 1.0], [1.0, 1.0]]), "X")
    y = np.random.default_rng(4).standard_normal((30, 11)) * 1e-120 + 5e-121
    mean, k = _scaling.centred_exponent(y, step=4)
    np.testing.assert_allclose(mean, y.mean(axis=0), rtol=1e-13)
    spread = np.max(np.abs(y - y.mean(axis=0)))
    assert 0.5 <= spread * 2.0**-k < 1.0

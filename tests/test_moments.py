"""The streaming accumulator: chunking, merging and persistence must not change any result."""

from __future__ import annotations

import numpy as np
import pytest

import cca_core
import reference as ref
from cca_core import Moments

N, DX, DY = 240, 7, 9


def pair(seed: int = 0, n: int = N, dx: int = DX, dy: int = DY, offset: float = 3.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx)) * np.geomspace(0.2, 3.0, dx) + rng.normal(offset, 1.0, dx)
    y = 0.6 * x @ rng.standard_normal((dx, dy)) + rng.standard_normal((n, dy)) + rng.normal(-offset, 1.0, dy)
    return x, y


def uneven_splits(n: int, seed: int, smallest: int = 2) -> list[int]:
    """Cut points giving chunks of mixed sizes, the smallest ones of ``smallest`` datapoints."""
    rng = np.random.default_rng(seed)
    cuts = {smallest, 2 * smallest, n - smallest}  # smallest chunks at both ends
    for c in sorted(rng.choice(np.arange(4 * smallest, n - 2 * smallest), size=10, replace=False)):
        if all(abs(c - other) >= smallest for other in cuts):
            cuts.add(int(c))
    return sorted(cuts)


def assert_moments_close(m: Moments, x: np.ndarray, y: np.ndarray, tol: float = 1e-10) -> None:
    """Count, means, covariance against numpy and every measure against the references."""
    xy = np.hstack([x, y])
    assert m.count == x.shape[0]
    np.testing.assert_allclose(m.mean_x, x.mean(axis=0), rtol=tol, atol=tol)
    np.testing.assert_allclose(m.mean_y, y.mean(axis=0), rtol=tol, atol=tol)
    full = np.cov(xy.T, ddof=1)
    sxx, sxy, syy = m.covariance()
    np.testing.assert_allclose(sxx, full[:DX, :DX], rtol=tol, atol=tol)
    np.testing.assert_allclose(sxy, full[:DX, DX:], rtol=tol, atol=tol)
    np.testing.assert_allclose(syy, full[DX:, DX:], rtol=tol, atol=tol)
    np.testing.assert_allclose(np.hstack(m.covariance(ddof=0)[:2]), np.cov(xy.T, ddof=0)[:DX],
                               rtol=tol, atol=tol)
    raw = xy.T @ xy / (x.shape[0] - 1)  # uncentred second moment
    np.testing.assert_allclose(m.covariance(center=False)[1], raw[:DX, DX:], rtol=tol, atol=tol)
    np.testing.assert_allclose(m.cca().correlations, ref.cca_correlations(x, y), rtol=0, atol=tol)
    assert abs(m.mean_cca() - ref.mean_cca(x, y)) < tol
    assert abs(m.mean_cca(center=False) - ref.mean_cca(x, y, center=False)) < tol
    assert abs(m.svcca(keep=0.9) - ref.svcca(x, y, 0.9)) < tol
    assert abs(m.svcca(keep=3) - ref.svcca(x, y, 3)) < tol
    assert abs(m.pwcca() - ref.pwcca(x, y)) < tol
    assert abs(m.linear_cka() - ref.linear_cka(x, y)) < tol


def test_one_update_matches_in_memory():
    x, y = pair()
    assert_moments_close(Moments(DX, DY).update(x, y), x, y)
    assert_moments_close(Moments.from_arrays(x, y), x, y)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, N - 1, N, 10 * N])
def test_chunk_size(chunk_size):
    x, y = pair(1)
    assert_moments_close(Moments(DX, DY).update(x, y, chunk_size=chunk_size), x, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uneven_sequence_of_updates(seed):
    x, y = pair(seed)
    cuts = uneven_splits(N, seed)
    sizes = np.diff([0, *cuts, N])
    assert sizes.min() == 2 and sizes.max() > 20
    m = Moments(DX, DY)
    for xb, yb in zip(np.split(x, cuts), np.split(y, cuts)):
        assert m.update(xb, yb) is m
    assert_moments_close(m, x, y)


def test_updates_of_single_datapoints():
    x, y = pair(2)
    cuts = uneven_splits(N, 2, smallest=1)
    assert np.diff([0, *cuts, N]).min() == 1
    m = Moments(DX, DY)
    for xb, yb in zip(np.split(x, cuts), np.split(y, cuts)):
        m.update(xb, yb)
    assert_moments_close(m, x, y)


def test_streaming_one_datapoint_at_a_time():
    x, y = pair(3, n=60)
    m = Moments(DX, DY)
    for i in range(60):
        m.update(x[i : i + 1], y[i : i + 1])
    assert m.count == 60
    np.testing.assert_allclose(m.cca().correlations, ref.cca_correlations(x, y), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_merge_order_does_not_matter(seed):
    x, y = pair(seed)
    cuts = [37, 39, 150]  # parts of 37, 2, 111 and 90 datapoints
    parts = [Moments(DX, DY).update(xb, yb) for xb, yb in zip(np.split(x, cuts), np.split(y, cuts))]
    a, b, c, d = parts
    left = a + b + c + d
    right = d + (c.merge(b + a))
    tree = (a + d) + (c + b)
    for merged in (left, right, tree):
        assert merged.count == N
        np.testing.assert_allclose(merged.mean, left.mean, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(merged.m2, left.m2, rtol=1e-10, atol=1e-10)
        assert abs(merged.pwcca() - left.pwcca()) < 1e-10
        assert_moments_close(merged, x, y)
    # Merging returns a new accumulator and leaves its operands alone.
    assert (a.count, b.count, c.count, d.count) == (37, 2, 111, 90)


def test_merge_with_empty_is_identity():
    x, y = pair(3)
    m = Moments.from_arrays(x, y)
    empty = Moments(DX, DY)
    for merged in (m + empty, empty + m, m.merge(Moments(DX, DY))):
        assert merged is not m
        assert merged.count == m.count
        np.testing.assert_allclose(merged.mean, m.mean, rtol=1e-15, atol=0)
        np.testing.assert_allclose(merged.m2, m.m2, rtol=1e-15, atol=0)
    assert empty.count == 0 and not empty.mean.any() and not empty.m2.any()
    assert_moments_close(empty + m, x, y)


def test_save_load_round_trip(tmp_path):
    x, y = pair(4)
    first, second = Moments.from_arrays(x[:100], y[:100]), Moments.from_arrays(x[100:], y[100:])
    first.save(tmp_path / "first.npz")
    loaded = Moments.load(tmp_path / "first.npz")
    assert (loaded.n_x, loaded.n_y, loaded.count) == (first.n_x, first.n_y, first.count)
    np.testing.assert_array_equal(loaded.mean, first.mean)
    np.testing.assert_array_equal(loaded.m2, first.m2)
    # A loaded partial result merges with one computed elsewhere into the full one.
    assert_moments_close(loaded + second, x, y)
    # An empty accumulator survives the trip too.
    Moments(2, 3).save(tmp_path / "empty.npz")
    empty = Moments.load(tmp_path / "empty.npz")
    assert (empty.n_x, empty.n_y, empty.count) == (2, 3, 0)


def test_float32_input():
    x64, y64 = pair(5)
    x32, y32 = x64.astype(np.float32), y64.astype(np.float32)
    m32 = Moments(DX, DY).update(x32, y32, chunk_size=50)
    assert m32.mean.dtype == np.float64 and m32.m2.dtype == np.float64
    # Accumulated in float64: exactly the analysis of the float32 values.
    assert_moments_close(m32, x32.astype(np.float64), y32.astype(np.float64))
    # And within float32 rounding of the float64 data.
    m64 = Moments.from_arrays(x64, y64)
    np.testing.assert_allclose(m32.cca().correlations, m64.cca().correlations, rtol=0, atol=1e-5)
    for name in ("mean_cca", "pwcca", "linear_cka"):
        assert abs(getattr(m32, name)() - getattr(m64, name)()) < 1e-5
    for name in ("mean_cca", "svcca", "pwcca", "linear_cka", "debiased_linear_cka", "rbf_cka"):
        assert abs(getattr(cca_core, name)(x32, y32) - getattr(cca_core, name)(x64, y64)) < 1e-5


@pytest.mark.parametrize("chunk_size", [None, 1, 13])
def test_huge_offset_is_centred_soundly(chunk_size):
    # Mean 1e6, std 1: a one-pass sum-of-squares would lose every digit of the covariance.
    x, y = pair(6, offset=0.0)
    x_off, y_off = x + 1e6, y - 1e6
    xs, ys = x_off - 1e6, y_off + 1e6  # exactly the data cca_core sees, without the offset
    m = Moments(DX, DY).update(x_off, y_off, chunk_size=chunk_size)
    full = np.cov(np.hstack([xs, ys]).T)
    np.testing.assert_allclose(np.hstack(m.covariance()[:2]), full[:DX], rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.cca().correlations, ref.cca_correlations(xs, ys), rtol=0, atol=1e-8)
    assert abs(m.pwcca() - ref.pwcca(xs, ys)) < 1e-8
    assert abs(m.svcca() - ref.svcca(xs, ys)) < 1e-8
    assert abs(m.linear_cka() - ref.linear_cka(xs, ys)) < 1e-8
    if chunk_size is None:
        np.testing.assert_allclose(cca_core.cca(x_off, y_off).correlations,
                                   ref.cca_correlations(xs, ys), rtol=0, atol=1e-8)
        assert abs(cca_core.debiased_linear_cka(x_off, y_off) - ref.debiased_linear_cka(xs, ys)) < 1e-8
        assert abs(cca_core.rbf_cka(x_off, y_off) - ref.rbf_cka(xs, ys)) < 1e-8


def test_merge_rejects_mismatched_sizes():
    x, y = pair(7)
    m = Moments.from_arrays(x, y)
    for other in (Moments(DX + 1, DY), Moments(DX, DY - 1), Moments(DY, DX)):
        with pytest.raises(ValueError, match="cannot merge"):
            m.merge(other)
        with pytest.raises(ValueError):
            other + m
    with pytest.raises(TypeError):
        m.merge(np.zeros(3))


def test_update_rejects_wrong_neuron_count():
    m = Moments(3, 2)
    with pytest.raises(ValueError, match=r"shape \(10, 4\)"):
        m.update(np.zeros((10, 4)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"shape \(10, 5\)"):
        m.update(np.ones((10, 3)), np.ones((10, 5)))
    assert m.count == 0 and not m.m2.any()  # nothing was added

"""DFT-CCA (cca_core.dft_cca): exactness on translation-invariant data against the flattened layers'
CCA, per-frequency correlations against slow references, shared frequencies of layers of different
sizes, properties, rank deficiency and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cca_core
import reference
import reference_dft
from cca_core import dft_cca, resize_to
from cca_core.dft import frequency_grid


def circular_conv(u: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Circular 3x3 convolution of maps u (B, H, W, Ci) with kernel (3, 3, Ci, Co)."""
    out = 0.0
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            out = out + np.roll(u, (a - 1, b - 1), axis=(1, 2)) @ kernel[a, b]
    return out


def all_circular_shifts(x: np.ndarray) -> np.ndarray:
    """Every circular shift of every map: (B * H * W, H, W, C)."""
    _, h, w, _ = x.shape
    return np.concatenate([np.roll(x, (i, j), axis=(1, 2)) for i in range(h) for j in range(w)])


def invariant_layers(rng, h, w, c1, c2, n_base):
    """Two layers of one circularly translation-invariant dataset.

    Base inputs, every circular shift of each; layer 1 a circular convolution and tanh, layer 2 a
    circular convolution of layer 1, tanh, a channel mixing and a skip from the input. Each map is
    shift-equivariant, so shifting a layer's output is the layer of the shifted input.
    """
    u = rng.standard_normal((n_base, h, w, 3))
    l1 = np.tanh(circular_conv(u, rng.standard_normal((3, 3, 3, c1))))
    l2 = (np.tanh(0.5 * circular_conv(l1, rng.standard_normal((3, 3, c1, c2))))
          @ rng.standard_normal((c2, c2)) + 0.1 * circular_conv(u, rng.standard_normal((3, 3, 3, c2))))
    return all_circular_shifts(l1), all_circular_shifts(l2)


# ---------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("h, w, c1, c2", [(4, 5, 3, 4), (4, 4, 3, 3), (3, 5, 4, 2), (3, 4, 2, 3),
                                          (1, 6, 3, 3), (2, 2, 4, 3)])
def test_translation_invariant_pooled_equals_flattened_cca(rng, h, w, c1, c2):
    x, y = invariant_layers(rng, h, w, c1, c2, n_base=max(c1, c2) + 4)
    n = x.shape[0]
    flat_x, flat_y = x.reshape(n, -1), y.reshape(n, -1)
    assert n > max(flat_x.shape[1], flat_y.shape[1])  # the flattened CCA is well determined
    expected = reference.cca_correlations(flat_x, flat_y)
    res = dft_cca(x, y)
    assert res.pooled.shape == expected.shape == (h * w * min(c1, c2),)
    np.testing.assert_allclose(res.pooled, np.sort(expected)[::-1], rtol=0, atol=1e-8)
    assert res.mean == pytest.approx(float(np.mean(expected)), abs=1e-10)
    assert 0.0 < res.mean < 1.0


def test_translation_invariant_offsets_and_float32(rng):
    x, y = invariant_layers(rng, 4, 3, 3, 3, n_base=7)
    n = x.shape[0]
    expected = np.sort(reference.cca_correlations(x.reshape(n, -1), y.reshape(n, -1)))[::-1]
    got = dft_cca(x + 5.0, 3.0 * y - 2.0)  # offsets only move the DC mean, which is centred away
    np.testing.assert_allclose(got.pooled, expected, rtol=0, atol=1e-8)
    got32 = dft_cca(x.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(got32.pooled, expected, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- per frequency, slow reference
@pytest.mark.parametrize("shape1, shape2", [((6, 5), (6, 5)), ((4, 4), (4, 4)), ((9, 8), (4, 5)),
                                            ((8, 7), (5, 6)), ((6, 6), (6, 3))])
def test_per_frequency_against_direct_dft_and_complex_qr(rng, shape1, shape2):
    n, c1, c2 = 40, 3, 4
    x = rng.standard_normal((n, *shape1, c1))
    y = rng.standard_normal((n, *shape2, c2)) + 0.5 * rng.standard_normal((n, 1, 1, c2))
    y[..., :2] += 0.7 * resize_to(x[..., :2], shape2, method="zoom")  # some shared signal
    size = (min(shape1[0], shape2[0]), min(shape1[1], shape2[1]))
    res = dft_cca(x, y)
    assert res.size == size
    grid = res.grid()
    zx = reference_dft.dft2_direct(x, size)
    zy = reference_dft.dft2_direct(y, size)
    for i in range(size[0]):
        for j in range(size[1]):
            ref = reference_dft.complex_cca_correlations(zx[:, i, j], zy[:, i, j])
            np.testing.assert_allclose(grid[i, j], ref, rtol=0, atol=1e-10, err_msg=f"location {(i, j)}")
    assert np.all((res.correlations >= 0) & (res.correlations <= 1))


def test_per_frequency_against_real_embedding_eigh(rng):
    n = 30
    x = rng.standard_normal((n, 4, 6, 3))
    y = np.roll(x, 1, axis=2) @ rng.standard_normal((3, 5)) + rng.standard_normal((n, 4, 6, 5))
    res = dft_cca(x, y)
    zx = reference_dft.dft2_direct(x, (4, 6))
    zy = reference_dft.dft2_direct(y, (4, 6))
    for (k, l), rho in zip(res.frequencies, res.correlations):
        ref = reference_dft.complex_cca_eigh(zx[:, k % 4, l % 6], zy[:, k % 4, l % 6])
        np.testing.assert_allclose(rho, ref, rtol=0, atol=1e-9, err_msg=f"frequency {(k, l)}")


# ------------------------------------------------------------------------- shared frequencies
@pytest.mark.parametrize("shape1, shape2", [((8, 8), (4, 4)), ((9, 8), (4, 5)), ((5, 5), (2, 2))])
def test_different_sizes_equal_dft_cca_after_fft_resampling(rng, shape1, shape2):
    big = rng.standard_normal((30, *shape1, 3))
    small = rng.standard_normal((30, *shape2, 4)) + resize_to(big[..., :1], shape2, "fft")
    got = dft_cca(big, small)
    want = dft_cca(resize_to(big, shape2, method="fft"), small)
    np.testing.assert_array_equal(got.frequencies, want.frequencies)
    np.testing.assert_allclose(got.correlations, want.correlations, rtol=0, atol=1e-12)
    # either argument order: the shared grid is the smaller one
    swapped = dft_cca(small, big)
    np.testing.assert_allclose(np.sort(swapped.pooled), np.sort(got.pooled), rtol=0, atol=1e-12)


def test_size_keeps_the_lower_frequencies(rng):
    x = rng.standard_normal((40, 8, 8, 3))
    y = x[..., ::-1] + rng.standard_normal((40, 8, 8, 3))
    sub = dft_cca(x, y, size=(5, 4))
    assert sub.size == (5, 4) and sub.multiplicity.sum() == 20
    full = dft_cca(x, y).grid()
    got = sub.grid()
    for i, k in enumerate(np.rint(np.fft.fftfreq(5, 1 / 5)).astype(int)):
        for j, l in enumerate(np.rint(np.fft.fftfreq(4, 1 / 4)).astype(int)):
            if abs(l) == 2:  # the folded Nyquist bin of the 4-wide grid: against the direct DFT
                zx = reference_dft.dft2_direct(x, (5, 4))[:, i, j]
                zy = reference_dft.dft2_direct(y, (5, 4))[:, i, j]
                np.testing.assert_allclose(got[i, j], reference_dft.complex_cca_correlations(zx, zy),
                                           rtol=0, atol=1e-10)
            else:  # an unfolded frequency: the same as on the full grid
                np.testing.assert_allclose(got[i, j], full[k % 8, l % 8], rtol=0, atol=1e-12)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 2), (2, 1), (3, 3), (4, 4), (4, 5), (5, 6), (16, 16)])
def test_frequency_grid_covers_every_frequency_once(h, w):
    freqs, mult = frequency_grid((h, w))
    assert mult.sum() == h * w
    covered = []
    for (k, l), m in zip(freqs, mult):
        pair = {(k % h, l % w), ((-k) % h, (-l) % w)}
        assert len(pair) == m
        covered.extend(pair)
    assert sorted(covered) == [(i, j) for i in range(h) for j in range(w)]
    assert np.all(freqs[:, 1] >= 0) and np.all(freqs[:, 1] <= w // 2)


# ---------------------------------------------------------------------------------- properties
def test_identity_symmetry_and_channel_mixing(rng):
    x = rng.standard_normal((50, 5, 4, 3))
    y = np.tanh(x @ rng.standard_normal((3, 4))) + 0.3 * rng.standard_normal((50, 5, 4, 4))
    same = dft_cca(x, x)
    np.testing.assert_allclose(same.pooled, 1.0, rtol=0, atol=1e-10)
    a, b = dft_cca(x, y), dft_cca(y, x)
    np.testing.assert_allclose(a.correlations, b.correlations, rtol=0, atol=1e-12)
    mixed = dft_cca(x @ rng.standard_normal((3, 3)) + 2.0, y * np.array([1.0, -3.0, 0.5, 2.0]))
    np.testing.assert_allclose(mixed.correlations, a.correlations, rtol=0, atol=1e-10)


def test_chunks_and_channels_first_give_the_same_answer(rng):
    x = rng.standard_normal((37, 6, 5, 3))
    y = x[..., :2] ** 2 + rng.standard_normal((37, 6, 5, 2))
    ref = dft_cca(x, y)
    np.testing.assert_allclose(dft_cca(x, y, chunk_size=5).correlations, ref.correlations,
                               rtol=0, atol=1e-12)
    nchw = dft_cca(np.moveaxis(x, -1, 1), np.moveaxis(y, -1, 1), channels_last=False)
    np.testing.assert_array_equal(nchw.correlations, ref.correlations)


def test_rank_deficient_channels_give_finite_correlations(rng):
    n = 40
    x = rng.standard_normal((n, 4, 4, 4))
    x[..., 1] = x[..., 0]  # duplicated channel
    x[..., 2] = 3.0  # constant channel
    x[..., 3] = rng.standard_normal((n, 1, 1))  # constant over positions: DC content only
    y = x[..., :1] + 0.5 * rng.standard_normal((n, 4, 4, 2))
    res = dft_cca(x, y)
    dc = np.flatnonzero((res.frequencies == 0).all(axis=1))[0]
    assert res.ranks[dc, 0] == 2  # the duplicate and the constant channel add nothing
    others = np.ones(len(res.frequencies), bool)
    others[dc] = False
    assert np.all(res.ranks[others, 0] == 1)  # the DC-only channel is rounding error elsewhere
    k = np.minimum(res.ranks[:, 0], res.ranks[:, 1])
    for f, rho in enumerate(res.correlations):
        assert np.all(np.isfinite(rho[: k[f]])) and np.all(np.isnan(rho[k[f]:]))
        assert np.all((rho[: k[f]] >= 0) & (rho[: k[f]] <= 1))
    assert res.pooled.size == int((res.multiplicity * k).sum())
    assert np.isfinite(res.mean) and 0 < res.mean < 1


def test_result_fields(rng):
    x = rng.standard_normal((20, 3, 4, 2))
    res = dft_cca(x, x + rng.standard_normal(x.shape))
    assert res.n_datapoints == 20 and res.size == (3, 4)
    assert res.frequencies.shape == (len(res.multiplicity), 2)
    assert res.correlations.shape == (len(res.multiplicity), 2)
    assert res.grid().shape == (3, 4, 2) and not np.isnan(res.grid()).any()
    assert res.mean == pytest.approx(float(res.pooled.mean()))
    assert res.rtol == cca_core.canonical.default_rtol(2)


# ---------------------------------------------------------------------------------- bad input
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the DFT pass starts: errors must come before any work."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before the input was checked")
    monkeypatch.setattr(cca_core.dft, "_frequency_moments", boom)


def test_non_4d_input(no_work):
    good = np.zeros((10, 4, 4, 3))
    with pytest.raises(ValueError, match=r"acts1 must be 4-D.*\(10, 48\)"):
        dft_cca(good.reshape(10, -1), good)
    with pytest.raises(ValueError, match=r"acts2 must be 4-D.*\(10, 4, 4, 3, 1\)"):
        dft_cca(good, good[..., None])


def test_mismatched_datapoints(no_work):
    with pytest.raises(ValueError, match=r"same number of inputs.*\(10, 4, 4, 3\).*\(9, 4, 4, 3\)"):
        dft_cca(np.zeros((10, 4, 4, 3)), np.zeros((9, 4, 4, 3)))


def test_complex_and_non_numeric_input(no_work):
    good = np.zeros((10, 4, 4, 3))
    with pytest.raises(TypeError, match=r"acts2 has complex dtype.*\(10, 4, 4, 3\)"):
        dft_cca(good, good + 1j)
    with pytest.raises(TypeError, match="acts1 has non-numeric dtype"):
        dft_cca(good.astype(str), good)


def test_size_not_available_in_a_layer(no_work):
    a, b = np.zeros((10, 8, 8, 3)), np.zeros((10, 4, 6, 3))
    with pytest.raises(ValueError, match=r"size \(5, 5\) is not available in acts2 of shape \(10, 4, 6, 3\)"):
        dft_cca(a, b, size=(5, 5))
    with pytest.raises(ValueError, match="size"):
        dft_cca(a, b, size=(0, 2))
    with pytest.raises(TypeError, match="size"):
        dft_cca(a, b, size=4)


def test_nan_and_too_few_inputs(no_work):
    bad = np.zeros((10, 4, 4, 3))
    bad[2, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"acts1 \(shape \(10, 4, 4, 3\)\) contains 1 NaN"):
        dft_cca(bad, np.zeros((10, 4, 4, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        dft_cca(np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4, 3)))


def test_more_channels_than_inputs_warns(rng):
    x = rng.standard_normal((5, 3, 3, 6))
    with pytest.warns(cca_core.RankWarning, match="acts1"):
        dft_cca(x, x[..., :2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dft_cca(x[..., :2], x[..., 2:4])



@pytest.mark.parametrize("shape, size", [((6, 5), (6, 5)), ((9, 8), (4, 5)), ((8, 7), (5, 6)),
                                         ((8, 8), (2, 2)), ((4, 6), (1, 1))])
def test_shared_coefficients_against_direct_dft(rng, shape, size):
    x = rng.standard_normal((3, *shape, 2)).astype(np.float32)
    got = np.moveaxis(cca_core.dft._spectrum(x, size), 2, 0)  # (n, h, w//2+1, C)
    want = reference_dft.dft2_direct(x.astype(np.float64), size)[:, :, : size[1] // 2 + 1]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)

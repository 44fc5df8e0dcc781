"""conv_to_2d: shapes, values against explicit loops, channels_first, metadata, errors, views."""

from __future__ import annotations

import numpy as np
import pytest

import cca_core
from cca_core import conv_to_2d

N, H, W, C = 3, 4, 5, 6


@pytest.fixture
def acts():
    return np.random.default_rng(0).standard_normal((N, H, W, C))


def test_mean_mode(acts):
    out = conv_to_2d(acts, mode="mean")
    assert out.data.shape == (N, C)
    expected = np.empty((N, C))
    for i in range(N):
        for c in range(C):
            expected[i, c] = sum(acts[i, h, w, c] for h in range(H) for w in range(W)) / (H * W)
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(out.data, acts.mean(axis=(1, 2)), rtol=1e-13, atol=1e-14)


def test_positions_mode(acts):
    out = conv_to_2d(acts, mode="positions")
    assert out.data.shape == (N * H * W, C)
    for r in range(N * H * W):
        image, pos = divmod(r, H * W)  # row r: image r // (H*W) at position r % (H*W)
        h, w = divmod(pos, W)
        np.testing.assert_array_equal(out.data[r], acts[image, h, w, :])


def test_flatten_mode(acts):
    out = conv_to_2d(acts, mode="flatten")
    assert out.data.shape == (N, H * W * C)
    for i in range(N):
        col = 0
        for h in range(H):
            for w in range(W):
                for c in range(C):
                    assert out.data[i, col] == acts[i, h, w, c]
                    col += 1


def test_default_mode_is_mean(acts):
    out = conv_to_2d(acts)
    assert out.mode == "mean"
    np.testing.assert_array_equal(out.data, conv_to_2d(acts, mode="mean").data)


@pytest.mark.parametrize("mode", ["mean", "positions", "flatten"])
def test_channels_first_equals_moveaxis(acts, mode):
    nchw = np.ascontiguousarray(np.moveaxis(acts, -1, 1))  # (N, C, H, W)
    assert nchw.shape == (N, C, H, W)
    got = conv_to_2d(nchw, mode=mode, channels_last=False)
    want = conv_to_2d(np.moveaxis(nchw, 1, -1), mode=mode)
    np.testing.assert_array_equal(got.data, want.data)
    # and the same as the channels-last original
    np.testing.assert_allclose(got.data, conv_to_2d(acts, mode=mode).data, rtol=1e-15, atol=0)


@pytest.mark.parametrize("mode", ["mean", "positions", "flatten"])
def test_result_carries_mode_and_description(acts, mode):
    out = conv_to_2d(acts, mode=mode)
    assert isinstance(out, cca_core.ConvActivations)
    assert out.mode == mode
    assert isinstance(out.description, str) and out.description.strip()
    data, m, d = out  # a named tuple
    assert data is out.data and m == mode and d == out.description


def test_descriptions_differ_between_modes(acts):
    descs = {conv_to_2d(acts, mode=m).description for m in ("mean", "positions", "flatten")}
    assert len(descs) == 3


@pytest.mark.parametrize("mode", ["max", "", "MEAN", None])
def test_bad_mode_raises(acts, mode):
    with pytest.raises(ValueError, match="mode"):
        conv_to_2d(acts, mode=mode)


@pytest.mark.parametrize("shape", [(N, H, W), (N, H, W, C, 2), (N * H,)])
def test_non_4d_raises(shape):
    arr = np.zeros(shape)
    with pytest.raises(ValueError) as excinfo:
        conv_to_2d(arr)
    assert "4-D" in str(excinfo.value) and str(shape) in str(excinfo.value)


def test_positions_is_a_view_of_contiguous_input(acts):
    assert acts.flags.c_contiguous
    out = conv_to_2d(acts, mode="positions")
    assert np.shares_memory(out.data, acts)
    flat = conv_to_2d(acts, mode="flatten")
    assert np.shares_memory(flat.data, acts)


def test_mean_of_integers_is_float():
    ints = np.arange(N * H * W * C).reshape(N, H, W, C)
    out = conv_to_2d(ints, mode="mean")
    assert np.issubdtype(out.data.dtype, np.floating)
    np.testing.assert_allclose(out.data, ints.astype(float).mean(axis=(1, 2)), rtol=1e-15)


def test_float32_mean_stays_float32(acts):
    out = conv_to_2d(acts.astype(np.float32), mode="mean")
    assert out.data.dtype == np.float32
    np.testing.assert_allclose(out.data, acts.astype(np.float32).astype(np.float64).mean(axis=(1, 2)),
                               rtol=1e-6, atol=1e-7)


def test_conv_output_feeds_measures(acts):
    # positions mode gives N*H*W datapoints: enough for CCA between two layers' channels
    other = np.random.default_rng(1).standard_normal((N, H, W, 4))
    value = cca_core.mean_cca(conv_to_2d(acts, "positions").data, conv_to_2d(other, "positions").data)
    assert 0.0 <= value <= 1.0


# ------------------------------------------------------------------------------- resize_to
from cca_core import resize_to  # noqa: E402


def _ramp(n, h, w, c, coef):
    """a*p + b*q + d (p, q the row and column index), one (a, b, d) per channel."""
    p = np.arange(h)[:, None, None]
    q = np.arange(w)[None, :, None]
    a, b, d = coef
    return np.broadcast_to(a * p + b * q + d, (n, h, w, c)).copy()


def _centre_coordinate(size_in, size_out):
    """Input coordinate sampled by each output position, pixel centres aligned, clamped to the edges."""
    o = np.arange(size_out)
    return np.clip((o + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)


@pytest.mark.parametrize("method", ["zoom", "fft"])
@pytest.mark.parametrize("size", [(8, 10), (2, 3), (5, 5), (1, 1)])
def test_resize_constant_map_stays_constant(method, size):
    rng = np.random.default_rng(3)
    values = rng.standard_normal((2, 1, 1, 3))
    acts = np.broadcast_to(values, (2, 5, 4, 3)).copy()
    out = resize_to(acts, size, method=method)
    assert out.shape == (2, *size, 3)
    np.testing.assert_allclose(out, np.broadcast_to(values, out.shape), rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape_in, size", [((5, 4), (10, 8)), ((8, 8), (16, 16)), ((5, 7), (8, 3)),
                                            ((12, 9), (5, 4))])
def test_zoom_linear_ramp_is_exact_between_centres(shape_in, size):
    a, b, d = np.array([1.5, -0.5]), np.array([-2.0, 0.25]), np.array([0.3, 7.0])
    acts = _ramp(3, *shape_in, 2, (a, b, d))
    out = resize_to(acts, size, method="zoom")
    p = _centre_coordinate(shape_in[0], size[0])[:, None, None]
    q = _centre_coordinate(shape_in[1], size[1])[None, :, None]
    expected = np.broadcast_to(a * p + b * q + d, out.shape)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def _bandlimited(n, h, w, c, sample_h, sample_w, max_freq, seed):
    """sum_{|k|,|l| <= max_freq} of random Fourier coefficients, a real periodic map with period
    (h, w) input pixels, sampled at sample_h x sample_w equally spaced points of one period."""
    rng = np.random.default_rng(seed)
    p = np.arange(sample_h)[:, None] * h / sample_h
    q = np.arange(sample_w)[None, :] * w / sample_w
    out = np.zeros((n, sample_h, sample_w, c))
    for k in range(-max_freq, max_freq + 1):
        for l in range(-max_freq, max_freq + 1):
            amp = rng.standard_normal((n, 1, 1, c))
            phase = rng.uniform(0, 2 * np.pi, (n, 1, 1, c))
            out += amp * np.cos(2 * np.pi * (k * p / h + l * q / w)[None, :, :, None] + phase)
    return out


@pytest.mark.parametrize("shape_in, size", [((7, 9), (12, 16)), ((12, 10), (7, 6)), ((8, 8), (5, 5))])
def test_fft_resize_of_band_limited_periodic_map_is_exact(shape_in, size):
    # frequencies below half of the smaller grid on both axes: no bin at or beyond a Nyquist
    max_freq = (min(min(shape_in), min(size)) - 1) // 2
    acts = _bandlimited(2, *shape_in, 3, *shape_in, max_freq, seed=4)
    expected = _bandlimited(2, *shape_in, 3, *size, max_freq, seed=4)  # same function, new grid
    out = resize_to(acts, size, method="fft")
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("method", ["zoom", "fft"])
def test_resize_channels_first_and_dtypes(method, acts):
    nchw = np.ascontiguousarray(np.moveaxis(acts, -1, 1))
    got = resize_to(nchw, (7, 9), method=method, channels_last=False)
    want = resize_to(acts, (7, 9), method=method)
    assert got.shape == (N, C, 7, 9)
    np.testing.assert_array_equal(got, np.moveaxis(want, -1, 1))
    assert resize_to(acts.astype(np.float32), (7, 9), method=method).dtype == np.float32
    ints = np.arange(N * H * W * C).reshape(N, H, W, C)
    assert resize_to(ints, (7, 9), method=method).dtype == np.float64


@pytest.mark.parametrize("method", ["zoom", "fft"])
def test_resize_to_own_size_is_an_equal_copy(method, acts):
    out = resize_to(acts, (H, W), method=method)
    np.testing.assert_array_equal(out, acts)
    assert not np.shares_memory(out, acts)


def test_conv_to_2d_size_matches_layers_of_different_sizes(acts):
    small = np.random.default_rng(5).standard_normal((N, 2, 3, 4))
    out = conv_to_2d(small, mode="positions", size=(H, W))
    assert out.data.shape == (N * H * W, 4)
    np.testing.assert_array_equal(out.data, conv_to_2d(resize_to(small, (H, W)), "positions").data)
    assert "resized" in out.description and "(2, 3)" in out.description
    fft = conv_to_2d(small, mode="mean", size=(H, W), resize="fft")
    np.testing.assert_allclose(fft.data, small.mean(axis=(1, 2)), rtol=0, atol=1e-13)  # DC is kept
    # the channels of both layers are now datapoint-aligned
    value = cca_core.mean_cca(conv_to_2d(acts, "positions").data, out.data)
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("size, exc", [((0, 3), ValueError), ((-1, 2), ValueError), ((2.0, 3), TypeError),
                                       ((2, 3, 4), TypeError), (5, TypeError), ((True, 2), TypeError)])
def test_resize_bad_size(acts, size, exc):
    with pytest.raises(exc, match="size"):
        resize_to(acts, size)


def test_resize_bad_input(acts):
    with pytest.raises(ValueError, match="method"):
        resize_to(acts, (3, 3), method="bicubic")
    with pytest.raises(ValueError, match=r"4-D.*\(4, 5, 6\)"):
        resize_to(acts[0], (3, 3))
    with pytest.raises(TypeError, match="complex"):
        resize_to(acts + 1j, (3, 3))
    bad = acts.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        resize_to(bad, (3, 3))
    with pytest.raises(ValueError, match="mode"):
        conv_to_2d(acts, mode="max", size=(3, 3))

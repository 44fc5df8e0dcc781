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

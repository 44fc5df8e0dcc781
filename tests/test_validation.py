"""Input checks of every public entry point: the right exception, and a message that names the
argument, its shape and the problem; accepted dtypes and containers; no float64 copy of float32."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import cca_core
from cca_core import Moments, compat

NX, NY, N = 3, 2, 50  # neurons of each side and datapoints of the good inputs


def _moments_update(x, y):
    return Moments(NX, NY).update(x, y)


def _moments_pwcca(x, y):
    return Moments(NX, NY).update(x, y).pwcca()


# name -> (callable, argument names, datapoint axis, warns on neurons >= datapoints)
APIS = {
    "pwcca": (cca_core.pwcca, ("X", "Y"), 0, True),
    "mean_cca": (cca_core.mean_cca, ("X", "Y"), 0, True),
    "svcca": (cca_core.svcca, ("X", "Y"), 0, True),
    "linear_cka": (cca_core.linear_cka, ("X", "Y"), 0, False),  # CKA is made for neurons >= datapoints
    "cca": (cca_core.cca, ("X", "Y"), 0, True),
    "Moments.update": (_moments_update, ("X", "Y"), 0, False),  # streamed chunks: no RankWarning
    "get_cca_similarity": (lambda a, b: compat.get_cca_similarity(a, b, verbose=False),
                           ("acts1", "acts2"), 1, True),
    "compute_pwcca": (compat.compute_pwcca, ("acts1", "acts2"), 1, True),
}
API_IDS = sorted(APIS)


def good_pair(seed=0, n=N, nx=NX, ny=NY):
    """(n, nx), (n, ny) correlated data with non-zero means, package layout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, nx)) + rng.uniform(-3, 3, nx)
    y = x[:, :ny] @ rng.standard_normal((ny, ny)) + 0.5 * rng.standard_normal((n, ny)) + 1.0
    return x, y


def native(api, arr):
    """An (n_datapoints, n_neurons) array in the API's own layout."""
    return arr.T if APIS[api][2] == 1 else arr


def call(api, first, second):
    return APIS[api][0](first, second)


def call_with_bad(api, side, bad_native):
    """Call ``api`` with ``bad_native`` (already in the API's layout) as argument ``side``."""
    x, y = good_pair()
    x, y = native(api, x), native(api, y)
    if side == 0:
        return call(api, bad_native, y)
    return call(api, x, bad_native)


def shape_text(shape):
    return re.escape(str(tuple(shape)))


def assert_message(excinfo, *parts):
    msg = str(excinfo.value)
    for part in parts:
        assert re.search(part, msg), f"{part!r} not in message {msg!r}"


def bad_array(api, side, fill):
    """A good-sized array of side ``side`` in the API's layout, with ``fill(arr)`` applied."""
    x, y = good_pair()
    arr = native(api, (x if side == 0 else y).copy())
    fill(arr)
    return arr


side_param = pytest.mark.parametrize("side", [0, 1], ids=["first", "second"])
api_param = pytest.mark.parametrize("api", API_IDS)


# --------------------------------------------------------------------------- NaN / Inf
def _put(values):
    def fill(arr):
        for pos, v in zip((1, 7, 12, 20, 33), values):  # distinct positions
            arr[np.unravel_index(pos, arr.shape)] = v
    return fill


@api_param
@side_param
@pytest.mark.parametrize("values,expected", [
    ((np.nan, np.nan, np.nan), [r"\b3 NaN"]),
    ((np.inf, -np.inf), [r"\b2 Inf"]),
    ((np.nan, np.inf, np.nan, -np.inf, np.nan), [r"\b3 NaN", r"\b2 Inf"]),
], ids=["nan", "inf", "nan_and_inf"])
def test_non_finite_values(api, side, values, expected):
    arr = bad_array(api, side, _put(values))
    with pytest.raises(ValueError) as excinfo:
        call_with_bad(api, side, arr)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(arr.shape), *expected)


# --------------------------------------------------------------------------- shapes
@api_param
def test_different_numbers_of_datapoints(api):
    x, _ = good_pair(n=N)
    _, y = good_pair(n=N - 10)
    a, b = native(api, x), native(api, y)
    with pytest.raises(ValueError) as excinfo:
        call(api, a, b)
    n1, n2 = APIS[api][1]
    assert_message(excinfo, re.escape(n1), re.escape(n2), shape_text(a.shape), shape_text(b.shape),
                   "same number of datapoints")


@api_param
@side_param
@pytest.mark.parametrize("shape", [(N,), (N, 2, 3)], ids=["1d", "3d"])
def test_wrong_ndim(api, side, shape):
    arr = np.random.default_rng(1).standard_normal(shape)
    with pytest.raises(ValueError) as excinfo:
        call_with_bad(api, side, arr)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(shape), "2-D", f"{len(shape)}-D")


@api_param
@side_param
def test_4d_points_to_conv_to_2d(api, side):
    arr = np.random.default_rng(1).standard_normal((N, 4, 4, 3))
    with pytest.raises(ValueError) as excinfo:
        call_with_bad(api, side, arr)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(arr.shape), "conv_to_2d")


@pytest.mark.parametrize("api", [a for a in API_IDS if a != "Moments.update"])
@side_param
def test_fewer_than_two_datapoints(api, side):
    x, y = good_pair()
    one = native(api, (x if side == 0 else y)[:1])  # the other argument keeps its N datapoints
    with pytest.raises(ValueError) as excinfo:
        call_with_bad(api, side, one)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(one.shape), r"\b1 datapoint",
                   "at least 2")


def test_moments_streams_small_chunks_but_needs_two_datapoints():
    # A streamed chunk may hold a single datapoint (or none); a measure needs at least 2 in all.
    x, y = good_pair()
    m = Moments(NX, NY).update(x[:0], y[:0]).update(x[:1], y[:1])
    assert m.count == 1
    with pytest.raises(ValueError) as excinfo:
        m.pwcca()
    assert_message(excinfo, r"\b1\b", "datapoint")
    m.update(x[1:2], y[1:2])
    assert m.count == 2
    # chunks must still pair up
    with pytest.raises(ValueError) as excinfo:
        Moments(NX, NY).update(x[:1], y[:2])
    assert_message(excinfo, shape_text((1, NX)), shape_text((2, NY)), "same number of datapoints")


# --------------------------------------------------------------------------- dtypes and containers
@api_param
@side_param
def test_complex_dtype(api, side):
    arr = bad_array(api, side, lambda a: None).astype(np.complex128)
    with pytest.raises(TypeError) as excinfo:
        call_with_bad(api, side, arr)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(arr.shape), "complex")


@api_param
@side_param
@pytest.mark.parametrize("kind", ["str", "object"])
def test_non_numeric_dtype(api, side, kind):
    good = bad_array(api, side, lambda a: None)
    arr = good.astype(str) if kind == "str" else good.astype(object)
    if kind == "object":
        arr[0, 0] = None
    with pytest.raises(TypeError) as excinfo:
        call_with_bad(api, side, arr)
    assert_message(excinfo, re.escape(APIS[api][1][side]), shape_text(arr.shape), "non-numeric")


@api_param
@side_param
def test_ragged_list(api, side):
    good = bad_array(api, side, lambda a: None).tolist()
    good[1] = good[1][:-1]
    with pytest.raises(TypeError) as excinfo:
        call_with_bad(api, side, good)
    assert_message(excinfo, re.escape(APIS[api][1][side]), "numeric array")


def _no_variance_call(api, a, b):
    if api == "Moments.update":
        return _moments_pwcca(a, b)  # accumulating is fine; the measure needs variance
    return call(api, a, b)


@pytest.mark.parametrize("api", API_IDS)
@side_param
def test_all_neurons_constant(api, side):
    arr = bad_array(api, side, lambda a: a.__setitem__(Ellipsis, 4.0))
    x, y = good_pair()
    a, b = native(api, x), native(api, y)
    a, b = (arr, b) if side == 0 else (a, arr)
    with pytest.raises(ValueError) as excinfo:
        _no_variance_call(api, a, b)
    n_neurons = arr.shape[1 - APIS[api][2]]
    assert_message(excinfo, "no variance", rf"\b{n_neurons} neurons", rf"\b{N} datapoints")
    assert_message(excinfo, rf"^{re.escape(APIS[api][1][side])}\b")


def test_moments_update_wrong_number_of_neurons():
    x, y = good_pair(nx=4)
    with pytest.raises(ValueError) as excinfo:
        Moments(NX, NY).update(x, y)
    assert_message(excinfo, r"\bX\b", shape_text(x.shape), r"\b4 neurons", rf"\b{NX}\b")


# --------------------------------------------------------------------------- rank warning
@pytest.mark.parametrize("api", [a for a in API_IDS if APIS[a][3]])
@side_param
def test_rank_warning_when_neurons_not_fewer_than_datapoints(api, side):
    rng = np.random.default_rng(3)
    wide = rng.standard_normal((6, 8)) + 1.0  # 6 datapoints, 8 neurons
    narrow = rng.standard_normal((6, 2))
    a, b = (wide, narrow) if side == 0 else (narrow, wide)
    with pytest.warns(cca_core.RankWarning) as record:
        call(api, native(api, a), native(api, b))
    msgs = [str(w.message) for w in record if issubclass(w.category, cca_core.RankWarning)]
    name = APIS[api][1][side]
    assert any(m.startswith(name) and "8 neurons" in m and "6 datapoints" in m for m in msgs), msgs


@api_param
def test_no_rank_warning_when_well_determined(recwarn, api):
    call(api, *(native(api, a) for a in good_pair()))
    assert not [w for w in recwarn if issubclass(w.category, cca_core.RankWarning)]


# --------------------------------------------------------------------------- accepted input
def _summary(api, result):
    """The numbers an API returns, as a flat float64 vector."""
    if api == "cca":
        return np.concatenate([result.correlations, np.abs(result.x_weights).ravel(),
                               np.abs(result.y_weights).ravel()])
    if api == "Moments.update":
        return np.concatenate([[result.count], result.mean, result.m2.ravel(),
                               [result.pwcca(), result.mean_cca(), result.linear_cka()]])
    if api == "get_cca_similarity":
        return np.concatenate([result["cca_coef1"], [result["mean"][0], result["sum"][0]],
                               result["neuron_means1"].ravel(), np.abs(result["invsqrt_xx"]).ravel()])
    if api == "compute_pwcca":
        return np.concatenate([[result[0]], result[1], result[2]])
    return np.atleast_1d(np.float64(result))


def _float32_sensitive_pair(n=4000):
    """Large offsets and many datapoints: float32 arithmetic would be off by far more than 1e-5."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((n, NX)) * [1.0, 0.3, 2.0] + [300.0, -200.0, 150.0]
    y = np.empty((n, NY))
    y[:, 0] = 0.9 * x[:, 0] + 0.4 * rng.standard_normal(n) + 100.0
    y[:, 1] = 0.2 * x[:, 1] + rng.standard_normal(n) * 0.3 - 50.0
    return x.astype(np.float32), y.astype(np.float32)


@api_param
def test_float32_accepted_and_accurate(api):
    x32, y32 = _float32_sensitive_pair()
    got = _summary(api, call(api, native(api, x32), native(api, y32)))
    x64, y64 = x32.astype(np.float64), y32.astype(np.float64)  # the very same values
    want = _summary(api, call(api, native(api, x64), native(api, y64)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_float32_chunk_upcast_is_exact_where_float32_arithmetic_is_not():
    # Why the test above can fail: the same covariance in float32 arithmetic is far off.
    x32, y32 = _float32_sensitive_pair()
    m = Moments.from_arrays(x32, y32)
    sxx = m.covariance()[0]
    exact = np.cov(x32.astype(np.float64), rowvar=False)
    np.testing.assert_allclose(sxx, exact, rtol=1e-12, atol=1e-12)
    naive32 = (x32.T @ x32 - len(x32) * np.outer(x32.mean(0), x32.mean(0))) / (len(x32) - 1)
    assert np.max(np.abs(naive32 - exact)) > 1e-3


@api_param
def test_integer_input_accepted(api):
    rng = np.random.default_rng(4)
    xi = rng.integers(-20, 20, size=(N, NX))
    yi = xi[:, :NY] * 2 + rng.integers(-5, 5, size=(N, NY))
    got = _summary(api, call(api, native(api, xi), native(api, yi)))
    want = _summary(api, call(api, native(api, xi.astype(float)), native(api, yi.astype(float))))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@api_param
def test_lists_accepted(api):
    x, y = good_pair()
    a, b = native(api, x), native(api, y)
    got = _summary(api, call(api, a.tolist(), b.tolist()))
    want = _summary(api, call(api, a, b))
    # Same values; a list becomes a C-ordered array, so summation order (last bits) may differ.
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_float32_not_copied_whole_to_float64():
    rng = np.random.default_rng(0)
    n, p = 200_000, 64
    x = rng.standard_normal((n, p), dtype=np.float32)
    y = x[:, :8] * np.float32(2.0) + rng.standard_normal((n, 8), dtype=np.float32)
    copy_bytes = x.size * 8  # ~102 MB as float64
    tracemalloc.start()
    try:
        value = cca_core.pwcca(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(value) and 0.0 < value <= 1.0
    assert peak < 60e6, f"peak extra memory {peak / 1e6:.1f} MB (float64 copy: {copy_bytes / 1e6:.0f} MB)"

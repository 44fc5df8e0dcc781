"""CKA at any finite scale (issue 20, item 3).

Linear, debiased and RBF CKA are invariant to scaling each side; their formulas raise the scale to
the 4th (linear) or 8th (debiased) power. Every path must give, for ``c X, c Y``, the value of
``X, Y`` over the whole float64 (and float32) range. The reference is written here from the
papers, on explicit centred ``n x n`` Gram matrices at scale 1: Kornblith et al. (2019) eq. 1-4
(``HSIC ~ tr(K H L H)``), Song et al. (2012) eq. 5 for the unbiased HSIC, and Kornblith et al.'s
RBF bandwidth (a fraction of the median squared distance over all pairs).
"""

from __future__ import annotations

import numpy as np
import pytest

import cca_core as cc
from cca_core import Moments

# ------------------------------------------------------------------------------ references
def _centred_gram(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    return h @ (x @ x.T) @ h


def _cka(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - 1.0 / n
    kc, lc = h @ k @ h, h @ l @ h
    return float(np.trace(kc @ lc) / np.sqrt(np.trace(kc @ kc) * np.trace(lc @ lc)))


def ref_linear_cka(x, y) -> float:
    return _cka(_centred_gram(x), _centred_gram(y))


def _hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012), eq. 5."""
    n = k.shape[0]
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    return float((np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
                  - 2.0 / (n - 2) * (one @ kt @ lt @ one)) / (n * (n - 3)))


def ref_debiased_cka(x, y) -> float:
    k, l = _centred_gram(x), _centred_gram(y)
    return _hsic_unbiased(k, l) / np.sqrt(_hsic_unbiased(k, k) * _hsic_unbiased(l, l))


def _rbf_kernel(x, threshold):
    x = np.asarray(x, dtype=np.float64)
    d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return np.exp(-d2 / (2.0 * threshold**2 * np.median(d2)))


def ref_rbf_cka(x, y, threshold=0.5) -> float:
    return _cka(_rbf_kernel(x, threshold), _rbf_kernel(y, threshold))


REFERENCES = {"linear_cka": ref_linear_cka, "debiased_linear_cka": ref_debiased_cka,
              "rbf_cka": ref_rbf_cka}

# ------------------------------------------------------------------------------ data and scales
#: 10**k from 1e-300 to 1e300, and exact powers of two out to float64's normal limits (the data
#: are |x| < 5, so 2**1020 * x stays below 1.8e308 and 2**-1000 * x above 2.2e-308 but for tiny x).
DECIMAL_SCALES = [10.0**k for k in range(-300, 301, 25)]
BINARY_SCALES = [2.0**k for k in (-1000, -900, -700, -500, -300, -100, 100, 300, 500, 700, 900, 1000, 1020)]
#: float32: 1.2e-38 .. 3.4e38; exact powers of two, 2**-120 * x normal for |x| > 2**-6.
FLOAT32_SCALES = [2.0**k for k in range(-120, 121, 15)]


def _narrow(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 7))
    y = np.hstack([x[:, :4] @ rng.standard_normal((4, 4)), rng.standard_normal((n, 2))]) \
        + 0.5 * rng.standard_normal((n, 6))
    return x + 3.0, y - 1.0  # offsets: the measures centre


def _wide(seed=1, n=24):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 5))
    x = z @ rng.standard_normal((5, 40)) + 0.3 * rng.standard_normal((n, 40))
    y = z[:, :3] @ rng.standard_normal((3, 30)) + 0.5 * rng.standard_normal((n, 30))
    return x, y


def _close(value, ref, rtol=1e-12):
    assert np.isfinite(value)
    assert value == pytest.approx(ref, rel=rtol, abs=rtol)


MEASURES = list(REFERENCES)


# ------------------------------------------------------------------------------ in memory
@pytest.mark.parametrize("measure", MEASURES)
def test_in_memory_float64_whole_range(measure):
    x, y = _narrow()
    ref = REFERENCES[measure](x, y)
    fn = cc.measures.MEASURES[measure]
    for c in DECIMAL_SCALES + BINARY_SCALES:
        _close(fn(c * x, c * y), ref)


@pytest.mark.parametrize("measure", MEASURES)
def test_in_memory_float32_whole_range(measure):
    x, y = (a.astype(np.float32) for a in _narrow(seed=2))
    ref = REFERENCES[measure](x, y)
    fn = cc.measures.MEASURES[measure]
    for c in FLOAT32_SCALES:
        xs, ys = x * np.float32(c), y * np.float32(c)
        assert xs.dtype == np.float32 and np.all(np.isfinite(xs))
        _close(fn(xs, ys), ref)


@pytest.mark.parametrize("measure", MEASURES)
def test_different_scales_per_side(measure):
    x, y = _narrow(seed=3)
    ref = REFERENCES[measure](x, y)
    fn = cc.measures.MEASURES[measure]
    for cx, cy in ((1e-300, 1e300), (1e300, 1.0), (1.0, 1e-280), (2.0**-1000, 2.0**1000)):
        _close(fn(cx * x, cy * y), ref)


# ------------------------------------------------------------------------------ wide layers
@pytest.mark.parametrize("measure", MEASURES)
def test_wide_layers_whole_range(measure):
    x, y = _wide()
    assert x.shape[1] > x.shape[0]  # data space
    ref = REFERENCES[measure](x, y)
    fn = cc.measures.MEASURES[measure]
    # Up to 2**1000 (1e301): above about 1e306 the shared input gate of the data-space and
    # pairwise paths refuses data whose sum over all values overflows float64 (its overflow error).
    for c in DECIMAL_SCALES[::2] + [2.0**-1000, 2.0**-500, 2.0**700, 2.0**1000]:
        _close(fn(c * x, c * y), ref)
    for c in FLOAT32_SCALES[::2]:
        _close(fn((c * x).astype(np.float32), (c * y).astype(np.float32)),
               REFERENCES[measure](x.astype(np.float32), y.astype(np.float32)), rtol=1e-6)


# ------------------------------------------------------------------------------ pairwise
@pytest.mark.parametrize("space", ["neuron", "data"])
@pytest.mark.parametrize("measure", MEASURES)
def test_pairwise_whole_range(measure, space):
    x, y = _narrow(seed=4, n=40)
    w = np.tanh(x[:, :5]) + 0.1 * y[:, :5]
    acts = [x, y, w]
    ref = np.array([[REFERENCES[measure](a, b) for b in acts] for a in acts])
    for c in DECIMAL_SCALES[::3] + [2.0**-1000, 2.0**1000]:
        res = cc.pairwise([c * a for a in acts], measure, space=space)
        np.testing.assert_allclose(res.values, ref, rtol=1e-12, atol=1e-12)
    for c in (2.0**-120, 2.0**120):
        res = cc.pairwise([(c * a).astype(np.float32) for a in acts], measure, space=space)
        ref32 = np.array([[REFERENCES[measure](a.astype(np.float32), b.astype(np.float32))
                           for b in acts] for a in acts])
        np.testing.assert_allclose(res.values, ref32, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ the issue's examples
def test_issue_examples():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 8))
    y = x[:, :6] + rng.standard_normal((200, 6))
    ref = ref_linear_cka(x, y)
    assert ref == pytest.approx(0.4742, abs=5e-5)
    _close(cc.linear_cka(1e-90 * x, 1e-90 * y), ref)
    _close(cc.linear_cka(1e90 * x, 1e90 * y), ref)
    x = rng.standard_normal((1000, 50))
    y = x[:, :30] + rng.standard_normal((1000, 30))
    x32, y32 = (5e36 * x).astype(np.float32), (5e36 * y).astype(np.float32)
    assert np.all(np.isfinite(x32))
    value = cc.debiased_linear_cka(x32, y32)
    # float32 rounding of the data moves the value by ~1e-8; the reference is float64 at scale 1
    assert value == pytest.approx(0.3805, abs=5e-5)
    _close(value, cc.debiased_linear_cka(x32.astype(np.float64) / 5e36, y32.astype(np.float64) / 5e36),
           rtol=1e-12)
    _close(cc.debiased_linear_cka(x, y), ref_debiased_cka(x, y), rtol=1e-10)


# ------------------------------------------------------------------------------ streaming and Dask
#: Scales whose raw products stay in float64's normal range: the accumulator's Gram blocks hold them.
MOMENT_SCALES = [10.0**k for k in range(-140, 151, 10)]


def test_moments_streaming_in_range():
    x, y = _narrow(seed=5, n=90)
    ref = ref_linear_cka(x, y)
    for c in MOMENT_SCALES:
        m = Moments(x.shape[1], y.shape[1])
        for start in range(0, 90, 25):
            m.update(c * x[start:start + 25], c * y[start:start + 25])
        _close(m.linear_cka(), ref)
        half = Moments.from_arrays(c * x[:40], c * y[:40]) + Moments.from_arrays(c * x[40:], c * y[40:])
        _close(half.linear_cka(), ref)
    for c in (2.0**-120, 2.0**120):
        m = Moments(x.shape[1], y.shape[1]).update((c * x).astype(np.float32), (c * y).astype(np.float32))
        _close(m.linear_cka(), ref_linear_cka(x.astype(np.float32), y.astype(np.float32)))


def test_moments_out_of_range_raise():
    x, y = _narrow(seed=6)
    for c in (1e160, 1e200, 1e300):
        with pytest.raises(ValueError, match="overflow float64"):
            Moments(x.shape[1], y.shape[1]).update(c * x, c * y)
    for c in (1e-160, 1e-200, 1e-300):
        m = Moments(x.shape[1], y.shape[1]).update(c * x, c * y)
        with pytest.raises(ValueError, match="underflow float64"):
            m.linear_cka()


def test_dask_moments():
    da = pytest.importorskip("dask.array")
    x, y = _narrow(seed=7, n=80)
    ref = ref_linear_cka(x, y)
    for c in (1e-140, 1e-60, 1.0, 1e60, 1e150):
        m = Moments.from_dask(da.from_array(c * x, chunks=(20, -1)), da.from_array(c * y, chunks=(20, -1)),
                              scheduler="synchronous")
        _close(m.linear_cka(), ref)
    with pytest.raises(ValueError, match="overflow float64"):
        Moments.from_dask(da.from_array(1e200 * x, chunks=(20, -1)), da.from_array(y, chunks=(20, -1)),
                          scheduler="synchronous")
    m = Moments.from_dask(da.from_array(1e-200 * x, chunks=(20, -1)), da.from_array(y, chunks=(20, -1)),
                          scheduler="synchronous")
    with pytest.raises(ValueError, match="underflow float64"):
        m.linear_cka()


# ------------------------------------------------------------------------------ errors, not NaN
@pytest.mark.parametrize("measure", MEASURES)
def test_non_finite_data_raise_not_nan(measure):
    x, y = _narrow(seed=8)
    fn = cc.measures.MEASURES[measure]
    for bad in (np.inf, -np.inf, np.nan):
        yb = 1e300 * y
        yb[3, 2] = bad
        with pytest.raises(ValueError, match=r"Y .*(NaN|Inf)"):
            fn(1e300 * x, yb)


def test_constant_data_still_have_no_variance():
    x, y = _narrow(seed=9)
    for c in (1e-300, 1.0, 1e300):
        with pytest.raises(ValueError, match="no variance"):
            cc.linear_cka(np.full_like(x, 3.0 * c), c * y)

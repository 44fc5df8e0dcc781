"""compat.fourier_ccas (google/svcca's dft_ccas API): rows against direct-DFT references, the pooled
correlations against the flattened layers' CCA, canonical coefficients and directions, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import reference
import reference_dft
from cca_core import resize_to
from test_dft import invariant_layers

pd = pytest.importorskip("pandas")
from cca_core.compat import fourier_ccas  # noqa: E402

def google_threshold_mean(s: np.ndarray, threshold: float = 0.98) -> float:
    """google/svcca's summary: mean of s[:i] for the first i with sum(s[:i]) >= threshold * sum(s)."""
    for i in range(len(s)):
        if np.sum(s[:i]) / np.sum(s) >= threshold:
            return float(np.mean(s[:i])) if i else float(s[0])
    return float(np.mean(s))


@pytest.mark.parametrize("shape1, shape2", [((4, 5), (4, 5)), ((6, 6), (3, 4))])
def test_fourier_ccas_rows_against_direct_dft_reference(rng, shape1, shape2):
    n = 30
    x = rng.standard_normal((n, *shape1, 3))
    y = rng.standard_normal((n, *shape2, 2)) + resize_to(x[..., :2], shape2, "zoom")
    df = fourier_ccas(x, y)
    assert isinstance(df, pd.DataFrame)
    h, w = min(shape1[0], shape2[0]), min(shape1[1], shape2[1])
    assert len(df) == h * w
    assert list(df["location"]) == [(i, j) for i in range(h) for j in range(w)]
    assert {"cca_coef1", "cca_coef2", "x_idxs", "y_idxs", "mean", "sum"} <= set(df.columns)
    assert "coef_x" not in df.columns and "cca_dirns1" not in df.columns
    zx = reference_dft.dft2_direct(x, (h, w))
    zy = reference_dft.dft2_direct(y, (h, w))
    for row in df.itertuples():
        i, j = row.location
        ref = reference_dft.complex_cca_correlations(zx[:, i, j], zy[:, i, j])
        np.testing.assert_allclose(row.cca_coef1, ref, rtol=0, atol=1e-10)
        assert row.mean[0] == pytest.approx(google_threshold_mean(ref), abs=1e-10)
        assert row.sum[0] == pytest.approx(ref.sum(), abs=1e-10)
        k = np.rint(np.fft.fftfreq(h, 1 / h)[i]), np.rint(np.fft.fftfreq(w, 1 / w)[j])
        assert row.frequency == k


def test_fourier_ccas_pooled_equals_flattened_cca_on_invariant_data(rng):
    x, y = invariant_layers(rng, 3, 4, 3, 2, n_base=7)
    n = x.shape[0]
    pooled = np.sort(np.concatenate(fourier_ccas(x, y)["cca_coef1"].to_numpy()))[::-1]
    expected = np.sort(reference.cca_correlations(x.reshape(n, -1), y.reshape(n, -1)))[::-1]
    np.testing.assert_allclose(pooled, expected, rtol=0, atol=1e-8)


def test_fourier_ccas_coefficients_and_directions_are_canonical(rng):
    n = 40
    x = rng.standard_normal((n, 4, 3, 3))
    y = np.roll(x, 1, axis=1) @ rng.standard_normal((3, 4)) + rng.standard_normal((n, 4, 3, 4))
    df = fourier_ccas(x, y, return_coefs=True, compute_dirns=True)
    for col in ("coef_x", "invsqrt_xx", "full_coef_x", "neuron_means1", "coef_y", "full_invsqrt_yy",
                "cca_dirns1", "cca_dirns2"):
        assert col in df.columns
    zx = reference_dft.dft2_direct(x, (4, 3))
    zy = reference_dft.dft2_direct(y, (4, 3))
    for row in df.itertuples():
        i, j = row.location
        z1, z2 = zx[:, i, j].T, zy[:, i, j].T  # (C, N), google's layout
        np.testing.assert_allclose(row.neuron_means1[:, 0], z1.mean(axis=1), rtol=0, atol=1e-12)
        v1 = row.coef_x @ row.invsqrt_xx @ (z1 - z1.mean(axis=1, keepdims=True))
        v2 = row.coef_y @ row.invsqrt_yy @ (z2 - z2.mean(axis=1, keepdims=True))
        c11, c22, c12 = v1 @ v1.conj().T, v2 @ v2.conj().T, v1 @ v2.conj().T
        np.testing.assert_allclose(c11 / c11[0, 0].real, np.eye(3), atol=1e-9)
        np.testing.assert_allclose(c22 / c22[0, 0].real, np.eye(4), atol=1e-9)
        corr = c12 / np.sqrt(np.outer(np.diagonal(c11).real, np.diagonal(c22).real))
        np.testing.assert_allclose(corr, np.pad(np.diag(row.cca_coef1), ((0, 0), (0, 1))), atol=1e-9)
        assert row.cca_dirns1.shape == (3, n) and row.cca_dirns2.shape == (4, n)
        np.testing.assert_allclose(row.cca_dirns1 - row.neuron_means1, v1, atol=1e-10)


def test_fourier_ccas_location_without_variance_gets_zero_row(rng):
    x = np.broadcast_to(rng.standard_normal((20, 1, 1, 2)), (20, 3, 3, 2)).copy()  # DC only
    y = rng.standard_normal((20, 3, 3, 2))
    df = fourier_ccas(x, y)
    is_dc = df["location"].map(lambda loc: loc == (0, 0))
    dc = df[is_dc].iloc[0]
    assert np.all(dc["cca_coef1"] > 0)
    others = df[~is_dc]
    assert all(np.all(np.asarray(c) == 0) for c in others["cca_coef1"])


def test_fourier_ccas_bad_input_and_lazy_pandas(rng):
    good = rng.standard_normal((10, 4, 4, 3))
    with pytest.raises(TypeError, match="conv_acts1 has complex dtype"):
        fourier_ccas(good + 1j, good)
    with pytest.raises(ValueError, match=r"conv_acts2 must be 4-D.*\(10, 48\)"):
        fourier_ccas(good, good.reshape(10, -1))
    with pytest.raises(ValueError, match="same number of inputs"):
        fourier_ccas(good, good[:5])
    import subprocess
    import sys
    code = "import sys, cca_core, cca_core.compat; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

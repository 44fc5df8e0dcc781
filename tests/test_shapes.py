"""Orthogonal Procrustes and the angular shape metrics (Williams et al. 2021), against independent references.

References: numpy's SVD of the normalised centred data (``||X^T Y||_*``), scipy's
``orthogonal_procrustes`` (``min_Q ||X - Y Q||_F``), the partial whitening written out on the data
(tests/reference.py), and the canonical correlations (``cca_core.cca``, tested on its own in
test_measures_reference.py). netrep is compared in benchmarks/pairwise_bench.py, not here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group

import reference as ref

import cca_core
from cca_core import Moments, pairwise, procrustes_distance, procrustes_similarity, shape_distance, shape_similarity

ALPHAS = (0.0, 0.25, 0.5, 0.9, 1.0)


def related(seed: int, n: int = 120, dx: int = 8, dy: int = 11, latent: int = 5):
    """Two full-rank, anisotropic representations sharing a latent signal, with offsets."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent))
    x = z @ rng.standard_normal((latent, dx)) + rng.standard_normal((n, dx)) * np.geomspace(0.2, 2, dx) + 3.0
    y = z @ rng.standard_normal((latent, dy)) + rng.standard_normal((n, dy)) * np.geomspace(2, 0.3, dy) - 1.0
    return x, y


def normalised(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    return a / np.linalg.norm(a)


# ------------------------------------------------------------------------------ Procrustes formulas
@pytest.mark.parametrize("seed", range(3))
def test_procrustes_equals_nuclear_norm_formula_and_scipy_orthogonal_procrustes(seed):
    x, y = related(seed, dx=9, dy=9)
    xn, yn = normalised(x), normalised(y)
    nuclear = np.linalg.svd(xn.T @ yn, compute_uv=False).sum()
    d2_formula = np.sum(xn**2) + np.sum(yn**2) - 2 * nuclear
    q, _ = scipy.linalg.orthogonal_procrustes(yn, xn)  # argmin_Q ||Y Q - X||_F
    d_scipy = np.linalg.norm(xn - yn @ q)
    d = procrustes_distance(x, y)
    assert d**2 == pytest.approx(d2_formula, abs=1e-12)
    assert d == pytest.approx(d_scipy, abs=1e-12)
    assert procrustes_similarity(x, y) == pytest.approx(nuclear, abs=1e-12)
    assert procrustes_distance(x, y, metric="angular") == pytest.approx(math.acos(nuclear), abs=1e-10)
    assert shape_distance(x, y, alpha=1.0) == pytest.approx(math.acos(nuclear), abs=1e-10)


def test_procrustes_with_different_widths_equals_zero_padding():
    x, y = related(4, dx=6, dy=13)
    xn, yn = normalised(x), normalised(y)
    xpad = np.hstack([xn, np.zeros((xn.shape[0], 7))])
    q, _ = scipy.linalg.orthogonal_procrustes(yn, xpad)
    assert procrustes_distance(x, y) == pytest.approx(np.linalg.norm(xpad - yn @ q), abs=1e-12)


# ------------------------------------------------------------------------------ the alpha family
@pytest.mark.parametrize("seed", range(3))
def test_alpha_zero_is_arccos_of_mean_cca_for_equal_widths(seed):
    x, y = related(seed, dx=10, dy=10)
    assert shape_distance(x, y, alpha=0.0) == pytest.approx(math.acos(cca_core.mean_cca(x, y)), abs=1e-10)
    assert shape_similarity(x, y, alpha=0.0) == pytest.approx(ref.mean_cca(x, y), abs=1e-12)


def test_alpha_zero_with_different_ranks_is_sum_of_correlations_over_geometric_mean_rank():
    x, y = related(5, dx=6, dy=14)
    rho = cca_core.cca(x, y).correlations
    assert shape_similarity(x, y, alpha=0.0) == pytest.approx(rho.sum() / math.sqrt(6 * 14), abs=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("seed", range(2))
def test_matches_partial_whitening_written_out_on_the_data(alpha, seed):
    x, y = related(seed)
    expected = ref.shape_similarity(x, y, alpha)
    assert shape_similarity(x, y, alpha) == pytest.approx(expected, abs=1e-11)
    assert shape_distance(x, y, alpha) == pytest.approx(math.acos(expected), abs=1e-8)


def test_alpha_moves_monotonically_between_the_cca_and_procrustes_ends():
    x, y = related(9)
    values = [shape_similarity(x, y, a) for a in np.linspace(0, 1, 6)]
    assert values[0] == pytest.approx(ref.shape_similarity(x, y, 0.0), abs=1e-12)
    assert values[-1] == pytest.approx(ref.procrustes_similarity(x, y), abs=1e-12)
    assert len(set(np.round(values, 12))) == len(values)  # alpha changes the value


# ------------------------------------------------------------------------------ invariances
@pytest.mark.parametrize("alpha", ALPHAS)
def test_zero_distance_for_scaled_rotated_translated_copy(alpha):
    x, _ = related(1, dx=7)
    rng = np.random.default_rng(1)
    q = ortho_group.rvs(7, random_state=2)
    y = 2.7 * x @ q + rng.normal(size=7)
    assert shape_distance(x, y, alpha) == pytest.approx(0.0, abs=1e-6)  # arccos near 1: sqrt of rounding
    assert shape_similarity(x, y, alpha) == pytest.approx(1.0, abs=1e-12)
    assert procrustes_distance(x, y) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_general_invertible_map_is_zero_distance_only_for_alpha_zero(alpha):
    x, _ = related(2, dx=6)
    m = np.diag([5.0, 1.0, 0.2, 2.0, 0.5, 1.0]) @ ortho_group.rvs(6, random_state=3)  # invertible, not orthogonal
    y = x @ m + 1.0
    d = shape_distance(x, y, alpha)
    if alpha == 0.0:
        assert d == pytest.approx(0.0, abs=1e-6)
    else:
        assert d > 1e-3


@pytest.mark.parametrize("alpha", (0.0, 0.5, 1.0))
def test_symmetric_and_in_range(alpha):
    x, y = related(3)
    d = shape_distance(x, y, alpha)
    assert d == pytest.approx(shape_distance(y, x, alpha), abs=1e-12)
    assert 0.0 < d <= math.pi / 2


@pytest.mark.parametrize("alpha", (0.0, 0.3, 0.7, 1.0))
def test_triangle_inequality_on_random_triplets(alpha):
    rng = np.random.default_rng(11)
    n = 40
    for trial in range(20):
        z = rng.standard_normal((n, 3))
        a, b, c = (z @ rng.standard_normal((3, d)) + rng.uniform(0.1, 2) * rng.standard_normal((n, d))
                   for d in rng.integers(3, 9, size=3))
        dab, dbc, dac = shape_distance(a, b, alpha), shape_distance(b, c, alpha), shape_distance(a, c, alpha)
        assert dac <= dab + dbc + 1e-12, (trial, dab, dbc, dac)
        assert dab <= dac + dbc + 1e-12 and dbc <= dab + dac + 1e-12
    # the Euclidean Procrustes distance too
    for _ in range(10):
        a, b, c = (rng.standard_normal((n, 5)) for _ in range(3))
        assert procrustes_distance(a, c) <= procrustes_distance(a, b) + procrustes_distance(b, c) + 1e-12


# ------------------------------------------------------------------------------ spaces, engine, streaming
@pytest.mark.parametrize("alpha", ALPHAS)
def test_wide_layers_in_data_space_match_the_reference(alpha):
    rng = np.random.default_rng(6)
    n = 40
    z = rng.standard_normal((n, 4))
    x = z @ rng.standard_normal((4, 300)) + rng.standard_normal((n, 300))
    y = z @ rng.standard_normal((4, 150)) + 0.5 * rng.standard_normal((n, 150))
    assert shape_similarity(x, y, alpha) == pytest.approx(ref.shape_similarity(x, y, alpha), abs=1e-10)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_pairwise_neuron_and_data_space_equal_single_pair(alpha):
    acts = [related(s, dx=5 + s, dy=3)[0] for s in range(4)]
    neuron = pairwise(acts, "shape_similarity", alpha=alpha, space="neuron", progress=False)
    data = pairwise(acts, "shape_similarity", alpha=alpha, space="data", progress=False)
    single = np.array([[shape_similarity(a, b, alpha) if i != j else 1.0 for j, b in enumerate(acts)]
                       for i, a in enumerate(acts)])
    np.testing.assert_allclose(neuron.values, single, atol=1e-12)
    np.testing.assert_allclose(data.values, single, atol=1e-12)
    np.testing.assert_allclose(neuron.values, neuron.values.T, atol=0)
    if alpha == 1.0:
        proc = pairwise(acts, "procrustes_similarity", progress=False)
        np.testing.assert_allclose(proc.values, single, atol=1e-12)


@pytest.mark.parametrize("alpha", (0.0, 0.4, 1.0))
def test_moments_streamed_in_chunks_equal_in_memory(alpha):
    x, y = related(7, n=300)
    m = Moments(x.shape[1], y.shape[1])
    for start in range(0, 300, 70):
        m.update(x[start:start + 70], y[start:start + 70])
    assert m.shape_similarity(alpha) == pytest.approx(ref.shape_similarity(x, y, alpha), abs=1e-11)
    assert m.shape_distance(alpha) == pytest.approx(shape_distance(x, y, alpha), abs=1e-9)
    assert m.procrustes_similarity() == pytest.approx(ref.procrustes_similarity(x, y), abs=1e-12)
    assert m.procrustes_distance() == pytest.approx(procrustes_distance(x, y), abs=1e-12)
    assert m.procrustes_distance("angular") == pytest.approx(procrustes_distance(x, y, "angular"), abs=1e-9)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_rank_deficient_and_constant_neurons(alpha):
    x, y = related(8)
    # A constant neuron is a zero column after centring: the same as zero-padding, no change.
    padded = np.hstack([x, np.full((x.shape[0], 2), 2.0)])
    assert shape_similarity(padded, y, alpha) == pytest.approx(shape_similarity(x, y, alpha), abs=1e-12)
    # Duplicated neurons: rank 8 with 11 neurons; finite and equal to the reference on the data
    # (whose SVD drops the null directions), and for alpha = 0 (CCA) to the value without duplicates.
    dup = np.hstack([x, x[:, :3]])
    assert shape_similarity(dup, y, alpha) == pytest.approx(ref.shape_similarity(dup, y, alpha), abs=1e-9)
    if alpha == 0.0:
        assert shape_similarity(dup, y, 0.0) == pytest.approx(shape_similarity(x, y, 0.0), abs=1e-10)


def test_registry_and_stats_take_the_similarity():
    x, y = related(10)
    assert cca_core.measures.get_measure("shape_similarity") is shape_similarity
    assert cca_core.measures.shape_similarity_distance(x, y, alpha=0.5) == pytest.approx(
        1 - shape_similarity(x, y, 0.5), abs=0)
    res = cca_core.stats.bootstrap(x, y, "shape_similarity", n_resamples=99, seed=0, alpha=0.5)
    assert res.statistic == pytest.approx(shape_similarity(x, y, 0.5), abs=1e-12)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad, exc", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), ("0.5", TypeError), (None, TypeError),
                                      (True, TypeError), (1j, TypeError)])
def test_bad_alpha_is_one_clear_error_naming_alpha(bad, exc):
    x, y = related(0)
    for call in (lambda: shape_distance(x, y, bad), lambda: shape_similarity(x, y, alpha=bad),
                 lambda: Moments.from_arrays(x, y).shape_similarity(bad),
                 lambda: pairwise([x, y], "shape_similarity", alpha=bad, progress=False)):
        with pytest.raises(exc, match="alpha"):
            call()


def test_bad_input_goes_through_the_common_gate():
    x, y = related(0)
    with pytest.raises(ValueError, match="same number of datapoints"):
        shape_distance(x, y[:-1], 0.5)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        procrustes_distance(bad, y)
    with pytest.raises(ValueError, match="no variance"):
        shape_distance(np.ones_like(x), y, 0.5)
    with pytest.raises(ValueError, match="metric"):
        procrustes_distance(x, y, metric="cosine")
    with pytest.raises(TypeError, match="procrustes_similarity takes no keyword"):
        pairwise([x, y], "procrustes_similarity", alpha=0.5, progress=False)


# ------------------------------------------------------------------------------------------ scale
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_same_value_at_any_finite_scale(alpha):
    """The Gram blocks square the activations: without rescaling, 1e±80 gave 0 or 1 without a word.
    Reference: the value at scale 1 (an exact power of two changes no digit; 10**k changes the last)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 8))
    y = x[:, :6] + rng.standard_normal((200, 6))
    reference = shape_similarity(x, y, alpha)
    assert 0.3 < reference < 0.95
    for k in range(-300, 301, 25):
        c = 10.0 ** k
        assert shape_similarity(c * x, c * y, alpha) == pytest.approx(reference, rel=1e-10, abs=0), k
        assert shape_distance(c * x, c * y, alpha) == pytest.approx(np.arccos(reference), rel=1e-9), k
    for e in (-1000, -500, 500, 1000):
        assert shape_similarity(np.ldexp(x, e), np.ldexp(y, e), alpha) == pytest.approx(reference, rel=1e-12)
    assert procrustes_similarity(1e200 * x, 1e-200 * y) == pytest.approx(procrustes_similarity(x, y), rel=1e-10)


def test_whitening_warns_when_neurons_reach_datapoints():
    from cca_core import RankWarning

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 20, 30))
    with pytest.warns(RankWarning, match="neurons >= datapoints"):
        shape_similarity(x, y, alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shape_similarity(x, y, alpha=1.0)  # Procrustes, like CKA, is made for that regime

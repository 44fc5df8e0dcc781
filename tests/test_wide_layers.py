"""Wide layers (more neurons than datapoints, e.g. flattened conv layers): data space (n x n Gram
matrices) against neuron space, the slow references of tests/reference.py and closed forms."""

from __future__ import annotations

import time
import tracemalloc
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import reference as ref
from measure_cases import ALL_MEASURES, CCA_FAMILY, CKA_FAMILY, case_id, measure_cases
from cca_core import RankWarning
from cca_core.measures import MEASURES
from cca_core.pairs import pairwise

CASES = measure_cases(svcca_keep=10)
CASE_IDS = [case_id(m, kw) for m, kw in CASES]


def single(measure: str, x: np.ndarray, y: np.ndarray, **kwargs) -> float:
    """The public single-pair function; the CCA family warns (neurons > datapoints), checked apart."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankWarning)
        return MEASURES[measure](x, y, **kwargs)


def run_pairwise(acts, measure: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankWarning)
        return pairwise(acts, measure, progress=False, **kwargs)


def low_rank_wide(seed: int, n: int = 70, dx: int = 120, dy: int = 140, shared: int = 8,
                  own_x: int = 12, own_y: int = 10):
    """X = Zx Ax and Y = Zy Ay with rank 20 and 18 (< n - 1), Zx and Zy sharing a noisy signal,
    non-zero means and anisotropic neurons. Returns (x, y, zx, zy)."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, shared))
    zx = np.hstack([s, rng.standard_normal((n, own_x))])
    zy = np.hstack([s @ rng.standard_normal((shared, shared)) + 0.7 * rng.standard_normal((n, shared)),
                    rng.standard_normal((n, own_y))])
    x = zx @ rng.standard_normal((zx.shape[1], dx)) * np.linspace(0.5, 2.0, dx) + rng.normal(0, 4, dx)
    y = zy @ rng.standard_normal((zy.shape[1], dy)) * np.linspace(2.0, 0.3, dy) + rng.normal(0, 4, dy)
    return x, y, zx, zy


def random_wide(seed: int, n: int = 70, dx: int = 110, dy: int = 150, shared: int = 6):
    """Full-rank wide X, Y: independent noise plus a shared low-dimensional signal."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, shared))
    x = rng.standard_normal((n, dx)) + 1.5 * s @ rng.standard_normal((shared, dx)) + rng.normal(0, 3, dx)
    y = rng.standard_normal((n, dy)) + 1.5 * s @ rng.standard_normal((shared, dy)) - 2.0
    return x, y


# ------------------------------------------------------------------------------ 1. data = neuron space
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_data_space_equals_neuron_space_on_low_rank_wide_layers(case, seed):
    measure, kwargs = CASES[case]
    x, y, _, _ = low_rank_wide(seed)
    acts = {"x": x, "y": y}
    data = run_pairwise(acts, measure, space="data", **kwargs)
    neuron = run_pairwise(acts, measure, space="neuron", **kwargs)
    auto = run_pairwise(acts, measure, **kwargs)
    if measure != "rbf_cka":
        assert (data.space, neuron.space, auto.space) == ("data", "neuron", "data")
    for i, j in [(0, 1), (1, 0)]:
        a, b = (x, y) if i == 0 else (y, x)
        expected = single(measure, a, b, **kwargs)
        for res in (data, neuron, auto):
            assert np.isfinite(res.values[i, j])
            assert abs(res.values[i, j] - expected) < 1e-10, (res.space, i, j, res.values[i, j], expected)
        assert abs(data.values[i, j] - neuron.values[i, j]) < 1e-10


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("squared", [False, True])
def test_low_rank_wide_mean_cca_is_not_trivial_and_matches_latent_reference(seed, squared):
    # Xc = Zxc Ax with Ax of full row rank spans Zx's centred column space: mean CCA of the wide
    # layers is that of the narrow, well-conditioned latents, which the QR reference computes.
    x, y, zx, zy = low_rank_wide(seed)
    expected = ref.mean_cca(zx, zy, squared=squared)
    assert expected < 0.99  # the construction has teeth: not every canonical correlation is 1
    assert np.linalg.matrix_rank(ref.centre(x)) == zx.shape[1] < x.shape[0] - 1
    for space in ("data", "neuron"):
        got = run_pairwise([x, y], "mean_cca", space=space, squared=squared).values[0, 1]
        assert abs(got - expected) < 1e-8, (space, got, expected)
    assert abs(single("mean_cca", x, y, squared=squared) - expected) < 1e-8


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("measure", CKA_FAMILY)
def test_data_space_equals_neuron_space_for_cka_on_full_rank_wide_layers(measure, seed):
    x, y = random_wide(seed)
    data = run_pairwise({"x": x, "y": y}, measure, space="data").values[0, 1]
    neuron = run_pairwise({"x": x, "y": y}, measure, space="neuron").values[0, 1]
    one = single(measure, x, y)
    assert abs(data - neuron) < 1e-10 and abs(one - data) < 1e-10, (data, neuron, one)
    assert 0.05 < one < 0.99  # related, not identical


@pytest.mark.parametrize("measure", CCA_FAMILY)
def test_wide_layers_warn_for_cca_family(measure):
    x, y, _, _ = low_rank_wide(0)
    with pytest.warns(RankWarning):
        MEASURES[measure](x, y)
    with pytest.warns(RankWarning):
        pairwise([x, y], measure, progress=False)


@pytest.mark.parametrize("measure", CKA_FAMILY)
def test_wide_layers_do_not_warn_for_cka(measure):
    x, y = random_wide(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RankWarning)
        MEASURES[measure](x, y)
        pairwise([x, y], measure, progress=False)


# ------------------------------------------------------------------------------ 2. CKA vs references
@pytest.mark.parametrize("measure, kwargs", [("linear_cka", {}), ("debiased_linear_cka", {}),
                                             ("rbf_cka", {}), ("rbf_cka", {"threshold": 2.0})])
def test_cka_in_data_space_matches_gram_reference(measure, kwargs):
    rng = np.random.default_rng(3)
    n, d = 32, 1500
    s = rng.standard_normal((n, 4))
    x = rng.standard_normal((n, d)) + 0.15 * s @ rng.standard_normal((4, d)) + rng.normal(0, 2, d)
    y = 0.8 * rng.standard_normal((n, d)) + 0.15 * s @ rng.standard_normal((4, d)) + 3.0
    with threadpool_limits(1):
        if measure == "rbf_cka":
            expected = ref.rbf_cka(x, y, kwargs.get("threshold", 0.5))
        else:
            expected = getattr(ref, measure)(x, y)
    got_single = MEASURES[measure](x, y, **kwargs)
    got_pairs = pairwise({"x": x, "y": y}, measure, space="data", progress=False, **kwargs)
    assert abs(got_single - expected) < 1e-10, (got_single, expected)
    assert abs(got_pairs.values[0, 1] - expected) < 1e-10
    assert abs(got_pairs.values[1, 0] - expected) < 1e-10
    # Teeth: not 1 (with n << d the biased estimators sit near 1 even for weak shared signal).
    assert 0.05 < expected < 0.999


# ------------------------------------------------------------------------------ 3. very wide layers
def very_wide_pair(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 20), dtype=np.float32)
    x = z @ rng.standard_normal((20, d), dtype=np.float32) + 2 * rng.standard_normal((n, d), dtype=np.float32)
    y = z @ rng.standard_normal((20, d), dtype=np.float32) + 4 * rng.standard_normal((n, d), dtype=np.float32)
    x += 1.0
    y -= 3.0
    assert x.dtype == y.dtype == np.float32
    return x, y


# At 500 x 20,000 the CCA family takes 5-30 s a measure on the busy 2-core test machine and the
# other CKAs 2-7 s: only linear CKA (checked against its closed form) runs at that size, the rest
# at 300 x 8,000 (still d >> n, data space).
SIZES = {m: (500, 20000) if m == "linear_cka" else (300, 8000) for m in ALL_MEASURES}


def _linear_cka_closed_form(x: np.ndarray, y: np.ndarray) -> float:
    """||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) = <K, L> / (||K|| ||L||), K = Xc Xc^T (float64)."""
    with threadpool_limits(1):
        xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
        yc = y.astype(np.float64) - y.mean(axis=0, dtype=np.float64)
        k, l = xc @ xc.T, yc @ yc.T
    return float(np.sum(k * l) / (np.linalg.norm(k) * np.linalg.norm(l)))


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_very_wide_float32_layers(measure):
    n, d = SIZES[measure]
    x, y = very_wide_pair(n, d)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        value = single(measure, x, y)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(value)
    low = -0.05 if measure == "debiased_linear_cka" else 0.0
    assert low <= value <= 1.0, value
    # A d x d covariance (3.2 GB at d = 20,000, hours of eigendecomposition) would blow both limits;
    # data space needs the n x n Gram, column blocks and (PWCCA) the d x n projections.
    assert elapsed < 30.0, f"{measure} on {n} x {d} took {elapsed:.1f} s"
    assert peak < 400e6, f"{measure} on {n} x {d} allocated {peak / 1e6:.0f} MB at peak"
    if measure == "linear_cka":
        assert abs(value - _linear_cka_closed_form(x, y)) < 1e-10
    if measure in ("mean_cca", "pwcca"):
        # Both layers span the whole (n - 1)-dimensional centred space: every correlation is 1.
        assert value > 1.0 - 1e-8, value
    if measure == "svcca":
        assert value < 1.0 - 1e-3  # the reduction to the leading directions does bite


def test_very_wide_pair_through_pairwise_matches_single_pair():
    x, y = very_wide_pair(300, 8000, seed=1)
    for measure in ("linear_cka", "debiased_linear_cka"):
        res = pairwise({"x": x, "y": y}, measure, progress=False)
        assert res.space == "data"
        assert abs(res.values[0, 1] - MEASURES[measure](x, y)) < 1e-10
    assert abs(pairwise([x, y], "linear_cka", progress=False).values[0, 1] - _linear_cka_closed_form(x, y)) < 1e-10


# ------------------------------------------------------------------------------ 4. SVCCA on wide layers
def test_svcca_on_wide_layers_matches_svd_reference():
    rng = np.random.default_rng(4)
    n, d = 100, 2000
    s = rng.standard_normal((n, 6))
    x = (rng.standard_normal((n, d)) * np.geomspace(0.2, 2.0, d) + s @ rng.standard_normal((6, d))
         + rng.normal(0, 3, d))
    y = rng.standard_normal((n, d)) + 0.8 * s @ rng.standard_normal((6, d)) - 1.0
    with threadpool_limits(1):
        expected = ref.svcca(x, y, 10)
    got = single("svcca", x, y, keep=10)
    assert abs(got - expected) < 1e-8, (got, expected)
    assert abs(single("svcca", y, x, keep=10) - expected) < 1e-8
    # (neuron space would eigendecompose 2,000 x 2,000 covariances: too slow for this suite)
    for space in ("data", "auto"):
        assert abs(run_pairwise([x, y], "svcca", space=space, keep=10).values[0, 1] - expected) < 1e-8, space
    # Teeth: keeping 10 directions is not keeping them all (which would give 1 here, n - 1 < d).
    assert expected < 0.99


@pytest.mark.parametrize("keep", [6, 12])
def test_svcca_integer_keep_above_narrow_side_width(keep):
    # A narrow layer (4 neurons) against a wide one: keep larger than the narrow side's 4 directions
    # keeps those 4 (reference: min(keep, #singular values)); data space must not add Gram null
    # directions (numerically zero variance) as if they were singular directions.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 4))
    y = x @ rng.standard_normal((4, 200)) + rng.standard_normal((100, 200))
    with threadpool_limits(1):
        expected = ref.svcca(x, y, keep)
    assert abs(single("svcca", x, y, keep=keep) - expected) < 1e-8, (single("svcca", x, y, keep=keep), expected)
    for space in ("data", "neuron"):
        got = run_pairwise([x, y], "svcca", space=space, keep=keep).values[0, 1]
        assert abs(got - expected) < 1e-8, (space, got, expected)

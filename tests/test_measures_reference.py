"""Every measure against an independent slow reference (tests/reference.py) or a published value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group

import cca_core
import reference as ref

SEEDS = [0, 1, 2]


def correlated_pair(seed: int, n: int, dx: int, dy: int, strength: float = 0.7):
    """X and Y sharing a random linear signal, with anisotropic neurons and non-zero means."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx)) * np.linspace(0.5, 3.0, dx) + rng.normal(0.0, 5.0, dx)
    mix = rng.standard_normal((dx, dy)) / np.sqrt(dx)
    y = strength * x @ mix + rng.standard_normal((n, dy)) * np.linspace(0.3, 2.0, dy)
    y += rng.normal(0.0, 5.0, dy)
    return x, y


def spectrum_pair(seed: int, n: int = 300, dx: int = 12, dy: int = 15):
    """Correlated X and Y whose singular values decay (0.02 to 5) along rotated directions, so
    that SVCCA's ``keep`` rule truncates."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, dx)) * np.geomspace(0.02, 5.0, dx)) @ \
        ortho_group.rvs(dx, random_state=rng) + rng.normal(0.0, 5.0, dx)
    y = 0.5 * x @ rng.standard_normal((dx, dy)) + rng.standard_normal((n, dy)) * np.geomspace(0.02, 3.0, dy)
    return x, y @ ortho_group.rvs(dy, random_state=rng)


def kornblith_colab_data():
    """The example of Kornblith et al.'s (2019) CKA colab."""
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return x, y


# ------------------------------------------------------------------------------ canonical correlations
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, dx, dy", [(500, 20, 30), (500, 30, 20), (300, 12, 12), (200, 15, 3)])
def test_correlations_match_qr_reference(seed, n, dx, dy):
    x, y = correlated_pair(seed, n, dx, dy)
    res = cca_core.cca(x, y)
    expected = ref.cca_correlations(x, y)
    assert res.correlations.shape == (min(dx, dy),)
    assert (res.x_rank, res.y_rank) == (dx, dy)
    np.testing.assert_allclose(res.correlations, expected, rtol=0, atol=1e-10)
    assert np.all(np.diff(res.correlations) <= 0), "correlations must be descending"


@pytest.mark.parametrize("seed", SEEDS)
def test_uncentred_correlations_match_uncentred_qr_reference(seed):
    x, y = correlated_pair(seed, 400, 8, 11)
    res = cca_core.cca(x, y, center=False)
    np.testing.assert_allclose(res.correlations, ref.cca_correlations(x, y, center=False),
                               rtol=0, atol=1e-10)
    # With non-zero means the uncentred analysis really is a different quantity.
    assert np.max(np.abs(res.correlations - ref.cca_correlations(x, y))) > 1e-3


@pytest.mark.parametrize("seed, dx, dy", [(0, 3, 4), (1, 4, 3), (2, 3, 4)])
def test_correlations_match_mpmath_40_digits(seed, dx, dy):
    x, y = correlated_pair(seed, 30, dx, dy, strength=1.0)
    expected = ref.cca_correlations_mpmath(x, y, dps=40)
    np.testing.assert_allclose(cca_core.cca(x, y).correlations, expected, rtol=0, atol=1e-12)
    # The float64 QR reference agrees with the 40-digit one too (it is itself trustworthy).
    np.testing.assert_allclose(ref.cca_correlations(x, y), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dx, dy", [(12, 9), (9, 12)])
def test_canonical_variates_are_whitened_and_pairwise_correlated(seed, dx, dy):
    n = 400
    x, y = correlated_pair(seed, n, dx, dy)
    res = cca_core.cca(x, y)
    k = min(dx, dy)
    u = ref.centre(x) @ res.x_weights
    v = ref.centre(y) @ res.y_weights
    cov = np.cov(np.hstack([u, v]).T, ddof=1)
    np.testing.assert_allclose(cov[:k, :k], np.eye(k), rtol=0, atol=1e-10)
    np.testing.assert_allclose(cov[k:, k:], np.eye(k), rtol=0, atol=1e-10)
    np.testing.assert_allclose(cov[:k, k:], np.diag(res.correlations), rtol=0, atol=1e-10)
    # Same weights (up to each pair's common sign) as the QR reference, whose variates have unit norm.
    _, a, b = ref.cca_weights(x, y)
    a, b = a * np.sqrt(n - 1), b * np.sqrt(n - 1)
    signs = np.sign(np.sum(res.x_weights * a, axis=0))
    np.testing.assert_allclose(res.x_weights, a * signs, rtol=0, atol=1e-9 * np.abs(a).max())
    np.testing.assert_allclose(res.y_weights, b * signs, rtol=0, atol=1e-9 * np.abs(b).max())


# ------------------------------------------------------------------------------ the other measures
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dx, dy", [(10, 12), (12, 10), (8, 8)])
def test_pwcca_matches_paper_definition(seed, dx, dy):
    x, y = correlated_pair(seed, 300, dx, dy)
    assert abs(cca_core.pwcca(x, y) - ref.pwcca(x, y)) < 1e-10
    assert abs(cca_core.pwcca(y, x) - ref.pwcca(y, x)) < 1e-10
    assert abs(cca_core.pwcca_distance(x, y) - (1.0 - ref.pwcca(x, y))) < 1e-10


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("measure", ["linear_cka", "debiased_linear_cka"])
def test_linear_cka_matches_gram_matrix_reference(seed, measure):
    x, y = correlated_pair(seed, 200, 10, 14)
    expected = getattr(ref, measure)(x, y)
    assert abs(getattr(cca_core, measure)(x, y) - expected) < 1e-10
    assert abs(getattr(cca_core, f"{measure}_distance")(x, y) - (1.0 - expected)) < 1e-10


def test_debiased_cka_can_be_negative_for_unrelated_data():
    # Unclipped, as documented: the reference and cca_core agree on a negative value.
    values = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 6))
        got = cca_core.debiased_linear_cka(x, y)
        assert abs(got - ref.debiased_linear_cka(x, y)) < 1e-10
        values.append(got)
    assert min(values) < 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("threshold", [0.5, 1.0, 0.2])
def test_rbf_cka_matches_gram_matrix_reference(seed, threshold):
    x, y = correlated_pair(seed, 150, 10, 14)
    assert abs(cca_core.rbf_cka(x, y, threshold) - ref.rbf_cka(x, y, threshold)) < 1e-10


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("keep", [0.99, 0.9, 0.5, 1, 4, 100])
def test_svcca_matches_svd_reference(seed, keep):
    x, y = spectrum_pair(seed)
    assert abs(cca_core.svcca(x, y, keep=keep) - ref.svcca(x, y, keep)) < 1e-10


def test_svcca_keep_really_truncates():
    # Guards the previous test: on that data 0.99 keeps fewer directions than there are neurons,
    # so svcca and mean_cca differ (and keep=all gives mean_cca).
    x, y = spectrum_pair(0)
    assert abs(cca_core.svcca(x, y, keep=0.99) - cca_core.mean_cca(x, y)) > 1e-3
    assert abs(cca_core.svcca(x, y, keep=100) - ref.mean_cca(x, y)) < 1e-10


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_cca_matches_reference(seed):
    x, y = correlated_pair(seed, 300, 9, 13)
    rho = ref.cca_correlations(x, y)
    assert abs(cca_core.mean_cca(x, y) - rho.mean()) < 1e-10
    assert abs(cca_core.mean_cca(x, y, squared=True) - np.mean(rho**2)) < 1e-10
    assert abs(cca_core.mean_cca_distance(x, y) - (1.0 - rho.mean())) < 1e-10


# ------------------------------------------------------------------------------ published values
KORNBLITH_2019_COLAB = {  # Kornblith et al. (2019) CKA colab, printed to 5 decimals
    "linear_cka": 0.55761,
    "rbf_cka": 0.65483,  # threshold 0.5
    "debiased_linear_cka": 0.51346,
    "mean_squared_cca_uncentred": 0.54312,  # the colab's cca() does not centre
}


def test_published_values_kornblith_2019():
    x, y = kornblith_colab_data()
    got = {
        "linear_cka": cca_core.linear_cka(x, y),
        "rbf_cka": cca_core.rbf_cka(x, y, threshold=0.5),
        "debiased_linear_cka": cca_core.debiased_linear_cka(x, y),
        "mean_squared_cca_uncentred": cca_core.mean_cca(x, y, squared=True, center=False),
    }
    for name, value in KORNBLITH_2019_COLAB.items():
        assert abs(got[name] - value) < 5e-6, (name, got[name], value)


def test_published_values_reproduced_by_references():
    # The references are checked against the same published numbers, independently of cca_core.
    x, y = kornblith_colab_data()
    got = {
        "linear_cka": ref.linear_cka(x, y),
        "rbf_cka": ref.rbf_cka(x, y, 0.5),
        "debiased_linear_cka": ref.debiased_linear_cka(x, y),
        "mean_squared_cca_uncentred": ref.mean_cca(x, y, squared=True, center=False),
    }
    for name, value in KORNBLITH_2019_COLAB.items():
        assert abs(got[name] - value) < 5e-6, (name, got[name], value)


def test_centred_mean_squared_cca_on_colab_data():
    x, y = kornblith_colab_data()
    centred = cca_core.mean_cca(x, y, squared=True)
    assert abs(centred - ref.mean_cca(x, y, squared=True)) < 1e-10
    assert abs(centred - KORNBLITH_2019_COLAB["mean_squared_cca_uncentred"]) > 1e-3


# ------------------------------------------------------------------------------ perfect similarity
def _anisotropic(seed, n=200, d=10):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * np.linspace(0.2, 5.0, d) + rng.normal(0.0, 5.0, d)


def _well_conditioned_invertible(seed, d):
    rng = np.random.default_rng(seed + 100)
    return ortho_group.rvs(d, random_state=rng) @ np.diag(np.linspace(0.3, 3.0, d)) @ \
        ortho_group.rvs(d, random_state=rng)


def _assert_one(value, what):
    assert abs(value - 1.0) < 1e-12, (what, value)
    assert value <= 1.0, (what, value)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["identical", "rotated", "scaled_shifted", "invertible"])
def test_perfectly_related_inputs_give_one(seed, kind):
    x = _anisotropic(seed)
    d = x.shape[1]
    if kind == "identical":
        y = x.copy()
    elif kind == "rotated":
        y = x @ ortho_group.rvs(d, random_state=seed)
    elif kind == "scaled_shifted":
        y = 3.7 * x - 12.0
    else:
        y = x @ _well_conditioned_invertible(seed, d)
    rho = cca_core.cca(x, y).correlations
    assert np.all(np.abs(rho - 1.0) < 1e-12) and np.all(rho <= 1.0), rho
    _assert_one(cca_core.mean_cca(x, y), "mean_cca")
    _assert_one(cca_core.mean_cca(x, y, squared=True), "mean_cca squared")
    _assert_one(cca_core.pwcca(x, y), "pwcca(x, y)")
    _assert_one(cca_core.pwcca(y, x), "pwcca(y, x)")
    _assert_one(cca_core.svcca(x, y, keep=d), "svcca keeping every direction")
    if kind != "invertible":  # the rest do not promise invariance to general invertible maps
        _assert_one(cca_core.svcca(x, y), "svcca")
        _assert_one(cca_core.linear_cka(x, y), "linear_cka")
        _assert_one(cca_core.rbf_cka(x, y), "rbf_cka")
        assert abs(cca_core.debiased_linear_cka(x, y) - 1.0) < 1e-12
    else:
        assert cca_core.linear_cka(x, y) < 1.0 - 1e-3
        assert cca_core.svcca(x, y) < 1.0 - 1e-3


def test_debiased_cka_never_above_one():
    worst = -np.inf
    for seed in range(20):
        x = _anisotropic(seed)
        worst = max(worst, cca_core.debiased_linear_cka(x, x) - 1.0,
                    -cca_core.debiased_linear_cka_distance(x, x))
    assert worst <= 0.0, worst


# ------------------------------------------------------------------------------ degenerate inputs
def _check_all_measures_finite(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cca_core.RankWarning)
        res = cca_core.cca(x, y)
        assert np.all(np.isfinite(res.correlations))
        assert np.all((res.correlations >= 0) & (res.correlations <= 1))
        assert np.all(np.isfinite(res.x_weights)) and np.all(np.isfinite(res.y_weights))
        for name in ("mean_cca", "svcca", "pwcca", "linear_cka", "rbf_cka"):
            for a, b in ((x, y), (y, x)):
                value = getattr(cca_core, name)(a, b)
                assert np.isfinite(value) and 0.0 <= value <= 1.0, (name, value)
        value = cca_core.debiased_linear_cka(x, y)
        assert np.isfinite(value) and -1.0 <= value <= 1.0 + 1e-12
    return res


@pytest.mark.parametrize("seed", SEEDS)
def test_duplicated_neurons(seed):
    x, y = correlated_pair(seed, 300, 8, 10)
    x_dup = np.hstack([x, x[:, [2, 5]], x[:, [2]]])
    y_dup = np.hstack([y[:, [0]], y])
    expected = ref.cca_correlations(x, y)
    res = _check_all_measures_finite(x_dup, y_dup)
    assert (res.x_rank, res.y_rank) == (8, 10)
    np.testing.assert_allclose(res.correlations, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_neurons(seed):
    x, y = correlated_pair(seed, 300, 8, 10)
    x_const = np.hstack([np.full((300, 1), 4.2), x, np.zeros((300, 1))])
    y_const = np.hstack([y, np.full((300, 1), -1e3)])
    res = _check_all_measures_finite(x_const, y_const)
    assert (res.x_rank, res.y_rank) == (8, 10)
    np.testing.assert_allclose(res.correlations, ref.cca_correlations(x, y), rtol=0, atol=1e-10)
    assert np.all(res.x_weights[[0, -1]] == 0) and np.all(res.y_weights[-1] == 0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rank, d", [(5, 20), (3, 12)])
def test_rank_deficient_layer(seed, rank, d):
    rng = np.random.default_rng(seed)
    z, y = correlated_pair(seed, 250, rank, 9)
    x = z @ rng.standard_normal((rank, d)) + 1.0  # rank-`rank` layer with d neurons
    res = _check_all_measures_finite(x, y)
    assert res.x_rank == rank and res.y_rank == 9
    # x spans the same (centred) column space as z: the same canonical correlations.
    np.testing.assert_allclose(res.correlations, ref.cca_correlations(z, y), rtol=0, atol=1e-10)
    assert abs(cca_core.linear_cka(x, y) - ref.linear_cka(x, y)) < 1e-10


@pytest.mark.parametrize("n, dx, dy", [(20, 30, 25), (20, 20, 5), (15, 4, 15)])
def test_neurons_at_least_datapoints(n, dx, dy):
    rng = np.random.default_rng(n + dx + dy)
    x, y = rng.standard_normal((n, dx)), rng.standard_normal((n, dy))
    with pytest.warns(cca_core.RankWarning, match="neurons"):
        res = cca_core.cca(x, y)
    _check_all_measures_finite(x, y)
    # Centring leaves n - 1 dimensions: the ranks are capped there.
    assert res.x_rank == min(dx, n - 1) and res.y_rank == min(dy, n - 1)
    k = min(res.x_rank, res.y_rank)
    assert res.correlations.shape == (k,)
    # One side spans the whole centred space, so the other lies in its span: every rho is 1.
    np.testing.assert_allclose(res.correlations, 1.0, rtol=0, atol=1e-10)


def test_no_rank_warning_when_datapoints_exceed_neurons():
    x, y = correlated_pair(0, 50, 10, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cca_core.RankWarning)
        cca_core.cca(x, y)

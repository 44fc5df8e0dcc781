"""cca_core.compat against google/svcca: its published numbers, an independent slow re-implementation
of its algorithm (tests/google_reference.py), and the documented fixes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import cca_core
from cca_core import compat

try:  # tests/ as a package or as a plain directory on sys.path
    from . import google_reference as gref
except ImportError:
    import google_reference as gref


# --------------------------------------------------------------------------- data helpers
def _mix(rng, d):
    """A well-conditioned invertible d x d map (orthogonal times scales in [0.5, 2])."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q * rng.uniform(0.5, 2.0, d)


def make_pair(seed, nx, ny, n=500):
    """(nx, n), (ny, n) activations whose canonical correlations are graded 0.95 ... 0.05.

    Well separated correlations make the singular vectors unique up to sign; well-conditioned
    mixing keeps every covariance far from singular. Neurons have non-zero means.
    """
    rng = np.random.default_rng(seed)
    k = min(nx, ny)
    s = rng.standard_normal((max(nx, ny), n))
    c = np.linspace(0.95, 0.05, k)[:, None]
    xl = s[:nx]
    yl = rng.standard_normal((ny, n))
    yl[:k] = c * s[:k] + np.sqrt(1.0 - c**2) * yl[:k]
    x = _mix(rng, nx) @ xl + rng.uniform(-2.0, 2.0, (nx, 1))
    y = _mix(rng, ny) @ yl + rng.uniform(-2.0, 2.0, (ny, 1))
    return x, y


def shrink_neuron(acts, i, factor):
    """Scale neuron i's deviations from its mean by ``factor`` (variance by factor**2)."""
    acts = acts.copy()
    m = acts[i].mean()
    acts[i] = m + (acts[i] - m) * factor
    return acts


def sim(acts1, acts2, **kw):
    kw.setdefault("verbose", False)
    return compat.get_cca_similarity(acts1, acts2, **kw)


# --------------------------------------------------------------------------- comparison helpers
def assert_rows_equal_up_to_sign(a, b, atol, k=None):
    """First ``k`` rows of a and b equal up to a sign per row; returns the signs."""
    k = a.shape[0] if k is None else k
    signs = np.sign(np.sum(a[:k] * b[:k], axis=1))
    assert np.all(signs != 0)
    np.testing.assert_allclose(a[:k], signs[:, None] * b[:k], rtol=0, atol=atol)
    return signs


def assert_same_row_space(a, b, atol):
    """Rows of a and b (orthonormal) span the same space: equal projectors."""
    np.testing.assert_allclose(a.T @ a, b.T @ b, rtol=0, atol=atol)


def assert_matches_reference(res, ref, acts1, acts2, compute_dirns):
    assert set(res) == set(ref)
    for key in ref:
        assert np.shape(res[key]) == np.shape(ref[key]), key
    k = ref["cca_coef1"].size
    np.testing.assert_array_equal(res["x_idxs"], ref["x_idxs"])
    np.testing.assert_array_equal(res["y_idxs"], ref["y_idxs"])
    for key in ("cca_coef1", "cca_coef2"):
        np.testing.assert_allclose(res[key], ref[key], rtol=0, atol=1e-10)
    for key in ("mean", "sum"):
        np.testing.assert_allclose(np.asarray(res[key], float), np.asarray(ref[key], float),
                                   rtol=0, atol=1e-10)
    for key in ("invsqrt_xx", "invsqrt_yy", "full_invsqrt_xx", "full_invsqrt_yy"):
        np.testing.assert_allclose(res[key], ref[key], rtol=0, atol=1e-8)
    for key, acts in (("neuron_means1", acts1), ("neuron_means2", acts2)):
        np.testing.assert_allclose(res[key], ref[key], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res[key], acts.mean(axis=1, keepdims=True), rtol=1e-12, atol=1e-12)
    # Singular vectors: unique up to sign for the k coefficient pairs; the rest of a full_matrices
    # SVD is any orthonormal basis of the complement, so only its span is compared.
    sx = assert_rows_equal_up_to_sign(res["coef_x"], ref["coef_x"], 1e-8, k)
    sy = assert_rows_equal_up_to_sign(res["coef_y"], ref["coef_y"], 1e-8, k)
    np.testing.assert_array_equal(sx, sy)  # u_i and v_i flip together (s_i >= 0)
    for key in ("coef_x", "coef_y"):
        if res[key].shape[0] > k:
            assert_same_row_space(res[key][k:], ref[key][k:], 1e-8)
    for full, block, mask in (("full_coef_x", "coef_x", "x_idxs"), ("full_coef_y", "coef_y", "y_idxs"),
                              ("full_invsqrt_xx", "invsqrt_xx", "x_idxs"),
                              ("full_invsqrt_yy", "invsqrt_yy", "y_idxs")):
        m = res[mask]
        np.testing.assert_array_equal(res[full][np.ix_(m, m)], res[block])
        outside = np.ones_like(res[full], bool)
        outside[np.ix_(m, m)] = False
        assert np.all(res[full][outside] == 0)
    if compute_dirns:
        for d, acts, means, coef, inv, mask, signs in (
            ("cca_dirns1", acts1, "neuron_means1", "full_coef_x", "full_invsqrt_xx", "x_idxs", sx),
            ("cca_dirns2", acts2, "neuron_means2", "full_coef_y", "full_invsqrt_yy", "y_idxs", sy),
        ):
            scale = np.abs(ref[d]).max()
            # the definition, with the function's own matrices
            direct = res[coef] @ res[inv] @ (acts - res[means]) + res[means]
            np.testing.assert_allclose(res[d], direct, rtol=0, atol=1e-9 * scale)
            # the reference, up to the sign of each canonical direction (around the neuron means).
            # Row j of the embedded coefficients sits at the j-th kept neuron's position; rows of
            # dropped neurons are zero, so those dirns rows are just the neuron means.
            kept = np.flatnonzero(res[mask])
            rows = kept[:k]
            centred_res = res[d][rows] - ref[means][rows]
            centred_ref = ref[d][rows] - ref[means][rows]
            np.testing.assert_allclose(centred_res, signs[:, None] * centred_ref, rtol=0,
                                       atol=1e-8 * scale)
            dropped = np.flatnonzero(~res[mask])
            np.testing.assert_allclose(res[d][dropped], np.broadcast_to(ref[means][dropped], (dropped.size, acts.shape[1])),
                                       rtol=1e-12, atol=1e-12)
    else:
        assert "cca_dirns1" not in res and "cca_dirns2" not in res


def signs_of_compute_pwcca(acts1, acts2, res):
    """``res`` with its weighing side's coefficient rows in the signs compute_pwcca's SVD chose.

    google's PWCCA depends on those signs (an arbitrary choice of LAPACK's). The rows must be the
    same vectors up to sign (checked here); the definition is then applied with compute_pwcca's.
    """
    _, coef, _, side, _ = compat._google_side(np.asarray(acts1, float), np.asarray(acts2, float), 0.0)
    key = ("coef_x", "coef_y")[side]
    signs = assert_rows_equal_up_to_sign(coef, res[key], atol=1e-8)
    return {**res, key: signs[:, None] * res[key]}


def pwcca_by_definition(acts1, acts2, res):
    """google's PWCCA weights by its definition (QR of the directions), from the coefficient
    vectors in ``res`` (for input the reference cannot take; the vectors are checked elsewhere)."""
    if res["x_idxs"].sum() <= res["y_idxs"].sum():
        acts, idxs, coef, means = acts1, res["x_idxs"], res["coef_x"], res["neuron_means1"]
    else:
        acts, idxs, coef, means = acts2, res["y_idxs"], res["coef_y"], res["neuron_means2"]
    means = means[idxs]
    dirns = coef @ (acts[idxs] - means) + means
    q, _ = np.linalg.qr(dirns.T)
    weights = np.abs(q.T @ acts[idxs].T).sum(axis=1)
    weights /= weights.sum()
    return float(weights @ res["cca_coef1"]), weights


# --------------------------------------------------------------------------- published values
def _data_dir() -> Path:
    env = os.environ.get("CCA_CORE_DATA_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    sub = base / "svcca-activations"
    if not sub.is_dir():
        how = f"CCA_CORE_DATA_DIR={env!r}" if env else f"default {base} (CCA_CORE_DATA_DIR unset)"
        pytest.skip(f"svcca-activations not found under the data directory: {how}")
    return sub


def _load(name):
    path = _data_dir() / f"{name}.npy"
    if not path.is_file():
        pytest.skip(f"{path} missing from the data directory")
    return np.load(path, allow_pickle=False)


# google/svcca's own get_cca_similarity / compute_pwcca on its tutorial activations (data README).
PUBLISHED = {
    "mnist": ("mnist_model0_lay04", "mnist_model1_lay04", False, 0.774108, 0.705726, 0.737201),
    "svhn": ("svhn_model0_lay06", "svhn_model1_lay06", True, 0.618193, 0.548182, 0.712649),
}


@pytest.mark.parametrize("which", sorted(PUBLISHED))
def test_published_google_values(which):
    f0, f1, transpose, mean98, mean_all, pw = PUBLISHED[which]
    a, b = _load(f0), _load(f1)
    if transpose:  # stored (datapoints, neurons); google wants (neurons, datapoints)
        assert a.shape == b.shape == (1000, 200)
        a, b = a.T, b.T
    else:
        assert a.shape == b.shape == (10, 10000)
    res = sim(a, b)
    assert res["mean"][0] == pytest.approx(mean98, abs=5e-7)
    assert res["mean"][1] == pytest.approx(mean98, abs=5e-7)
    assert np.mean(res["cca_coef1"]) == pytest.approx(mean_all, abs=5e-7)
    value, weights, coefs = compat.compute_pwcca(a, b)
    assert value == pytest.approx(pw, abs=5e-7)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(coefs, res["cca_coef1"], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- the reference
SHAPES = [(20, 30), (30, 20), (20, 20)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("nx,ny", SHAPES)
@pytest.mark.parametrize("compute_dirns", [False, True])
def test_get_cca_similarity_matches_reference(seed, nx, ny, compute_dirns):
    x, y = make_pair(seed, nx, ny)
    ref = gref.get_cca_similarity(x, y, compute_dirns=compute_dirns)
    assert np.min(-np.diff(ref["cca_coef1"])) > 1e-3  # the data are as designed
    res = sim(x, y, compute_dirns=compute_dirns)
    assert_matches_reference(res, ref, x, y, compute_dirns)


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.9, 0.98, 1.0])
def test_mean_threshold_matches_reference(threshold):
    x, y = make_pair(3, 12, 15)
    res, ref = sim(x, y, threshold=threshold), gref.get_cca_similarity(x, y, threshold=threshold)
    idx = gref.sum_threshold(ref["cca_coef1"], threshold)
    assert ref["mean"][0] == pytest.approx(np.mean(ref["cca_coef1"][:idx]), abs=1e-15)
    np.testing.assert_allclose(res["mean"], ref["mean"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("nx,ny", SHAPES)
def test_compute_pwcca_matches_corrected_reference(seed, nx, ny):
    x, y = make_pair(seed, nx, ny)
    value, weights, coefs = compat.compute_pwcca(x, y)
    rvalue, rweights, rcoefs = gref.compute_pwcca(x, y)
    assert weights.shape == rweights.shape == (min(nx, ny),)
    assert value == pytest.approx(rvalue, abs=1e-10)
    np.testing.assert_allclose(weights, rweights, rtol=0, atol=1e-10)
    np.testing.assert_allclose(coefs, rcoefs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("epsilon", [1e-6, 1e-2])
@pytest.mark.parametrize("nx,ny", [(10, 14), (14, 10)])
@pytest.mark.parametrize("shrunk_side", [1, 2])
def test_epsilon_matches_reference_and_drops_neurons(epsilon, nx, ny, shrunk_side):
    x, y = make_pair(7, nx, ny, n=400)
    # neuron 2: variance ~1e-4 of the largest (kept at 1e-6, dropped at 1e-2);
    # neuron 5: ~1e-10 (dropped at both)
    acts = shrink_neuron(shrink_neuron(x if shrunk_side == 1 else y, 2, 1e-2), 5, 1e-5)
    if shrunk_side == 1:
        x = acts
    else:
        y = acts
    expected = {}
    for key, a in (("x_idxs", x), ("y_idxs", y)):
        cov = np.cov(a)
        expected[key] = np.diagonal(cov) / np.max(np.abs(cov)) >= epsilon
    shrunk_key = "x_idxs" if shrunk_side == 1 else "y_idxs"
    assert not expected[shrunk_key][5]
    assert expected[shrunk_key][2] == (epsilon < 1e-4)
    assert expected[shrunk_key].sum() == (acts.shape[0] - (1 if epsilon < 1e-4 else 2))

    ref = gref.get_cca_similarity(x, y, epsilon=epsilon, compute_dirns=True)
    res = sim(x, y, epsilon=epsilon, compute_dirns=True)
    np.testing.assert_array_equal(res["x_idxs"], expected["x_idxs"])
    np.testing.assert_array_equal(res["y_idxs"], expected["y_idxs"])
    assert_matches_reference(res, ref, x, y, compute_dirns=True)

    value, weights, coefs = compat.compute_pwcca(x, y, epsilon=epsilon)
    rvalue, rweights, rcoefs = gref.compute_pwcca(x, y, epsilon=epsilon)
    assert np.isfinite(value)
    assert value == pytest.approx(rvalue, abs=1e-10)
    np.testing.assert_allclose(weights, rweights, rtol=0, atol=1e-10)
    np.testing.assert_allclose(coefs, rcoefs, rtol=0, atol=1e-10)


def test_epsilon_dropping_every_neuron_gives_zero_dict():
    x, y = make_pair(4, 6, 8, n=200)
    ref = gref.get_cca_similarity(x, y, epsilon=2.0, compute_dirns=True)  # ratio <= 1 < 2
    res = sim(x, y, epsilon=2.0, compute_dirns=True)
    assert set(res) == set(ref)
    for key in ref:
        np.testing.assert_array_equal(np.asarray(res[key]), np.asarray(ref[key]), err_msg=key)
    value, weights, _ = compat.compute_pwcca(x, y, epsilon=2.0)
    assert value == 0.0 and weights.size == 0


# --------------------------------------------------------------------------- the fixes
def test_compute_pwcca_more_neurons_in_acts1_uses_acts2():
    x, y = make_pair(11, 25, 9, n=400)  # google/svcca crashed on this
    value, weights, coefs = compat.compute_pwcca(x, y)
    assert np.isfinite(value) and 0.0 <= value <= 1.0
    assert weights.shape == (9,)
    rvalue, rweights, _ = gref.compute_pwcca(x, y)
    assert value == pytest.approx(rvalue, abs=1e-10)
    np.testing.assert_allclose(weights, rweights, rtol=0, atol=1e-10)


def _redundant(x, kind):
    n = x.shape[1]
    extra = {
        "duplicate": x[3],
        "constant": np.full(n, 7.0),
        "linear_combination": x[0] - 2.0 * x[1] + 0.5,
    }[kind]
    return np.insert(x, 1, extra, axis=0)


@pytest.mark.parametrize("kind", ["duplicate", "constant", "linear_combination"])
@pytest.mark.parametrize("nx,ny", [(8, 12), (12, 8)])
@pytest.mark.parametrize("side", [1, 2])
def test_rank_deficient_input_is_finite_and_matches_reduced_data(kind, nx, ny, side):
    x, y = make_pair(1, nx, ny, n=300)
    reduced = sim(x, y)["cca_coef1"]
    ref_reduced = gref.get_cca_similarity(x, y)["cca_coef1"]  # full rank: reference applies
    np.testing.assert_allclose(reduced, ref_reduced, rtol=0, atol=1e-10)
    xa, ya = (_redundant(x, kind), y) if side == 1 else (x, _redundant(y, kind))
    res = sim(xa, ya)
    coefs = res["cca_coef1"]
    assert coefs.shape == (min(xa.shape[0], ya.shape[0]),)
    assert np.all(np.isfinite(coefs))
    assert np.all((coefs >= 0) & (coefs <= 1))
    for key in ("invsqrt_xx", "invsqrt_yy", "coef_x", "coef_y", "mean", "sum"):
        assert np.all(np.isfinite(res[key])), key
    k = reduced.size
    got = np.sort(coefs)[::-1]
    np.testing.assert_allclose(got[:k], ref_reduced, rtol=0, atol=1e-9)
    assert np.all(got[k:] < 1e-9)  # the redundant neuron adds one zero coefficient, if any
    dirns = sim(xa, ya, compute_dirns=True)
    assert np.all(np.isfinite(dirns["cca_dirns1"])) and np.all(np.isfinite(dirns["cca_dirns2"]))

    value, weights, pw_coefs = compat.compute_pwcca(xa, ya)
    assert np.isfinite(value) and 0.0 <= value <= 1.0
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pw_coefs, coefs, rtol=0, atol=1e-12)
    dvalue, dweights = pwcca_by_definition(xa, ya, signs_of_compute_pwcca(xa, ya, res))
    assert value == pytest.approx(dvalue, abs=1e-9)
    np.testing.assert_allclose(weights, dweights, rtol=0, atol=1e-9)


def test_dependent_pwcca_direction_gets_zero_weight_centred():
    # Centred acts1 = [x; x[3]]: the directions coef @ acts1 span only rank(acts1) = 6 dimensions;
    # the one of the zero coefficient is 0 up to rounding, adds nothing after orthonormalization
    # and must get weight 0 (as QR gives), whatever the scale of the activations.
    bad = []
    for seed in range(8):
        x, y = make_pair(seed, 6, 10, n=300)
        x = x - x.mean(axis=1, keepdims=True)
        xa = _redundant(x, "duplicate")
        dvalue, dweights = pwcca_by_definition(xa, y, sim(xa, y))
        assert dweights[-1] < 1e-8  # the definition (QR) is unambiguous here
        for scale in (1.0, 3.0, 10.0):
            value, weights, _ = compat.compute_pwcca(scale * xa, y)
            assert np.all(np.isfinite(weights)) and np.isfinite(value)
            if not (weights[-1] < 1e-8 and abs(value - dvalue) < 1e-8):
                bad.append((seed, scale, float(weights[-1]), value, dvalue))
    assert not bad, bad


def test_dependent_pwcca_direction_gets_zero_weight_uncentred():
    # With non-zero means the direction of the zero coefficient is mean * ones: a genuine direction
    # (google's definition gives it weight); check the weights follow the QR definition.
    x, y = make_pair(6, 6, 10, n=300)
    xa = _redundant(x, "duplicate")
    res = sim(xa, y)
    dvalue, dweights = pwcca_by_definition(xa, y, res)
    for scale in (1.0, 3.0, 10.0):
        value, weights, _ = compat.compute_pwcca(scale * xa, y)
        assert value == pytest.approx(dvalue, abs=1e-9)
        np.testing.assert_allclose(weights, dweights, rtol=0, atol=1e-9)


@pytest.mark.parametrize("transform", ["identical", "invertible_map"])
def test_coefficients_never_above_one(transform):
    rng = np.random.default_rng(5)
    x = _mix(rng, 12) @ rng.standard_normal((12, 300)) + rng.uniform(-3, 3, (12, 1))
    y = x.copy() if transform == "identical" else _mix(rng, 12) @ x + rng.uniform(-3, 3, (12, 1))
    res = sim(x, y)
    coefs = res["cca_coef1"]
    assert np.all(coefs <= 1.0)
    assert np.all(coefs >= 1.0 - 1e-10)
    assert res["mean"][0] <= 1.0 and res["sum"][0] <= 12.0
    value, _, _ = compat.compute_pwcca(x, y)
    assert 1.0 - 1e-10 <= value <= 1.0


def test_compute_pwcca_offset_quirk_is_kept_and_pwcca_is_invariant():
    x, y = make_pair(5, 10, 15)
    shifted = x + 5.0
    before, _, _ = compat.compute_pwcca(x, y)
    after, _, _ = compat.compute_pwcca(shifted, y)
    assert abs(after - before) > 1e-4  # google's value depends on the offsets (acts1 weighs)
    assert after == pytest.approx(gref.compute_pwcca(shifted, y)[0], abs=1e-10)
    # the canonical correlations themselves do not move
    np.testing.assert_allclose(sim(shifted, y)["cca_coef1"], sim(x, y)["cca_coef1"], rtol=0, atol=1e-10)
    # the paper's PWCCA is translation invariant
    assert cca_core.pwcca(shifted.T, y.T) == pytest.approx(cca_core.pwcca(x.T, y.T), abs=1e-10)


@pytest.mark.parametrize("side", [1, 2])
def test_all_constant_input_raises(side):
    x, y = make_pair(0, 4, 5, n=100)
    const = np.full((4 if side == 1 else 5, 100), 3.0)
    a1, a2 = (const, y) if side == 1 else (x, const)
    with pytest.raises(ValueError, match="no variance"):
        sim(a1, a2)
    with pytest.raises(ValueError, match="no variance"):
        compat.compute_pwcca(a1, a2)


def test_verbose_prints_and_quiet_does_not(capsys):
    x, y = make_pair(0, 4, 5, n=100)
    compat.get_cca_similarity(x, y, verbose=True)
    assert capsys.readouterr().out.strip() != ""
    compat.get_cca_similarity(x, y, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    compat.compute_pwcca(x, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("big_side", [1, 2])
def test_neurons_not_fewer_than_datapoints_warns_and_is_finite(big_side):
    rng = np.random.default_rng(9)
    big = rng.standard_normal((30, 25)) + 1.0   # 30 neurons, 25 datapoints
    small = rng.standard_normal((4, 25))
    a1, a2 = (big, small) if big_side == 1 else (small, big)
    with pytest.warns(cca_core.RankWarning, match="30 neurons"):
        res = sim(a1, a2)
    coefs = res["cca_coef1"]
    assert coefs.shape == (4,)
    assert np.all(np.isfinite(coefs)) and np.all((coefs >= 0) & (coefs <= 1))
    assert np.all(np.isfinite(res["mean"]))
    with pytest.warns(cca_core.RankWarning):
        value, weights, _ = compat.compute_pwcca(a1, a2)
    assert np.isfinite(value) and np.all(np.isfinite(weights))


def test_threshold_zero_gives_first_coefficient_not_nan():
    # google/svcca averages an empty slice (NaN) when threshold=0; here the first coefficient.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 300))
    y = x + rng.standard_normal((4, 300))
    res = compat.get_cca_similarity(x, y, threshold=0.0, verbose=False)
    ref_coefs = gref.get_cca_similarity(x, y, verbose=False)["cca_coef1"]
    assert res["mean"][0] == pytest.approx(ref_coefs[0], abs=1e-12)

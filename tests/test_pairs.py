"""The pairwise engine (cca_core.pairs.pairwise) against the single-pair functions and the slow
references of tests/reference.py; the result object, executors, input checks, error wrapping,
RankWarning and rank truncation."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import re
import warnings
from unittest import mock

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import cca_core
import reference as ref
from measure_cases import ALL_MEASURES, CCA_FAMILY, CKA_FAMILY, case_id, measure_cases
from cca_core import ForcedCorrelationWarning, RankWarning
from cca_core import pairs as pairs_mod
from cca_core.measures import MEASURES
from cca_core.pairs import PairwiseError, PairwiseResult, pairwise

SYMMETRIC = {"mean_cca", "svcca", "linear_cka", "debiased_linear_cka", "rbf_cka", "procrustes_similarity",
             "shape_similarity"}
SPACES = ["auto", "neuron", "data"]
CASES = measure_cases(svcca_keep=5)
CASE_IDS = [case_id(m, kw) for m, kw in CASES]
assert {m for m, _ in CASES} == set(ALL_MEASURES) == set(MEASURES)

N = 200
WIDTHS = (10, 17, 25, 33, 40)
LABELS = tuple(f"net{d}" for d in WIDTHS)


def networks(seed: int = 0, n: int = N, widths=WIDTHS, n_latent: int = 8, labels=None) -> dict:
    """Networks of different widths reading a shared latent signal, each with its own anisotropic
    noise and non-zero means: full rank and well conditioned, related but not identical."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, n_latent))
    labels = labels or [f"net{d}" for d in widths]
    acts = {}
    for lab, d in zip(labels, widths):
        mix = rng.standard_normal((n_latent, d)) * rng.uniform(0.3, 1.5, n_latent)[:, None]
        noise = rng.standard_normal((n, d)) * np.geomspace(0.3, 2.5, d)
        acts[lab] = z @ mix + noise + rng.normal(0.0, 5.0, d)
    return acts


ACTS = networks()
ARRAYS = list(ACTS.values())


def reference_value(measure: str, kwargs: dict, x: np.ndarray, y: np.ndarray) -> float:
    """The slow, direct reference (no rank truncation: inputs are full rank).

    One BLAS thread: the references' n x n products are 10-20x slower on a busy 2-core machine
    with OpenBLAS's threads fighting over the cores.
    """
    with threadpool_limits(1):
        return _reference_value(measure, kwargs, x, y)


def _reference_value(measure: str, kwargs: dict, x: np.ndarray, y: np.ndarray) -> float:
    if measure == "mean_cca":
        return ref.mean_cca(x, y, squared=kwargs.get("squared", False))
    if measure == "svcca":
        return ref.svcca(x, y, kwargs.get("keep", 0.99))
    if measure == "pwcca":
        return ref.pwcca(x, y)
    if measure == "rbf_cka":
        return ref.rbf_cka(x, y, kwargs.get("threshold", 0.5))
    if measure == "shape_similarity":
        return ref.shape_similarity(x, y, kwargs.get("alpha", 1.0))
    return getattr(ref, measure)(x, y)


@functools.lru_cache(maxsize=None)
def _expected(case: int) -> tuple[np.ndarray, np.ndarray]:
    """(single-pair matrix, reference matrix) of ARRAYS for CASES[case]; diagonal 1."""
    measure, kwargs = CASES[case]
    k = len(ARRAYS)
    single, slow = np.eye(k), np.eye(k)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            single[i, j] = MEASURES[measure](ARRAYS[i], ARRAYS[j], **kwargs)
            if measure in SYMMETRIC and j < i:
                slow[i, j] = slow[j, i]
            else:
                slow[i, j] = reference_value(measure, kwargs, ARRAYS[i], ARRAYS[j])
    return single, slow


def assert_off_diagonal_close(got: np.ndarray, expected: np.ndarray, atol: float, what: str) -> None:
    k = got.shape[0]
    off = ~np.eye(k, dtype=bool)
    err = np.abs(got - expected)[off]
    assert np.all(np.isfinite(got)), (what, got)
    assert err.max() <= atol, f"{what}: max error {err.max():.3e} > {atol:.0e}\ngot\n{got}\nexpected\n{expected}"


# ------------------------------------------------------------------------------ 1. values
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_every_pair_matches_single_pair_function_and_reference(case, space):
    measure, kwargs = CASES[case]
    res = pairwise(ACTS, measure, space=space, progress=False, **kwargs)
    single, slow = _expected(case)
    assert isinstance(res, PairwiseResult)
    assert res.values.shape == (len(WIDTHS), len(WIDTHS))
    assert res.labels == LABELS and res.measure == measure
    if measure != "rbf_cka":  # RBF CKA is computed from n x n kernels whatever the space
        assert res.space == ("neuron" if space == "auto" else space)
    np.testing.assert_array_equal(np.diagonal(res.values), 1.0)
    assert_off_diagonal_close(res.values, single, 1e-10, f"{measure} {kwargs} {space} vs single-pair")
    assert_off_diagonal_close(res.values, slow, 1e-8, f"{measure} {kwargs} {space} vs reference")
    # Teeth: the networks are related but different, so the values are neither trivial nor all equal.
    off = res.values[~np.eye(len(WIDTHS), dtype=bool)]
    assert off.max() < 0.999 and off.min() > 0.0 and np.ptp(off) > 1e-3, off


def test_svcca_keep_options_change_the_value():
    # Guards the svcca cases above: on this data keep=0.9 and keep=5 really truncate.
    x, y = ARRAYS[1], ARRAYS[3]
    full = reference_value("mean_cca", {}, x, y)
    default = reference_value("svcca", {}, x, y)
    for keep in (0.9, 5):
        value = reference_value("svcca", {"keep": keep}, x, y)
        assert abs(value - full) > 1e-3 and abs(value - default) > 1e-3, (keep, value, full, default)


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("keep", [6, 12])
def test_svcca_integer_keep_above_a_network_width(keep, space):
    # keep larger than a (full-rank) network's width keeps all its directions, as the reference
    # does (min(keep, number of singular values)); no numerically null direction may join them.
    acts = networks(seed=9, n=120, widths=(4, 9, 15), n_latent=3)
    arrays = list(acts.values())
    res = pairwise(acts, "svcca", keep=keep, space=space, progress=False)
    for i in range(3):
        for j in range(3):
            if i != j:
                expected = reference_value("svcca", {"keep": keep}, arrays[i], arrays[j])
                assert abs(cca_core.svcca(arrays[i], arrays[j], keep=keep) - expected) < 1e-8
                assert abs(res.values[i, j] - expected) < 1e-8, (res.labels[i], res.labels[j], res.values[i, j], expected)


@pytest.mark.parametrize("space", SPACES)
def test_pwcca_is_asymmetric_and_each_direction_matches(space):
    res = pairwise(ACTS, "pwcca", space=space, progress=False)
    v = res.values
    k = len(ARRAYS)
    for i in range(k):
        for j in range(i + 1, k):
            assert abs(v[i, j] - v[j, i]) > 1e-4, (i, j, v[i, j], v[j, i])
            assert abs(v[i, j] - cca_core.pwcca(ARRAYS[i], ARRAYS[j])) < 1e-10
            assert abs(v[j, i] - cca_core.pwcca(ARRAYS[j], ARRAYS[i])) < 1e-10
            assert abs(v[i, j] - reference_value("pwcca", {}, ARRAYS[i], ARRAYS[j])) < 1e-8
            assert abs(v[j, i] - reference_value("pwcca", {}, ARRAYS[j], ARRAYS[i])) < 1e-8


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_neuron_and_data_space_agree(measure):
    neuron = pairwise(ACTS, measure, space="neuron", progress=False).values
    data = pairwise(ACTS, measure, space="data", progress=False).values
    np.testing.assert_allclose(neuron, data, rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------ 2. result object
def test_labels_from_mapping_keep_order_and_list_gives_indices():
    arrays = ARRAYS[:3]
    by_name = pairwise({"zeta": arrays[0], "alpha": arrays[1], "mid": arrays[2]}, "linear_cka",
                       progress=False)
    assert by_name.labels == ("zeta", "alpha", "mid")
    by_list = pairwise(arrays, "linear_cka", progress=False)
    assert by_list.labels == ("0", "1", "2")
    by_tuple = pairwise(tuple(arrays), "linear_cka", progress=False)
    assert by_tuple.labels == ("0", "1", "2")
    by_int_keys = pairwise({10: arrays[0], 3: arrays[1], 7: arrays[2]}, "linear_cka", progress=False)
    assert by_int_keys.labels == ("10", "3", "7")
    # The values follow the order too: row "alpha" of the mapping is row 1 of the list.
    np.testing.assert_array_equal(by_name.values, by_list.values)
    assert abs(by_name.values[0, 1] - cca_core.linear_cka(arrays[0], arrays[1])) < 1e-10


@pytest.mark.parametrize("measure", ["pwcca", "linear_cka"])
def test_symmetrized_and_distances(measure):
    res = pairwise(ACTS, measure, progress=False)
    v = res.values
    s = res.symmetrized()
    np.testing.assert_array_equal(s, s.T)
    np.testing.assert_allclose(s, (v + v.T) / 2, rtol=0, atol=1e-15)
    d = res.distances()
    np.testing.assert_array_equal(d, d.T)
    assert np.all(np.diagonal(d) == 0.0)
    off = ~np.eye(v.shape[0], dtype=bool)
    np.testing.assert_allclose(d[off], 1.0 - (v + v.T)[off] / 2, rtol=0, atol=1e-15)
    assert np.all(d[off] > 0)
    if measure == "pwcca":  # asymmetric: symmetrizing really changes the matrix
        assert np.max(np.abs(s - v)) > 1e-4


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_identical_networks_give_one(measure, space):
    x, y = ARRAYS[2], ARRAYS[4]
    res = pairwise({"x": x, "x_copy": x.copy(), "y": y, "y_copy": y.copy()}, measure, space=space,
                   progress=False)
    v = res.values
    for i, j in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        assert abs(v[i, j] - 1.0) < 1e-12, (i, j, v[i, j])
        assert v[i, j] <= 1.0
    assert v[0, 2] < 0.99  # different networks are not 1
    assert abs(res.distances()[0, 1]) < 1e-12


# ------------------------------------------------------------------------------ 3. executors
SMALL = networks(seed=5, n=60, widths=(4, 6, 5, 8, 7))


@pytest.fixture(scope="module")
def process_pool():
    # spawn: the workers share nothing with this process, so everything sent must pickle.
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_thread_pool_executor_gives_same_values(measure):
    base = pairwise(SMALL, measure, progress=False).values
    assert not np.any(np.isnan(base))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        got = pairwise(SMALL, measure, executor=pool, progress=False).values
    np.testing.assert_allclose(got, base, rtol=0, atol=1e-12)


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_process_pool_executor_gives_same_values(measure, process_pool):
    base = pairwise(SMALL, measure, progress=False).values
    got = pairwise(SMALL, measure, executor=process_pool, progress=False).values
    np.testing.assert_allclose(got, base, rtol=0, atol=1e-12)


@pytest.mark.parametrize("executor", [None, "threads"])
@pytest.mark.parametrize("pair", [(0, 2), (2, 0)])
def test_pairs_argument_computes_only_that_pair(pair, executor):
    arrays = list(SMALL.values())
    pool = concurrent.futures.ThreadPoolExecutor(2) if executor else None
    try:
        res = pairwise(SMALL, "pwcca", pairs=[pair], executor=pool, progress=False)
    finally:
        if pool:
            pool.shutdown()
    v = res.values
    k = len(arrays)
    np.testing.assert_array_equal(np.diagonal(v), 1.0)
    computed = {(0, 2), (2, 0)}
    for i in range(k):
        for j in range(k):
            if i != j and (i, j) not in computed:
                assert np.isnan(v[i, j]), (i, j, v[i, j])
    assert abs(v[0, 2] - cca_core.pwcca(arrays[0], arrays[2])) < 1e-10
    assert abs(v[2, 0] - cca_core.pwcca(arrays[2], arrays[0])) < 1e-10


def test_pairs_only_factor_the_networks_they_need():
    calls = []
    real = pairs_mod.factor

    def spy(x, label, *args):
        calls.append(label)
        return real(x, label, *args)

    with mock.patch("cca_core.pairs.factor", side_effect=spy):
        pairwise(SMALL, "mean_cca", pairs=[(1, 3)], progress=False)
    labels = list(SMALL)
    assert sorted(calls) == sorted([labels[1], labels[3]])


@pytest.mark.parametrize("bad", [(0, 0), (0, 5), (-1, 2)])
def test_bad_pairs_raise(bad):
    with pytest.raises(ValueError, match="pairs"):
        pairwise(SMALL, "pwcca", pairs=[bad], progress=False)


# ------------------------------------------------------------------------------ 4. bad input
@pytest.fixture
def no_work():
    """Any factorization is a failure: the checks must come before the work."""
    with mock.patch("cca_core.pairs.factor", side_effect=AssertionError("work started before the checks")):
        yield


def _good(n=50, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)) + 1.0


def _message(excinfo) -> str:
    return str(excinfo.value)


@pytest.mark.parametrize("acts, count", [([], 0), ([_good()], 1), ({"only": _good()}, 1)],
                         ids=["empty", "one", "one_in_mapping"])
def test_fewer_than_two_networks(acts, count, no_work):
    with pytest.raises(ValueError) as excinfo:
        pairwise(acts, "pwcca", progress=False)
    assert re.search(r"at least 2", _message(excinfo)) and re.search(rf"\b{count}\b", _message(excinfo))


def test_a_single_2d_array_is_not_a_set_of_networks(no_work):
    with pytest.raises(TypeError, match=re.escape("(50, 4)")):
        pairwise(_good(), "pwcca", progress=False)


@pytest.mark.parametrize("measure", ["pcwca", "cka", "", None])
def test_unknown_measure_lists_known_ones(measure, no_work):
    with pytest.raises(ValueError) as excinfo:
        pairwise([_good(), _good(seed=1)], measure, progress=False)
    msg = _message(excinfo)
    assert repr(measure) in msg
    for name in ALL_MEASURES:
        assert name in msg, (name, msg)


@pytest.mark.parametrize("measure, kwargs", [
    ("pwcca", {"keep": 0.9}),
    ("linear_cka", {"threshold": 0.5}),
    ("svcca", {"squared": True}),
    ("rbf_cka", {"keep": 3}),
    ("mean_cca", {"tresh": 1}),
    ("debiased_linear_cka", {"rtol": 1e-10}),
])
def test_unknown_keyword_is_type_error(measure, kwargs, no_work):
    with pytest.raises(TypeError) as excinfo:
        pairwise([_good(), _good(seed=1)], measure, progress=False, **kwargs)
    msg = _message(excinfo)
    assert measure in msg and next(iter(kwargs)) in msg, msg


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_different_numbers_of_datapoints(measure, no_work):
    acts = {"conv1": _good(50, 4), "fc7": _good(50, 3, seed=1), "logits": _good(43, 5, seed=2)}
    with pytest.raises(ValueError) as excinfo:
        pairwise(acts, measure, progress=False)
    msg = _message(excinfo)
    for part in ("'conv1'", "'logits'", re.escape("(50, 4)"), re.escape("(43, 5)"), "datapoints"):
        assert re.search(part, msg), (part, msg)


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_nan_names_the_network_and_counts(measure, no_work):
    bad = _good(50, 5, seed=3)
    bad[[3, 8, 20], [0, 2, 4]] = np.nan
    acts = {"conv1": _good(), "fc7": bad, "logits": _good(seed=2)}
    with pytest.raises(ValueError) as excinfo:
        pairwise(acts, measure, progress=False)
    msg = _message(excinfo)
    assert "'fc7'" in msg and re.search(r"\b3 NaN", msg) and "(50, 5)" in msg, msg
    assert "conv1" not in msg and "logits" not in msg


def test_inf_names_the_network(no_work):
    bad = _good(50, 5, seed=3).astype(np.float32)
    bad[1, 1] = np.inf
    with pytest.raises(ValueError) as excinfo:
        pairwise({"a": _good(), "b": bad}, "linear_cka", progress=False)
    assert "'b'" in _message(excinfo) and re.search(r"\b1 Inf", _message(excinfo))


@pytest.mark.parametrize("measure", ["pwcca", "linear_cka"])
def test_three_dimensional_array(measure, no_work):
    acts = {"conv1": np.zeros((50, 4, 3)), "fc7": _good()}
    with pytest.raises(ValueError) as excinfo:
        pairwise(acts, measure, progress=False)
    msg = _message(excinfo)
    assert "'conv1'" in msg and "3-D" in msg and "2-D" in msg and "(50, 4, 3)" in msg, msg


def test_four_dimensional_array_points_to_conv_to_2d(no_work):
    with pytest.raises(ValueError, match="conv_to_2d"):
        pairwise({"conv1": np.ones((50, 2, 2, 3)), "fc7": _good()}, "pwcca", progress=False)


@pytest.mark.parametrize("measure", ["mean_cca", "rbf_cka"])
def test_complex_dtype(measure, no_work):
    acts = {"a": _good(), "b": _good(seed=1).astype(np.complex128)}
    with pytest.raises(TypeError) as excinfo:
        pairwise(acts, measure, progress=False)
    assert "'b'" in _message(excinfo) and "complex" in _message(excinfo)


@pytest.mark.parametrize("keep, exc", [(1.5, ValueError), (0.0, ValueError), (0, ValueError),
                                       (-2, ValueError), (True, TypeError)])
def test_bad_keep(keep, exc, no_work):
    with pytest.raises(exc, match="keep"):
        pairwise([_good(), _good(seed=1)], "svcca", keep=keep, progress=False)


@pytest.mark.parametrize("threshold", [0.0, -1.0])
def test_bad_rbf_threshold(threshold, no_work):
    with pytest.raises(ValueError, match="threshold"):
        pairwise([_good(), _good(seed=1)], "rbf_cka", threshold=threshold, progress=False)


@pytest.mark.parametrize("measure", ALL_MEASURES)
@pytest.mark.parametrize("space", ["Neuron", "gram", "", "feature"])
def test_bad_space(measure, space, no_work):
    with pytest.raises(ValueError) as excinfo:
        pairwise([_good(), _good(seed=1)], measure, space=space, progress=False)
    msg = _message(excinfo)
    assert repr(space) in msg and "neuron" in msg and "data" in msg, msg


def test_duplicate_labels_rejected(no_work):
    class Odd(dict):
        pass

    # Distinct keys that print alike would make the labels ambiguous.
    with pytest.raises(ValueError, match="distinct"):
        pairwise(Odd({1: _good(), "1": _good(seed=1)}), "pwcca", progress=False)


@pytest.mark.parametrize("space", ["neuron", "data"])
@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_constant_network_names_it(measure, space):
    acts = {"conv1": _good(), "dead_layer": np.full((50, 6), 0.25), "fc7": _good(seed=2)}
    with pytest.raises((ValueError, PairwiseError)) as excinfo:
        pairwise(acts, measure, space=space, progress=False)
    msg = _message(excinfo)
    assert "dead_layer" in msg, f"the message does not name the constant network: {msg!r}"
    assert "no variance" in msg, msg


# ------------------------------------------------------------------------------ 5. PairwiseError
@pytest.mark.parametrize("executor", [None, "threads"])
@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_failure_in_one_pair_names_both_networks(measure, executor):
    real = pairs_mod.pair_values
    seen = []

    def flaky(m, fi, fj, kwargs):
        seen.append((fi.label, fj.label))
        if {fi.label, fj.label} == {"net6", "net8"}:
            raise np.linalg.LinAlgError("SVD did not converge")
        return real(m, fi, fj, kwargs)

    pool = concurrent.futures.ThreadPoolExecutor(2) if executor else None
    try:
        with mock.patch("cca_core.pairs.pair_values", side_effect=flaky):
            with pytest.raises(PairwiseError) as excinfo:
                pairwise(SMALL, measure, executor=pool, progress=False)
    finally:
        if pool:
            pool.shutdown()
    err = excinfo.value
    assert ("net6", "net8") in seen  # the patched function really ran
    assert err.pair == ("net6", "net8")
    msg = str(err)
    for part in ("'net6'", "'net8'", measure, "LinAlgError", "SVD did not converge"):
        assert part in msg, (part, msg)
    assert isinstance(err.__cause__, np.linalg.LinAlgError)


def test_pairs_without_the_failing_pair_succeed():
    real = pairs_mod.pair_values

    def flaky(m, fi, fj, kwargs):
        if {fi.label, fj.label} == {"net6", "net8"}:
            raise np.linalg.LinAlgError("boom")
        return real(m, fi, fj, kwargs)

    labels = list(SMALL)
    with mock.patch("cca_core.pairs.pair_values", side_effect=flaky):
        res = pairwise(SMALL, "pwcca", pairs=[(0, 1)], progress=False)
    assert {labels[0], labels[1]} != {"net6", "net8"}
    assert abs(res.values[0, 1] - cca_core.pwcca(SMALL[labels[0]], SMALL[labels[1]])) < 1e-10


# ------------------------------------------------------------------------------ 6. RankWarning
def _wide_set(n=30):
    rng = np.random.default_rng(11)
    return {"small": rng.standard_normal((n, 5)) + 2.0,
            "square": rng.standard_normal((n, n)) - 1.0,
            "mid": rng.standard_normal((n, 8))}


@pytest.mark.parametrize("wide", [30, 45], ids=["neurons_eq_datapoints", "neurons_gt_datapoints"])
@pytest.mark.parametrize("measure", CCA_FAMILY)
def test_cca_family_warns_when_neurons_reach_datapoints(measure, wide):
    acts = _wide_set()
    acts["square"] = np.random.default_rng(3).standard_normal((30, wide))
    with pytest.warns(RankWarning, match="square") as record:
        res = pairwise(acts, measure, progress=False)
    assert all(issubclass(w.category, RankWarning) for w in record)
    assert np.all(np.isfinite(res.values))
    with pytest.warns(RankWarning, match="neurons"):
        MEASURES[measure](acts["small"], acts["square"])
    with pytest.warns(RankWarning, match="neurons"):
        MEASURES[measure](acts["square"], acts["small"])


@pytest.mark.parametrize("measure", CCA_FAMILY)
def test_cca_family_silent_when_datapoints_exceed_neurons(measure):
    acts = _wide_set()
    acts["square"] = acts["square"][:, :29]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pairwise(acts, measure, progress=False)
        MEASURES[measure](acts["small"], acts["square"])
    ranks = [w for w in record if issubclass(w.category, RankWarning)]
    # No neurons >= datapoints warning; but 5 + 29 neurons in the 29 dimensions of 30 centred
    # datapoints force 5 canonical correlations to 1, which mean CCA and PWCCA say (issue 20).
    assert all(issubclass(w.category, ForcedCorrelationWarning) for w in ranks)
    if measure != "svcca":
        assert any("5 canonical correlation(s) are 1" in str(w.message) for w in ranks)


@pytest.mark.parametrize("wide", [30, 45], ids=["neurons_eq_datapoints", "neurons_gt_datapoints"])
@pytest.mark.parametrize("measure", CKA_FAMILY)
def test_cka_family_does_not_warn(measure, wide):
    acts = _wide_set()
    acts["square"] = np.random.default_rng(3).standard_normal((30, wide))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RankWarning)
        res = pairwise(acts, measure, progress=False)
        single = MEASURES[measure](acts["small"], acts["square"])
        MEASURES[measure](acts["square"], acts["mid"])
    assert not [w for w in record if issubclass(w.category, RankWarning)]
    assert np.all(np.isfinite(res.values))
    assert abs(res.values[0, 1] - single) < 1e-10


# ------------------------------------------------------------------------------ 7. rank truncation
def _rank_deficient_set():
    base = networks(seed=7, n=150, widths=(8, 12, 9), n_latent=5)
    x, y, w = base.values()
    rng = np.random.default_rng(7)
    dup = np.hstack([np.full((150, 1), 4.2), x, x[:, [2, 5]], np.zeros((150, 1)), x[:, [2]]])
    low = (y[:, :4] @ rng.standard_normal((4, 11))) + 1.0  # rank 4 with 11 neurons
    return {"dup": dup, "low": low, "full": w, "x": x, "y4": y[:, :4]}


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_rank_deficient_networks_match_single_pair(case, space):
    measure, kwargs = CASES[case]
    acts = _rank_deficient_set()
    arrays = list(acts.values())
    res = pairwise(acts, measure, space=space, progress=False, **kwargs)
    v = res.values
    assert np.all(np.isfinite(v)), v
    for i in range(len(arrays)):
        for j in range(len(arrays)):
            if i != j:
                expected = MEASURES[measure](arrays[i], arrays[j], **kwargs)
                assert abs(v[i, j] - expected) < 1e-10, (res.labels[i], res.labels[j], v[i, j], expected)
    if measure == "mean_cca":
        # dup spans x's (centred) column space and low spans y4's: the same canonical correlations.
        lab = res.labels
        squared = kwargs.get("squared", False)
        assert abs(v[lab.index("dup"), lab.index("low")] - ref.mean_cca(acts["x"], acts["y4"], squared)) < 1e-10
        assert abs(v[lab.index("dup"), lab.index("full")] - ref.mean_cca(acts["x"], acts["full"], squared)) < 1e-10

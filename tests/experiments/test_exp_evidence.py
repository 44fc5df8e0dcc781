"""cca_core.experiments.evidence: the evidence record, and intervals over networks (NetworkGroups,
mean_interval), against exact formulas and scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cca_core.experiments.evidence import Evidence, NetworkGroups, NetworkMeans, mean_interval


def test_evidence_formats_interval_and_refuses_bad_input():
    e = Evidence("gap", 0.38, (0.30, 0.45), n={"networks": [5, 5], "pairs": 20})
    assert f"{e:.2f}" == "0.38 [0.30, 0.45]"
    assert e.confidence_level == 0.95 and e.n["networks"] == (5, 5)
    assert "gap: 0.38 [0.30, 0.45] (95%)" in e.summary() and "networks 5+5" in e.summary()
    assert f"{Evidence('x', 0.5):.2f}" == "0.50"  # no interval: the estimate alone
    with pytest.raises(ValueError, match="attainable minimum"):
        Evidence("p", 0.1, p_value=0.2)
    with pytest.raises(ValueError, match="low <= high"):
        Evidence("x", 0.1, (0.3, 0.2))
    with pytest.raises(ValueError, match="count"):
        Evidence("x", 0.1, n={"networks": -1})
    with pytest.raises(ValueError, match="without an interval"):
        Evidence("x", 0.1, confidence_level=0.9)


def test_evidence_json_round_trip_with_nan_as_null():
    e = Evidence("r", float("nan"), n={"pairs": 3}, note="no interval: constant")
    d = e.to_dict()
    assert d["estimate"] is None and json.loads(json.dumps(d, allow_nan=False)) == d
    back = Evidence.from_dict(d)
    assert np.isnan(back.estimate) and back.note == e.note
    e2 = Evidence("sep", 0.1, (0.0, 0.2), 0.9, 0.1, 0.1, {"networks": [3, 3]}, "perm", "")
    assert Evidence.from_dict(json.loads(json.dumps(e2.to_dict()))) == e2


def test_mean_interval_is_student_t():
    # values 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653; half width 4.302653 / sqrt(3) = 2.484138
    e = mean_interval([1.0, 2.0, 3.0], "x")
    assert e.estimate == 2.0
    assert e.interval == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    one = mean_interval([0.4], "x")
    assert one.interval is None and "1 of draws" in one.note


# ---------------------------------------------------------------------------------------- checks
def _three() -> np.ndarray:
    d = np.zeros((3, 3))
    d[0, 1], d[0, 2], d[1, 2] = 0.1, 0.2, 0.3
    return d + d.T


def test_network_groups_means_over_distinct_pairs():
    g = NetworkGroups(_three(), ["a"] * 3, n_resamples=999, seed=1)
    assert g.mean("a") == pytest.approx(0.2)
    # counts (2, 1, 0): pairs of distinct networks 0-1 (weight 2 * 1, both orders): mean 0.1
    w = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    got = g._mean("a", None, w, None)
    assert got[:3] == pytest.approx([0.1, 0.2, 0.3]) and np.isnan(got[3])
    ev = g.evidence("a", lambda m: m("a"))
    # every resample's mean is a mean of pair distances: within [0.1, 0.3]
    assert 0.1 <= ev.low <= ev.estimate <= ev.high <= 0.3
    # 3 of the 27 draws have a single network (probability 3**(1 - 3) = 1/9): about 111 of 999 dropped
    used = int(ev.method.split("percentile, ")[1].split(" of")[0])
    assert 999 - used == pytest.approx(111, abs=35)
    assert ev.n == {"networks": 3, "pairs": 3}


def test_network_groups_between_and_too_small_groups():
    d = np.zeros((4, 4))
    d[np.ix_([0, 1], [2, 3])] = [[0.5, 0.7], [0.9, 1.1]]
    d = d + d.T
    d[0, 1] = d[1, 0] = 0.2
    d[2, 3] = d[3, 2] = 0.4
    g = NetworkGroups(d, ["x", "x", "y", "y"], n_resamples=99)
    assert g.mean("x", "y") == pytest.approx(0.8)
    # counts w = (2, 0), v = (1, 1): (2 * 0.5 + 2 * 0.7) / (2 * 2) = 0.6
    assert g._mean("x", "y", np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]]))[0] == pytest.approx(0.6)
    between = g.evidence("b", lambda m: m("x", "y"))
    assert between.interval is not None and between.n == {"networks": (2, 2), "pairs": 4}
    within_x = g.evidence("w", lambda m: m("x"))
    assert within_x.interval is None and "2 networks in x" in within_x.note
    assert g.interval(lambda m: m("y"))[1] is None


def test_network_groups_vector_statistic_over_layers():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.5, size=(2, 6, 6))
    d = np.triu(base, 1)
    d = d + np.swapaxes(d, 1, 2)
    g = NetworkGroups(d, ["a"] * 3 + ["b"] * 3, n_resamples=499)
    est, lo, hi = g.interval(lambda m: m("a"))
    assert est.shape == (2,) and np.all(lo <= est) and np.all(est <= hi)
    sub = NetworkGroups(d[1], ["a"] * 3 + ["b"] * 3, n_resamples=499)
    assert est[1] == pytest.approx(sub.mean("a"))


def test_network_means_give_student_t_intervals_over_networks():
    # 3 networks with values 0.1, 0.2, 0.6: mean 0.3, s = sqrt((0.04 + 0.01 + 0.09) / 2) = 0.26458,
    # t(0.975, 2) = 4.3027, half-width 4.3027 * 0.26458 / sqrt(3) = 0.65724: [-0.35724, 0.95724]
    nets = NetworkMeans({"x": np.array([[0.1], [0.2], [0.6]])})
    est, lo, hi = nets.interval()
    assert est[0] == pytest.approx(0.3) and lo[0] == pytest.approx(-0.35724, abs=1e-5)
    assert hi[0] == pytest.approx(0.95724, abs=1e-5)
    ev = nets.evidence("x", lambda v: v["x"][0], clip=(0.0, 1.0))
    assert ev.n == {"networks": 3} and ev.interval == pytest.approx((0.0, 0.95724), abs=1e-5)
    # a statistic of each network, then the mean: x > 0.25 holds for one network of three
    assert nets.evidence("x > 0.25", lambda v: float(v["x"][0] > 0.25)).estimate == pytest.approx(1 / 3)
    # networks that agree exactly: a zero-width interval
    same = NetworkMeans({"x": np.array([[0.5], [0.5]])}).evidence("x", lambda v: v["x"][0])
    assert same.interval == (0.5, 0.5)
    one = NetworkMeans({"x": np.array([[0.1]])}).evidence("x", lambda v: v["x"][0])
    assert one.interval is None and "1 network" in one.note
    with pytest.raises(ValueError, match="same networks"):
        NetworkMeans({"a": np.zeros((3, 2)), "b": np.zeros((2, 2))})


# ------------------------------------------------------------------------------------------------
# how many replicates would decide an undecided check

def _sample(n, mean, sd):
    """n values with exactly this mean and sample standard deviation."""
    z = np.linspace(-1, 1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


@pytest.mark.parametrize("n, mean, sd, threshold", [(3, 0.04, 0.05, 0.0), (6, -0.01, 0.03, 0.0),
                                                    (5, 0.56, 0.08, 0.5), (4, 0.3, 0.001, 0.3005)])
def test_replicates_to_decide_is_the_first_size_whose_t_interval_clears_the_threshold(n, mean, sd, threshold):
    """Against scipy's t interval on samples of the same mean and spread, size by size."""
    from scipy import stats as st

    from cca_core.experiments.evidence import mean_interval, replicates_to_decide

    ev = mean_interval(_sample(n, mean, sd), "x", unit="networks")
    assert ev.interval[0] < threshold < ev.interval[1], "the case must start undecided"
    need, unit = replicates_to_decide(ev, threshold)
    assert unit == "networks"

    def clears(m):
        lo, hi = st.t.interval(0.95, m - 1, loc=mean, scale=sd / np.sqrt(m))
        return lo > threshold or hi < threshold

    assert clears(need) and not clears(need - 1)


def test_replicates_to_decide_says_nothing_it_cannot_know():
    from cca_core.experiments.evidence import Evidence, mean_interval, replicates_to_decide

    at = mean_interval(_sample(4, 0.2, 0.1), "x")
    assert replicates_to_decide(at, 0.2) is None  # the estimate is at the threshold
    assert replicates_to_decide(mean_interval(_sample(4, 0.2, 0.1), "x"), 0.19999) is None  # beyond the limit
    boot = Evidence("y", 0.1, (-0.1, 0.3), 0.95, method="network bootstrap, 9999 resamples")
    assert replicates_to_decide(boot, 0.0) is None
    assert replicates_to_decide(Evidence("z", 0.1), 0.0) is None


def test_an_undecided_verdict_says_how_many_networks_would_decide_it():
    from cca_core.experiments.evidence import mean_interval, replicates_to_decide
    from cca_core.experiments.verdicts.findings import above, judge

    ev = mean_interval(_sample(3, 0.04, 0.05), "gap", unit="networks")
    verdict = judge(above(ev, 0.0))
    need, _ = replicates_to_decide(ev, 0.0)
    assert verdict.verdict == "inconclusive"
    assert any(f"about {need} networks would decide it" in r for r in verdict.reasons)

"""cca_core.experiments.analysis.measure_checks, against independent references:
explicit SVD reconstructions, scikit-learn's average precision, brute-force loops over triplets, hand
computations on tiny cases, synthetic networks whose answer is known, and the memorization template's
own code."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from cca_core import linear_cka, pwcca
from cca_core.experiments import memorization_configs
from cca_core.experiments.verdicts.findings import NetworkGroups
from cca_core.experiments.analysis.measure_checks import (bootstrap_evidence, cross_similarity, delete_components,
                                                          deletion_curves, deletion_ks, group_auprc,
                                                          group_violation_rate, layer_identification, monotonicity,
                                                          probe_accuracy, resolve_measure, sensitivity, specificity,
                                                          spearman)

ROOT = Path(__file__).resolve().parents[3]


def _orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ------------------------------------------------------------------------------------------ configs
def test_memorization_configs_are_the_memorization_templates_own():
    """Exec the memorization template's config construction (its own code) with the book's parameters."""
    nb = nbformat.read(ROOT / "notebooks" / "memorization.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    namespace: dict = {}
    from cca_core.experiments import TrainConfig

    namespace["TrainConfig"] = TrainConfig
    setup = next(s for s in code if "SEED_OFFSET =" in s)
    for node in ast.parse(setup).body:
        if isinstance(node, ast.Assign) and node.targets[0].id in {"GROUPS", "LABELS", "SEED_OFFSET"}:
            exec(compile(ast.Module([node], []), "setup", "exec"), namespace)
    training = next(s for s in code if "configs = {g: [TrainConfig(" in s)
    stmt = next(n for n in ast.parse(training).body if isinstance(n, ast.Assign) and n.targets[0].id == "configs")
    pages = yaml.safe_load((ROOT / "book" / "experiments.yml").read_text())["pages"]
    params = dict(pages["memorization"]["parameters"])
    ours = pages["measure_checks"]["parameters"]
    assert {k: ours[k] for k in params} == params  # the book page loads the memorization page's networks
    for values in (params, {"n_networks": 3, "depth": 4, "epochs": 12, "batch_size": 64}):
        full = {"dataset": "digits", "width": 8, "optimizer": "adam", "learning_rate": 0.003, "seed": 0, "lr_decay": 1.0,
                "decay_after": 0, **values}
        full.pop("n_datapoints", None)
        ns = dict(namespace, **full)
        exec(compile(ast.Module([stmt], []), "training", "exec"), ns)
        assert memorization_configs(**full) == ns["configs"]


def test_memorization_configs_refuses_no_networks():
    with pytest.raises(ValueError, match="n_networks"):
        memorization_configs(dataset="digits", n_networks=0, depth=2, width=4, optimizer="adam", learning_rate=0.01,
                             epochs=1, batch_size=8, seed=0)


# ------------------------------------------------------------------------------------------ measures
def test_resolve_measure_forms_and_errors():
    assert resolve_measure("linear_cka")[0] == "linear_cka"
    name, kwargs, fn = resolve_measure(("shape_similarity", {"alpha": 0.5}))
    assert (name, kwargs) == ("shape_similarity", {"alpha": 0.5})
    assert resolve_measure(linear_cka)[0] is None
    with pytest.raises(ValueError, match="unknown measure"):
        resolve_measure("nope")
    with pytest.raises(TypeError, match="registry name"):
        resolve_measure(3)


def test_cross_similarity_matches_direct_calls():
    rng = np.random.default_rng(0)
    nets = [[rng.standard_normal((60, 4)), rng.standard_normal((60, 6))] for _ in range(3)]
    for measure in ("linear_cka", linear_cka):
        S = cross_similarity(nets, measure)
        assert S.shape == (3, 3, 2, 2)
        for a, b, i, j in itertools.product(range(3), range(3), range(2), range(2)):
            want = 1.0 if (a, i) == (b, j) else linear_cka(nets[a][i], nets[b][j])
            assert S[a, b, i, j] == pytest.approx(want, abs=1e-10)
    # asymmetric PWCCA: the mean of both directions
    S = cross_similarity(nets, "pwcca")
    want = 0.5 * (pwcca(nets[0][1], nets[2][0]) + pwcca(nets[2][0], nets[0][1]))
    assert S[0, 2, 1, 0] == pytest.approx(want, abs=1e-10) and S[2, 0, 0, 1] == pytest.approx(want, abs=1e-10)
    with pytest.raises(ValueError, match="same layers"):
        cross_similarity([nets[0], nets[1][:1]], "linear_cka")


# ------------------------------------------------------------------------------------------ Kornblith
def test_layer_identification_on_networks_whose_layers_are_rotated_noisy_copies():
    """Every network's layer i is the same latent layer, rotated and with a little noise: every measure
    invariant to rotations identifies every layer (accuracy exactly 1)."""
    rng = np.random.default_rng(1)
    latent = [rng.standard_normal((300, d)) for d in (5, 6, 7, 8)]
    nets = [[z @ _orthogonal(rng, z.shape[1]) + 0.05 * rng.standard_normal(z.shape) for z in latent]
            for _ in range(3)]
    for name in ("mean_cca", "linear_cka", "procrustes_similarity"):
        acc = layer_identification(cross_similarity(nets, name))
        np.testing.assert_array_equal(acc, np.ones((3, 3)))


def test_layer_identification_counts_by_hand():
    S = np.zeros((2, 2, 3, 3))
    S[0, 0] = S[1, 1] = np.eye(3)
    # network 0's layers looked up in network 1: layer 0 -> 0 (right), layer 1 -> 2 (wrong), layer 2 -> tie (miss)
    S[0, 1] = [[0.9, 0.1, 0.2], [0.1, 0.5, 0.8], [0.3, 0.7, 0.7]]
    S[1, 0] = S[0, 1].T
    directed = layer_identification(S, symmetric=False)
    assert directed[0, 1] == pytest.approx(1 / 3)
    # network 1's layers in network 0 (rows of S[1, 0] = columns of S[0, 1]): 0 -> 0, 1 -> 2, 2 -> 1
    assert directed[1, 0] == pytest.approx(1 / 3)
    assert layer_identification(S)[0, 1] == pytest.approx(1 / 3)
    assert directed[0, 0] == 1.0
    with pytest.raises(ValueError, match="K, K, L, L"):
        layer_identification(np.zeros((2, 2, 1, 1)))


# ------------------------------------------------------------------------------------------ Ding et al.
def test_delete_components_matches_an_explicit_svd_reconstruction():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 6)) @ rng.standard_normal((6, 6)) + 3.0
    held_out = rng.standard_normal((20, 6)) + 1.0
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    for k in range(0, 6):
        want = mean + (u[:, k:] * s[k:]) @ vt[k:]        # keep the trailing components
        np.testing.assert_allclose(delete_components(x, k), want, atol=1e-10)
        # held-out data: its coordinates along the reference's top-k directions are removed
        coords = (held_out - mean) @ vt.T
        coords[:, :k] = 0.0
        np.testing.assert_allclose(delete_components(held_out, k, reference=x), mean + coords @ vt, atol=1e-10)
    with pytest.raises(ValueError, match="k must be"):
        delete_components(x, 7)
    with pytest.raises(ValueError, match="same neurons"):
        delete_components(x, 1, reference=x[:, :3])


def test_deletion_ks():
    assert deletion_ks(8, [0.125, 0.25, 0.5, 0.75]) == [1, 2, 4, 6]
    assert deletion_ks(2, [0.1, 0.9]) == [1]          # at least one deleted, at least one kept
    assert deletion_ks(64, [0.5, 0.5]) == [32]


def test_probe_and_deletion_curves():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 40)
    centres = 4.0 * rng.standard_normal((3, 5))
    x = centres[y] + 0.3 * rng.standard_normal((120, 5))
    x_test = centres[y] + 0.3 * rng.standard_normal((120, 5))
    assert probe_accuracy(x, y, x_test, y) == 1.0
    # a feature that carries no label information: chance-level probe
    noise_acc = probe_accuracy(rng.standard_normal((300, 1)), np.arange(300) % 3, rng.standard_normal((300, 1)),
                               np.arange(300) % 3)
    assert noise_acc < 0.5
    out = deletion_curves(x, x_test, y, y, [1, 3], {"linear CKA": "linear_cka", "own": linear_cka})
    assert out["ks"] == [1, 3]
    assert out["accuracy"][0] == 1.0
    for i, k in enumerate((1, 3)):
        want = probe_accuracy(delete_components(x, k), y, delete_components(x_test, k, reference=x), y)
        assert out["accuracy"][i + 1] == want
        assert out["probe_change"][i] == abs(want - 1.0)
        direct = linear_cka(x, delete_components(x, k))
        assert out["similarity"]["linear CKA"][i] == pytest.approx(direct, abs=1e-10)
        assert out["similarity"]["own"][i] == pytest.approx(direct, abs=1e-10)


def test_mean_cca_and_pwcca_do_not_see_pca_deletions_and_rank_nothing():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6))
    y = np.arange(200) % 2
    out = deletion_curves(x, x, y, y, [1, 2, 4], {"mean CCA": "mean_cca", "PWCCA": "pwcca"})
    for m in ("mean CCA", "PWCCA"):
        np.testing.assert_allclose(out["similarity"][m], 1.0, atol=1e-9)
        curves = [out, {"similarity": {m: out["similarity"][m][::-1]}, "probe_change": out["probe_change"] + 0.1}]
        assert sensitivity(curves, m) == 0.0


def test_spearman_by_hand():
    # ranks differ by one swap: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])


def test_sensitivity_pools_layers_and_specificity_counts_layers():
    curves = [{"similarity": {"m": np.array([0.9, 0.5])}, "probe_change": np.array([0.01, 0.2])},
              {"similarity": {"m": np.array([0.8, 0.7])}, "probe_change": np.array([0.0, 0.05])}]
    # distances 0.1, 0.5, 0.2, 0.3 against changes 0.01, 0.2, 0, 0.05: ranks (1, 4, 2, 3) vs (2, 4, 1, 3)
    assert sensitivity(curves, "m") == pytest.approx(1 - 6 * (1 + 0 + 1 + 0) / (4 * 15))
    # tolerance 0.02: the harmless deletions are distance 0.1 (layer 0) and 0.2 (layer 1)
    assert specificity([0.95, 0.75], curves, "m", 0.02) == pytest.approx(0.5)   # 0.05 <= 0.1; 0.25 > 0.2
    assert specificity([0.85, 0.85], curves, "m", 0.02) == pytest.approx(0.5)   # 0.15 > 0.1; 0.15 <= 0.2
    # tolerance 0.3: every deletion is harmless (largest 0.5 and 0.3); seed distance 0.5 passes layer 0 only
    assert specificity([0.5, 0.5], curves, "m", 0.3) == pytest.approx(0.5)
    # tolerance 0: layer 0 has no harmless deletion (only k = 0, distance 0), layer 1 has 0.2
    assert specificity([0.4, 0.4], curves, "m", 0.0) == 0.0
    assert specificity([0.9, 0.9], curves, "m", 0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one value per layer"):
        specificity([0.5], curves, "m", 0.02)


# ------------------------------------------------------------------------------------------ ReSi
def _pairs(S, labels):
    i, j = np.triu_indices(len(labels), 1)
    return S[i, j], (np.asarray(labels)[i] == np.asarray(labels)[j]).astype(int), i, j


def test_group_auprc_matches_sklearn_with_and_without_weights():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(5)
    labels = ["g"] * 4 + ["m"] * 3
    for trial in range(20):
        a = np.round(rng.random((7, 7)), 1)     # rounded: ties between pairs
        S = (a + a.T) / 2
        scores, positive, i, j = _pairs(S, labels)
        assert group_auprc(S, labels) == pytest.approx(average_precision_score(positive, scores))
        w = rng.integers(0, 3, size=(4, 7)).astype(float)
        got = group_auprc(S, labels, w)
        for b in range(4):
            weight = w[b, i] * w[b, j]
            if (weight * positive).sum() == 0:
                assert np.isnan(got[b])
            else:
                kept = weight > 0
                want = average_precision_score(positive[kept], scores[kept], sample_weight=weight[kept])
                assert got[b] == pytest.approx(want)


def test_group_auprc_perfect_and_chance():
    labels = [0, 0, 1, 1]
    S = np.array([[1, .9, .1, .2], [.9, 1, .3, .1], [.1, .3, 1, .8], [.2, .1, .8, 1]])
    assert group_auprc(S, labels) == 1.0
    assert group_violation_rate(S, labels) == 0.0
    flat = np.ones((4, 4))
    assert group_auprc(flat, labels) == pytest.approx(2 / 6)   # all tied: precision is the positive fraction


def test_group_violation_rate_by_hand_and_brute_force():
    labels = [0, 0, 1]
    S = np.array([[1, .5, .7], [.5, 1, .5], [.7, .5, 1]])
    # triplets (anchor, positive, negative): (0, 1, 2): .5 < .7 violated; (1, 0, 2): .5 == .5 half
    assert group_violation_rate(S, labels) == pytest.approx(0.75)
    rng = np.random.default_rng(6)
    labels = np.array([0, 0, 0, 1, 1])
    a = np.round(rng.random((5, 5)), 1)
    S = (a + a.T) / 2
    w = rng.integers(0, 3, size=(3, 5)).astype(float)
    got = group_violation_rate(S, labels, w)
    for b in range(3):
        num = den = 0.0
        for x, p, n in itertools.product(range(5), repeat=3):
            if x != p and labels[x] == labels[p] and labels[n] != labels[x]:
                weight = w[b, x] * w[b, p] * w[b, n]
                den += weight
                num += weight * (1.0 if S[x, p] < S[x, n] else 0.5 if S[x, p] == S[x, n] else 0.0)
        assert (np.isnan(got[b]) and den == 0) or got[b] == pytest.approx(num / den)


def test_monotonicity_by_hand():
    gaps = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    rho, violations = monotonicity(1.0 - 0.2 * gaps)
    assert rho == pytest.approx(-1.0) and violations == 0.0
    S = np.array([[1, .5, .6], [.5, 1, .7], [.6, .7, 1]])
    # one triplet (0, 1, 2): S[0, 2] = .6 > S[0, 1] = .5 (violation), .6 > S[1, 2] = .7 (no)
    rho, violations = monotonicity(S)
    assert violations == pytest.approx(0.5)
    # pairs (0,1) gap 1 sim .5, (0,2) gap 2 sim .6, (1,2) gap 1 sim .7: gap ranks (1.5, 3, 1.5), sim ranks (1, 2, 3)
    assert rho == pytest.approx(np.corrcoef([1.5, 3, 1.5], [1, 2, 3])[0, 1])
    with pytest.raises(ValueError, match="at least 3 layers"):
        monotonicity(np.eye(2))


def test_bootstrap_evidence_uses_the_network_draws():
    labels = np.array(["g"] * 3 + ["m"] * 3)
    rng = np.random.default_rng(7)
    a = rng.random((6, 6))
    S = (a + a.T) / 2
    draws = NetworkGroups(np.zeros((6, 6)), labels, n_resamples=199, seed=3)
    seen = []

    def statistic(w):
        seen.append(w)
        return group_auprc(S, labels, w)

    ev = bootstrap_evidence("AUPRC", statistic, draws)
    assert seen[0] is None and ev.estimate == pytest.approx(group_auprc(S, labels))
    counts = seen[1]
    np.testing.assert_array_equal(counts[:, :3], draws.counts["g"])
    np.testing.assert_array_equal(counts[:, 3:], draws.counts["m"])
    dist = group_auprc(S, labels, counts)
    lo, hi = np.quantile(dist[np.isfinite(dist)], [0.025, 0.975])
    assert ev.interval == pytest.approx((lo, hi)) and ev.n == {"networks": (3, 3)}


def test_learning_rate_configs_are_the_learning_rate_templates_own():
    """Exec the learning-rate template's config construction (its own code) with the book's parameters."""
    from cca_core.experiments import TrainConfig, learning_rate_configs

    nb = nbformat.read(ROOT / "notebooks" / "learning_rates.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    training = next(s for s in code if "configs = [TrainConfig(" in s)
    stmts = [n for n in ast.parse(training).body
             if isinstance(n, ast.Assign) and n.targets[0].id in {"keys", "configs"}]
    pages = yaml.safe_load((ROOT / "book" / "experiments.yml").read_text())["pages"]
    book = pages["learning_rates"]["parameters"]
    ours = pages["measure_checks"]["parameters"]
    # the measure page's learning-rate networks are the learning-rate page's (its other fields are defaults)
    assert (ours["lr_values"], ours["lr_seeds"], ours["lr_epochs"]) == (book["learning_rates"], book["seeds"],
                                                                         book["epochs"])
    assert (ours["lr_group_decay"], ours["lr_group_decay_after"]) == (book["lr_decay"], book["decay_after"])
    assert (ours["depth"], ours["width"]) == (book["depth"], book["width"])
    for share in (False, True):
        rates = sorted(set([0.1, 0.001, 0.01, 0.001]))
        ns = {"TrainConfig": TrainConfig, "learning_rates": rates, "seeds": 3, "share_initializations": share,
              "dataset": "digits", "depth": 6, "width": 8, "epochs": 15, "optimizer": "momentum", "batch_size": 32,
              "lr_decay": 0.5, "decay_after": 8}
        exec(compile(ast.Module(stmts, []), "training", "exec"), ns)
        got_rates, got = learning_rate_configs(dataset="digits", depth=6, width=8, learning_rates=[0.1, 0.001, 0.01, 0.001],
                                               seeds=3, epochs=15, optimizer="momentum", batch_size=32,
                                               share_initializations=share, lr_decay=0.5, decay_after=8)
        assert got_rates == rates and got == ns["configs"]
    with pytest.raises(ValueError, match="seeds"):
        learning_rate_configs(dataset="digits", depth=2, width=4, learning_rates=[0.1], seeds=0, epochs=1,
                              optimizer="sgd", batch_size=8)

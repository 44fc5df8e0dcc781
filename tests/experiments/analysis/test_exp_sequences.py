"""Sequence analyses of hidden states (cca_core.experiments.analysis.sequences) against loops and formulas."""

import numpy as np
import pytest

from cca_core import mean_cca

from cca_core.experiments.analysis import sequences as seq
from cca_core.experiments.analysis.sequences import step_states, tokens_as_datapoints


def test_flattening_helpers_against_loops():
    states = np.random.default_rng(1).normal(size=(4, 5, 3))
    flat = tokens_as_datapoints(states)
    assert flat.shape == (20, 3)
    for s in range(4):
        for t in range(5):
            np.testing.assert_array_equal(flat[s * 5 + t], states[s, t])
    skipped = tokens_as_datapoints(states, skip_first=2)
    assert skipped.shape == (12, 3) and np.array_equal(skipped[0], states[0, 2])
    np.testing.assert_array_equal(step_states(states, -1), states[:, 4])
    with pytest.raises(ValueError, match="outside"):
        step_states(states, 5)
    with pytest.raises(ValueError, match="skip_first"):
        tokens_as_datapoints(states, skip_first=5)


def test_random_rotation_and_linear_rnn():
    w = seq.random_rotation(6, seed=2)
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-12)
    assert np.isclose(np.linalg.det(w), 1.0)
    h0 = np.random.default_rng(3).normal(size=(50, 6))
    states = seq.linear_rnn_states(w, h0, 4)
    assert states.shape == (50, 4, 6)
    np.testing.assert_allclose(states[:, 3], h0 @ np.linalg.matrix_power(w, 3).T, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(states, axis=2), np.linalg.norm(h0, axis=1)[:, None] * np.ones(4))
    assert np.isclose(mean_cca(states[:, 0], states[:, 3]), 1.0)  # a rotation is an invertible linear map


def test_naive_distances_against_formulas():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    cos = [1 - x[i] @ y[i] / (np.linalg.norm(x[i]) * np.linalg.norm(y[i])) for i in range(30)]
    assert np.isclose(seq.mean_cosine_distance(x, y), np.mean(cos))
    assert np.isclose(seq.mean_cosine_distance(x, 3 * x), 0) and np.isclose(seq.mean_cosine_distance(x, -x), 2)
    eu = np.mean([np.linalg.norm(x[i] - y[i]) for i in range(30)])
    assert np.isclose(seq.mean_euclidean_distance(x, y, relative=False), eu)
    assert np.isclose(seq.mean_euclidean_distance(x, y), eu / np.mean(np.linalg.norm(y, axis=1)))
    with pytest.raises(ValueError, match="same shape"):
        seq.mean_cosine_distance(x, y[:3])

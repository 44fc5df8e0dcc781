"""Sequence analyses of language-model states: tokens or timesteps as datapoints, a linear RNN, naive distances.

The hidden states come from :func:`~cca_core.experiments.training.lstm.hidden_states` as
``(n_sequences, T, units)``; :func:`tokens_as_datapoints` makes every token a datapoint and
:func:`step_states` every sequence at one timestep. :func:`linear_rnn_states` under a
:func:`random_rotation` is the control of the sequence chapter (Morcos et al. 2018, section 4.2): its
steps are orthogonal transforms of each other, so CCA calls them identical while the naive distances
(:func:`mean_cosine_distance`, :func:`mean_euclidean_distance`) grow.
"""

from __future__ import annotations

import numpy as np

from cca_core.validation import check_int

from .synthetic import random_orthogonal

__all__ = ["linear_rnn_states", "mean_cosine_distance", "mean_euclidean_distance", "random_rotation",
           "step_states", "tokens_as_datapoints"]


def tokens_as_datapoints(states: np.ndarray, skip_first: int = 0) -> np.ndarray:
    """``(n_sequences, T, units)`` -> ``(n_sequences * (T - skip_first), units)``: every token a datapoint.

    Rows are sequence-major (sequence 0's timesteps first). ``skip_first`` drops each window's first
    timesteps (whose state has seen little context).
    """
    states = np.asarray(states)
    if states.ndim != 3:
        raise ValueError(f"states must be (n_sequences, T, units), got shape {states.shape}")
    if not 0 <= skip_first < states.shape[1]:
        raise ValueError(f"skip_first must be in 0..{states.shape[1] - 1}, got {skip_first}")
    kept = states[:, skip_first:, :]
    return kept.reshape(-1, kept.shape[-1])


def step_states(states: np.ndarray, step: int) -> np.ndarray:
    """``(n_sequences, units)``: every sequence's state at timestep ``step`` (negative counts from the end)."""
    states = np.asarray(states)
    if states.ndim != 3:
        raise ValueError(f"states must be (n_sequences, T, units), got shape {states.shape}")
    if not -states.shape[1] <= step < states.shape[1]:
        raise ValueError(f"step {step} is outside 0..{states.shape[1] - 1}")
    return states[:, step, :]


# ----------------------------------------------------------------------------------------------------
# sequence dynamics: a linear RNN and the naive (not linearly invariant) distances


def random_rotation(n: int, seed: int = 0) -> np.ndarray:
    """A random ``n x n`` rotation (orthogonal, determinant +1), Haar-distributed.

    :func:`~cca_core.experiments.analysis.synthetic.random_orthogonal` (Mezzadri 2007) drawn with
    ``numpy.random.default_rng(seed)``, then one column negated if needed so that ``det = +1``.
    ``ValueError`` unless ``n`` is an integer >= 1.
    """
    q = random_orthogonal(n, np.random.default_rng(seed))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def linear_rnn_states(recurrent: np.ndarray, h0: np.ndarray, n_steps: int) -> np.ndarray:
    """States of the input-free linear RNN ``h_{t+1} = W h_t`` from initial states ``h0``.

    Parameters
    ----------
    recurrent : ndarray (n, n)
        ``W``.
    h0 : ndarray (n_sequences, n)
        One initial state per row (state at step 0).
    n_steps : int
        Number of states returned per sequence (steps ``0 .. n_steps - 1``).

    Returns
    -------
    ndarray (n_sequences, n_steps, n)
        ``out[:, t] = h0 @ (W^t)^T``. For a rotation ``W`` every step is an orthogonal transform of
        step 0, so any linearly invariant similarity (CCA) between two steps is exactly 1.

    Raises
    ------
    TypeError
        ``n_steps`` is not an integer.
    ValueError
        ``recurrent`` is not square, ``h0`` does not match it, ``n_steps < 1``.
    """
    w = np.asarray(recurrent, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"recurrent must be a square matrix, got shape {w.shape}")
    if h.ndim != 2 or h.shape[1] != w.shape[0]:
        raise ValueError(f"h0 must be (n_sequences, {w.shape[0]}), got shape {h.shape}")
    n_steps = check_int("n_steps", n_steps, 1)
    out = np.empty((h.shape[0], int(n_steps), h.shape[1]))
    for t in range(int(n_steps)):
        out[:, t] = h
        h = h @ w.T
    return out


def _paired(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"X and Y must be 2-D arrays of the same shape (datapoints, neurons), "
                         f"got {x.shape} and {y.shape}")
    return x, y


def mean_cosine_distance(X: np.ndarray, Y: np.ndarray) -> float:
    """``mean_i (1 - cos(x_i, y_i))`` over datapoints (rows): a naive distance in neuron coordinates.

    0 when every ``x_i`` points along ``y_i``; not invariant to rotations of one side. Rows with zero
    norm count as cosine 0.
    """
    x, y = _paired(X, Y)
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    denom = nx * ny
    cos = np.divide(np.einsum("ij,ij->i", x, y), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(np.mean(1.0 - cos))


def mean_euclidean_distance(X: np.ndarray, Y: np.ndarray, relative: bool = True) -> float:
    """``mean_i ||x_i - y_i||`` over datapoints, divided by ``mean_i ||y_i||`` when ``relative``.

    A naive distance in neuron coordinates; not invariant to rotations or scaling of one side.
    """
    x, y = _paired(X, Y)
    d = float(np.mean(np.linalg.norm(x - y, axis=1)))
    if not relative:
        return d
    scale = float(np.mean(np.linalg.norm(y, axis=1)))
    return d / scale if scale > 0 else float("inf") if d > 0 else 0.0

"""Convergence over training: when each layer reaches its final representation, and in which order.

Raghu et al. (2017, SVCCA, section 4) and Morcos, Raghu & Bengio (2018, section 4.1) compare each
layer at every checkpoint with the same layer at the end of training; "bottom-up convergence" means
that lower layers get close to their final representations before higher ones. The training-dynamics
chapters share these pieces:

- :func:`crossing_epochs`: the epoch at which each layer's similarity to its final representation
  first reaches a threshold, linearly interpolated between checkpoints;
- :func:`adjacent_order`: how many adjacent layer pairs ``(l, l + 1)`` are in a given order (ordered,
  tied, reversed), over networks and checkpoints;
- :func:`interval_over_networks`: the mean over networks (seeds) with a percentile bootstrap interval
  that resamples networks (:func:`cca_core.stats.network_mean_interval`);
- :func:`permutation_null`: the chance level of a similarity, rows of one side shuffled (same shapes):
  :func:`cca_core.stats.permutation_null`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cca_core.stats import NETWORK_RESAMPLES, network_mean_interval, permutation_null
from cca_core.validation import check_confidence_level, check_count

__all__ = ["Order", "adjacent_order", "crossing_epochs", "interval_over_networks", "permutation_null"]


def crossing_epochs(similarity: np.ndarray, epochs: Sequence[float], threshold: float) -> np.ndarray:
    """The epoch at which each layer's similarity first reaches ``threshold``.

    Between the last checkpoint below the threshold and the first at or above it, the similarity is
    taken as linear in the epoch, so the crossing epoch is
    ``e[k-1] + (threshold - s[k-1]) / (s[k] - s[k-1]) * (e[k] - e[k-1])``; a layer already at or above
    the threshold at the first checkpoint crosses at ``epochs[0]``.

    Parameters
    ----------
    similarity : array, shape (..., n_checkpoints, n_layers)
        Similarity of each layer at each checkpoint to its final representation (leading axes, e.g.
        networks, are kept).
    epochs : sequence of float, length n_checkpoints
        The checkpoints' epochs, strictly increasing.
    threshold : float
        Finite.

    Returns
    -------
    ndarray of float, shape (..., n_layers)
        Crossing epochs; NaN for a layer that never reaches the threshold, or whose similarities
        before its crossing hold a NaN.

    Raises
    ------
    ValueError
        ``similarity`` with fewer than 2 dimensions or a checkpoint axis that does not match
        ``epochs``; epochs not strictly increasing; a non-finite threshold.
    """
    s = np.asarray(similarity, dtype=float)
    e = np.asarray(epochs, dtype=float)
    if s.ndim < 2:
        raise ValueError(f"similarity must be (..., n_checkpoints, n_layers), got shape {s.shape}")
    if e.ndim != 1 or e.size != s.shape[-2]:
        raise ValueError(f"epochs must list the {s.shape[-2]} checkpoints of similarity's axis -2 "
                         f"(similarity shape {s.shape}), got {e.size} epochs")
    if e.size > 1 and np.any(np.diff(e) <= 0):
        raise ValueError(f"epochs must be strictly increasing, got {e.tolist()}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    moved = np.moveaxis(s, -2, -1)  # (..., n_layers, n_checkpoints)
    out = np.full(moved.shape[:-1], np.nan)
    for idx in np.ndindex(*moved.shape[:-1]):
        curve = moved[idx]
        reached = np.flatnonzero(curve >= threshold)
        if reached.size == 0:
            continue
        k = int(reached[0])
        if np.any(np.isnan(curve[:k])):
            continue
        if k == 0:
            out[idx] = e[0]
        else:
            s0, s1 = curve[k - 1], curve[k]
            out[idx] = e[k - 1] + (threshold - s0) / (s1 - s0) * (e[k] - e[k - 1])
    return out


class Order(NamedTuple):
    """Counts of adjacent pairs ``(l, l + 1)`` by order (see :func:`adjacent_order`)."""

    ordered: int
    tied: int
    reversed: int

    @property
    def pairs(self) -> int:
        """Pairs counted (NaN pairs are not)."""
        return self.ordered + self.tied + self.reversed

    @property
    def ordered_fraction(self) -> float:
        """``ordered / pairs`` (NaN when no pair was counted)."""
        return self.ordered / self.pairs if self.pairs else float("nan")


def adjacent_order(values: np.ndarray, increasing: bool = True, tolerance: float = 0.0) -> Order:
    """Count adjacent pairs along the last axis by order, over every leading index.

    Parameters
    ----------
    values : array, shape (..., n_layers)
        E.g. crossing epochs per network and layer, or similarities per network, checkpoint and layer.
    increasing : bool
        ``True``: a pair is ordered when ``v[l] < v[l + 1]`` (crossing epochs that grow with depth);
        ``False``: when ``v[l] > v[l + 1]`` (similarities that fall with depth).
    tolerance : float
        Pairs with ``|v[l + 1] - v[l]| <= tolerance`` are tied, >= 0.

    Returns
    -------
    Order
        ``ordered``, ``tied``, ``reversed`` (pairs with a NaN are left out).

    Raises
    ------
    ValueError
        Fewer than 2 entries on the last axis; a negative tolerance.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 1 or v.shape[-1] < 2:
        raise ValueError(f"values needs at least 2 layers on its last axis, got shape {v.shape}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    step = np.diff(v, axis=-1)
    step = step[~np.isnan(step)]
    if not increasing:
        step = -step
    tied = np.abs(step) <= tolerance
    return Order(ordered=int(np.sum((step > 0) & ~tied)), tied=int(np.sum(tied)),
                 reversed=int(np.sum((step < 0) & ~tied)))


def interval_over_networks(values: np.ndarray, confidence_level: float = 0.95,
                           n_resamples: int = NETWORK_RESAMPLES, seed: int = 0, *,
                           confidence: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over networks (axis 0) and a percentile bootstrap interval that resamples networks.

    :func:`cca_core.stats.network_mean_interval`: networks are drawn with replacement and the mean
    recomputed, for every entry of the remaining axes at once (the draws and intervals of
    ``scipy.stats.bootstrap`` with ``method="percentile"`` and the same seed, and of the verdicts'
    :class:`~cca_core.experiments.evidence.NetworkValues`). With few networks the interval is coarse
    (three networks give ten distinct resamples' means); with one network it is undefined (NaN).

    Parameters
    ----------
    values : array, shape (n_networks, ...)
    confidence_level : float
        In (0, 1). ``confidence`` is its former name, still accepted.
    n_resamples : int
        Bootstrap resamples, at least 99 (default :data:`cca_core.stats.NETWORK_RESAMPLES`).
    seed : int
        Seeds the resampling.

    Returns
    -------
    mean, low, high : ndarrays of shape values.shape[1:]
        Where every network has the same value, ``low == high == mean``; the interval always holds the mean.

    Raises
    ------
    ValueError
        ``values`` with no network axis, a confidence level outside (0, 1), ``n_resamples < 99``.
    TypeError
        A confidence level or ``n_resamples`` of the wrong type.
    """
    if confidence is not None:
        confidence_level = confidence
    v = np.asarray(values, dtype=float)
    if v.ndim < 1 or v.shape[0] < 1:
        raise ValueError(f"values must be (n_networks, ...) with at least one network, got shape {v.shape}")
    check_confidence_level(confidence_level)
    mean = v.mean(axis=0)
    if v.shape[0] < 2:
        check_count("n_resamples", n_resamples)
        nan = np.full(mean.shape, np.nan)
        return mean, nan, nan.copy()
    mean, low, high, _ = network_mean_interval(v, confidence_level=confidence_level, n_resamples=n_resamples,
                                               seed=seed)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    same = np.all(v == v[0], axis=0)
    low = np.where(same, mean, np.minimum(low, mean))
    high = np.where(same, mean, np.maximum(high, mean))
    return mean, low, high

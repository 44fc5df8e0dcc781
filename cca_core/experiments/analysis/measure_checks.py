"""Tests of the similarity measures themselves, on a user's own networks ("Which measure to trust?").

Each function takes the measures to test as a mapping *label -> measure*, where a measure is

- a name of :data:`cca_core.measures.MEASURES` (``"pwcca"``, ``"linear_cka"``, ``"procrustes_similarity"``,
  ...), computed by the pairwise engine (:func:`cca_core.pairwise`, each representation factored once);
- a pair ``(name, kwargs)``, e.g. ``("shape_similarity", {"alpha": 0.5})``;
- or any callable ``f(X, Y) -> float`` returning a *similarity* (larger is more similar), called once
  per ordered pair.

Everything here works with similarities ``s``; a distance, where a test needs one, is ``1 - s`` (as in
:mod:`~cca_core.experiments.analysis.compare`). For Procrustes the metric itself is
:func:`cca_core.procrustes_distance`, ``sqrt(2 - 2 s)``, a monotone function of ``1 - s``: every rank
statistic below (Spearman, AUPRC, violation rates, argmax) is the same with either. Asymmetric
measures (PWCCA) are averaged over both directions, as Morcos et al. (2018) do.

The tests (all from the papers named, scaled to the networks at hand):

- :func:`layer_identification` -- Kornblith, Norouzi, Lee & Hinton (2019), section 6.1: for two
  networks of the same architecture trained from different seeds, is each layer's most similar
  layer of the other network the same layer?
- :func:`delete_components`, :func:`probe_accuracy`, :func:`deletion_curves`, :func:`sensitivity`,
  :func:`specificity` -- Ding, Denain & Steinhardt (2021), "Grounding representation similarity
  through statistical testing", sections 3-4: delete a layer's top principal components, measure
  how much a linear probe's accuracy changes and how far each measure puts the deleted
  representation; a sensitive measure ranks the deletions as the probe does, a specific one puts
  networks that differ only in their seed no farther apart than deletions the probe does not notice.
- :func:`group_auprc`, :func:`group_violation_rate`, :func:`monotonicity` -- ReSi, Klabunde, Wald,
  Schumacher, Ding & Strohmaier (2024), "ReSi: a comprehensive benchmark for representational
  similarity measures": grouping (do networks of one kind come out more similar to each other?
  AUPRC of "same group" from similarity, and the rate of anchored triplets that violate it) and
  layer monotonicity (does similarity fall as layers grow apart?).
- :func:`bootstrap_evidence` -- an interval over networks for a statistic of the whole similarity
  matrix (AUPRC, violation rate) from the network draws of :class:`~cca_core.experiments.evidence.NetworkGroups`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cca_core import measures as _measures
from cca_core.pairs import pairwise
from cca_core.stats import percentile_interval
from cca_core.validation import check_int

from cca_core.experiments.evidence import Evidence, NetworkGroups

__all__ = ["MEASURE_CHECKS_MEASURES", "memorization_configs", "learning_rate_configs", "resolve_measure", "cross_similarity",
           "layer_identification", "delete_components", "probe_accuracy", "deletion_ks", "deletion_curves", "spearman",
           "sensitivity", "specificity", "group_auprc", "group_violation_rate", "monotonicity",
           "bootstrap_evidence"]

Measure = str | tuple[str, Mapping[str, Any]] | Callable[[np.ndarray, np.ndarray], float]

#: The measures the chapter tests, by the label it shows: registry names of :mod:`cca_core.measures`
#: (with keyword arguments where needed).
MEASURE_CHECKS_MEASURES: dict[str, Measure] = {
    "mean CCA": "mean_cca",
    "SVCCA": "svcca",
    "PWCCA": "pwcca",
    "linear CKA": "linear_cka",
    "debiased linear CKA": "debiased_linear_cka",
    "RBF CKA": "rbf_cka",
    "Procrustes": "procrustes_similarity",
    "shape, alpha 0.5": ("shape_similarity", {"alpha": 0.5}),
}

#: Decimals to which :func:`sensitivity` rounds distances before ranking them (differences below 1e-9
#: are rounding error of the measures, not differences between representations).
ROUNDING_DECIMALS = 9

#: The memorization chapter's groups: label mode and seed offset of each.
_GROUP_LABELS = {"generalizing": "true", "memorizing": "random"}
_GROUP_SEED_OFFSET = {"generalizing": 0, "memorizing": 1000}


def memorization_configs(*, dataset: str, n_networks: int, depth: int, width: int, optimizer: str,
                         learning_rate: float, epochs: int, batch_size: int, seed: int, lr_decay: float = 1.0,
                         decay_after: int = 0) -> dict[str, list[Any]]:
    """The training configurations of the memorization chapter (Morcos et al. 2018, section 3.1).

    ``{"generalizing": [...], "memorizing": [...]}``, ``n_networks`` each: network ``i`` of the
    generalizing group learns the true labels with seed ``seed + i``, of the memorizing group the
    fixed random labels with seed ``seed + 1000 + i``; every rate decays by ``lr_decay`` after
    ``decay_after`` epochs -- the same :class:`~.training.TrainConfig` objects as
    ``notebooks/memorization.ipynb`` builds, so that a page with the same parameters finds every
    network in the cache.

    Raises
    ------
    ValueError
        ``n_networks < 1``, or a field :class:`~.training.TrainConfig` refuses.
    """
    from cca_core.experiments.training.cnn import TrainConfig

    n_networks = check_int("n_networks", n_networks, 1)
    return {g: [TrainConfig(dataset=dataset, labels=_GROUP_LABELS[g], depth=depth, width=width, optimizer=optimizer,
                            learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                            seed=seed + _GROUP_SEED_OFFSET[g] + i, lr_decay=lr_decay, decay_after=decay_after)
                for i in range(int(n_networks))]
            for g in _GROUP_LABELS}


def learning_rate_configs(*, dataset: str, depth: int, width: int, learning_rates: Sequence[float], seeds: int,
                          epochs: int, optimizer: str, batch_size: int, share_initializations: bool = False,
                          lr_decay: float = 1.0, decay_after: int = 0) -> tuple[list[float], list[Any]]:
    """The training configurations of the learning-rate chapter: ``(learning rates, configs)``.

    The learning rates are sorted and deduplicated; network ``i`` of the ``g``-th learning rate has
    seed ``g * seeds + i`` (``i`` with ``share_initializations``), as ``notebooks/learning_rates.ipynb``
    builds them, so that a page with the same parameters finds every network in the cache. The
    configs are grouped by learning rate, ``seeds`` each; every rate decays by ``lr_decay`` after
    ``decay_after`` epochs (:class:`~.training.TrainConfig`).

    Raises
    ------
    ValueError
        ``seeds < 1``, no learning rate, or a field :class:`~.training.TrainConfig` refuses.
    """
    from cca_core.experiments.training.cnn import TrainConfig

    seeds = check_int("seeds", seeds, 1)
    rates = sorted(set(float(lr) for lr in learning_rates))
    if not rates:
        raise ValueError("learning_rates must hold at least one learning rate")
    keys = [(lr, i if share_initializations else g * seeds + i) for g, lr in enumerate(rates) for i in range(seeds)]
    return rates, [TrainConfig(dataset=dataset, depth=depth, width=width, epochs=epochs, learning_rate=lr,
                               optimizer=optimizer, batch_size=batch_size, seed=s, lr_decay=lr_decay,
                               decay_after=decay_after) for lr, s in keys]


# ---------------------------------------------------------------------------------------- measures
def resolve_measure(measure: Measure) -> tuple[str | None, dict[str, Any], Callable[[np.ndarray, np.ndarray], float]]:
    """``(engine name or None, keyword arguments, similarity function)`` of a measure given as a
    registry name, a ``(name, kwargs)`` pair or a callable (see the module's notes).

    Raises
    ------
    ValueError
        An unknown registry name (the message lists the known ones).
    TypeError
        Anything else.
    """
    if isinstance(measure, str):
        fn = _measures.get_measure(measure)
        return measure, {}, fn
    if isinstance(measure, tuple) and len(measure) == 2 and isinstance(measure[0], str) \
            and isinstance(measure[1], Mapping):
        name, kwargs = measure[0], dict(measure[1])
        fn = _measures.get_measure(name)
        return name, kwargs, lambda x, y: fn(x, y, **kwargs)
    if callable(measure):
        return None, {}, measure
    raise TypeError(f"a measure is a registry name, a (name, kwargs) pair or a callable, got {measure!r}")


def _similarity_matrix(arrays: Sequence[np.ndarray], measure: Measure,
                       pairs: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """Symmetrized similarity of the given pairs (default: all) of ``arrays``; 1 on the diagonal,
    NaN for pairs not computed."""
    name, kwargs, fn = resolve_measure(measure)
    k = len(arrays)
    if name is not None and k > 1:
        with np.errstate(all="ignore"):
            result = pairwise(list(arrays), name, pairs=pairs, progress=False, **kwargs)
        return result.symmetrized()
    s = np.full((k, k), np.nan)
    np.fill_diagonal(s, 1.0)
    wanted = pairs if pairs is not None else [(i, j) for i in range(k) for j in range(i + 1, k)]
    for i, j in wanted:
        s[i, j] = s[j, i] = 0.5 * (float(fn(arrays[i], arrays[j])) + float(fn(arrays[j], arrays[i])))
    return s


def cross_similarity(networks: Sequence[Sequence[np.ndarray]], measure: Measure) -> np.ndarray:
    """Similarity of every layer of every network with every layer of every network.

    Parameters
    ----------
    networks : sequence of K sequences of L arrays, each (n_datapoints, n_neurons)
        ``networks[a][i]``: layer ``i`` of network ``a``, all on the same inputs in the same order.
        Every network has the same L layers (neurons may differ between layers).
    measure : measure
        A registry name, ``(name, kwargs)`` or a similarity callable (module notes).

    Returns
    -------
    ndarray, shape (K, K, L, L)
        ``S[a, b, i, j]``: similarity of layer ``i`` of network ``a`` and layer ``j`` of network
        ``b`` (symmetrized for asymmetric measures), so ``S[a, b, i, j] == S[b, a, j, i]``; 1 where
        ``a == b`` and ``i == j``.

    Raises
    ------
    ValueError
        Fewer than one network, networks with different numbers of layers, or arrays the measure
        refuses (as :func:`cca_core.pairwise`).
    """
    nets = [list(n) for n in networks]
    if not nets or not nets[0]:
        raise ValueError("cross_similarity needs at least one network with at least one layer")
    n_layers = {len(n) for n in nets}
    if len(n_layers) != 1:
        raise ValueError(f"every network needs the same layers, got layer counts {sorted(n_layers)}")
    k, n_l = len(nets), n_layers.pop()
    flat = [np.asarray(a, dtype=np.float64) for n in nets for a in n]
    s = _similarity_matrix(flat, measure)
    return s.reshape(k, n_l, k, n_l).transpose(0, 2, 1, 3)


# ---------------------------------------------------------------------------------------- Kornblith
def layer_identification(S: Any, symmetric: bool = True) -> np.ndarray:
    """Layer identification accuracy of every pair of networks (Kornblith et al. 2019, section 6.1).

    For networks ``a`` and ``b`` and each layer ``i`` of ``a``: correct when layer ``i`` of ``b`` is
    strictly more similar to it than every other layer of ``b`` (a tie counts as a miss).

    Parameters
    ----------
    S : array_like, shape (K, K, L, L)
        As :func:`cross_similarity` returns it.
    symmetric : bool
        Average both directions (``a``'s layers looked up in ``b`` and ``b``'s in ``a``); default.

    Returns
    -------
    ndarray, shape (K, K)
        Fraction of layers identified; 1 on the diagonal (a network identifies its own layers).

    Raises
    ------
    ValueError
        ``S`` not of shape (K, K, L, L) with L >= 2.
    """
    s = np.asarray(S, dtype=float)
    if s.ndim != 4 or s.shape[0] != s.shape[1] or s.shape[2] != s.shape[3] or s.shape[2] < 2:
        raise ValueError(f"S must have shape (K, K, L, L) with L >= 2, got {s.shape}")
    n_l = s.shape[2]
    diag = s[..., np.arange(n_l), np.arange(n_l)]                      # (K, K, L)
    others = np.where(np.eye(n_l, dtype=bool), -np.inf, s).max(axis=-1)  # (K, K, L)
    acc = (diag > others).mean(axis=-1)
    if symmetric:
        acc = 0.5 * (acc + acc.T)
    np.fill_diagonal(acc, 1.0)
    return acc


# ---------------------------------------------------------------------------------------- Ding et al.
def delete_components(x: Any, k: int, reference: Any = None) -> np.ndarray:
    """``x`` with its projection on the top-``k`` principal directions removed (Ding et al. 2021, section 3).

    The principal directions are the right singular vectors of the centred ``reference`` (default
    ``x`` itself), ordered by singular value; the result is ``x - (x - m) V_k V_k^T`` with ``m`` the
    reference's column means, so deleting from held-out data (``reference`` the training
    activations) removes the same directions.

    Parameters
    ----------
    x : array_like, shape (n, d)
    k : int
        Directions removed, in ``0..d``; 0 returns a copy of ``x``.
    reference : array_like, shape (m, d), optional

    Returns
    -------
    ndarray, shape (n, d), float64

    Raises
    ------
    ValueError
        Not 2-D, different numbers of neurons, or ``k`` outside ``0..d``.
    """
    x = np.asarray(x, dtype=np.float64)
    ref = x if reference is None else np.asarray(reference, dtype=np.float64)
    if x.ndim != 2 or ref.ndim != 2 or x.shape[1] != ref.shape[1]:
        raise ValueError(f"x and reference must be 2-D with the same neurons, got {x.shape} and {ref.shape}")
    k = check_int("k", k, 0)
    if k > x.shape[1]:
        raise ValueError(f"k must be an integer in 0..{x.shape[1]} (the neurons), got {k!r}")
    if k == 0:
        return x.copy()
    mean = ref.mean(axis=0)
    _, _, vt = np.linalg.svd(ref - mean, full_matrices=False)
    v = vt[:k].T
    return x - ((x - mean) @ v) @ v.T


def probe_accuracy(x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, seed: int = 0) -> float:
    """Test accuracy of a linear probe: scikit-learn ``LogisticRegression`` (L2, ``C = 1``, lbfgs) on
    standardized activations, fit on ``(x_train, y_train)`` and scored on ``(x_test, y_test)``, the
    functional test of Ding et al. (2021, section 3).

    Raises
    ------
    ValueError
        Arrays of mismatched lengths (scikit-learn's message).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(np.asarray(x_train, dtype=np.float64), np.asarray(y_train))
    return float(probe.score(np.asarray(x_test, dtype=np.float64), np.asarray(y_test)))


def deletion_ks(n_neurons: int, fractions: Sequence[float]) -> list[int]:
    """Numbers of top principal components deleted for each fraction of ``n_neurons``: ``round(f d)``,
    at least 1 and at most ``d - 1`` (something stays), without repeats, ascending."""
    return sorted({min(max(int(round(f * n_neurons)), 1), max(n_neurons - 1, 1)) for f in fractions})


def deletion_curves(x_train: Any, x_test: Any, y_train: Any, y_test: Any, ks: Sequence[int],
                    measures: Mapping[str, Measure], *, seed: int = 0) -> dict[str, Any]:
    """One layer's PCA deletions: the probe's accuracy and each measure's similarity to the original.

    Parameters
    ----------
    x_train, x_test : array_like, shapes (n, d) and (m, d)
        The layer's activations on the probe's training and held-out images; ``x_train`` is also
        the representation the measures compare (with its deletions).
    y_train, y_test : array_like
        Labels of those images.
    ks : sequence of int
        Top principal components deleted (each in ``1..d - 1``), directions from ``x_train``.
    measures : mapping label -> measure

    Returns
    -------
    dict
        ``"ks"`` (list), ``"accuracy"`` (probe accuracy, shape ``(len(ks) + 1,)``, first the
        original layer), ``"probe_change"`` (``|accuracy after - accuracy before|``, Ding et al.'s
        functional difference, shape ``(len(ks),)``), ``"similarity"`` (label -> shape
        ``(len(ks),)``, similarity of the original and each deleted representation).
    """
    x_train = np.asarray(x_train, dtype=np.float64)
    ks = [int(k) for k in ks]
    deleted_train = [delete_components(x_train, k) for k in ks]
    accuracy = [probe_accuracy(x_train, y_train, x_test, y_test, seed=seed)]
    accuracy += [probe_accuracy(d, y_train, delete_components(x_test, k, reference=x_train), y_test, seed=seed)
                 for k, d in zip(ks, deleted_train)]
    accuracy = np.array(accuracy)
    arrays = [x_train] + deleted_train
    pairs = [(0, i) for i in range(1, len(arrays))]
    similarity = {m: _similarity_matrix(arrays, spec, pairs)[0, 1:] for m, spec in measures.items()}
    return {"ks": ks, "accuracy": accuracy, "probe_change": np.abs(accuracy[1:] - accuracy[0]),
            "similarity": similarity}


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation (``scipy.stats.spearmanr``, ties at their mean rank); 0 when either
    side is constant (a measure that gives every case the same value ranks nothing).

    Raises
    ------
    ValueError
        Different lengths or fewer than 2 values.
    """
    import scipy.stats

    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size != y.size or x.size < 2:
        raise ValueError(f"spearman needs two sequences of the same length >= 2, got {x.size} and {y.size}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(x, y)[0])


def sensitivity(curves: Sequence[Mapping[str, Any]], measure: str) -> float:
    """Ding et al.'s (2021) sensitivity of one measure on one network: the Spearman correlation
    between its distance (``1 - similarity``) to the original and the probe's accuracy change, pooled
    over every deletion of every layer in ``curves`` (:func:`deletion_curves`, one per layer).

    Pooling over layers asks a measure to rank deletions of different layers on one scale, as the
    probe does; within one layer both grow with ``k`` for almost any measure. Distances are rounded
    to ``ROUNDING_DECIMALS`` (9 decimals) first: below that they differ by rounding error, not by measurement (mean
    CCA and PWCCA put every deletion at distance 0 up to about 1e-15), and ranking rounding error
    would give such a measure a spurious correlation."""
    distance = np.concatenate([np.round(1.0 - np.asarray(c["similarity"][measure]), ROUNDING_DECIMALS)
                               for c in curves])
    change = np.concatenate([np.asarray(c["probe_change"]) for c in curves])
    return spearman(distance, change)


def specificity(seed_similarity: Any, curves: Sequence[Mapping[str, Any]], measure: str,
                tolerance: float) -> float:
    """Fraction of layers at which networks that differ only in their seed are no farther apart than
    a deletion the probe does not notice (Ding et al. 2021's specificity, one network).

    For layer ``l`` the *harmless* distance is the largest ``1 - similarity`` of a deletion of that
    layer whose probe accuracy changes by at most ``tolerance`` (0 if none: deleting nothing is
    harmless); the layer passes when ``1 - seed_similarity[l]`` (the mean distance from this network
    to the networks of other seeds, same layer) is at most that.

    Parameters
    ----------
    seed_similarity : array_like, shape (L,)
    curves : sequence of L dicts from :func:`deletion_curves`
    measure : str
        A label of the curves' measures.
    tolerance : float
        Largest accuracy change counted as "no functional change", in [0, 1).
    """
    seed = 1.0 - np.asarray(seed_similarity, dtype=float)
    if seed.shape != (len(curves),):
        raise ValueError(f"seed_similarity needs one value per layer ({len(curves)}), got shape {seed.shape}")
    if not 0 <= float(tolerance) < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    passed = []
    for d_seed, c in zip(seed, curves):
        d = 1.0 - np.asarray(c["similarity"][measure], dtype=float)
        harmless = d[np.asarray(c["probe_change"]) <= tolerance]
        passed.append(d_seed <= (harmless.max() if harmless.size else 0.0))
    return float(np.mean(passed))


# ---------------------------------------------------------------------------------------- ReSi
def _weights(w: Any, k: int) -> tuple[np.ndarray, bool]:
    if w is None:
        return np.ones((1, k)), True
    w = np.asarray(w, dtype=float)
    single = w.ndim == 1
    w = np.atleast_2d(w)
    if w.shape[1] != k or np.any(w < 0):
        raise ValueError(f"weights must be non-negative counts, one per network ({k}), got shape {w.shape}")
    return w, single


def _check_square(S: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(S, dtype=float)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"S must be a square similarity matrix, got shape {s.shape}")
    labels = np.asarray(labels)
    if labels.shape != (s.shape[0],):
        raise ValueError(f"labels must have one label per network ({s.shape[0]}), got shape {labels.shape}")
    return s, labels


def group_auprc(S: Any, labels: Any, weights: Any = None) -> float | np.ndarray:
    """Area under the precision-recall curve of "same group" scored by similarity (ReSi's grouping test).

    Every pair of distinct networks is a case, positive when both have the same label, scored by its
    similarity ``S[i, j]``; the area is the average precision (``sklearn.metrics.average_precision_score``:
    ``sum_t (R_t - R_{t-1}) P_t`` over the distinct scores ``t``). With ``weights`` (counts of each
    network in a bootstrap draw) a pair weighs ``w_i w_j``. Chance is the weighted fraction of
    positive pairs.

    Parameters
    ----------
    S : array_like, shape (K, K)
        Symmetric similarities.
    labels : sequence, length K
    weights : array_like, shape (K,) or (B, K), optional

    Returns
    -------
    float, or ndarray of shape (B,) for 2-D weights; NaN where no pair is positive.
    """
    s, labels = _check_square(S, labels)
    w, single = _weights(weights, s.shape[0])
    i, j = np.triu_indices(s.shape[0], 1)
    score, positive = s[i, j], (labels[i] == labels[j]).astype(float)
    order = np.argsort(-score, kind="stable")
    score, positive = score[order], positive[order]
    pw = w[:, i[order]] * w[:, j[order]]                                  # (B, pairs)
    tp, fp = np.cumsum(pw * positive, axis=1), np.cumsum(pw * (1 - positive), axis=1)
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]           # end of each block of equal scores
    tp, fp = tp[:, last], fp[:, last]
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), 0.0)
        recall = tp / total
        gain = np.diff(np.concatenate([np.zeros((w.shape[0], 1)), recall], axis=1), axis=1)
        ap = np.where(total[:, 0] > 0, (gain * precision).sum(axis=1), np.nan)
    return float(ap[0]) if single else ap


def group_violation_rate(S: Any, labels: Any, weights: Any = None) -> float | np.ndarray:
    """Fraction of anchored triplets that violate the grouping (ReSi's violation rate).

    A triplet is an anchor network ``a``, another network ``p`` of its group and a network ``n`` of
    another group; it is violated when ``S[a, p] < S[a, n]`` (a tie counts one half). With
    ``weights`` a triplet weighs ``w_a w_p w_n``.

    Returns
    -------
    float, or ndarray of shape (B,) for 2-D weights; NaN where there is no triplet.
    """
    s, labels = _check_square(S, labels)
    k = s.shape[0]
    w, single = _weights(weights, k)
    same = labels[:, None] == labels[None, :]
    valid = (same & ~np.eye(k, dtype=bool))[:, :, None] & ~same[:, None, :]        # (a, p, n)
    sp, sn = s[:, :, None], s[:, None, :]
    violated = np.where(sp < sn, 1.0, np.where(sp == sn, 0.5, 0.0)) * valid
    num = np.einsum("ba,bp,bn,apn->b", w, w, w, violated)
    den = np.einsum("ba,bp,bn,apn->b", w, w, w, valid.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(rate[0]) if single else rate


def monotonicity(S: Any) -> tuple[float, float]:
    """Does similarity fall as layers grow apart? (ReSi's layer-monotonicity test, one network.)

    Parameters
    ----------
    S : array_like, shape (L, L)
        Similarity between the layers of one network, in order from input to output (L >= 3).

    Returns
    -------
    (rho, violations)
        ``rho``: Spearman correlation between the gap ``j - i`` and ``S[i, j]`` over the pairs
        ``i < j`` (-1 when similarity falls strictly with the gap); ``violations``: over every
        triplet ``i < j < k``, the fraction of the two comparisons ``S[i, k] > S[i, j]`` and
        ``S[i, k] > S[j, k]`` that hold (a farther pair more similar than a nearer one).

    Raises
    ------
    ValueError
        Not square, or fewer than 3 layers.
    """
    s = np.asarray(S, dtype=float)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 3:
        raise ValueError(f"S must be (L, L) with at least 3 layers, got shape {s.shape}")
    n_l = s.shape[0]
    i, j = np.triu_indices(n_l, 1)
    rho = spearman(j - i, s[i, j])
    a, b, c = (np.array(t) for t in zip(*[(p, q, r) for p in range(n_l) for q in range(p + 1, n_l)
                                           for r in range(q + 1, n_l)]))
    violations = np.concatenate([s[a, c] > s[a, b], s[a, c] > s[b, c]]).mean()
    return rho, float(violations)


def bootstrap_evidence(name: str, statistic: Callable[[Any], Any], groups: NetworkGroups) -> Evidence:
    """A statistic of the networks as :class:`~cca_core.experiments.evidence.Evidence` with a percentile interval over
    networks, resampled with the draws of ``groups`` (each group's networks with replacement).

    ``statistic(weights)`` takes ``None`` (all networks once: the estimate) or counts of shape
    ``(B, K)`` (how often each network was drawn in each resample) and returns a float or an array
    of shape ``(B,)`` -- e.g. ``lambda w: group_auprc(S, labels, w)``. Resamples where the
    statistic is undefined (NaN) are left out, as :class:`~cca_core.experiments.evidence.NetworkGroups` leaves out
    draws without a pair.
    """
    counts = groups.draws.all_counts()
    estimate = float(statistic(None))
    dist = np.asarray(statistic(counts), dtype=float)
    finite = dist[np.isfinite(dist)]
    n = {"networks": [int(groups.members[g].size) for g in groups.groups]}
    if not np.isfinite(estimate) or finite.size == 0 or any(groups.members[g].size < 2 for g in groups.groups):
        return Evidence(name, estimate, n=n, method="network bootstrap",
                        note="no interval: too few networks per group, or the statistic is undefined")
    lo, hi = percentile_interval(finite, groups.confidence_level)
    return Evidence(name, estimate, (float(lo), float(hi)), groups.confidence_level, n=n,
                    method=f"network bootstrap (percentile, {finite.size} of {groups.n_resamples} resamples)")

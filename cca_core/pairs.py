"""Many networks compared pairwise: each network factored once, one cross product per pair.

The paper's unit of work is a set of networks compared pairwise, layer by layer (Morcos et al. 2018,
sections 3.1-3.3). :func:`pairwise` does for every measure of the package what depends on one
network once -- centring, covariance or Gram matrix, whitening, SVCCA's SVD reduction -- and then
costs each pair one cross product and one small decomposition, which gives both directions of the
asymmetric PWCCA. This module is the engine: the input gate, the order of the work, threads or any
executor (a Dask ``Client`` included), progress and errors that name the pair. The factors and the
values of a pair are :mod:`cca_core.factors`'; the measures, their options and families
:data:`cca_core.measures.REGISTRY`'s.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._threads import single_blas_thread
from .validation import RankWarning, check_activations, check_finite_values
from .canonical import default_rtol, svd_keep_count
from .factors import SPACES, Factor, choose_space, factor, pair_values, warn_forced_pair
from .measures import lookup
from .shapes import check_alpha

__all__ = ["pairwise", "PairwiseResult", "PairwiseError", "SPACES"]


class PairwiseError(RuntimeError):
    """A measure failed on one pair of networks; ``pair`` holds both labels."""

    def __init__(self, message: str, pair: tuple[str, str]):
        super().__init__(message)
        self.pair = pair


@dataclass(frozen=True)
class PairwiseResult:
    """Similarity of every ordered pair of networks.

    Attributes
    ----------
    values : ndarray, shape (K, K)
        ``values[i, j] = measure(acts[i], acts[j])``; for PWCCA both directions (weights from
        ``acts[i]`` in row ``i``); 1 on the diagonal.
    labels : tuple of str
        The networks' names (the mapping's keys, or ``"0" ... "K-1"`` for a sequence).
    measure : str
    space : str
        ``"neuron"`` or ``"data"``: where the factors were computed.
    """

    values: np.ndarray
    labels: tuple[str, ...]
    measure: str
    space: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def symmetrized(self) -> np.ndarray:
        """``(values + values.T) / 2``: Morcos et al. (2018) average PWCCA's two directions."""
        return 0.5 * (self.values + self.values.T)

    def distances(self) -> np.ndarray:
        """``1 - symmetrized()`` with an exact zero diagonal (a symmetric distance matrix).

        For ``"procrustes_similarity"`` and ``"shape_similarity"`` (``cos theta``) this is
        ``1 - cos theta``, which orders pairs as the metric does but is not one (it can break the
        triangle inequality): ``np.arccos(result.symmetrized())`` is the angular shape metric of
        :func:`cca_core.shape_distance`.
        """
        d = 1.0 - self.symmetrized()
        np.fill_diagonal(d, 0.0)
        return d

    def __repr__(self) -> str:
        return (f"PairwiseResult(measure={self.measure!r}, space={self.space!r}, "
                f"labels={list(self.labels)!r},\n  values=\n{np.array2string(self.values, precision=4)})")


# ------------------------------------------------------------------------------------ input gate
def _gather(acts: Sequence[np.ndarray] | Mapping[Any, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(acts, Mapping):
        labels, arrays = [str(k) for k in acts], list(acts.values())
    elif isinstance(acts, (str, bytes)) or not isinstance(acts, Iterable) or isinstance(acts, np.ndarray) and acts.ndim == 2:
        raise TypeError("acts must be a sequence or a mapping of (n_datapoints, n_neurons) arrays, "
                        f"one per network, got {type(acts).__name__}"
                        + (f" of shape {acts.shape}" if isinstance(acts, np.ndarray) else ""))
    else:
        arrays = list(acts)
        labels = [str(i) for i in range(len(arrays))]
    if len(arrays) < 2:
        raise ValueError(f"pairwise needs at least 2 networks' activations, got {len(arrays)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"network labels must be distinct, got {labels}")
    checked = [check_activations(f"network {lab!r}", a, check_finite=False) for lab, a in zip(labels, arrays)]
    first = checked[0]
    for lab, a in zip(labels[1:], checked[1:]):
        if a.shape[0] != first.shape[0]:
            raise ValueError(f"networks {labels[0]!r} and {lab!r} must have the same number of datapoints "
                             f"(first axis): {labels[0]!r} has shape {first.shape}, {lab!r} has shape {a.shape}")
    for lab, a in zip(labels, checked):
        if np.issubdtype(a.dtype, np.floating):
            check_finite_values(f"network {lab!r}", a)
    return labels, checked


def _check_kwargs(measure: str, kwargs: dict[str, Any]) -> str:
    """The measure's family after checking its name and options (before any work)."""
    entry = lookup(measure)  # unknown names list the known ones
    allowed = entry.options
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"{measure} takes {', '.join(allowed) or 'no keyword arguments'}; "
                        f"got unexpected {', '.join(unknown)}")
    if "keep" in kwargs:
        svd_keep_count(np.ones(1), kwargs["keep"])  # raises for a bad keep before any work
    rtol = kwargs.get("rtol")
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating))
                             or not 0 < rtol < 1):
        raise ValueError(f"rtol (relative eigenvalue tolerance) must be a number in (0, 1), got {rtol!r}")
    if "alpha" in kwargs:
        check_alpha(kwargs["alpha"])
    if "threshold" in kwargs and not kwargs["threshold"] > 0:
        raise ValueError(f"threshold (RBF bandwidth as a fraction of the median distance) must be > 0, "
                         f"got {kwargs['threshold']}")
    return entry.family


# ------------------------------------------------------------------------------------ the engine
def _progress_bar(total: int, progress: bool | None, desc: str):
    from tqdm import tqdm  # text bar (stderr): tqdm.auto needs ipywidgets in a kernel

    if progress is None:
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        progress = interactive and os.environ.get("CCA_CORE_PROGRESS", "1") != "0"
    # Shown only once the work has lasted a few seconds.
    return tqdm(total=total, desc=desc, unit="pair", disable=not progress, delay=3.0, leave=False)


def _run(executor: Executor, tasks: list, fn, bar) -> list:
    futures = [executor.submit(fn, *args) for args in tasks]
    results = []
    for fut in futures:
        results.append(fut.result())
        bar.update(1)
    return results


def _tiles(k: int, n_tiles: int) -> list[list[int]]:
    size = max(1, int(np.ceil(k / max(1, n_tiles))))
    return [list(range(s, min(s + size, k))) for s in range(0, k, size)]


def _tile_work(measure: str, kwargs: dict[str, Any], rows: list[tuple[int, Factor]],
               cols: list[tuple[int, Factor]]) -> list[tuple[int, int, float, float]]:
    """Every pair ``i < j`` between two groups of factors (one task of an external executor)."""
    out = []
    with single_blas_thread():
        for i, fi in rows:
            for j, fj in cols:
                if i < j:
                    out.append((i, j, *_guarded_pair(measure, fi, fj, kwargs)))
    return out


def _guarded_pair(measure: str, fi: Factor, fj: Factor, kwargs: dict[str, Any]) -> tuple[float, float]:
    try:
        return pair_values(measure, fi, fj, kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised with the pair's names
        raise PairwiseError(f"{measure} of networks {fi.label!r} and {fj.label!r} failed: "
                            f"{type(exc).__name__}: {exc}", (fi.label, fj.label)) from exc


def pairwise(acts: Sequence[np.ndarray] | Mapping[Any, np.ndarray], measure: str = "pwcca", *,
             executor: Executor | None = None, progress: bool | None = None, space: str = "auto",
             pairs: Iterable[tuple[int, int]] | None = None, **measure_kwargs: Any) -> PairwiseResult:
    """Similarity of every pair of networks, each network's factor computed once.

    Parameters
    ----------
    acts : sequence or mapping of arrays, each (n_datapoints, n_neurons_k)
        One array per network, all on the same inputs (same datapoints, in the same order); a
        mapping's keys become the labels. Neurons may differ between networks.
    measure : str
        One of :data:`cca_core.measures.MEASURES`: ``"mean_cca"``, ``"svcca"``, ``"pwcca"``,
        ``"linear_cka"``, ``"debiased_linear_cka"``, ``"rbf_cka"``, ``"procrustes_similarity"``,
        ``"shape_similarity"`` (``cos`` of the angular shape metric; ``alpha``, :mod:`cca_core.shapes`).
    executor : concurrent.futures.Executor, optional
        None: in-process, parallel over pairs in threads (one per core, one BLAS thread each).
        Any executor with ``submit`` (threads, processes, ``distributed.Client``): the pairs are sent
        in tiles of the matrix, so each network's factor travels a few times, not once per pair.
    progress : bool, optional
        A progress bar over pairs (tqdm), shown once the work has lasted 3 s; default on in a
        terminal or a notebook unless ``CCA_CORE_PROGRESS=0``.
    space : {"auto", "neuron", "data"}
        Where factors are computed: neuron space (``d x d`` covariances) or data space (``n x n``
        Gram matrices); ``"auto"`` takes data space when some network has more neurons than there
        are datapoints. Both give the same values (within rounding).
    pairs : iterable of (i, j), optional
        Compute only these pairs (both directions; others are NaN). Default: all.
    **measure_kwargs
        The measure's own options (``keep`` for SVCCA, ``rtol``, ``squared``, ``threshold``, ...).

    Returns
    -------
    PairwiseResult
        ``values`` (K x K), ``labels``, ``symmetrized()``, ``distances()``.

    Raises
    ------
    ValueError, TypeError
        Before any work: fewer than 2 networks, different numbers of datapoints (naming both
        networks and their shapes), NaN/Inf in a network (naming it), an unknown measure (listing
        the known ones) or keyword argument.
    PairwiseError
        A pair's computation failed; the message names both networks.

    Notes
    -----
    Cost: one factorization per network (a pass over its data and one ``d x d`` or ``n x n``
    eigendecomposition), then per pair one product ``Q_i^T Q_j`` (``n r_i r_j`` flops) and an SVD
    of the ``r_i x r_j`` result. Memory: the factors, ``K n min(n, d)`` float64 for the CCA family
    (the whitened data) and the centred data (or ``n x n`` Gram matrices) for CKA.
    """
    family = _check_kwargs(measure, measure_kwargs)
    labels, arrays = _gather(acts)
    k, n = len(arrays), arrays[0].shape[0]
    widths = [a.shape[1] for a in arrays]
    space = choose_space(space, n, widths)
    if measure == "rbf_cka":
        space = "data"  # kernels are n x n whatever the widths
    if family == "cca":
        for lab, d in zip(labels, widths):
            if d >= n:
                warnings.warn(f"network {lab!r} has {d} neurons and only {n} datapoints: with neurons >= "
                              "datapoints CCA can match anything perfectly; use more datapoints or reduce "
                              "dimensions first (e.g. svcca)", RankWarning, stacklevel=2)
                break
    wanted = sorted({(min(i, j), max(i, j)) for i, j in pairs} if pairs is not None
                    else {(i, j) for i in range(k) for j in range(i + 1, k)})
    for i, j in wanted:
        if not (0 <= i < k and 0 <= j < k) or i == j:
            raise ValueError(f"pairs must be (i, j) with i != j in 0..{k - 1}, got {(i, j)}")
    needed = sorted({i for p in wanted for i in p})
    rtol = measure_kwargs.get("rtol")
    values = np.full((k, k), np.nan)
    np.fill_diagonal(values, 1.0)
    bar = _progress_bar(len(needed) + len(wanted), progress, f"{measure} {k} networks")
    if _is_dask_client(executor):
        try:
            triples = _on_dask(executor, arrays, labels, widths, needed, wanted, measure, family, space,
                               measure_kwargs, bar)
        finally:
            bar.close()
        for i, j, forward, backward in triples:
            values[i, j], values[j, i] = forward, backward
        return PairwiseResult(values, tuple(labels), measure, space, dict(measure_kwargs))
    own_pool = executor is None
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1) if own_pool else executor
    try:
        with single_blas_thread():
            factors = dict(zip(needed, _run(pool, [(arrays[i], labels[i], measure, family, space, measure_kwargs,
                                                    rtol or default_rtol(widths[i])) for i in needed],
                                            factor, bar)))
            if own_pool:
                results = _run(pool, [(measure, factors[i], factors[j], measure_kwargs) for i, j in wanted],
                               _guarded_pair, bar)
                triples = [(i, j, *r) for (i, j), r in zip(wanted, results)]
            else:
                tiles = _tiles(len(needed), int(np.ceil(np.sqrt(2 * _worker_count(executor)))) + 1)
                blocks = [[(needed[t], factors[needed[t]]) for t in tile] for tile in tiles]
                tasks = [(measure, measure_kwargs, a, b) for ia, a in enumerate(blocks)
                         for b in blocks[ia:]]
                wanted_set = set(wanted)
                triples = []
                for out in _run(executor, tasks, _tile_work, _NoBar()):
                    triples.extend(t for t in out if (t[0], t[1]) in wanted_set)
                    bar.update(len(out))
    finally:
        bar.close()
        if own_pool:
            pool.shutdown(wait=True)
    if wanted and factors[wanted[0][0]].kind == "cca":  # mean CCA, PWCCA
        # One warning for the pair with the most correlations forced to 1 by the shapes.
        worst = max(wanted, key=lambda p: factors[p[0]].qt.shape[0] + factors[p[1]].qt.shape[0])
        warn_forced_pair(factors[worst[0]], factors[worst[1]], n, measure_kwargs,
                         (f"network {labels[worst[0]]!r}", f"network {labels[worst[1]]!r}"), stacklevel=3)
    for i, j, forward, backward in triples:
        values[i, j], values[j, i] = forward, backward
    return PairwiseResult(values, tuple(labels), measure, space, dict(measure_kwargs))


def _is_dask_client(executor: Any) -> bool:
    return all(hasattr(executor, a) for a in ("scatter", "gather", "submit", "nthreads"))


def _factor_on_worker(*args: Any) -> Factor:
    with single_blas_thread():
        return factor(*args)


def _pair_on_worker(i: int, j: int, measure: str, fi: Factor, fj: Factor,
                    kwargs: dict[str, Any]) -> tuple[int, int, float, float]:
    with single_blas_thread():
        return (i, j, *_guarded_pair(measure, fi, fj, kwargs))


def _on_dask(client: Any, arrays: list[np.ndarray], labels: list[str], widths: list[int], needed: list[int],
             wanted: list[tuple[int, int]], measure: str, family: str, space: str, kwargs: dict[str, Any],
             bar) -> list:
    """Each array is scattered once and factored on a worker; factors stay on the workers, and a
    pair's task fetches the two it needs (a worker keeps what it fetched, so each factor reaches each
    worker at most once)."""
    from distributed import as_completed

    rtol = kwargs.get("rtol")
    data = client.scatter([arrays[i] for i in needed])
    factors = {i: client.submit(_factor_on_worker, fut, labels[i], measure, family, space, kwargs,
                                rtol or default_rtol(widths[i]), key=f"cca-core-factor-{labels[i]}-{fut.key}")
               for i, fut in zip(needed, data)}
    futures = [client.submit(_pair_on_worker, i, j, measure, factors[i], factors[j], kwargs,
                             key=f"cca-core-pair-{measure}-{factors[i].key}-{factors[j].key}")
               for i, j in wanted]
    bar.update(len(needed))
    triples = []
    try:
        for fut in as_completed(futures, loop=client.loop):
            triples.append(fut.result())
            bar.update(1)
    finally:
        for fut in futures + list(factors.values()) + list(data):
            fut.release()
    return triples


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _worker_count(executor: Any) -> int:
    for attr in ("_max_workers",):
        if hasattr(executor, attr):
            return int(getattr(executor, attr))
    if hasattr(executor, "nthreads"):  # distributed.Client
        try:
            return max(1, sum(executor.nthreads().values()))
        except Exception:  # noqa: BLE001
            pass
    return os.cpu_count() or 1

"""Moments of Dask arrays: per-block moments on the workers, merged by a tree reduction.

Optional extra ``distributed`` (``pip install 'cca-core[distributed]'``: ``dask[array]`` and
``distributed``). Dask is imported inside the functions that need it, never when :mod:`cca_core`
(or this module) is imported, so the core stays importable without it.

:meth:`cca_core.Moments.from_dask` (:func:`moments_from_dask`): the joint moments of two dask arrays
``(n_datapoints, n_neurons)`` chunked along datapoints. Each pair of blocks becomes a
:class:`~cca_core.Moments` on the worker that holds it; the per-block moments are merged by a tree of
:meth:`~cca_core.Moments.merge` (Chan et al. 1979), so what travels is ``O(d^2)`` per block, never the
data. This module does not import :mod:`cca_core.moments` (which calls it): the accumulator class
comes as an argument. The cluster that the book's training sweeps and pairwise work run on
(``CCA_CORE_SCHEDULER``) is :mod:`cca_core.experiments.cluster`'s.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np

from .validation import check_pair

__all__ = ["moments_from_dask"]

_INSTALL_HINT = "install the 'distributed' extra: pip install 'cca-core[distributed]'"


def _require_dask(what: str) -> None:
    try:
        import dask.array  # noqa: F401
    except ImportError as exc:
        raise ModuleNotFoundError(f"{what} needs dask; {_INSTALL_HINT}") from exc


def _check_dask_array(name: str, arr: Any) -> None:
    import dask.array as da

    if not isinstance(arr, da.Array):
        raise TypeError(f"{name} must be a dask array (dask.array.Array), got {type(arr).__module__}."
                        f"{type(arr).__qualname__}; for in-memory data use Moments.from_arrays, or wrap it "
                        f"with dask.array.from_array({name}, chunks=(rows, -1))")
    if any(math.isnan(s) for s in arr.shape):
        raise ValueError(f"{name} has unknown chunk sizes (shape {arr.shape}); call "
                         f"{name}.compute_chunk_sizes() first")


def _block_moments(accumulator: type, xb: np.ndarray, yb: np.ndarray, n_x: int, n_y: int,
                   names: tuple[str, str], track_r: bool = False) -> "Moments":
    """Moments of one pair of blocks (runs on a worker)."""
    return accumulator(n_x, n_y, track_r=track_r).update(np.asarray(xb), np.asarray(yb), names=names)


def _merge_all(parts: Sequence["Moments"]) -> "Moments":
    """Merge a group of partial moments (one node of the reduction tree)."""
    return reduce(type(parts[0]).merge, parts)


def moments_from_dask(x: "dask.array.Array", y: "dask.array.Array", names: tuple[str, str] = ("X", "Y"),
                      split_every: int = 8, scheduler: Any = None, progress: bool = False,
                      compute: bool = True, track_r: bool = False, *,
                      accumulator: type) -> "Moments | dask.delayed.Delayed":
    """Joint moments of two dask arrays, block by block on the workers, merged by a tree reduction.

    Called as :meth:`cca_core.Moments.from_dask` (which passes ``accumulator=Moments``).

    Equal to :meth:`Moments.from_arrays` on the same data (to rounding: the blocks' moments are
    combined by Chan et al.'s pairwise update, as in :meth:`Moments.merge`). Each pair of row blocks
    ``(X[i], Y[i])`` gives a :class:`~cca_core.Moments` where the blocks are computed; groups of
    ``split_every`` partial results are merged, level by level, until one is left, so a merge sends
    ``O(d^2)`` floats (``d = n_x + n_y``) and no data leaves its worker.

    Parameters
    ----------
    x, y : dask.array.Array
        ``(n_datapoints, n_x)`` and ``(n_datapoints, n_y)``, real numeric, chunked along datapoints
        (axis 0). Chunked along neurons as well (more than one chunk on axis 1): rechunked to one chunk
        of all neurons per row block, with a warning, since each block then holds rows x all neurons
        (``x.rechunk({1: -1})`` beforehand, with fewer rows per chunk if blocks get too large).
        Row chunks of ``y`` that differ from those of ``x`` are rechunked to ``x``'s.
    names : (str, str)
        Names used in error messages.
    split_every : int
        Partial moments merged per node of the reduction tree, >= 2.
    scheduler : optional
        Passed to :func:`dask.compute`: ``None`` uses Dask's default (the active
        ``distributed.Client`` if there is one, else the threaded scheduler), or a ``Client``, or a
        scheduler name.
    progress : bool
        Show a progress bar while computing: ``distributed.progress`` (its text bar, which renders in a
        terminal and in a notebook's output) on a cluster, ``dask.diagnostics.ProgressBar`` locally.
    compute : bool
        ``False`` returns the ``dask.delayed`` result instead, e.g. to compute several layers' moments
        with one :func:`dask.compute`.
    track_r : bool
        Also accumulate the QR factor of the data (see :class:`~cca_core.Moments`): each block's
        ``R`` is merged up the tree by stacking and re-factoring (TSQR), so the CCA family stays
        accurate on ill-conditioned data; ``(d + 1)^2`` more floats per merge.
    accumulator : type
        :class:`cca_core.Moments` (keyword only; any class with its constructor, ``update`` and ``merge``).

    Returns
    -------
    Moments
        ``n_x``, ``n_y``, count, means and centred Gram matrix of all datapoints.

    Raises
    ------
    TypeError
        ``x`` or ``y`` is not a dask array, or its dtype is complex or non-numeric.
    ValueError
        Not 2-D, fewer than 2 datapoints, no neurons, unknown chunk sizes, different numbers of
        datapoints (the message names both shapes), ``split_every < 2``; NaN or Inf in a block (the
        message names the block's rows).
    ModuleNotFoundError
        dask is not installed.

    Warns
    -----
    RankWarning
        A side has neurons >= datapoints.
    UserWarning
        An array was chunked along neurons and is rechunked.

    Examples
    --------
    >>> import dask.array as da                                   # doctest: +SKIP
    >>> rng = da.random.default_rng(0)                            # doctest: +SKIP
    >>> x = rng.standard_normal((2_000_000, 256), chunks=(50_000, -1))   # doctest: +SKIP
    >>> y = x @ m + rng.standard_normal((2_000_000, 256), chunks=(50_000, -1))  # doctest: +SKIP
    >>> Moments.from_dask(x, y).pwcca()                           # doctest: +SKIP
    """
    _require_dask("moments_from_dask")
    import dask

    for name, arr in zip(names, (x, y)):
        _check_dask_array(name, arr)
    # Shape and dtype checks with the in-memory messages, on zero-copy views of the right shape.
    check_pair(np.broadcast_to(np.zeros((), dtype=x.dtype), x.shape),
               np.broadcast_to(np.zeros((), dtype=y.dtype), y.shape), names, check_finite=False)
    if isinstance(split_every, bool) or not isinstance(split_every, (int, np.integer)) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")

    arrays = []
    for name, arr in zip(names, (x, y)):
        if arr.numblocks[1] > 1:
            warnings.warn(f"{name} is chunked along neurons too (chunks along axis 1: {arr.chunks[1]}); "
                          f"rechunked to one chunk of all {arr.shape[1]} neurons per row block. Chunk along "
                          f"datapoints only ({name}.rechunk({{1: -1}}), with fewer rows per chunk if the "
                          f"blocks get too large) to avoid this", UserWarning, stacklevel=2)
            arr = arr.rechunk({1: -1})
        arrays.append(arr)
    x, y = arrays
    if y.chunks[0] != x.chunks[0]:
        y = y.rechunk({0: x.chunks[0]})

    n_x, n_y = x.shape[1], y.shape[1]
    # Optimize both together so that work they share (y computed from x, say) is done once.
    x, y = dask.optimize(x, y)
    block = dask.delayed(_block_moments, pure=True)
    merge = dask.delayed(_merge_all, pure=True)
    starts = np.concatenate([[0], np.cumsum(x.chunks[0])])
    level = [block(accumulator, xb, yb, n_x, n_y, (f"{names[0]} rows {a}:{b}", f"{names[1]} rows {a}:{b}"), track_r)
             for xb, yb, a, b in zip(x.to_delayed(optimize_graph=False).ravel(),
                                     y.to_delayed(optimize_graph=False).ravel(), starts[:-1], starts[1:])]
    # The tree by hand: dask.array.reduction reduces one array to arrays, while here the blocks of two
    # arrays become Moments objects; groups of split_every are merged, level by level.
    while len(level) > 1:
        level = [merge(level[i:i + split_every]) for i in range(0, len(level), split_every)]
    root = level[0]
    if not compute:
        return root
    if progress:
        return _compute_with_progress(root, scheduler)
    (result,) = dask.compute(root, scheduler=scheduler)
    return result


def _compute_with_progress(root: Any, scheduler: Any) -> "Moments":
    """Compute ``root`` showing Dask's progress bar (distributed's on a cluster, else the local one)."""
    import dask

    client = None
    try:
        import distributed
    except ImportError:
        distributed = None
    if distributed is not None:
        if isinstance(scheduler, distributed.Client):
            client = scheduler
        elif scheduler is None:
            try:
                client = distributed.default_client()
            except ValueError:
                client = None
    if client is not None:
        future = client.compute(root)
        # The text bar blocks until done and also renders in a notebook's output (a widget would not block).
        distributed.progress(future, notebook=False, scheduler=client.scheduler.address)
        return future.result()
    from dask.diagnostics import ProgressBar

    with ProgressBar():
        (result,) = dask.compute(root, scheduler=scheduler)
    return result

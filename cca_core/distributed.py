"""Scale out on Dask: moments of dask arrays, and a cluster named by an environment variable.

Optional extra ``distributed`` (``pip install 'cca-core[distributed]'``: ``dask[array]`` and
``distributed``). Dask is imported inside the functions that need it, never when :mod:`cca_core`
(or this module) is imported, so the core stays importable without it.

- :func:`moments_from_dask` (also :meth:`cca_core.Moments.from_dask`): the joint moments of two dask
  arrays ``(n_datapoints, n_neurons)`` chunked along datapoints. Each pair of blocks becomes a
  :class:`~cca_core.Moments` on the worker that holds it; the per-block moments are merged by a tree
  of :meth:`~cca_core.Moments.merge` (Chan et al. 1979), so what travels is ``O(d^2)`` per block, never
  the data.
- :data:`SCHEDULER_ENV` (``CCA_CORE_SCHEDULER``): the address of a Dask scheduler, e.g.
  ``tcp://scheduler-host:8786``. Unset or empty: everything runs locally. :func:`check_scheduler`,
  :func:`client_from_env` and :func:`executor_from_env` read it; an address that cannot be reached is
  one line (:class:`SchedulerUnreachable`) within a short timeout, before any work starts.
- :class:`ClusterExecutor`: a ``concurrent.futures.Executor`` on a ``distributed.Client`` (built on
  ``client.get_executor()``) whose failures name the job, e.g. the training configuration. The
  training sweeps (:func:`~cca_core.experiments.training.cnn.train_many`,
  :func:`~cca_core.experiments.training.lstm.train_lm_many`) take it, or a plain
  ``client.get_executor()``, unchanged.

Training on a cluster: the workers write each network into the cache directory passed to the sweep
and the caller reads it from there, so that directory must be storage every worker and the caller
share (the same path on all of them: NFS, a cluster file system, or one machine's disk for a
``LocalCluster``). The workers need the same ``cca_core`` code (cache keys hash its training modules)
with the ``experiments`` extra, ``CCA_CORE_DATA_DIR`` set in their environment for data other than
the embedded digits, and one thread each (``dask worker --nthreads 1``; several per machine with
``--nworkers``): Keras keeps its session and random seeds per process.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import socket
import warnings
from collections.abc import Callable, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from .validation import check_pair
from .moments import Moments

if TYPE_CHECKING:  # pragma: no cover
    import dask.array
    import distributed

__all__ = ["SCHEDULER_ENV", "DEFAULT_CONNECT_TIMEOUT", "ClusterExecutor", "JobFailed", "SchedulerUnreachable",
           "check_scheduler", "client_from_env", "executor_from_env", "moments_from_dask", "scheduler_address"]

#: Environment variable holding the address of the Dask scheduler to use (unset: run locally).
SCHEDULER_ENV = "CCA_CORE_SCHEDULER"
#: Seconds to wait for the scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0

_INSTALL_HINT = "install the 'distributed' extra: pip install 'cca-core[distributed]'"


# ----------------------------------------------------------------------------------------------------
# moments of dask arrays


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


def _block_moments(xb: np.ndarray, yb: np.ndarray, n_x: int, n_y: int, names: tuple[str, str],
                   track_r: bool = False) -> Moments:
    """Moments of one pair of blocks (runs on a worker)."""
    return Moments(n_x, n_y, track_r=track_r).update(np.asarray(xb), np.asarray(yb), names=names)


def _merge_all(parts: Sequence[Moments]) -> Moments:
    """Merge a group of partial moments (one node of the reduction tree)."""
    return reduce(Moments.merge, parts)


def moments_from_dask(x: "dask.array.Array", y: "dask.array.Array", names: tuple[str, str] = ("X", "Y"),
                      split_every: int = 8, scheduler: Any = None, progress: bool = False,
                      compute: bool = True, track_r: bool = False) -> "Moments | dask.delayed.Delayed":
    """Joint moments of two dask arrays, block by block on the workers, merged by a tree reduction.

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
    level = [block(xb, yb, n_x, n_y, (f"{names[0]} rows {a}:{b}", f"{names[1]} rows {a}:{b}"), track_r)
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


def _compute_with_progress(root: Any, scheduler: Any) -> Moments:
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


# ----------------------------------------------------------------------------------------------------
# the cluster named by CCA_CORE_SCHEDULER


class SchedulerUnreachable(ConnectionError):
    """The scheduler named by ``CCA_CORE_SCHEDULER`` (or given) cannot be reached; the message is one line."""


def scheduler_address() -> str | None:
    """``$CCA_CORE_SCHEDULER`` stripped, or ``None`` when it is unset or empty (run locally)."""
    value = os.environ.get(SCHEDULER_ENV, "").strip()
    return value or None


def _unreachable(address: str, source: str, why: str) -> SchedulerUnreachable:
    return SchedulerUnreachable(f"cannot reach the Dask scheduler {address} ({source}): {why}; check the address, "
                                f"start the scheduler (dask scheduler), or unset {SCHEDULER_ENV} to run locally")


def check_scheduler(address: str | None = None, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> str | None:
    """Check that a Dask scheduler answers at ``address`` (default ``$CCA_CORE_SCHEDULER``).

    A refused TCP connection fails at once; otherwise Dask's handshake (the scheduler's
    ``identity``) must answer within ``timeout`` seconds. Nothing is submitted.

    Parameters
    ----------
    address : str, optional
        ``tcp://host:port`` (any scheme Dask understands). ``None``: read :data:`SCHEDULER_ENV`.
    timeout : float
        Seconds to wait, > 0.

    Returns
    -------
    str or None
        The address, or ``None`` when none is given and the variable is unset (nothing to check).

    Raises
    ------
    SchedulerUnreachable
        Bad address, nothing listening, no answer within ``timeout``, or not a Dask scheduler; the
        one-line message names the address and the variable.
    ModuleNotFoundError
        An address is set but ``distributed`` is not installed.
    """
    source = "given"
    if address is None:
        address, source = scheduler_address(), SCHEDULER_ENV
        if address is None:
            return None
    if not float(timeout) > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    try:
        import asyncio

        from distributed.comm import connect
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.security import Security
    except ImportError:
        raise ModuleNotFoundError(f"{source} names the Dask scheduler {address}, but distributed is not "
                                  f"installed; {_INSTALL_HINT}") from None
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(location)
            # Dask retries refused connections until its timeout; a plain socket says "refused" at once.
            with socket.create_connection((host, port), timeout=timeout):
                pass
    except (ValueError, TypeError) as exc:
        raise _unreachable(address, source, f"not an address ({exc})") from None
    except OSError as exc:
        raise _unreachable(address, source, exc.strerror or type(exc).__name__) from None

    async def identity() -> Any:
        # TLS settings from Dask's configuration, as a Client would use them.
        comm = await connect(address, timeout=timeout, **Security().get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        # In a thread of its own: the caller may be running an event loop already (a Jupyter kernel).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(lambda: asyncio.run(asyncio.wait_for(identity(), timeout))).result()
    except (asyncio.TimeoutError, TimeoutError):
        raise _unreachable(address, source, f"no answer within {timeout:g} s") from None
    except Exception as exc:  # noqa: BLE001 - anything else that answers is not a scheduler
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _unreachable(address, source, f"no Dask scheduler answered ({type(exc).__name__}: {text})") from None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise _unreachable(address, source, "something answered, but not a Dask scheduler")
    return address


_CLIENTS: dict[str, Any] = {}


def client_from_env(timeout: float = DEFAULT_CONNECT_TIMEOUT) -> "distributed.Client | None":
    """A ``distributed.Client`` on the scheduler named by ``$CCA_CORE_SCHEDULER``, or ``None`` when unset.

    The address is checked first (:func:`check_scheduler`), so an unreachable one fails within
    ``timeout`` seconds before any work. One client per address and process is made and reused (it
    becomes Dask's default client, so dask computations in this process run on the cluster too).

    Raises
    ------
    SchedulerUnreachable
        The scheduler does not answer (one line naming the address and the variable).
    ModuleNotFoundError
        The variable is set but ``distributed`` is not installed.
    """
    address = check_scheduler(None, timeout)
    if address is None:
        return None
    client = _CLIENTS.get(address)
    if client is not None and client.status == "running":
        return client
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - it answered the check a moment ago
        raise _unreachable(address, SCHEDULER_ENV, f"{type(exc).__name__}: {exc}") from None
    _CLIENTS[address] = client
    return client


def executor_from_env(timeout: float = DEFAULT_CONNECT_TIMEOUT) -> "ClusterExecutor | None":
    """A :class:`ClusterExecutor` on ``$CCA_CORE_SCHEDULER``'s cluster, or ``None`` when it is unset.

    ``None`` is what the training sweeps take for "one after another, here", so
    ``train_many(configs, cache_dir, executor=executor_from_env())`` runs locally without the variable
    and on the cluster with it. On a cluster the cache directory must be storage that the workers and
    this process share (see the module docstring).

    Raises
    ------
    SchedulerUnreachable, ModuleNotFoundError
        As :func:`client_from_env`.
    """
    client = client_from_env(timeout)
    return None if client is None else ClusterExecutor(client)


# ----------------------------------------------------------------------------------------------------
# an executor whose failures name the job


class JobFailed(RuntimeError):
    """A job submitted through :class:`ClusterExecutor` raised, or its worker died; the message names
    the job (e.g. the training configuration) and the original error is its ``__cause__``."""


def _describe(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    name = getattr(fn, "__name__", type(fn).__name__)
    if args and callable(getattr(args[0], "short", None)):
        return f"{name}({args[0].short()})"
    if args:
        first = repr(args[0])
        return f"{name}({first[:80]}{'...' if len(first) > 80 else ''}{', ...' if len(args) > 1 else ''})"
    return f"{name}()"


class ClusterExecutor(concurrent.futures.Executor):
    """``concurrent.futures.Executor`` on a Dask cluster whose failures name the job.

    Built on ``client.get_executor()``: ``submit(fn, *args)`` runs ``fn(*args)`` on a worker and returns
    a ``concurrent.futures.Future``, so :func:`concurrent.futures.as_completed` (and the training
    sweeps' progress, one line per finished network, in the order they finish) work as with a process
    pool. When the job raises, or its worker dies (``KilledWorker``), the future's exception is a
    :class:`JobFailed` whose message names it, e.g. ``train(digits/true depth=2 width=4 ...) failed on
    the Dask cluster: NotADirectoryError: ...``, with the original error as its ``__cause__``.

    Jobs already running keep running when another fails or the caller stops waiting; training jobs
    write their result into the cache as they finish, so a rerun does only what is missing.

    Parameters
    ----------
    client : distributed.Client
    **submit_kwargs
        Passed to ``client.get_executor`` (``workers=``, ``resources=``, ``retries=``, ...).
    """

    def __init__(self, client: "distributed.Client", **submit_kwargs: Any) -> None:
        self.client = client
        self._inner = client.get_executor(**submit_kwargs)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` on the cluster; return a ``concurrent.futures.Future``."""
        inner = self._inner.submit(fn, *args, **kwargs)
        outer: concurrent.futures.Future = concurrent.futures.Future()
        label = _describe(fn, args)

        def relay(done: concurrent.futures.Future) -> None:
            if not outer.set_running_or_notify_cancel():
                return  # the caller cancelled it
            if done.cancelled():
                outer.set_exception(JobFailed(f"{label} was cancelled on the Dask cluster"))
                return
            exc = done.exception()
            if exc is None:
                outer.set_result(done.result())
                return
            text = str(exc).splitlines()[0] if str(exc) else ""
            failure = JobFailed(f"{label} failed on the Dask cluster: {type(exc).__name__}: {text}")
            failure.__cause__ = exc
            outer.set_exception(failure)

        def cancel_inner(done: concurrent.futures.Future) -> None:
            if done.cancelled():
                inner.cancel()

        outer.add_done_callback(cancel_inner)
        inner.add_done_callback(relay)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Wait for the submitted jobs (``wait``), or cancel those not finished (``cancel_futures`` or
        ``wait=False``). The client stays open."""
        self._inner.shutdown(wait=wait and not cancel_futures)

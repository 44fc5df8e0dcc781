"""Where the notebooks' training sweeps run: the Dask cluster named by ``CCA_CORE_SCHEDULER``, or here.

``train_many(configs, cache, executor=sweep_executor())`` trains on this machine when
``CCA_CORE_SCHEDULER`` is unset (``sweep_executor()`` is ``None``, the sweeps' default: one training
process per core, each on one thread; :func:`cca_core.experiments.training.sweeps.local_executor`), and on the workers of that Dask scheduler when it is set (``make book`` and ``book/pipeline.py``
check the address before executing anything and the notebook kernels inherit it). Nothing here
imports Dask unless the variable is set.

- :data:`SCHEDULER_ENV` (``CCA_CORE_SCHEDULER``): the address of a Dask scheduler, e.g.
  ``tcp://scheduler-host:8786``. Unset or empty: everything runs locally. :func:`check_scheduler`,
  :func:`client_from_env`, :func:`executor_from_env` and :func:`sweep_executor` read it; an address
  that cannot be reached is one line (:class:`SchedulerUnreachable`) within a short timeout, before
  any work starts. The book's pairwise work (:mod:`cca_core.experiments.analysis.compare`) runs on
  :func:`client_from_env`'s client too.
- :class:`ClusterExecutor`: a ``concurrent.futures.Executor`` on a ``distributed.Client`` (built on
  ``client.get_executor()``) whose failures name the job, e.g. the training configuration (any first
  argument with a ``short()`` method, under the name of the function a wrapper runs). The training sweeps
  (:func:`~cca_core.experiments.training.cnn.train_many`,
  :func:`~cca_core.experiments.training.lstm.train_lm_many`) take it, or a plain
  ``client.get_executor()``, unchanged.

On a cluster the cache directory (``CCA_CORE_CACHE_DIR`` or the notebook's ``cache_dir``) must be
storage that the workers and the notebook share, at the same path (NFS, a cluster file system, or
one machine's disk for a ``LocalCluster``): the workers write the networks there and the notebook
reads them back. The workers need the same ``cca_core`` code (cache keys hash its training modules)
with the ``experiments`` extra, ``CCA_CORE_DATA_DIR`` set in their environment for data other than
the embedded digits, and one thread each (``dask worker --nthreads 1``, several per machine with
``--nworkers``; ``LocalCluster(threads_per_worker=1)``): Keras keeps its session and seeds per
process. Moments of dask arrays are the core's (:meth:`cca_core.Moments.from_dask`).
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import distributed

__all__ = ["SCHEDULER_ENV", "DEFAULT_CONNECT_TIMEOUT", "ClusterExecutor", "JobFailed", "SchedulerUnreachable",
           "check_scheduler", "client_from_env", "executor_from_env", "scheduler_address", "sweep_executor"]

#: Environment variable holding the address of the Dask scheduler to use (unset: run locally).
SCHEDULER_ENV = "CCA_CORE_SCHEDULER"
#: Seconds to wait for the scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0

_INSTALL_HINT = "install the 'distributed' extra: pip install 'cca-core[distributed]'"


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
    """``name(config.short())`` for the first argument with a ``short()`` method; a wrapper whose first
    argument is the function it runs (the sweeps' ``_train_reporting(train, ..., config, ...)``) is
    named after that function."""
    name = getattr(fn, "__name__", type(fn).__name__)
    described = [a for a in args if callable(getattr(a, "short", None))]
    if described:
        if callable(args[0]) and args[0] is not described[0]:
            name = getattr(args[0], "__name__", name)
        return f"{name}({described[0].short()})"
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


# ----------------------------------------------------------------------------------------------------
# the training sweeps


def sweep_executor(timeout: float = 10.0) -> "ClusterExecutor | None":
    """The executor for training sweeps: ``$CCA_CORE_SCHEDULER``'s cluster, or ``None`` (run here).

    Parameters
    ----------
    timeout : float
        Seconds to wait for the scheduler.

    Returns
    -------
    ClusterExecutor or None
        ``None`` when the variable is unset or empty (the sweep then trains in local processes). Failures on the cluster name the configuration;
        the one-line progress of the sweep comes in the order the networks finish.

    Warns
    -----
    UserWarning
        A worker runs more than one thread: training is not thread-safe within a process (Keras
        sessions and seeds are global), so workers for sweeps need ``--nthreads 1``.

    Raises
    ------
    SchedulerUnreachable
        The variable names a scheduler that does not answer within ``timeout`` (one line naming it).
    ModuleNotFoundError
        The variable is set but the ``distributed`` extra is not installed.
    """
    executor = executor_from_env(timeout)
    if executor is not None:
        crowded = sorted(w for w, n in executor.client.nthreads().items() if n > 1)
        if crowded:
            warnings.warn(f"{len(crowded)} Dask worker(s) of {executor.client.scheduler.address} run several "
                          f"threads (e.g. {crowded[0]}): Keras sessions and seeds are process-wide, so two networks "
                          f"trained at once in one process interfere; start workers with --nthreads 1 (several "
                          f"per machine with --nworkers)", UserWarning, stacklevel=2)
    return executor

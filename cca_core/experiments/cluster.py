"""Where the notebooks' training sweeps run: the Dask cluster named by ``CCA_CORE_SCHEDULER``, or here.

``train_many(configs, cache, executor=sweep_executor())`` trains on this machine when
``CCA_CORE_SCHEDULER`` is unset (``sweep_executor()`` is ``None``, the sweeps' default: one training
process per core, each on one thread; :func:`cca_core.experiments.training.cache.local_executor`), and on the workers of that Dask scheduler when it is set (``make book`` and ``book/pipeline.py``
check the address before executing anything and the notebook kernels inherit it). Nothing here
imports Dask unless the variable is set.

On a cluster the cache directory (``CCA_CORE_CACHE_DIR`` or the notebook's ``cache_dir``) must be
storage that the workers and the notebook share, at the same path: the workers write the networks
there and the notebook reads them back. Each worker must run one thread (``dask worker --nthreads 1``,
``LocalCluster(threads_per_worker=1)``): Keras keeps its session and seeds per process. See
:mod:`cca_core.distributed`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cca_core.distributed import ClusterExecutor

__all__ = ["sweep_executor"]


def sweep_executor(timeout: float = 10.0) -> "ClusterExecutor | None":
    """The executor for training sweeps: ``$CCA_CORE_SCHEDULER``'s cluster, or ``None`` (run here).

    Parameters
    ----------
    timeout : float
        Seconds to wait for the scheduler.

    Returns
    -------
    cca_core.distributed.ClusterExecutor or None
        ``None`` when the variable is unset or empty (the sweep then trains in local processes). Failures on the cluster name the configuration;
        the one-line progress of the sweep comes in the order the networks finish.

    Warns
    -----
    UserWarning
        A worker runs more than one thread: training is not thread-safe within a process (Keras
        sessions and seeds are global), so workers for sweeps need ``--nthreads 1``.

    Raises
    ------
    cca_core.distributed.SchedulerUnreachable
        The variable names a scheduler that does not answer within ``timeout`` (one line naming it).
    ModuleNotFoundError
        The variable is set but the ``distributed`` extra is not installed.
    """
    from cca_core.distributed import executor_from_env

    executor = executor_from_env(timeout)
    if executor is not None:
        crowded = sorted(w for w, n in executor.client.nthreads().items() if n > 1)
        if crowded:
            warnings.warn(f"{len(crowded)} Dask worker(s) of {executor.client.scheduler.address} run several "
                          f"threads (e.g. {crowded[0]}): Keras sessions and seeds are process-wide, so two networks "
                          f"trained at once in one process interfere; start workers with --nthreads 1 (several "
                          f"per machine with --nworkers)", UserWarning, stacklevel=2)
    return executor

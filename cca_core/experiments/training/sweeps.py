"""Sweeps: many independent cached runs trained through an executor, with progress and failures reported.

:func:`~cca_core.experiments.training.cnn.train_many` (CNNs) and
:func:`~cca_core.experiments.training.lstm.train_lm_many` (language models) are :func:`sweep` with their
own ``train`` and ``load``:

- executors: any object with ``submit(fn, *args)`` returning a future; by default
  :func:`local_executor`, one fresh training process per core (``$CCA_CORE_TRAIN_WORKERS`` to change),
  each running TensorFlow on one thread; :class:`SequentialExecutor` runs in the caller;
- order: with a ``cost``, the costliest runs are submitted (and their lines printed) first, so that the
  longest does not end a sweep alone on one core; the ``[i/n]`` of every line, the failures of
  :class:`SweepError` and the results count in the order the runs were given in;
- progress: a line per run as it is submitted and as it ends, and the epochs as they end (:class:`EpochProgress`, tqdm's rate and
  estimate), reported by the training code through :func:`report_epoch`;
- failures: a run that raises (e.g. :class:`~cca_core.experiments.training.cache.DivergedError`) does
  not stop the others; :class:`SweepError` names every failed run at the end.

Nothing here decides what a trained network is, so this module is not part of the training code's
fingerprint (:func:`~cca_core.experiments.training.cache.source_fingerprint`): editing it retrains nothing.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

__all__ = ["SequentialExecutor", "SweepError", "TRAIN_WORKERS_ENV", "EpochProgress", "local_executor",
           "local_workers", "report_epoch", "sweep"]

# ----------------------------------------------------------------------------------------------------
# executors


class SequentialExecutor:
    """The default executor of :func:`sweep`: runs each job immediately, in the caller."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` now; return a completed future (exceptions are stored in it,
        ``KeyboardInterrupt`` and other non-``Exception`` errors propagate at once)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - stored like a real executor would
            future.set_exception(exc)
        return future


#: Environment variable: number of local training processes of a sweep (default: the machine's cores).
TRAIN_WORKERS_ENV = "CCA_CORE_TRAIN_WORKERS"


#: In a local training process: the queue of the sweep that started it (:func:`report_epoch`).
_WORKER_CHANNEL: Any = None


def _one_thread_worker(channel: Any = None) -> None:
    """Initializer of a local training process: BLAS on one thread, TensorFlow on the threads of
    :data:`~cca_core.experiments.training.REPRODUCIBLE_ENV` (one, unless the environment the sweep's
    process started with says otherwise: then the caller's setting, so that the same configuration
    trains the same bits in the sweep and in the caller); epochs are reported to ``channel`` (a queue of
    the sweep) when given."""
    global _WORKER_CHANNEL
    _WORKER_CHANNEL = channel
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cca_core.experiments.training import REPRODUCIBLE_ENV  # sets the environment if it is not inherited

    import tensorflow as tf

    threads = {k: int(os.environ.get(k) or REPRODUCIBLE_ENV[k]) for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    tf.config.threading.set_intra_op_parallelism_threads(threads["TF_NUM_INTRAOP_THREADS"])
    tf.config.threading.set_inter_op_parallelism_threads(threads["TF_NUM_INTEROP_THREADS"])


def _threads_each() -> str:
    """The TensorFlow threads of each training process, in words."""
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS", "1")
    if threads == "1":
        return "one thread each"
    return ("TensorFlow's default threads each" if threads == "0" else f"{threads} threads each") + \
        " (TF_NUM_INTRAOP_THREADS)"


def local_workers(n_jobs: int | None = None) -> int:
    """Local training processes for ``n_jobs`` runs: ``$CCA_CORE_TRAIN_WORKERS`` or the number of cores."""
    value = os.environ.get(TRAIN_WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{TRAIN_WORKERS_ENV} must be a positive integer, got {value!r}")
        workers = int(value)
    else:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(workers, n_jobs if n_jobs else workers))


def local_executor(n_workers: int | None = None, channel: Any = None) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of fresh training processes (``spawn``), each running TensorFlow on one thread (as every
    process that imports :mod:`cca_core.experiments` does, unless the environment sets other counts).

    Small networks train faster on one thread per process than on two threads in one process
    (the ops are too small to share: ``benchmarks/train_bench.py``), and independent networks of a
    sweep then run side by side, one per core. Every network of a sweep is trained the same way
    (one thread), so the same configuration gives the same weights on the same machine whichever
    worker trains it; a network trained with another thread count may differ in the last digits.
    ``channel``: a ``multiprocessing`` queue (spawn context) where the runs report their epochs.
    """
    import multiprocessing

    return concurrent.futures.ProcessPoolExecutor(max_workers=n_workers or local_workers(),
                                                  mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_one_thread_worker, initargs=(channel,))


# ----------------------------------------------------------------------------------------------------
# per-epoch progress: workers report each epoch, the sweep prints a line with tqdm's rate and estimate

#: Set in a training process by :func:`_train_reporting`: called after every epoch as
#: ``hook(epoch, summary)``; ``None`` outside a sweep (nothing is reported).
_EPOCH_HOOK: Callable[[int, str], None] | None = None


def report_epoch(epoch: int, summary: str) -> None:
    """Tell the sweep that trains this run that ``epoch`` (1-based) ended; ``summary`` is a few words
    (losses, accuracy). A no-op outside a sweep. Called by the ``_fit`` of each kind of run."""
    if _EPOCH_HOOK is not None:
        _EPOCH_HOOK(epoch, summary)


#: One run at a time per process: training seeds Keras and TensorFlow process-wide
#: (``keras.utils.set_random_seed``, ``keras.backend.clear_session``), so two threads training at once
#: draw each other's random numbers. Measured: a ``ThreadPoolExecutor(2)`` gave other initial weights
#: from one sweep to the next, cached under the configuration's key. A thread pool (or a Dask worker
#: with several threads) therefore trains its runs one after another; processes train side by side.
_TRAINING_LOCK = threading.Lock()


def _train_reporting(train: Callable[[Any, Any], Any], channel: Any, index: int, config: Any,
                     cache_dir: str | os.PathLike) -> Any:
    """``train(config, cache_dir)``, holding :data:`_TRAINING_LOCK`, with :func:`report_epoch` sending
    ``(index, epoch, summary)`` to ``channel`` (a callable in the sweep's own process), or to the queue
    this local training process was started with when ``channel`` is :data:`_FROM_WORKER` (none:
    nothing is reported)."""
    global _EPOCH_HOOK
    with _TRAINING_LOCK:
        channel = _WORKER_CHANNEL if channel == _FROM_WORKER else channel
        if channel is None:
            return train(config, cache_dir)
        send = channel if callable(channel) else channel.put
        _EPOCH_HOOK = lambda epoch, summary: send((index, epoch, summary))  # noqa: E731
        try:
            return train(config, cache_dir)
        finally:
            _EPOCH_HOOK = None


class EpochProgress:
    """The sweep's per-epoch progress over all runs it trains: a tqdm bar on a terminal, otherwise
    (a pipe: the book's pipeline, a log file) one line at most every ``interval`` seconds with tqdm's
    count, rate and estimate of the time left, e.g.
    ``epochs  23/60 [04:12<07:40, 11.0s/epoch] · [3/5] epoch 4/12: valid perplexity 412.3``."""

    def __init__(self, total: int, n: int, stream: IO[str], interval: float = 10.0) -> None:
        from tqdm import tqdm

        self._tqdm, self.total, self.n, self.stream, self.interval = tqdm, total, n, stream, interval
        self.done, self.start, self._last = 0, time.perf_counter(), float("-inf")
        self._per_run: dict[int, int] = {}  # epochs reported by each run
        self._stopped: set[int] = set()  # runs that ended early (failed): their epochs left are not counted
        self._lock = threading.Lock()  # epochs arrive on the queue's thread, failures on the sweep's
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = tqdm(total=total, unit="epoch", desc="epochs", file=stream, leave=False) if tty else None

    def stopped(self, index: int, epochs: int) -> None:
        """Run ``index`` (of ``epochs`` epochs) ended early, e.g. diverged: take the epochs it will not
        train out of the total, so that the count still ends at the total (and, without a bar, print the
        last line, ``[i/n] failed``, when this was the last run)."""
        with self._lock:
            if index in self._stopped:
                return
            self._stopped.add(index)
            self._set_total(self.total - max(0, epochs - self._per_run.get(index, 0)))
            if self.bar is None and self.done and self.done == self.total:
                self._print(f"[{index + 1}/{self.n}] failed")

    def _set_total(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def __call__(self, message: tuple[int, int, str], epochs: int) -> None:
        index, epoch, summary = message
        with self._lock:
            self.done += 1
            self._per_run[index] = self._per_run.get(index, 0) + 1
            if index in self._stopped:  # an epoch reported after its run was taken out (the queue lags)
                self._set_total(self.total + 1)
            note = f"[{index + 1}/{self.n}] epoch {epoch}/{epochs}: {summary}"
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix_str(note, refresh=True)
            elif time.perf_counter() - self._last >= self.interval or self.done == self.total:
                self._print(note)

    def _print(self, note: str) -> None:
        """One line (no bar): tqdm's count, rate and time left, then ``note``."""
        now = self._last = time.perf_counter()
        meter = self._tqdm.format_meter(self.done, self.total, now - self.start, unit="epoch", prefix="epochs")
        print(f"{meter} · {note}", file=self.stream, flush=True)

    def close(self) -> None:
        with self._lock:
            if self.bar is not None:
                self.bar.close()


def sweep(configs: Iterable[Any], cache_dir: str | os.PathLike, train: Callable[[Any, Any], Any],
          load: Callable[[Any, Any], Any], done_message: Callable[[Any], str], executor: Any = None, *,
          progress: bool = True, stream: IO[str] | None = None,
          cost: Callable[[Any], float] | None = None) -> list[Any]:
    """Train (or load) many independent runs, optionally in parallel.

    Cached runs (``load(config, cache_dir)`` is not ``None``) are loaded in the caller; the others are
    submitted as ``train(config, cache_dir)`` to ``executor``, which writes each to the cache as soon
    as it finishes, so an interrupted sweep loses only the runs in flight (an interrupt ends with one
    line saying how many were trained and cached, then ``KeyboardInterrupt``). ``executor=None``:
    :func:`local_executor` with one process per core (at most one per run to train), shut down at the
    end. With ``progress``, one
    line per run (``config.short()``, then ``done_message(result)`` or ``cached``) and a summary go to
    ``stream`` (default ``sys.stderr``), and, when the runs train in this process or a local process
    pool, the epochs as they end (:class:`EpochProgress`) go to ``stream`` or, by default, to this
    process's own stderr (``sys.__stderr__``: in a notebook kernel, the terminal or the book's
    pipeline rather than the page). With ``cost`` (a configuration's relative training time), the
    runs are submitted costliest first; the ``[i/n]`` of every message and the index of every failure
    in :class:`SweepError` still count in the order of ``configs``. Returns the results in the order of
    ``configs``.
    """
    configs = list(configs)
    n = len(configs)
    out = stream if stream is not None else sys.stderr

    def log(msg: str, end: str = "\n") -> None:
        if progress:
            print(msg, end=end, file=out, flush=True)

    def outcome(result: Any) -> str:
        return "cached" if result.cached else done_message(result)

    start = time.perf_counter()
    results: list[Any] = [load(config, cache_dir) for config in configs]
    todo = [i for i, r in enumerate(results) if r is None]
    if cost is not None:
        todo.sort(key=lambda i: -cost(configs[i]))  # stable: equal costs keep their order
    log(f"sweep: {n} networks, {n - len(todo)} cached, {len(todo)} to train (cache {cache_dir})")
    for i, config in enumerate(configs):
        if results[i] is not None:
            log(f"[{i + 1}/{n}] {config.short()} ... cached")
    epochs = {i: int(getattr(configs[i], "epochs", 0)) for i in todo}
    meter = EpochProgress(sum(epochs.values()), n, stream if stream is not None else (sys.__stderr__ or out)) \
        if progress and todo else None
    own = executor is None and bool(todo)
    if own:
        queue, stop = _epoch_queue(meter, epochs)
        executor = local_executor(local_workers(len(todo)), queue)
        channel = None if queue is None else _FROM_WORKER
        log(f"training on {executor._max_workers} local process(es), {_threads_each()}")
    else:
        if executor is None:
            executor = SequentialExecutor()
        channel = None
        stop = meter.close if meter is not None else (lambda: None)
        if meter is not None and isinstance(executor, SequentialExecutor):
            channel = lambda message: meter(message, epochs[message[0]])  # noqa: E731
    failed = (lambda i: meter.stopped(i, epochs[i])) if meter is not None else (lambda i: None)
    try:
        _train_all(configs, cache_dir, train, todo, results, executor, log, outcome, channel, failed)
    except KeyboardInterrupt:
        if own:
            executor.shutdown(wait=False, cancel_futures=True)
        done = sum(1 for i in todo if results[i] is not None)
        log(f"\ninterrupted: {done} of {len(todo)} network(s) trained and cached; rerun to continue")
        raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
        stop()

    trained = sum(1 for r in results if r is not None and not r.cached)
    log(f"sweep done: {trained} trained, {n - trained} cached, {time.perf_counter() - start:.1f} s")
    return results


#: ``channel`` of :func:`_train_reporting` in a local training process: its initializer's queue.
_FROM_WORKER = "worker"


def _epoch_queue(meter: EpochProgress | None, epochs: dict[int, int]) -> tuple[Any, Callable[[], None]]:
    """A queue for the local training processes' epochs, drained into ``meter`` by a thread, and the
    function that stops it (``(None, no-op)`` without a meter)."""
    if meter is None:
        return None, lambda: None
    import multiprocessing
    import threading

    queue = multiprocessing.get_context("spawn").Queue()

    def drain() -> None:
        while (message := queue.get()) is not None:
            meter(message, epochs[message[0]])

    thread = threading.Thread(target=drain, name="sweep-epochs", daemon=True)
    thread.start()

    def stop() -> None:
        with contextlib.suppress(Exception):
            queue.put(None)
            thread.join(timeout=5)
        queue.close()
        meter.close()

    return queue, stop


class SweepError(RuntimeError):
    """Runs of a sweep that failed (e.g. a diverged loss); the others were trained and cached.

    One line: how many failed and each one's error; ``__cause__`` is the first failure's error.

    Attributes
    ----------
    failures : list of (int, config, BaseException)
        0-based index in the sweep, configuration and the error of each failed run.
    """

    def __init__(self, failures: list[tuple[int, Any, BaseException]], n: int) -> None:
        self.failures = failures
        lines = "; ".join(f"[{i + 1}/{n}] {error}" for i, _, error in failures)
        super().__init__(f"{len(failures)} of {n} run(s) failed, the others are cached: {lines}")


def _train_all(configs: list[Any], cache_dir: str | os.PathLike, train: Callable[[Any, Any], Any], todo: list[int],
               results: list[Any], executor: Any, log: Callable[..., None], outcome: Callable[[Any], str],
               channel: Any = None, failed: Callable[[int], None] = lambda i: None) -> None:
    """Submit the runs ``todo`` to ``executor`` and fill ``results`` as they finish; with a
    ``channel``, each run reports its epochs there (:func:`_train_reporting`; runs in one process train one at
    a time, :data:`_TRAINING_LOCK`). A run that raises an ``Exception`` is logged, left ``None`` and
    passed to ``failed`` (its index); :class:`SweepError` lists them once the others are done. A process pool that broke (its processes
    died, e.g. a script without a ``__main__`` guard) ends the sweep at once with one ``RuntimeError``."""
    n = len(configs)
    failures: list[tuple[int, Any, BaseException]] = []

    def collect(i: int, future: Any, head: str) -> None:
        try:
            results[i] = future.result()
        except concurrent.futures.process.BrokenProcessPool as error:
            raise RuntimeError(
                "the training processes ended before they could train (see their messages above); a script "
                "that sweeps with the default executor must make the call under 'if __name__ == \"__main__\":', "
                "since each training process imports the script") from error
        except Exception as error:  # noqa: BLE001 - reported with the others below
            failures.append((i, configs[i], error))
            message = str(error)  # a DivergedError starts with the run, which the line names already
            message = message.removeprefix(f"{configs[i].short()}: ")
            log(f"{head} FAILED: {message}")
            failed(i)
        else:
            log(f"{head} {outcome(results[i])}")

    pending: dict[Any, int] = {}
    for i in todo:
        log(f"[{i + 1}/{n}] training {configs[i].short()} ...", end="")
        future = executor.submit(_train_reporting, train, channel, i, configs[i], cache_dir)
        if future.done():
            collect(i, future, "")
        else:
            log(" submitted")
            pending[future] = i

    if pending:
        futures = list(pending)
        if all(isinstance(f, concurrent.futures.Future) for f in futures):
            ordered: Iterable[Any] = concurrent.futures.as_completed(futures)
        else:
            ordered = futures
        for future in ordered:
            i = pending[future]
            collect(i, future, f"[{i + 1}/{n}] {configs[i].short()} ...")
    if failures:
        failures.sort(key=lambda f: f[0])
        raise SweepError(failures, n) from failures[0][2]

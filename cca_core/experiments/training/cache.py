"""What every cached training run shares: keys, checkpointed weights on disk, optimizers, sweeps.

:mod:`~cca_core.experiments.training.cnn` (CNNs) and :mod:`~cca_core.experiments.training.lstm`
(LSTMs) each define a configuration dataclass and a ``_fit``; the rest is here, once:

- cache keys: :func:`config_dict` (a configuration as canonical JSON-ready data), :func:`source_fingerprint`
  (SHA-256 of the source files that define a result) and :func:`digest` (SHA-256 of canonical JSON);
- configurations: :class:`RunConfig`, the base of both configuration dataclasses (``to_dict`` /
  ``from_dict``, the canonical form hashed into keys);
- storage: :func:`save_checkpoints` / :func:`load_checkpoints` (weights at the checkpoint epochs and
  a JSON ``meta`` record in one ``.npz`` file, written atomically by
  :func:`cca_core.experiments.files.atomic_write`);
- training: :func:`normalize_checkpoints`, :func:`make_optimizer`, :func:`learning_rate_at` (the
  step decay of the learning rate), :func:`record_checkpoints`;
- sweeps: :func:`sweep` through any ``concurrent.futures``-style executor (by default
  :func:`local_executor`: one training process per core, each on one thread), with a progress line
  per run; a run that fails (:class:`FloatingPointError` for a diverged loss) does not stop the
  others, and :class:`SweepError` names every failed run at the end.

This module is part of the code fingerprint of both kinds of cached results: editing it gives new keys.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from cca_core.experiments.files import atomic_write

__all__ = ["OPTIMIZERS", "RunConfig", "SequentialExecutor", "SweepError", "TRAIN_WORKERS_ENV", "local_executor",
           "config_dict", "digest", "learning_rate_at", "load_checkpoints", "make_optimizer", "normalize_checkpoints",
           "record_checkpoints", "save_checkpoints", "report_epoch", "source_fingerprint", "sweep"]

#: Optimizers understood by the configurations: plain SGD, SGD with momentum 0.9, Adam.
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")


# ----------------------------------------------------------------------------------------------------
# keys


def config_dict(config: Any) -> dict[str, Any]:
    """A configuration dataclass as a JSON-serializable dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


class RunConfig:
    """Base of the configuration dataclasses of cached runs (:class:`~cca_core.experiments.training.cnn.TrainConfig`,
    :class:`~cca_core.experiments.training.lstm.LMConfig`): their canonical dict form and back."""

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serializable dict (tuples become lists): what cache keys hash."""
        return config_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def source_fingerprint(paths: Sequence[str | os.PathLike]) -> str:
    """SHA-256 over source files: each contributes its base name and its bytes, so any edit (even a
    comment) gives a new fingerprint."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        data = p.read_bytes()
        h.update(p.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def digest(payload: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``payload`` as canonical JSON (sorted keys, no whitespace, floats by ``repr``)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_checkpoints(checkpoints: Iterable[int] | None, epochs: int) -> tuple[int, ...]:
    """Checkpoint epochs as a sorted tuple: ``None`` -> ``(0, epochs)``, -1 -> ``epochs``.

    Raises ``ValueError`` when an epoch falls outside ``0 .. epochs`` or none is left."""
    raw = (0, epochs) if checkpoints is None else tuple(checkpoints)
    normalized = tuple(sorted({int(epochs) if int(e) == -1 else int(e) for e in raw}))
    if not normalized or normalized[0] < 0 or normalized[-1] > epochs:
        raise ValueError(f"checkpoints must be epochs in 0..{epochs} (or -1 for the last), got {checkpoints!r}")
    return normalized


# ----------------------------------------------------------------------------------------------------
# storage


def save_checkpoints(path: Path, weights: dict[int, list[np.ndarray]], meta: dict[str, Any]) -> None:
    """Write the weights of every checkpoint epoch and ``meta`` (JSON; ``n_weights`` is added) atomically."""
    arrays: dict[str, np.ndarray] = {}
    for epoch, ws in weights.items():
        for i, w in enumerate(ws):
            arrays[f"w_e{epoch}_{i:04d}"] = np.asarray(w)
    meta = dict(meta, n_weights=len(next(iter(weights.values()))) if weights else 0)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoints(path: Path, config: dict[str, Any],
                     epochs: Iterable[int]) -> tuple[dict[str, Any], dict[int, list[np.ndarray]]]:
    """``meta`` and the weights at ``epochs`` from a file of :func:`save_checkpoints`.

    Raises ``ValueError`` when the file's ``meta["config"]`` is not ``config``."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta["config"] != config:
            raise ValueError(f"cache file {path} holds another configuration: {meta['config']}")
        weights = {e: [npz[f"w_e{e}_{i:04d}"] for i in range(meta["n_weights"])] for e in epochs}
    return meta, weights


# ----------------------------------------------------------------------------------------------------
# training


def learning_rate_at(epoch: int, learning_rate: float, lr_decay: float = 1.0, decay_after: int = 0) -> float:
    """The learning rate of epoch ``epoch`` (1-based) under step decay (Zaremba et al. 2014, section 4).

    Epochs ``1 .. decay_after`` train at ``learning_rate``; every later epoch multiplies it by
    ``lr_decay``: epoch ``e`` trains at ``learning_rate * lr_decay ** max(0, e - decay_after)``.
    ``lr_decay = 1`` is a constant rate.
    """
    return float(learning_rate) * float(lr_decay) ** max(0, int(epoch) - int(decay_after))


def make_optimizer(name: str, learning_rate: float, global_clipnorm: float = 0.0) -> Any:
    """The Keras optimizer ``name`` (see :data:`OPTIMIZERS`), clipping the gradient's global norm
    when ``global_clipnorm > 0``."""
    import keras

    clip = {"global_clipnorm": global_clipnorm} if global_clipnorm > 0 else {}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, **clip)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(learning_rate=learning_rate, **clip)


def record_checkpoints(model: Any, checkpoints: Sequence[int]) -> tuple[dict[int, list[np.ndarray]], Any]:
    """Copy ``model``'s weights now (epoch 0, if asked for) and return ``(snapshots, callback)``: the
    Keras callback adds the weights at the end of every epoch in ``checkpoints`` to ``snapshots``."""
    import keras

    snapshots: dict[int, list[np.ndarray]] = {}

    def snapshot(epoch: int) -> None:
        if epoch in checkpoints:
            snapshots[epoch] = [np.array(w, copy=True) for w in model.get_weights()]

    class _Checkpoints(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            snapshot(epoch + 1)

    snapshot(0)
    return snapshots, _Checkpoints()


# ----------------------------------------------------------------------------------------------------
# sweeps


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
    """Initializer of a local training process: TensorFlow and BLAS on one thread each; epochs are
    reported to ``channel`` (a queue of the sweep) when given."""
    global _WORKER_CHANNEL
    _WORKER_CHANNEL = channel
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


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
    """A pool of fresh training processes (``spawn``), each running TensorFlow on one thread.

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


def _train_reporting(train: Callable[[Any, Any], Any], channel: Any, index: int, config: Any,
                     cache_dir: str | os.PathLike) -> Any:
    """``train(config, cache_dir)`` with :func:`report_epoch` sending ``(index, epoch, summary)`` to
    ``channel`` (a callable in the sweep's own process), or to the queue this
    local training process was started with when ``channel`` is :data:`_FROM_WORKER` (none: nothing is
    reported)."""
    global _EPOCH_HOOK
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
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = tqdm(total=total, unit="epoch", desc="epochs", file=stream, leave=False) if tty else None

    def __call__(self, message: tuple[int, int, str], epochs: int) -> None:
        index, epoch, summary = message
        self.done += 1
        note = f"[{index + 1}/{self.n}] epoch {epoch}/{epochs}: {summary}"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(note, refresh=True)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval or self.done == self.total:
            self._last = now
            meter = self._tqdm.format_meter(self.done, self.total, now - self.start, unit="epoch", prefix="epochs")
            print(f"{meter} · {note}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def sweep(configs: Iterable[Any], cache_dir: str | os.PathLike, train: Callable[[Any, Any], Any],
          load: Callable[[Any, Any], Any], done_message: Callable[[Any], str], executor: Any = None, *,
          progress: bool = True, stream: IO[str] | None = None) -> list[Any]:
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
    pipeline rather than the page). Returns the results in the order of ``configs``.
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
        log(f"training on {executor._max_workers} local process(es), one thread each")
    else:
        if executor is None:
            executor = SequentialExecutor()
        channel = None
        stop = meter.close if meter is not None else (lambda: None)
        if meter is not None and isinstance(executor, SequentialExecutor):
            channel = lambda message: meter(message, epochs[message[0]])  # noqa: E731
    try:
        _train_all(configs, cache_dir, train, todo, results, executor, log, outcome, channel)
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
               channel: Any = None) -> None:
    """Submit the runs ``todo`` to ``executor`` and fill ``results`` as they finish; with a
    ``channel``, each run reports its epochs there (:func:`_train_reporting`). A run that raises an
    ``Exception`` is logged and left ``None``; :class:`SweepError` lists them once the others are done."""
    n = len(configs)
    failures: list[tuple[int, Any, BaseException]] = []

    def collect(i: int, future: Any, head: str) -> None:
        try:
            results[i] = future.result()
        except Exception as error:  # noqa: BLE001 - reported with the others below
            failures.append((i, configs[i], error))
            log(f"{head} FAILED: {error}")
        else:
            log(f"{head} {outcome(results[i])}")

    pending: dict[Any, int] = {}
    for i in todo:
        log(f"[{i + 1}/{n}] training {configs[i].short()} ...", end="")
        if channel is None:
            future = executor.submit(train, configs[i], cache_dir)
        else:
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

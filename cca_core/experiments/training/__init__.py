"""Training: the only code whose source is hashed into the cache keys of trained networks (checks.py and sweeps.py aside).

- :mod:`~cca_core.experiments.training.cache` -- what both kinds of cached runs share: keys, checkpoint files, optimizers, shuffling, divergence
- :mod:`~cca_core.experiments.training.cnn` -- the CNN family of Morcos et al. (2018), section 3, and its deterministic training
- :mod:`~cca_core.experiments.training.lstm` -- the LSTM language models, their training and hidden states
- :mod:`~cca_core.experiments.training.datasets` -- embedded digits and keras.datasets loaders, true/random labels
- :mod:`~cca_core.experiments.training.text` -- Penn Treebank, WikiText-2, Tiny Shakespeare: checked files, vocabularies, BPTT batches
- :mod:`~cca_core.experiments.training.checks` -- configurations checked against their data before a sweep trains (not hashed)
- :mod:`~cca_core.experiments.training.sweeps` -- many runs through an executor, with progress and failures (not hashed)
- :mod:`~cca_core.experiments.training.activations` -- batched extraction of named layers as (datapoints, neurons)

Importing this package sets the environment that makes TensorFlow's arithmetic reproducible (below),
before TensorFlow is imported; nothing else in ``cca_core`` touches TensorFlow's environment.
"""

from __future__ import annotations

import os

# TensorFlow prints C++ INFO/WARNING lines at import (oneDNN, CPU features); keep notebooks readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Environment that makes training the same bits on every x86-64 machine with AVX2, whatever its CPU
#: features and core count, and in every process that trains (set before TensorFlow is imported; a
#: value already in the environment wins). Op determinism alone gives the same bits only on the same
#: machine: TensorFlow turns its oneDNN graph rewrites on by default only on CPUs with
#: AVX512_VNNI/BF16/AMX, its matrix products go through oneDNN's sgemm, which picks
#: SSE4.1/AVX/AVX2/AVX-512 kernels by the CPU's features, and the number of threads (by default the
#: cores) splits the sums differently. Each of the three changes the trained weights (measured on a tiny
#: CNN and LSTM: SSE4.1, AVX, AVX2 kernels and 1, 2, 4 threads give six different weight hashes).
#: One thread is what a sweep's local training processes run (:func:`.sweeps.local_executor`, which
#: trained every network of the book): with it, a network trained in the caller's process, by a
#: thread pool or on a Dask worker has the bits of the one in the cache under the same key
#: (tests/experiments/training/test_exp_determinism.py). Networks are small: one thread costs little.
REPRODUCIBLE_ENV: dict[str, str] = {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                    "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
#: The thread counts: their values in the environment are integers >= 0 (0: TensorFlow's default, one per core).
THREAD_VARIABLES: tuple[str, ...] = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")

for _key, _value in REPRODUCIBLE_ENV.items():
    if not os.environ.get(_key, "").strip():  # unset or empty (TensorFlow reads an empty value as unset)
        os.environ[_key] = _value
for _key in THREAD_VARIABLES:
    if not os.environ[_key].strip().isdigit():
        raise ValueError(f"{_key}={os.environ[_key]!r} in the environment: it must be an integer >= 0 (the "
                         f"TensorFlow threads to train on; unset it for {REPRODUCIBLE_ENV[_key]}, which trained the book's networks)")

#: Thread counts set in the environment before import, other than :data:`REPRODUCIBLE_ENV`'s: they apply
#: to every training process (the sweeps' too) and may change the trained bits, but not the cache keys.
OTHER_THREADS: dict[str, str] = {k: os.environ[k] for k in THREAD_VARIABLES
                                 if int(os.environ[k]) != int(REPRODUCIBLE_ENV[k])}
_WARNED = "CCA_CORE_THREADS_WARNED"  # set once warned: the sweeps' processes inherit it and stay quiet
if OTHER_THREADS and not os.environ.get(_WARNED):
    import warnings

    os.environ[_WARNED] = "1"
    warnings.warn(f"{', '.join(f'{k}={v}' for k, v in OTHER_THREADS.items())} in the environment: networks "
                  f"trained now (in sweeps too) may differ in the last bits from those trained on one thread, "
                  f"the book's cache, under the same cache keys; unset it to train the cached networks",
                  stacklevel=2)


def _tensorflow_started() -> bool:
    """TensorFlow is imported and has run an op: its thread counts are fixed (false if unknown)."""
    import sys

    if "tensorflow" not in sys.modules:
        return False
    try:
        from tensorflow.python.eager import context

        return context.context()._context_handle is not None  # noqa: SLF001 - no public way to ask
    except Exception:  # noqa: BLE001 - another TensorFlow: do not guess
        return False


if _tensorflow_started():
    import warnings

    warnings.warn("TensorFlow ran before cca_core.experiments was imported, so its threads are its defaults: "
                  "networks trained in this process may differ in the last bits from those of the cache under "
                  "the same keys (sweeps train in their own processes and are not affected). Import "
                  "cca_core.experiments before TensorFlow.", stacklevel=2)

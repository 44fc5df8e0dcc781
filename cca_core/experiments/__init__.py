"""Keras experiment toolkit shared by the notebooks: datasets, models, cached training, activations, plots.

Importing this package is light: TensorFlow, scikit-learn and matplotlib are imported only when a
function that needs them is called. Public names are resolved lazily (PEP 562 module ``__getattr__``).

Modules, one job each:

- :mod:`~cca_core.experiments.datasets` -- embedded digits and keras.datasets loaders, true/random labels
- :mod:`~cca_core.experiments.models` -- the CNN family of Morcos et al. (2018), section 3
- :mod:`~cca_core.experiments.runs` -- what both kinds of cached training share: keys, checkpoint files, sweeps
- :mod:`~cca_core.experiments.training` -- deterministic training cached on disk, sweeps through executors
- :mod:`~cca_core.experiments.text` -- Penn Treebank, WikiText-2, Tiny Shakespeare: checked files, vocabularies, BPTT batches
- :mod:`~cca_core.experiments.language_model` -- the cached LSTM language model and its hidden states
- :mod:`~cca_core.experiments.activations` -- batched extraction of named layers as (datapoints, neurons)
- :mod:`~cca_core.experiments.plots` -- matplotlib helpers with consistent group colours
- :mod:`~cca_core.experiments.clustering` -- clusters of networks from a distance matrix, with permutation tests
- :mod:`~cca_core.experiments.compare` -- distances within and between groups of networks
- :mod:`~cca_core.experiments.synthetic` -- the signal-plus-noise data of the paper's Figure 2
- :mod:`~cca_core.experiments.convergence` -- when layers reach their final representations, in which order, intervals over networks
- :mod:`~cca_core.experiments.costs` -- best wall time and peak traced memory of a computation
- :mod:`~cca_core.experiments.findings` -- a notebook's claims vs the paper's, with evidence and verdict rules, as a table and JSON
- :mod:`~cca_core.experiments.rules` -- the verdict rules of each chapter
- :mod:`~cca_core.experiments.measure_checks` -- tests of the measures themselves: layer identification, sensitivity, grouping
- :mod:`~cca_core.experiments.paths` -- the cache and data directories (environment variables)
- :mod:`~cca_core.experiments.cluster` -- the training sweeps' executor: the Dask cluster of ``CCA_CORE_SCHEDULER`` or none
"""

from __future__ import annotations

import importlib
import os

# TensorFlow prints C++ INFO/WARNING lines at import (oneDNN, CPU features); keep notebooks readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Environment that makes training the same bits on every x86-64 machine with AVX2, whatever its CPU
#: features and core count (set before TensorFlow is imported; a value already in the environment
#: wins). Op determinism alone gives the same bits only on the same machine: TensorFlow turns its
#: oneDNN graph rewrites on by default only on CPUs with AVX512_VNNI/BF16/AMX, its matrix products go
#: through oneDNN's sgemm, which picks SSE4.1/AVX/AVX2/AVX-512 kernels by the CPU's features, and
#: the number of threads (the cores) splits the sums differently. Each of the three changes the
#: trained weights (measured on a tiny CNN and LSTM: SSE4.1, AVX, AVX2 kernels and 1, 2, 4 threads
#: give six different weight hashes); with these values the weights are those this machine gives
#: by default (2 cores, AVX2) and do not change when the process has 1 core
#: (tests/experiments/test_exp_determinism.py). Networks are small: 2 threads cost little.
REPRODUCIBLE_ENV: dict[str, str] = {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                    "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"}
for _key, _value in REPRODUCIBLE_ENV.items():
    os.environ.setdefault(_key, _value)
from typing import Any

_EXPORTS: dict[str, str] = {
    # datasets
    "Dataset": "datasets",
    "load_dataset": "datasets",
    "KNOWN_DATASETS": "datasets",
    "LABEL_MODES": "datasets",
    "RANDOM_LABEL_SEED": "datasets",
    # models
    "build_cnn": "models",
    "default_strides": "models",
    "layer_names": "models",
    # training
    "TrainConfig": "training",
    "TrainResult": "training",
    "cache_key": "training",
    "code_fingerprint": "training",
    "load_result": "training",
    "load_model": "training",
    "train": "training",
    "train_many": "training",
    # text corpora
    "load_corpus": "text",
    "Corpus": "text",
    "KNOWN_CORPORA": "text",
    "corpus_file": "text",
    "batchify": "text",
    "bptt_windows": "text",
    "ChecksumError": "text",
    "CorpusUnavailableError": "text",
    # language model
    "LMConfig": "language_model",
    "LMResult": "language_model",
    "train_lm": "language_model",
    "train_lm_many": "language_model",
    "load_lm_result": "language_model",
    "lm_from_result": "language_model",
    "lm_cache_key": "language_model",
    "build_lm": "language_model",
    "lstm_layer_names": "language_model",
    "hidden_states": "language_model",
    "tokens_as_datapoints": "language_model",
    "step_states": "language_model",
    "eval_windows": "language_model",
    # activations
    "get_activations": "activations",
    # clustering
    "cluster_matrix": "clustering",
    "permutation_ari": "clustering",
    "separation_test": "clustering",
    "within_between": "clustering",
    # compare
    "pairwise_matrix": "compare",
    "within_pairs": "compare",
    "between_pairs": "compare",
    # findings
    "Finding": "findings",
    "Evidence": "findings",
    "NetworkGroups": "findings",
    "judge": "findings",
    "report_findings": "findings",
    # measure checks
    "memorization_configs": "measure_checks",
    "learning_rate_configs": "measure_checks",
    "MEASURE_CHECKS_MEASURES": "measure_checks",
    # paths
    "default_cache_dir": "paths",
    "resolve_cache_dir": "paths",
    "data_dir": "paths",
    # cluster
    "sweep_executor": "cluster",
    # plots
    "group_colors": "plots",
    "label_axes": "plots",
    "errorbar_by_group": "plots",
}

_SUBMODULES = {"activations", "cluster", "clustering", "compare", "convergence", "costs", "datasets", "findings",
               "language_model", "measure_checks", "models", "paths", "plots", "rules", "runs", "synthetic", "text",
               "training"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""The experiments behind the book: everything the notebooks use, importable from here and only from here.

Importing this package is light: TensorFlow, scikit-learn and matplotlib are imported only when a
function that needs them is called. Public names are resolved lazily (PEP 562 module ``__getattr__``).

Rooms, one job each (the arrows point down: a room imports only those below it and :mod:`cca_core`):

- :mod:`~cca_core.experiments.report` -- findings JSON, tables, plots, the notebooks' parameters
- :mod:`~cca_core.experiments.verdicts` -- evidence, verdict rules (claims against the paper's)
- :mod:`~cca_core.experiments.analysis` -- comparisons, clustering, convergence, sequences, synthetic data, costs, the measures' own checks
- :mod:`~cca_core.experiments.training` -- datasets, corpora, the CNNs and LSTMs, cached deterministic
  training (its modules that define a trained network are the only code hashed into cache keys;
  sweeps and checks are not), activations
- :mod:`~cca_core.experiments.evidence` -- the evidence record and its intervals over networks (below
  analysis and verdicts, which both use it)
- :mod:`~cca_core.experiments.numbers` -- the one number formatter (estimates with their intervals, counts,
  plurals), below the evidence, the verdicts and the report, which all write numbers through it
- :mod:`~cca_core.experiments.paths`, :mod:`~cca_core.experiments.files`, :mod:`~cca_core.experiments.cluster`
  -- the cache and data directories, atomic writes, the training sweeps' executor
"""

from __future__ import annotations

import importlib
from typing import Any

# The training package's __init__ only sets TensorFlow's reproducible environment (no TensorFlow import):
# done here, so that importing cca_core.experiments sets it before any TensorFlow op runs.
from cca_core.experiments import training as _training  # noqa: F401

_MODULE_EXPORTS: dict[str, tuple[str, ...]] = {
    "training.cnn": ("TrainConfig", "TrainResult", "cache_key", "code_fingerprint", "load_result", "load_model", "train", "train_many", "model_from_result", "build_cnn", "default_strides", "layer_names", "layer_widths",),
    "training.datasets": ("Dataset", "load_dataset", "KNOWN_DATASETS", "LABEL_MODES", "RANDOM_LABEL_SEED",),
    "training.text": ("load_corpus", "Corpus", "KNOWN_CORPORA", "corpus_file", "batchify", "bptt_windows", "ChecksumError", "CorpusUnavailableError",),
    "training.checks": ("check_trainable",),
    "training.lstm": ("LMConfig", "LMResult", "train_lm", "train_lm_many", "load_lm_result", "lm_from_result", "lm_cache_key", "build_lm", "lstm_layer_names", "hidden_states", "eval_windows", "unigram_perplexity",),
    "training.cache": ("DivergedError",),
    "training.sweeps": ("SweepError", "SequentialExecutor", "local_executor",),
    "training.activations": ("get_activations", "layer_outputs",),
    "analysis.sequences": ("tokens_as_datapoints", "step_states", "random_rotation", "linear_rnn_states", "mean_cosine_distance", "mean_euclidean_distance",),
    "analysis.clustering": ("cluster_matrix", "group_order", "permutation_ari", "separation_test", "within_between",),
    "analysis.compare": ("pairwise_matrix", "chance_distance",),
    "analysis.convergence": ("adjacent_order", "crossing_epochs", "interval_over_networks", "permutation_null",),
    "analysis.learning": ("Convergence", "convergence_of", "stopped_improving", "fits_labels"),
    "report.convergence": ("show_convergence", "convergence_table"),
    "analysis.costs": ("measure_cost", "DFT_CHUNK_ELEMENTS"),
    "analysis.synthetic": ("pca_reduce", "signal_noise_pair",),
    "analysis.measure_checks": ("memorization_configs", "learning_rate_configs", "MEASURE_CHECKS_MEASURES", "bootstrap_evidence", "cross_similarity", "deletion_curves", "deletion_ks", "group_auprc", "group_violation_rate", "layer_identification", "monotonicity", "sensitivity", "specificity",),
    "verdicts.findings": ("Finding", "Evidence", "NetworkGroups", "judge", "above", "mean_intervals",),
    "verdicts.rules": ("MIN_NETWORKS", "NetworkMeans", "FIT_THRESHOLD",),
    "report.findings": ("report_findings",),
    "numbers": ("format_estimate", "format_number", "format_p", "format_count", "format_list", "plural",),
    "report.parameters": ("check_notebook_parameters",),
    "report.plots": ("PALETTE", "group_colors", "label_axes", "new_axes", "errorbar_by_group", "chance_band", "interval_curves",),
    "report.tables": ("show_table",),
    "paths": ("default_cache_dir", "resolve_cache_dir", "data_dir",),
    "cluster": ("sweep_executor",),
}
_EXPORTS: dict[str, str] = {name: module for module, names in _MODULE_EXPORTS.items() for name in names}

#: Submodules reachable as attributes (``from cca_core.experiments import rules``).
_SUBMODULES: dict[str, str] = {"rules": "verdicts.rules", "findings": "verdicts.findings", "training": "training",
                               "analysis": "analysis", "verdicts": "verdicts", "report": "report"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{_SUBMODULES[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Checks of training configurations against their data, made before a sweep trains anything.

A configuration checks what it can on its own (:class:`~cca_core.experiments.training.cnn.TrainConfig`,
:class:`~cca_core.experiments.training.lstm.LMConfig`); what depends on the data -- a batch larger
than the training set, a sampled softmax with as many candidates as the vocabulary has words, more
training windows than tokens -- is checked here, once per configuration, in the calling process,
so that a bad value fails in one line naming the parameter before any network trains (the training
code checks the same again when it runs). This module is not part of the training fingerprint:
it changes no trained network.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["check_trainable"]


def _check_cnn(config: Any) -> None:
    from cca_core.experiments.training.datasets import load_dataset

    n = len(load_dataset(config.dataset, config.labels).x_train)
    if config.batch_size > n:
        raise ValueError(f"batch_size={config.batch_size} is larger than the {n} training examples of {config.dataset}")


def _check_lm(config: Any) -> None:
    from cca_core.experiments.training.text import load_corpus

    corpus = load_corpus(config.corpus, config.max_tokens)
    if config.softmax_samples >= corpus.vocab_size:
        raise ValueError(f"softmax_samples={config.softmax_samples} must be below the vocabulary size of "
                         f"{config.corpus} ({corpus.vocab_size} words)")
    need = config.batch_size * (config.seq_len + 1)
    if len(corpus.train) < need:
        raise ValueError(f"batch_size={config.batch_size} x seq_len={config.seq_len} needs at least {need} training "
                         f"tokens; {config.corpus} has {len(corpus.train)}")


def check_trainable(configs: Iterable[Any]) -> None:
    """Check every configuration against its data before anything trains.

    Parameters
    ----------
    configs : iterable of TrainConfig or LMConfig

    Raises
    ------
    ValueError
        One line naming the parameter: ``batch_size`` above a dataset's training examples (CNNs);
        ``softmax_samples`` not below the corpus's vocabulary, or a ``batch_size`` x ``seq_len``
        window that the training tokens cannot fill (language models).
    TypeError
        Something that is not a training configuration.
    """
    from cca_core.experiments.training.cache import RunConfig

    seen: set[Any] = set()
    for config in configs:
        # By the fields each kind has (the training modules import this one: no import back).
        if isinstance(config, RunConfig) and hasattr(config, "dataset"):
            key = ("cnn", config.dataset, config.labels, config.batch_size)
            check = _check_cnn
        elif isinstance(config, RunConfig) and hasattr(config, "corpus"):
            key = ("lm", config.corpus, config.max_tokens, config.softmax_samples, config.batch_size, config.seq_len)
            check = _check_lm
        else:
            raise TypeError(f"check_trainable takes TrainConfig or LMConfig objects, got {type(config).__name__}")
        if key not in seen:
            seen.add(key)
            check(config)

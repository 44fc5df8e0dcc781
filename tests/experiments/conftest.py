"""Shared fixtures for the experiment toolkit tests (tiny CNNs on the embedded digits)."""

from __future__ import annotations

import os

# Quieten TensorFlow's C++ logging; must happen before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.util

import pytest

from cca_core.experiments import TrainConfig, train  # light: TensorFlow is imported only when training

#: Tiny networks: 2 conv layers of 4 and 8 filters, one epoch on the embedded digits (~1 s each).
TINY = dict(dataset="digits", depth=2, width=4, epochs=1, batch_size=64)

HAVE_TF = all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "sklearn"))


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_cache")


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    return TrainConfig(**TINY, seed=0)


@pytest.fixture(scope="session")
def tiny_result(tiny_config, tiny_cache):
    if not HAVE_TF:
        pytest.skip("needs the 'experiments' extra (tensorflow, scikit-learn)")
    return train(tiny_config, tiny_cache)

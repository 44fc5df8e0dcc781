"""Shared test setup: the slow references in ``tests/reference.py`` import as ``reference``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, _TESTS)


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator, so each test sees the same data whatever runs before it."""
    return np.random.default_rng(20240601)

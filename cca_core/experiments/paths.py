"""Where the experiments keep trained networks (the cache) and look for datasets (the data directory).

Both are set by environment variables so that notebooks, the book pipeline, tests and CI agree
without passing paths around:

``CCA_CORE_CACHE_DIR``
    Trained networks (:mod:`~cca_core.experiments.training`). Default
    ``$XDG_CACHE_HOME/cca-core/experiments`` (``~/.cache/cca-core/experiments``). The Makefile sets
    it to ``.experiment-cache/`` in the repository.
``CCA_CORE_DATA_DIR``
    A mirror of the datasets for offline machines and clusters: loaders look there first
    (e.g. ``$CCA_CORE_DATA_DIR/ptb/ptb.train.txt``) and only then download. Unset: no mirror.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "DATA_ENV", "default_cache_dir", "resolve_cache_dir", "data_dir"]

CACHE_ENV = "CCA_CORE_CACHE_DIR"
DATA_ENV = "CCA_CORE_DATA_DIR"


def default_cache_dir() -> Path:
    """``$CCA_CORE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/cca-core/experiments``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cca-core" / "experiments"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` when given and non-empty (notebook parameters use ``""`` for "default"),
    else :func:`default_cache_dir`."""
    if cache_dir is None or str(cache_dir).strip() == "":
        return default_cache_dir()
    return Path(cache_dir).expanduser()


def data_dir() -> Path | None:
    """``$CCA_CORE_DATA_DIR`` as a path, or ``None`` when it is unset or empty."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else None

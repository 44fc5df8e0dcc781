"""Where the experiments keep trained networks (the cache) and look for datasets (the data directory).

Both are set by environment variables so that notebooks, the book pipeline, tests and CI agree
without passing paths around:

``CCA_CORE_CACHE_DIR``
    Trained networks (:mod:`~cca_core.experiments.training.cnn`). Default
    ``$XDG_CACHE_HOME/cca-core/experiments`` (``~/.cache/cca-core/experiments``). The Makefile sets
    it to ``.experiment-cache/`` in the repository.
``CCA_CORE_DATA_DIR``
    A mirror of the datasets for offline machines and clusters: loaders look there first
    (e.g. ``$CCA_CORE_DATA_DIR/ptb/ptb.train.txt``) and only then download. Unset: no mirror.
``CCA_CORE_FINDINGS_PATH``
    Set by ``book/pipeline.py`` for the kernels it starts, and by nothing else: where
    :func:`~cca_core.experiments.report.findings.report_findings` writes a page's findings JSON (a scratch
    file that the pipeline then moves beside the page). No path is injected into the page itself.

``book/pipeline.py`` gives the kernels it starts the same defaults as the Makefile: the cache in the
repository's ``.experiment-cache/`` and the data directory ``../shared/data`` when it exists.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "DATA_ENV", "FINDINGS_ENV", "BOOK_FINDINGS", "default_cache_dir", "resolve_cache_dir",
           "data_dir", "findings_target"]

CACHE_ENV = "CCA_CORE_CACHE_DIR"
DATA_ENV = "CCA_CORE_DATA_DIR"
FINDINGS_ENV = "CCA_CORE_FINDINGS_PATH"
#: The book's findings (``book/findings/`` of this source checkout): written by ``book/pipeline.py build`` only.
BOOK_FINDINGS = Path(__file__).resolve().parents[2] / "book" / "findings"


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


def findings_target(path: str | os.PathLike | None) -> Path | None:
    """Where :func:`~cca_core.experiments.report.findings.report_findings` writes, given its ``path`` argument.

    ``$CCA_CORE_FINDINGS_PATH`` when set (the book pipeline is running the notebook); else ``path``,
    or ``None`` (nothing written) when it is empty. A ``path`` inside the book's ``book/findings/``
    gives ``None`` with a warning: a page run in place (``pytest --nbval book/width.ipynb``, Jupyter)
    never rewrites the book's findings; only ``book/pipeline.py build`` does.
    """
    env = os.environ.get(FINDINGS_ENV, "").strip()
    if env:
        return Path(env)
    if path is None or not str(path).strip():
        return None
    target = Path(path).expanduser()
    if target.resolve().parent == BOOK_FINDINGS.resolve():
        import warnings

        warnings.warn(f"findings not written to {target}: book/findings/ is written only by "
                      "`book/pipeline.py build` (rerun a page with `book/pipeline.py run`)", UserWarning, stacklevel=3)
        return None
    return target

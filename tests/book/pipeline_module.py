"""``book/pipeline.py`` loaded as a module (it is a script beside the book, not part of the package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_pipeline() -> ModuleType:
    """The pipeline module, loaded once per process."""
    if "book_pipeline" in sys.modules:
        return sys.modules["book_pipeline"]
    spec = importlib.util.spec_from_file_location("book_pipeline", ROOT / "book" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["book_pipeline"] = module
    spec.loader.exec_module(module)
    return module

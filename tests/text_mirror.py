"""Where the tests find the offline text corpora: ``$CCA_CORE_DATA_DIR``, else ``../shared/data`` next
to the checkout; a folder counts only when it holds every corpus file the loaders check
(:data:`cca_core.experiments.training.text.SHA256`)."""

from __future__ import annotations

import os
from pathlib import Path

from cca_core.experiments.training.text import SHA256


def find_text_mirror() -> Path | None:
    """The data folder holding every corpus file, or ``None`` (tests that need it skip)."""
    env = os.environ.get("CCA_CORE_DATA_DIR", "").strip()
    for folder in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if all((folder / rel).is_file() for rel in SHA256):
            return folder
    return None


#: The folder found when the tests were collected.
MIRROR: Path | None = find_text_mirror()

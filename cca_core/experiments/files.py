"""Atomic file writes that honour the user's umask: the training cache, findings and the book's pages.

One writer for all three (the training cache had its own copy, whose :func:`tempfile.mkstemp` gave
mode 0600 whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` atomically, with the mode a plain ``open(path, "wb")`` gives.

    The data go to a temporary file beside ``path`` (created with mode 0666 less the umask, as
    ``open`` creates files), which is flushed, fsynced and :func:`os.replace`-d onto ``path``. On any
    error, including ``KeyboardInterrupt``, the temporary file is removed and ``path`` is untouched.
    Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"could not create a temporary file beside {path}")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise

"""Atomic writes: cca_core.experiments.files.atomic_write (the mode open() gives), the one writer of the
training cache, findings and pages, leaves nothing behind on failure."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cca_core.experiments.files import atomic_write
from cca_core.experiments.training import cache


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_atomic_write_leaves_nothing_on_failure(tmp_path, error):
    write = atomic_write
    target = tmp_path / "page.json"

    def failing(f):
        f.write(b"partial")
        raise error("boom")

    with pytest.raises(error):
        write(target, failing)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(error):
        write(target, failing)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_honours_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "sub" / "a.txt", lambda f: f.write(b"x"))
        (tmp_path / "plain.txt").write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "sub" / "a.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode  # as open() does


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_a_checkpoint_file_is_never_half_written(tmp_path, monkeypatch, error):
    """save_checkpoints goes through atomic_write: a failure while the arrays are written leaves no file."""
    target = tmp_path / "lm-key.npz"

    def failing_savez(f, **arrays):
        f.write(b"PK partial")
        raise error("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(error):
        cache.save_checkpoints(target, {0: [np.zeros(3)]}, {"config": {}})
    assert list(tmp_path.iterdir()) == []

"""Importing cca_core and cca_core.experiments must not import TensorFlow (or matplotlib)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_is_light():
    proc = _run("import cca_core, cca_core.experiments, sys; "
                "assert 'tensorflow' not in sys.modules; assert 'keras' not in sys.modules; "
                "assert 'matplotlib' not in sys.modules; assert 'sklearn' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_config_and_key_do_not_import_tensorflow():
    proc = _run("import sys; from cca_core.experiments import TrainConfig, cache_key, train_many, "
                "get_activations, build_cnn, load_dataset, errorbar_by_group; "
                "cache_key(TrainConfig()); assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
                "assert 'matplotlib' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_lazy_exports_resolve():
    import cca_core.experiments as ex

    for name in ex.__all__:
        assert getattr(ex, name) is not None
    assert "train" in dir(ex)
    try:
        ex.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")

"""google/svcca's tutorial 002 (conv layers), run on cca_core: examples/tutorial_002_conv_layers.py."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

import reference

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tutorial_002_conv_layers.py"


def test_tutorial_002_runs_unchanged_but_for_imports(monkeypatch, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    matplotlib.use("Agg")
    monkeypatch.setenv("CCA_CORE_TUTORIAL_IMAGES", "120")
    ns = runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "(120, 16, 16, 64) (120, 16, 16, 64)" in out
    assert "(30720, 64) (30720, 64)" in out
    assert "shape of second conv (120, 8, 8, 64)" in out
    assert "new shape (120, 16, 16, 64)" in out

    # no channel is constant, so epsilon=1e-10 drops nothing and the numbers are plain CCA's
    for name in ("f_acts1", "f_pool2", "avg_acts1", "avg_pool2"):
        assert np.all(np.asarray(ns[name], dtype=np.float64).std(axis=0) > 1e-3), name
    ref = reference.cca_correlations(ns["f_acts1"][::5], ns["f_pool2"][::5])
    np.testing.assert_allclose(ns["f_results"]["cca_coef1"], ref, rtol=0, atol=1e-6)
    ref_avg = reference.cca_correlations(ns["avg_acts1"], ns["avg_pool2"])
    np.testing.assert_allclose(ns["a_results"]["cca_coef1"], ref_avg, rtol=0, atol=1e-6)

    # the DFT section: google's per-location table pooled is dft_cca's pooled
    table, dft_sizes = ns["table"], ns["dft_sizes"]
    assert len(table) == 8 * 8 and dft_sizes.size == (8, 8)
    pooled = np.sort(np.concatenate(table["cca_coef1"].to_numpy()))[::-1]
    np.testing.assert_allclose(pooled, dft_sizes.pooled, rtol=0, atol=1e-10)
    assert 0.0 < ns["dft_same"].mean < 1.0

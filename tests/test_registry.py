"""The registry of measures (cca_core.measures.REGISTRY): every measure once, with what the engine,
the statistics and the experiments read from it, checked against the public functions and the engine."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import cca_core
from cca_core import Moments, pairwise
from cca_core.measures import FAMILIES, MEASURES, REGISTRY, get_measure, lookup, measure_names

#: A valid value of every option a measure takes.
SAMPLE_OPTIONS = {"squared": True, "rtol": 1e-9, "center": True, "keep": 3, "threshold": 0.6, "alpha": 0.5}


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)) + 1.0
    y = x[:, :4] @ rng.standard_normal((4, 5)) + 0.5 * rng.standard_normal((n, 5))
    return x, y


def test_every_public_similarity_is_registered_once_with_its_distance():
    assert list(REGISTRY) == list(MEASURES)
    for name, m in REGISTRY.items():
        assert m.name == name
        assert m.function is getattr(cca_core.measures, name) is get_measure(name) is MEASURES[name]
        assert m.distance is getattr(cca_core.measures, f"{name}_distance")
        if hasattr(cca_core, name):
            assert getattr(cca_core, name) is m.function
    x, y = _data()
    for m in REGISTRY.values():
        assert m.distance(x, y) == pytest.approx(1.0 - m.function(x, y), abs=1e-15)


def test_options_are_the_keyword_arguments_and_pairwise_takes_exactly_them():
    x, y = _data()
    for name, m in REGISTRY.items():
        params = list(inspect.signature(m.function).parameters)
        assert params[:2] == ["X", "Y"] and m.options == tuple(params[2:])
        kwargs = {k: SAMPLE_OPTIONS[k] for k in m.options}
        res = pairwise([x, y, x[:, ::-1]], name, progress=False, **kwargs)
        assert res.values[0, 1] == pytest.approx(m.function(x, y, **kwargs), abs=1e-9)
        unknown = next(k for k in SAMPLE_OPTIONS if k not in m.options)
        with pytest.raises(TypeError, match=f"got unexpected {unknown}"):
            pairwise([x, y], name, progress=False, **{unknown: SAMPLE_OPTIONS[unknown]})


def test_families_partition_the_measures():
    assert measure_names("cca") == ("mean_cca", "svcca", "pwcca")
    assert measure_names("cka") == ("linear_cka", "debiased_linear_cka", "rbf_cka")
    assert measure_names("shape") == ("procrustes_similarity", "shape_similarity")
    assert sorted(sum((measure_names(f) for f in FAMILIES), ())) == sorted(REGISTRY) == sorted(measure_names())
    with pytest.raises(ValueError, match="family must be one of cca, cka, shape"):
        measure_names("kernel")


def test_cca_family_is_invariant_to_invertible_maps_of_y_and_cka_is_not():
    """What the families mean: the CCA family (canonical correlations of whitened data) does not see an
    invertible linear map of Y; CKA and the shape metrics (orthogonal invariance only) do."""
    x, y = _data(seed=3)
    a = np.random.default_rng(4).standard_normal((5, 5)) + 3 * np.eye(5)
    for name in ("mean_cca", "pwcca"):
        assert MEASURES[name](x, y @ a) == pytest.approx(MEASURES[name](x, y), abs=1e-10)
    for name in ("linear_cka", "procrustes_similarity"):
        assert abs(MEASURES[name](x, y @ a) - MEASURES[name](x, y)) > 1e-3


def test_resampled_moments_are_moments_methods_giving_the_same_value():
    x, y = _data(seed=1)
    names = measure_names(resampled_moments=True)
    assert names == ("mean_cca", "svcca", "pwcca", "linear_cka")
    m = Moments.from_arrays(x, y)
    for name in names:
        assert getattr(m, name)() == pytest.approx(MEASURES[name](x, y), abs=1e-12)
    assert set(measure_names(resampled_moments=False)) == set(REGISTRY) - set(names)


@pytest.mark.parametrize("bad", ["cka", "PWCCA", 3, None])
def test_unknown_names_list_the_known_ones(bad):
    for call in (lookup, get_measure):
        with pytest.raises(ValueError, match=r"unknown measure .*; known measures: mean_cca, svcca, pwcca, "):
            call(bad)
    with pytest.raises(ValueError, match="unknown measure"):
        pairwise(list(_data()), bad, progress=False)

"""The invariance table, checked both ways.

``PROMISES`` says, for each measure, which transformations its docstring (cca_core/measures.py)
promises to leave it unchanged. Every cell is a test: a promised invariance must hold within 1e-9,
and one not promised must visibly fail (a change > 1e-3) on data chosen to show it (anisotropic,
partially correlated neurons; a strongly non-orthogonal invertible map), so that the table cannot
silently be more generous or more modest than the code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import cca_core

# Each transformation maps (X, Y, rng) to the transformed pair. "both" sides where the measure
# should not care which side it is; _x / _y columns where a measure treats the sides differently.


def _translation(x, y, rng):
    return x + rng.normal(0.0, 10.0, x.shape[1]), y - rng.normal(0.0, 10.0, y.shape[1])


def _isotropic_scale(x, y, rng):
    return 3.7 * x, 0.02 * y


def _orthogonal(z, rng):
    return z @ ortho_group.rvs(z.shape[1], random_state=rng)


def _invertible(z, rng):
    """A strongly non-orthogonal, still well-conditioned (condition number 10) invertible map."""
    d = z.shape[1]
    a = ortho_group.rvs(d, random_state=rng) @ np.diag(np.geomspace(0.3, 3.0, d)) @ \
        ortho_group.rvs(d, random_state=rng)
    return z @ a


def _permutation(x, y, rng):
    return x[:, rng.permutation(x.shape[1])], y[:, rng.permutation(y.shape[1])]


TRANSFORMS = {
    "translation": _translation,
    "isotropic_scale": _isotropic_scale,
    "orthogonal_x": lambda x, y, rng: (_orthogonal(x, rng), y),
    "orthogonal_y": lambda x, y, rng: (x, _orthogonal(y, rng)),
    "invertible_linear_x": lambda x, y, rng: (_invertible(x, rng), y),
    "invertible_linear_y": lambda x, y, rng: (x, _invertible(y, rng)),
    "permutation": _permutation,
    "symmetry": lambda x, y, rng: (y, x),
}

MEASURES = {
    "mean_cca": cca_core.mean_cca,
    "mean_cca_uncentred": lambda x, y: cca_core.mean_cca(x, y, center=False),
    "svcca": cca_core.svcca,
    "pwcca": cca_core.pwcca,
    "linear_cka": cca_core.linear_cka,
    "debiased_linear_cka": cca_core.debiased_linear_cka,
    "rbf_cka": cca_core.rbf_cka,
}

Y_, N_ = True, False
# What each docstring promises.         transl  iso   orth_x orth_y inv_x  inv_y  perm   swap
_TABLE = {
    "mean_cca":                         (Y_,    Y_,   Y_,    Y_,    Y_,    Y_,    Y_,    Y_),
    "mean_cca_uncentred":               (N_,    Y_,   Y_,    Y_,    Y_,    Y_,    Y_,    Y_),
    "svcca":                            (Y_,    Y_,   Y_,    Y_,    N_,    N_,    Y_,    Y_),
    "pwcca":                            (Y_,    Y_,   N_,    Y_,    N_,    Y_,    Y_,    N_),
    "linear_cka":                       (Y_,    Y_,   Y_,    Y_,    N_,    N_,    Y_,    Y_),
    "debiased_linear_cka":              (Y_,    Y_,   Y_,    Y_,    N_,    N_,    Y_,    Y_),
    "rbf_cka":                          (Y_,    Y_,   Y_,    Y_,    N_,    N_,    Y_,    Y_),
}
PROMISES = {m: dict(zip(TRANSFORMS, row)) for m, row in _TABLE.items()}

SEEDS = [0, 1, 2]
PROMISED_TOL = 1e-9
BROKEN_MIN = 1e-4  # far above rounding (promised cells agree to ~1e-13)


def invariance_data(seed: int, n: int = 200, dx: int = 10, dy: int = 12):
    """Partially correlated X, Y with anisotropic neurons along rotated directions."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, dx)) * np.geomspace(0.1, 3.0, dx)) @ \
        ortho_group.rvs(dx, random_state=rng) + rng.normal(0.0, 2.0, dx)
    y = 0.4 * x @ rng.standard_normal((dx, dy)) + \
        rng.standard_normal((n, dy)) * np.geomspace(0.1, 2.0, dy) + rng.normal(0.0, 2.0, dy)
    return x, y


def test_table_is_complete():
    assert set(PROMISES) == set(MEASURES)
    assert all(set(row) == set(TRANSFORMS) for row in PROMISES.values())


def _cells():
    for measure, row in PROMISES.items():
        for transform, promised in row.items():
            for seed in SEEDS:
                yield pytest.param(measure, transform, promised, seed,
                                   id=f"{measure}-{transform}-{'promised' if promised else 'not'}-{seed}")


@pytest.mark.parametrize("measure, transform, promised, seed", list(_cells()))
def test_invariance_table(measure, transform, promised, seed):
    x, y = invariance_data(seed)
    rng = np.random.default_rng(1000 + seed)
    x2, y2 = TRANSFORMS[transform](x, y, rng)
    f = MEASURES[measure]
    before, after = f(x, y), f(x2, y2)
    if promised:
        assert abs(after - before) < PROMISED_TOL, (before, after)
    else:
        assert abs(after - before) > BROKEN_MIN, (before, after)


@pytest.mark.parametrize("seed", SEEDS)
def test_pwcca_invariant_to_signed_permutations_of_x(seed):
    # What pwcca really is invariant to on X's side: maps that keep the L1 norm, i.e. permutations
    # and sign flips of neurons (with isotropic scaling).
    x, y = invariance_data(seed)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=x.shape[1])
    x2 = 2.5 * (x * signs)[:, rng.permutation(x.shape[1])]
    assert abs(cca_core.pwcca(x2, y) - cca_core.pwcca(x, y)) < PROMISED_TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_combined_promised_transformations(seed):
    # Everything promised to every measure at once on both sides: translation, scale, rotation.
    x, y = invariance_data(seed)
    rng = np.random.default_rng(seed)
    x2 = 0.3 * x @ ortho_group.rvs(x.shape[1], random_state=rng) - 7.0
    y2 = 40.0 * y @ ortho_group.rvs(y.shape[1], random_state=rng) + 1e3
    for name in ("mean_cca", "svcca", "linear_cka", "debiased_linear_cka", "rbf_cka"):
        f = MEASURES[name]
        assert abs(f(x2, y2) - f(x, y)) < PROMISED_TOL, name
    assert abs(cca_core.pwcca(x, y2) - cca_core.pwcca(x, y)) < PROMISED_TOL

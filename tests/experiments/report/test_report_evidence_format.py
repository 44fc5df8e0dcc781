"""Evidence as text: the default goes through the one formatter (cca_core.experiments.numbers), an
explicit spec is Python's format of each number, and neither ever writes a negative zero.

Property-style, over many random values and intervals of every magnitude (seeded)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cca_core.experiments.evidence import Evidence
from cca_core.experiments.numbers import format_estimate, format_number, format_spec

SPECS = [".2f", ".3f", ".0f", ".1f", ".2e", ".2%", "+.2f", "8.3f", ".3g", "g", ",.1f"]
_LINE = re.compile(r"^(?P<est>.*) \[(?P<lo>.*), (?P<hi>.*)\]$")


def _value(token: str) -> float:
    return float(token.strip().replace(",", "").rstrip("%"))


def _random_evidence(rng: np.random.Generator) -> Evidence:
    scale = 10.0 ** rng.integers(-7, 7)
    centre = rng.normal() * scale * rng.choice([0, 1, 1, 1])  # a quarter centred on zero
    half = abs(rng.normal()) * scale * rng.choice([0.001, 0.1, 1, 10])
    lo, hi = centre - half, centre + half
    est = float(np.clip(centre + rng.normal() * half / 3, lo, hi))
    return Evidence("x", est, (float(lo), float(hi)))


def _no_negative_zero(text: str) -> bool:
    tokens = re.findall(r"[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?%?", text)
    return all(not (t.startswith("-") and _value(t) == 0) for t in tokens)


def test_default_format_is_the_one_formatter_and_never_a_negative_zero():
    rng = np.random.default_rng(17)
    for _ in range(3000):
        ev = _random_evidence(rng)
        text = f"{ev}"
        assert text == format_estimate(ev.estimate, *ev.interval) == str(ev) == format(ev, "")
        assert _no_negative_zero(text), text
        assert ev.summary().startswith(f"x: {text} (95%)")


@pytest.mark.parametrize("value", [-0.0, -1e-12, -0.0004, -4e-4, -0.00049])
def test_values_near_zero_are_never_written_negative(value):
    e = Evidence("x", value, (value - 1e-4, 1e-4))
    assert not f"{e}".startswith("-0 ") and _no_negative_zero(f"{e}")
    for spec in SPECS:
        assert _no_negative_zero(f"{e:{spec}}"), (spec, f"{e:{spec}}")
    assert f"{Evidence('x', value):.2f}" == "0.00"
    assert f"{Evidence('x', value):+.2f}" == "+0.00"
    assert f"{Evidence('x', value):.1%}" == "0.0%"


@pytest.mark.parametrize("spec", SPECS)
def test_explicit_spec_is_pythons_format_of_each_number_without_negative_zero(spec):
    rng = np.random.default_rng(len(spec))
    for _ in range(1000):
        ev = _random_evidence(rng)
        m = _LINE.match(f"{ev:{spec}}")
        assert m, f"{ev:{spec}}"
        for token, value in zip(m.group("est", "lo", "hi"), (ev.estimate, *ev.interval)):
            python = format(value, spec)
            assert _value(token) == _value(python)  # the same number as Python writes it
            if _value(python) != 0:
                assert token == python
            else:
                assert not token.strip().startswith("-"), (spec, value, token)
                assert token.strip().lstrip("+") == python.strip().lstrip("+-")  # the same digits, unsigned
                assert len(token) == len(python) - (python.startswith("-") and "+" not in spec)  # width kept


def test_without_an_interval_or_exact_the_estimate_alone():
    assert f"{Evidence('x', 0.0123)}" == format_number(0.0123) == "0.0123"
    assert f"{Evidence('x', 0.5):.2f}" == "0.50"
    point = Evidence.point("diff", -3e-9, why="closed form")
    assert f"{point}" == format_number(-3e-9) == "-3.00e-09"
    assert f"{point:.3f}" == "0.000"
    assert f"{Evidence('x', float('nan'))}" == "nan" and f"{Evidence('x', float('inf')):.2f}" == "inf"


def test_format_spec_refuses_what_is_not_a_number():
    with pytest.raises(TypeError, match="real number"):
        format_spec("0.1", ".2f")
    with pytest.raises(ValueError):
        format_spec(0.1, "d")

"""The one number formatter (cca_core.experiments.numbers), by its properties.

hypothesis is not in the project's environment, so the properties run over a fixed random sample of
intervals at every magnitude and sign (and over hand-picked edge cases); each formatted number is read
back with float() and compared with the true value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from cca_core.experiments.numbers import (decimals_for, format_count, format_decimals, format_estimate,
                                                 format_list, format_number, format_p, format_sizes,
                                                 format_threshold, plural)

_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?(?:e[-+][0-9]+)?")


def _triples() -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(17)
    out = []
    for _ in range(400):
        scale = 10.0 ** rng.uniform(-12, 8)
        centre = rng.normal() * scale * rng.choice([0.0, 0.1, 1.0, 30.0])
        width = scale * 10.0 ** rng.uniform(-3, 1)
        lo = centre - rng.uniform(0, 1) * width
        hi = lo + width
        est = lo + rng.uniform(0, 1) * width
        out.append((float(est), float(lo), float(hi)))
    out += [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (-0.00027, -0.00507, 6.6e-06), (2.27e-05, -0.000339, 4.16e-05),
            (0.007, -0.008, 0.022), (-0.0004, -0.0004, 0.0), (9.5e-14, 9.5e-14, 9.5e-14), (1380.0, 1300.0, 1450.0),
            (0.5, 0.4999999, 0.5000001), (-0.0, -0.001, 0.001), (0.98, 0.97, 1.0), (123456789.0, 1e8, 2e8)]
    return out


def _read(text: str) -> list[float]:
    numbers = _NUMBER.findall(text.replace("%", ""))
    return [float(n.replace(",", "")) for n in numbers]


@pytest.mark.parametrize("est,lo,hi", _triples())
def test_estimate_lies_in_its_interval_and_differing_ends_stay_apart(est, lo, hi):
    text = format_estimate(est, lo, hi)
    assert re.fullmatch(r"\S+ \[\S+, \S+\]", text), text
    e, a, b = _read(text)
    assert a <= e <= b, text
    if lo < hi:
        assert a < b, f"{text}: ends {lo!r} and {hi!r} differ but are written alike"
    # each written number is the true one rounded at the line's resolution (half a unit of the last place)
    mantissas = [m for m in _NUMBER.findall(text)]
    for written, true in zip(mantissas, (est, lo, hi)):
        if "e" in written:
            digits, exponent = written.split("e")
            last = 10.0 ** (int(exponent) - len(digits.split(".")[1]) if "." in digits else int(exponent))
        else:
            part = written.split(".")
            last = 10.0 ** -len(part[1]) if len(part) == 2 else 10.0 ** (len(part[0].replace(",", "").lstrip("-"))
                                                                         - len(part[0].replace(",", "").lstrip("-").rstrip("0")))
        assert abs(float(written.replace(",", "")) - true) <= 0.5 * last * (1 + 1e-9) + 1e-300, (text, written, true)


@pytest.mark.parametrize("est,lo,hi", _triples())
def test_no_negative_zero_and_no_mix_of_notations(est, lo, hi):
    for text in (format_estimate(est, lo, hi), format_estimate(est, lo, hi, percent=True), format_number(est),
                 format_decimals(est, 3), format_threshold(est)):
        for n in _NUMBER.findall(text):
            assert not (n.startswith("-") and float(n.replace(",", "")) == 0), f"negative zero in {text!r}"
    text = format_estimate(est, lo, hi)
    kinds = {"e" in n for n in _NUMBER.findall(text)}
    assert len(kinds) == 1, f"fixed and scientific notation mixed in {text!r}"


@pytest.mark.parametrize("low,high,decimals", [(0.30, 0.45, 2), (-0.008, 0.022, 3), (1300, 1450, -1), (0.0, 0.68, 2),
                                               (0.5, 0.5, None), (0.0, 1e-5, 6)])
def test_decimals_follow_the_interval_width(low, high, decimals):
    assert decimals_for(low, high) == decimals


@pytest.mark.parametrize("args,text", [
    ((0.38, 0.30, 0.45), "0.38 [0.30, 0.45]"),
    ((0.007, -0.008, 0.022), "0.007 [-0.008, 0.022]"),
    ((-0.00027, -0.00507, 6.6e-06), "-0.0003 [-0.0051, 0.0000]"),   # was "-0.000 [-0.005, 0.000]"
    ((2.27e-05, -0.000339, 4.16e-05), "0.00002 [-0.00034, 0.00004]"),  # was "2.27e-05 [-0.000339, 4.16e-05]"
    ((1380.0, 1300.0, 1450.0), "1,380 [1,300, 1,450]"),
    ((9.517e-14, 9.517e-14, 9.517e-14), "9.52e-14 [9.52e-14, 9.52e-14]"),
    ((1.0, 1.0, 1.0), "1.00 [1.00, 1.00]"),
    ((0.0, 0.0, 0.0), "0 [0, 0]"),
])
def test_examples(args, text):
    assert format_estimate(*args) == text


def test_percent_and_alone():
    assert format_estimate(0.3142857, 0.0, 0.6778, percent=True) == "31% [0%, 68%]"
    assert format_estimate(0.35) == "0.350" and format_estimate(float("nan"), 0.1, 0.2) == "-"
    assert format_number(1797) == "1,797" and format_number(-0.0) == "0.00" and format_number(-1e-20) == "-1.00e-20"
    assert format_number(float("nan")) == "-" and format_number(float("inf")) == "inf"
    assert format_decimals(-0.0004, 3) == "0.000" and format_decimals(1234.5, 1) == "1,234.5"
    assert format_threshold(0.1) == "0.1" and format_threshold(-0.0) == "0" and format_threshold(1e-6) == "1e-06"
    assert format_p(0.14427, 0.004975) == "p = 0.14 (smallest possible 0.0050)" and format_p(0.05) == "p = 0.050"


@pytest.mark.parametrize("bad,match", [((0.5, 0.6, 0.4), "low <= high"), ((0.5, 0.4, None), "both ends"),
                                       (("0.5", 0.4, 0.6), "real number"), ((True, 0.4, 0.6), "real number")])
def test_bad_input_is_refused(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        format_estimate(*bad)


@pytest.mark.parametrize("n,noun,text", [(1, "draw", "1 draw"), (2, "draw", "2 draws"), (0, "epoch", "0 epochs"),
                                         (1797, "datapoint", "1,797 datapoints"), (1, "pass", "1 pass"),
                                         (3, "pass", "3 passes"), (1.0, "network", "1 network")])
def test_plurals(n, noun, text):
    assert plural(n, noun) == text


def test_counts_lists_and_sizes():
    assert format_list([1, 5]) == "1, 5" and format_list([1, 5, 10], "and") == "1, 5 and 10"
    assert format_list(["relu_1"]) == "relu_1"
    assert format_sizes({"networks": [5, 5], "pairs": 20, "trained_checkpoints": 1}) == \
        "5 + 5 networks, 20 pairs, 1 trained checkpoint"
    assert format_sizes({"draws": 1}) == "1 draw" and format_sizes({}) == ""
    assert format_count(1797.0) == "1,797"
    with pytest.raises(ValueError, match="whole number"):
        format_count(2.5)
    assert math.isclose(float(format_number(0.123456, 6)), 0.123456)

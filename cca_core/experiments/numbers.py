"""Numbers written for people: the one formatter of every findings table, page and the scorecard.

A base module of the experiments (below the verdicts and the report, importing neither), so that the
evidence record (:class:`~cca_core.experiments.evidence.Evidence`), the verdicts' statements and the
report's tables all write numbers the same way.

Rules
    - An estimate with its interval is written with as many decimals as the interval's width needs:
      the width to two significant digits, so that interval ends that differ are written differently
      and the estimate, rounded the same way, lies between its rounded ends
      (``0.38 [0.30, 0.45]``, ``0.007 [-0.008, 0.022]``, ``1,380 [1,300, 1,450]``).
    - An interval of zero width, or a number alone, gets three significant digits (``0.350``,
      ``9.52e-14``); scientific notation only below 1e-4 or from 1e6 on, and then for every number of
      the line, never a mix of the two.
    - Never a negative zero (``-0.000`` is written ``0.000``); thousands are grouped (``1,797``).
    - Counts take their noun in the right number (``1 draw``, ``2 draws``, ``1,797 datapoints``) and
      lists are written as lists (``1, 5``, not ``[1, 5]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

__all__ = ["decimals_for", "format_number", "format_decimals", "format_threshold", "format_estimate", "format_interval",
           "format_spec", "format_p", "format_count", "plural", "format_list", "format_sizes"]

#: Below this magnitude, or from SCIENTIFIC_HIGH on, numbers are written in scientific notation.
SCIENTIFIC_LOW = 1e-4
SCIENTIFIC_HIGH = 1e6
#: Most decimals written in fixed notation; a narrower interval is written in scientific notation.
MAX_DECIMALS = 10
#: Nouns whose singular is not the plural less its final "s".
_SINGULAR = {"pairs of networks": "pair of networks", "series": "series", "indices": "index"}


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def decimals_for(low: float, high: float) -> int | None:
    """Decimals that write the width ``high - low`` to two significant digits (negative: round to
    tens, hundreds, ...); None for a width of zero (or not finite).

    ``decimals_for(0.30, 0.45) == 2``, ``decimals_for(-0.008, 0.022) == 3``, ``decimals_for(1300, 1450) == -1``.
    """
    width = _real("high", high) - _real("low", low)
    if not math.isfinite(width) or width <= 0:
        return None
    return 1 - math.floor(math.log10(width))


def _unsigned_zero(text: str) -> str:
    if text.startswith("-") and not any(c in "123456789" for c in text.split("e")[0]):
        return text[1:]
    return text


def _fixed(value: float, decimals: int) -> str:
    if decimals < 0:
        value = round(value, decimals)
        decimals = 0
    return _unsigned_zero(f"{value:,.{decimals}f}")


def _scientific(value: float, digits: int) -> str:
    return _unsigned_zero(f"{value:.{max(digits, 1) - 1}e}")


def _significant_decimals(value: float, digits: int = 3) -> int:
    if value == 0:
        return digits - 1
    return digits - 1 - math.floor(math.log10(abs(value)))


def format_number(value: Any, digits: int = 3) -> str:
    """One number: an integer as it is, grouped (``1,797``); a float to ``digits`` significant digits
    (``0.350``, ``1,380``, ``9.52e-14``); ``nan`` as ``"-"``, infinities as ``inf``/``-inf``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    x = _real("value", value)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and not SCIENTIFIC_LOW <= abs(x) < SCIENTIFIC_HIGH:
        return _scientific(x, digits)
    return _fixed(x, max(0, _significant_decimals(x, digits)))


def format_threshold(value: Any) -> str:
    """A rule's threshold as it was stated: shortest form, no trailing zeros (``0.1``, ``0.05``,
    ``1e-06``), never a negative zero."""
    x = _real("value", value)
    return _unsigned_zero(f"{x:g}") if math.isfinite(x) else format_number(x)


def format_decimals(value: Any, decimals: int) -> str:
    """A number with a fixed number of decimals, grouped by thousands, never a negative zero
    (``nan``: ``"-"``); for tables whose columns share their decimals."""
    x = _real("value", value)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return _fixed(x, int(decimals))


def format_estimate(estimate: Any, low: Any = None, high: Any = None, *, percent: bool = False) -> str:
    """``"0.38 [0.30, 0.45]"``: an estimate and its interval, with the decimals the interval's width
    needs (:func:`decimals_for`); the estimate alone (:func:`format_number`) without an interval.

    Parameters
    ----------
    estimate : float
    low, high : float, optional
        The interval, ``low <= high``; both or neither.
    percent : bool
        Write fractions as percentages (``0.31 [0.0, 0.68]`` becomes ``31% [0%, 68%]``).

    Raises
    ------
    ValueError
        Only one end is given, or ``low > high``.
    TypeError
        A value is not a real number.
    """
    if (low is None) != (high is None):
        raise ValueError(f"format_estimate needs both ends of the interval or neither, got low={low!r}, high={high!r}")
    scale, unit = (100.0, "%") if percent else (1.0, "")
    est = _real("estimate", estimate) * scale
    if low is None or math.isnan(est):
        return format_number(est) + (unit if math.isfinite(est) else "")
    lo, hi = _real("low", low) * scale, _real("high", high) * scale
    if not lo <= hi:
        raise ValueError(f"format_estimate needs low <= high, got [{low!r}, {high!r}]")
    values = (est, lo, hi)
    if not all(math.isfinite(v) for v in values):
        return f"{format_number(est)}{unit} [{format_number(lo)}{unit}, {format_number(hi)}{unit}]"
    decimals = decimals_for(lo, hi)
    biggest = max(abs(v) for v in values)
    if biggest == 0:
        return f"0{unit} [0{unit}, 0{unit}]"
    if decimals is None:  # zero width: three significant digits of the largest
        decimals = _significant_decimals(biggest)
    if not SCIENTIFIC_LOW <= biggest < SCIENTIFIC_HIGH or decimals > MAX_DECIMALS:
        # every number of the line in scientific notation, at the interval's resolution
        exponent = math.floor(math.log10(biggest))
        digits = min(max(exponent + decimals + 1, 2), 15)
        text = [_scientific(v, digits) for v in values]
    else:
        text = [_fixed(v, decimals) for v in values]
    return f"{text[0]}{unit} [{text[1]}{unit}, {text[2]}{unit}]"


def format_interval(low: Any, high: Any) -> str:
    """``"[0.30, 0.45]"``: an interval alone, its ends written as :func:`format_estimate` writes them
    (the decimals its width needs, never a negative zero).

    Raises
    ------
    ValueError
        ``low > high``.
    """
    text = format_estimate(low, low, high)
    return text[text.index(" [") + 1:]


def format_spec(value: Any, spec: str) -> str:
    """``format(value, spec)`` for an explicit format spec (``".2f"``, ``"+.1%"``, ``"8.3g"``), except
    that a number that rounds to zero is never written with a minus sign (``-0.001`` with ``".2f"``
    gives ``"0.00"``); ``nan`` and infinities as Python writes them.

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``spec`` is not a valid format spec for a float.
    """
    x = _real("value", value)
    text = format(x, spec)
    if not math.isfinite(x) or not (x < 0 or math.copysign(1.0, x) < 0):
        return text
    mantissa = text.lower().split("e")[0]
    if not any(c in "123456789" for c in mantissa.replace(" ", "")):
        return format(0.0, spec)
    return text


def format_p(p_value: Any, min_p_value: Any = None) -> str:
    """``"p = 0.14 (smallest possible 0.005)"``: a p-value to two significant digits, and the smallest
    p-value its test can give when that is known."""
    text = f"p = {format_number(_real('p_value', p_value), 2)}"
    if min_p_value is not None:
        text += f" (smallest possible {format_number(_real('min_p_value', min_p_value), 2)})"
    return text


def format_count(n: Any) -> str:
    """A count, grouped by thousands: ``1,797``. Floats with an integer value are accepted."""
    x = _real("n", n)
    if not x.is_integer():
        raise ValueError(f"a count must be a whole number, got {n!r}")
    return f"{int(x):,}"


def plural(n: Any, noun: str, plural_form: str | None = None) -> str:
    """``"1 draw"``, ``"2 draws"``, ``"1,797 datapoints"``: a count and its noun in the right number.

    ``noun`` is the singular; the plural is ``plural_form`` or the singular plus ``s`` (``es`` after
    s, x, z, sh; ``epoch`` gives ``epochs``, so give ``plural_form="batches"`` for ``batch``)."""
    count = format_count(n)
    if float(n) == 1:
        return f"{count} {noun}"
    if plural_form is None:
        plural_form = noun + ("es" if noun.endswith(("s", "x", "z", "sh")) else "s")
    return f"{count} {plural_form}"


def _singular(noun: str) -> str:
    if noun in _SINGULAR:
        return _SINGULAR[noun]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def format_list(values: Iterable[Any], conjunction: str | None = None) -> str:
    """``"1, 5"`` (or ``"1, 5 and 10"`` with ``conjunction="and"``): numbers through
    :func:`format_number`, anything else through ``str``."""
    items = [format_number(v) if isinstance(v, Real) and not isinstance(v, bool) else str(v) for v in values]
    if conjunction and len(items) > 1:
        return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
    return ", ".join(items)


def format_sizes(n: Mapping[str, Any]) -> str:
    """Sample sizes ``{"networks": [5, 5], "pairs": 20, "trained_checkpoints": 1}`` as
    ``"5 + 5 networks, 20 pairs, 1 trained checkpoint"`` (keys are plural nouns, ``_`` for spaces)."""
    parts = []
    for key, value in n.items():
        noun = key.replace("_", " ")
        values: Sequence[Any] = value if isinstance(value, (list, tuple)) else (value,)
        total = sum(float(v) for v in values)
        counts = " + ".join(format_count(v) for v in values)
        parts.append(f"{counts} {_singular(noun) if len(values) == 1 and total == 1 else noun}")
    return ", ".join(parts)

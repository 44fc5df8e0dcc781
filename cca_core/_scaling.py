"""Exact rescaling by powers of two, for measures invariant to scale whose formulas square the data.

CKA and the shape metrics do not change when a side is multiplied by a constant, but their formulas
square (or raise to the fourth or eighth power) the activations, which leaves float64 long before the
data do. Multiplying by a power of two changes no digit, so the data can first be brought to order
one. Scales within ``2**±64`` of 1 (:data:`SAFE_EXPONENT`) are left alone: even eighth powers stay far
inside float64 there, and ordinary data pay no extra pass. See :mod:`cca_core.cka`'s notes on scale.
"""

from __future__ import annotations

import numpy as np

from .validation import check_finite_values

__all__ = ["SAFE_EXPONENT", "largest_abs", "exponent", "pow2", "order_one", "safe_mean", "centred_exponent"]

#: Values whose power-of-two exponent is within ``±SAFE_EXPONENT`` are left at their scale.
SAFE_EXPONENT = 64


def largest_abs(x: np.ndarray) -> float:
    """``max |x|`` without an array-sized temporary; NaN when ``x`` has NaN (inf for Inf). ``x`` non-empty."""
    hi, lo = float(x.max()), float(x.min())
    return abs(hi) + abs(lo) if np.isnan(hi) or np.isnan(lo) else max(abs(hi), abs(lo))


def exponent(value: float) -> int:
    """``e`` with ``value * 2**-e`` in ``[0.5, 1)``; 0 for 0, non-finite values, or ``|e| <= SAFE_EXPONENT``."""
    if not (np.isfinite(value) and value > 0):
        return 0
    e = int(np.frexp(value)[1])
    return e if abs(e) > SAFE_EXPONENT else 0


def pow2(a: np.ndarray, k: int) -> np.ndarray:
    """``a * 2**k`` (exact), ``a`` itself for ``k = 0``."""
    return np.ldexp(a, k) if k else a


def order_one(a: np.ndarray) -> np.ndarray:
    """``a`` times a power of two (exact, float64) when its largest ``|value|`` lies outside ``2**±64``, else ``a``.

    The Gram blocks square the activations: without this, data beyond about ``1e±77`` would make
    ``tr Sxx tr Syy`` overflow or underflow and a similarity 0 or 1 without a word. NaN/Inf (and an
    empty ``a``) are left for the input gate to report.
    """
    if a.size == 0:
        return a
    k = exponent(largest_abs(a))
    return np.ldexp(np.asarray(a, dtype=np.float64), -k) if k else a


def safe_mean(x: np.ndarray, name: str = "X") -> np.ndarray:
    """Column means (float64) of finite ``x``; taken on ``x`` over a power of two when sums overflow.

    ``ValueError`` naming ``name`` (:func:`cca_core.validation.check_finite_values`) for NaN/Inf.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x.mean(axis=0, dtype=np.float64)
    if np.all(np.isfinite(mean)):
        return mean
    top = largest_abs(x)
    if not np.isfinite(top):
        check_finite_values(name, x, known_bad=True)
    k = int(np.frexp(top)[1])
    return np.ldexp(np.ldexp(np.asarray(x, dtype=np.float64), -k).mean(axis=0), k)


def centred_exponent(x: np.ndarray, step: int) -> tuple[np.ndarray, int]:
    """Column means of ``x`` ``(n, d)`` (float64) and ``k`` with ``max |x - mean| * 2**-k`` in ``[0.5, 1)``.

    ``step`` columns at a time (no copy of ``x``); the means are taken on the data divided by the
    power of two of their largest ``|value|``, so that they cannot overflow.
    """
    n, d = x.shape
    k0 = exponent(largest_abs(x))
    mean = np.empty(d)
    spread = 0.0
    for start in range(0, d, step):
        cols = slice(start, min(start + step, d))
        block = np.ldexp(np.asarray(x[:, cols], dtype=np.float64), -k0)
        m = block.mean(axis=0)
        block -= m
        spread = max(spread, float(block.max()), -float(block.min()))
        mean[cols] = np.ldexp(m, k0)
    return mean, (k0 + int(np.frexp(spread)[1]) if spread > 0 else 0)

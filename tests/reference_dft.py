"""Slow, independent references for DFT-CCA (cca_core.dft), written from the definitions.

* The DFT by explicit sums of ``x[p, q] exp(-2 pi i (k p / H + l q / W))`` over positions (no FFT),
  normalised by ``H W``, on the full shared ``(h, w)`` grid in ``numpy.fft`` order; the Nyquist bin
  of an even ``h`` smaller than ``H`` sums the two layer frequencies ``-h/2`` and ``+h/2`` (the set
  of aliases is enumerated, not folded after the fact).
* Complex CCA by QR of the centred complex data: with ``Zx = Qx Rx`` and ``Zy = Qy Ry``, the
  canonical correlations are the singular values of ``Qx^H Qy``.
* Complex CCA through its real embedding ``S = A + iB -> [[A, -B], [B, A]]`` as the generalized
  symmetric eigenproblem ``[[0, Sxy], [Syx, 0]] v = rho [[Sxx, 0], [0, Syy]] v``
  (``scipy.linalg.eigh``): every complex correlation appears twice among the positive eigenvalues.

Inputs are expected full rank per frequency (no rank truncation here).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _signed(m: int) -> list[int]:
    """DFT frequencies of an m-point grid in numpy.fft order: 0, 1, ..., then the negatives."""
    return [j if j < (m + 1) // 2 else j - m for j in range(m)]


def _aliases(k: int, small: int, large: int) -> list[int]:
    """Layer frequencies (on a ``large`` grid) that the shared-grid frequency ``k`` stands for."""
    if small % 2 == 0 and small < large and k == -small // 2:
        return [-small // 2, small // 2]
    return [k]


def dft2_direct(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised 2-D DFT coefficients of x (n, H, W, C) on the (h, w) grid: (n, h, w, C) complex."""
    n, height, width, c = x.shape
    h, w = size
    p = np.arange(height)
    q = np.arange(width)
    out = np.zeros((n, h, w, c), dtype=np.complex128)
    for i, k in enumerate(_signed(h)):
        for j, l in enumerate(_signed(w)):
            for kk in _aliases(k, h, height):
                for ll in _aliases(l, w, width):
                    phase = np.exp(-2j * np.pi * (kk * p[:, None] / height + ll * q[None, :] / width))
                    out[:, i, j, :] += np.einsum("npqc,pq->nc", x, phase) / (height * width)
    return out


def complex_cca_correlations(zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """Canonical correlations (descending) of complex data (n, dx), (n, dy): svd of Qx^H Qy."""
    qx, _ = np.linalg.qr(zx - zx.mean(axis=0))
    qy, _ = np.linalg.qr(zy - zy.mean(axis=0))
    return np.linalg.svd(qx.conj().T @ qy, compute_uv=False)


def _embed(s: np.ndarray) -> np.ndarray:
    return np.block([[s.real, -s.imag], [s.imag, s.real]])


def complex_cca_eigh(zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """The same correlations from the real embedding's generalized eigenproblem (scipy.linalg.eigh)."""
    zx = zx - zx.mean(axis=0)
    zy = zy - zy.mean(axis=0)
    n, dx = zx.shape
    dy = zy.shape[1]
    sxx = zx.T @ zx.conj() / (n - 1)  # E[x x^H]
    syy = zy.T @ zy.conj() / (n - 1)
    sxy = zx.T @ zy.conj() / (n - 1)
    exx, eyy, exy = _embed(sxx), _embed(syy), _embed(sxy)
    a = np.block([[np.zeros_like(exx), exy], [exy.T, np.zeros_like(eyy)]])
    b = scipy.linalg.block_diag(exx, eyy)
    evals = scipy.linalg.eigh(a, b, eigvals_only=True)[::-1]
    k = min(dx, dy)
    return evals[: 2 * k : 2]

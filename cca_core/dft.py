"""DFT-CCA: canonical correlations of two conv layers, one spatial frequency at a time.

Raghu et al. (2017, SVCCA), section "Scaling SVCCA for Convolutional Layers", Theorem 1: if the dataset
is circularly translation invariant (with every input it holds all its circular shifts), the
covariance of a conv layer's activations over (positions x channels) depends on positions only
through their difference, so the 2-D DFT over positions makes it block-diagonal: frequency ``k``
of one layer is correlated with frequency ``k`` of the other and with nothing else. CCA of the
flattened layers (``H*W*C`` neurons) then splits into one CCA per frequency, on the complex Hermitian
``C x C`` covariance blocks of the DFT coefficients, and the canonical correlations of the
flattened layers are those of all frequencies pooled. That costs ``H*W`` problems of ``C``
neurons instead of one of ``H*W*C``, and memory ``O(H*W*C**2)`` instead of ``O((H*W*C)**2)``.
On data that are not translation invariant the per-frequency correlations ignore correlations
between different frequencies (and the pseudo-covariance ``E[z z^T]``): an approximation.

Frequencies. A layer with ``H x W`` positions has normalised DFT coefficients
``c[k, l] = (1 / (H W)) sum_{p, q} x[p, q] exp(-2 pi i (k p / H + l q / W))``, ``k`` and ``l`` in
cycles per field of view (the same physical frequency for two layers that see the same input at
different strides). Two layers are compared on the shared ``size = (h, w)`` grid (default: the
smaller of the two sizes along each axis): the frequencies ``-h/2 < k < h/2`` and
``-w/2 < l < w/2``, plus, when ``h`` (``w``) is even, one Nyquist bin which in a layer larger than
``h`` holds ``c[-h/2] + c[h/2]``, the pair folded into one real-symmetric bin as in the smaller
layer. These are exactly the coefficients of the layer resampled to ``(h, w)`` by
``cca_core.resize_to(acts, (h, w), method="fft")`` (``scipy.signal.resample``), so the comparison on
shared frequencies equals DFT-CCA after band-limited resampling of the larger layer.

Only one frequency of each conjugate pair ``(k, l), (-k, -l)`` is computed (real input: the
coefficients, hence the correlations, of ``-k`` are the complex conjugates); it counts twice when
the correlations are pooled, a self-conjugate frequency (``2k = 0`` and ``2l = 0`` modulo the grid:
DC and Nyquist bins) once. Per frequency, the whitening is :func:`cca_core.canonical.whiten`'s
(eigendecomposition with rank truncation, Hermitian version), so rank-deficient, constant or
duplicated channels give finite correlations in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.fft
from scipy.linalg.blas import zherk as _herk

from ._threads import single_blas_thread
from .validation import check_conv_activations, warn_if_underdetermined
from .canonical import CONSTANT_RTOL, default_rtol, whiten
from .conv import _check_size

__all__ = ["DFTCCAResult", "dft_cca", "frequency_grid"]

#: Complex elements per chunk (32 MiB): a chunk's DFTs plus its frequency-major buffer.
CHUNK_ELEMENTS = 1 << 21


def frequency_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One frequency of each conjugate pair of the real ``(h, w)`` DFT grid, and its multiplicity.

    Parameters
    ----------
    size : (int, int)
        The grid ``(h, w)``.

    Returns
    -------
    frequencies : ndarray of int, shape (F, 2)
        Signed ``(k, l)`` in cycles per field of view: ``k`` as ``numpy.fft.fftfreq(h, 1 / h)``
        (so an even ``h``'s Nyquist is ``-h/2``), ``0 <= l <= w // 2`` as ``numpy.fft.rfftfreq``.
        Ordered by ``k``'s index in ``fftfreq`` order, then ``l``.
    multiplicity : ndarray of int, shape (F,)
        1 for a self-conjugate frequency (``(2k, 2l) = 0`` modulo ``(h, w)``), 2 for one that also
        stands for its conjugate ``(-k, -l)``. Sums to ``h * w``.
    """
    h, w = _check_size(size)
    signed_k = np.rint(np.fft.fftfreq(h, 1.0 / h)).astype(int)
    freqs, mult = [], []
    for ki in range(h):
        for l in range(w // 2 + 1):
            if l == 0 or 2 * l == w:  # the column holds both k and -k
                partner = (-ki) % h
                if partner < ki:
                    continue
                mult.append(1 if partner == ki else 2)
            else:
                mult.append(2)
            freqs.append((signed_k[ki], l))
    return np.array(freqs, dtype=int).reshape(-1, 2), np.array(mult, dtype=int)


def _spectrum(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised DFT coefficients of ``x`` (n, H, W, C) on the shared grid, spatial axes first:
    shape (h, w // 2 + 1, n, C), complex128.

    Frequencies as in the module docstring: ``|k| < h/2`` (``|l| < w/2``) and, for an even ``h``
    smaller than ``H``, the Nyquist bin ``c[-h/2] + c[h/2]`` (likewise along W). Spatial axes first
    makes each frequency's (n, C) block contiguous, as the per-frequency updates want it.
    """
    n, height, width, c = x.shape
    h, w = size
    wr = w // 2 + 1
    xt = np.empty((height, width, n, c))
    xt[...] = np.transpose(x, (1, 2, 0, 3))  # one copy: transpose and cast to float64
    spec = scipy.fft.rfft2(xt, axes=(0, 1), overwrite_x=True)[:, :wr]
    if w % 2 == 0 and w < width:
        # c[k, -w/2] is conj(c[-k, w/2]): fold it into the bin w/2 (before k is subsampled).
        spec[:, w // 2] += np.conj(spec[(-np.arange(height)) % height, w // 2])
    rows = np.rint(np.fft.fftfreq(h, 1.0 / h)).astype(int) % height
    out = spec[rows]
    if h % 2 == 0 and h < height:
        out[h // 2] += spec[h // 2]  # row h/2 of out holds -h/2; add +h/2
    out *= 1.0 / (height * width)
    return out


class _FrequencyMoments(NamedTuple):
    """Per-frequency count, means and centred scatter of ``[X^(k), Y^(k)]`` (see _frequency_moments)."""

    size: tuple[int, int]
    frequencies: np.ndarray  # (F, 2) signed
    multiplicity: np.ndarray  # (F,)
    count: int
    mean: np.ndarray  # (F, cx + cy) complex
    m2: np.ndarray  # (F, cx + cy, cx + cy) complex Hermitian: sum of (z - mean)(z - mean)^H
    n_x: int
    n_y: int


def _frequency_moments(acts1: np.ndarray, acts2: np.ndarray, size: tuple[int, int],
                       chunk_size: int | None = None) -> _FrequencyMoments:
    """One pass over the inputs in chunks: DFT, gather the shared frequencies, Hermitian rank-k updates.

    Each chunk's coefficients are shifted by the first chunk's mean and copied, frequency-major, into
    a buffer whose last column is 1, so that one ``zherk`` per frequency accumulates the Gram matrix,
    the column sums and the count (as :class:`cca_core.Moments` does for real data). Memory: the
    chunk's DFT plus ``F (C_x + C_y + 1)^2`` complex numbers, never a matrix over all positions.
    """
    freqs, mult = frequency_grid(size)
    h, w = size
    rows_idx = freqs[:, 0] % h
    cols_idx = freqs[:, 1]
    n = acts1.shape[0]
    cx, cy = acts1.shape[3], acts2.shape[3]
    d = cx + cy
    n_freq = freqs.shape[0]
    per_input = (acts1.shape[1] * (acts1.shape[2] // 2 + 1) * cx
                 + acts2.shape[1] * (acts2.shape[2] // 2 + 1) * cy + n_freq * (d + 1))
    step = int(min(chunk_size or max(16, CHUNK_ELEMENTS // per_input), n))
    buf = np.empty((n_freq, step, d + 1), dtype=np.complex128)
    buf[:, :, d] = 1.0
    grams = [np.zeros((d + 1, d + 1), dtype=np.complex128, order="F") for _ in range(n_freq)]
    shift = None
    for start in range(0, n, step):
        stop = min(start + step, n)
        z1 = _spectrum(acts1[start:stop], size)[rows_idx, cols_idx]  # (F, m, cx)
        z2 = _spectrum(acts2[start:stop], size)[rows_idx, cols_idx]
        if shift is None:
            shift = np.concatenate([z1.mean(axis=1), z2.mean(axis=1)], axis=1)  # (F, d)
        b = buf[:, : stop - start]
        np.subtract(z1, shift[:, None, :cx], out=b[:, :, :cx])
        np.subtract(z2, shift[:, None, cx:], out=b[:, :, cx:d])
        del z1, z2
        for f in range(n_freq):
            # b[f].T is Fortran-ordered (d+1, m): A A^H = sum over inputs of z z^H, upper triangle.
            grams[f] = _herk(1.0, b[f].T, beta=1.0, c=grams[f], trans=0, lower=0, overwrite_c=1)
    mean = np.empty((n_freq, d), dtype=np.complex128)
    m2 = np.empty((n_freq, d, d), dtype=np.complex128)
    for f in range(n_freq):
        g, grams[f] = grams[f], None  # freed as m2 fills: the two are never held whole together
        g = np.triu(g) + np.triu(g, 1).conj().T
        offset = g[:d, d] / n
        m2[f] = g[:d, :d] - n * np.outer(offset, offset.conj())
        mean[f] = shift[f] + offset
    return _FrequencyMoments(size, freqs, mult, n, mean, m2, cx, cy)


def _noise_floors(fm: _FrequencyMoments) -> tuple[float, float]:
    """Per side, the standard deviation below which a channel's coefficient counts as zero.

    :data:`~cca_core.canonical.CONSTANT_RTOL` times the side's largest standard deviation or
    ``|mean|`` over all frequencies and channels: a channel that does not vary at a frequency (a map
    constant over positions has no non-DC content) leaves only DFT rounding error there, which
    must not be whitened up to unit variance.
    """
    var = np.clip(np.diagonal(fm.m2, axis1=1, axis2=2).real, 0.0, None) / max(fm.count - 1, 1)
    std = np.sqrt(var)
    amp = np.abs(fm.mean)
    out = []
    for cols in (slice(0, fm.n_x), slice(fm.n_x, fm.n_x + fm.n_y)):
        out.append(CONSTANT_RTOL * max(float(std[:, cols].max()), float(amp[:, cols].max())))
    return out[0], out[1]


def _drop_below(cov: np.ndarray, floor: float) -> np.ndarray:
    """``cov`` with the rows and columns of channels whose std is ``<= floor`` set to 0."""
    low = np.sqrt(np.clip(np.diagonal(cov).real, 0.0, None)) <= floor
    if low.any():
        cov = cov.copy()
        cov[low, :] = 0.0
        cov[:, low] = 0.0
    return cov


def _blocks(fm: _FrequencyMoments, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariance blocks ``(Sxx, Sxy, Syy)`` (``ddof=1``) of frequency ``f``; ``Sxy = E[x y^H]``."""
    c = fm.m2[f] / (fm.count - 1)
    nx = fm.n_x
    return c[:nx, :nx], c[:nx, nx:], c[nx:, nx:]


def _complex_cca(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray, rtol: float
                 ) -> tuple[np.ndarray, int, int]:
    """Canonical correlations of a complex pair from Hermitian blocks, and the ranks kept.

    ``Wx, Wy`` whiten (``W^H S W = I``); the correlations are the singular values of
    ``Wx^H Sxy Wy``: for unit-variance variates ``a^H x`` and ``b^H y``,
    ``|E[(a^H x) conj(b^H y)]| = |a^H Sxy b|``.
    """
    wx = whiten(sxx, rtol)
    wy = whiten(syy, rtol)
    if min(wx.shape[1], wy.shape[1]) == 0:
        return np.zeros(0), wx.shape[1], wy.shape[1]
    rho = np.linalg.svd(wx.conj().T @ sxy @ wy, compute_uv=False)
    return np.clip(rho, 0.0, 1.0), wx.shape[1], wy.shape[1]


@dataclass(frozen=True)
class DFTCCAResult:
    """Per-frequency canonical correlations of two conv layers (:func:`dft_cca`).

    Attributes
    ----------
    size : (int, int)
        The shared frequency grid ``(h, w)``.
    frequencies : ndarray of int, shape (F, 2)
        One frequency ``(k, l)`` of each conjugate pair, in cycles per field of view (see
        :func:`frequency_grid`).
    multiplicity : ndarray of int, shape (F,)
        How many grid frequencies each row stands for (1 or 2; sums to ``h * w``).
    correlations : ndarray, shape (F, min(C_x, C_y))
        Canonical correlations per frequency, descending, in [0, 1]; a frequency where fewer
        directions survive rank truncation is padded with NaN after its ``min(ranks[f])`` values.
    ranks : ndarray of int, shape (F, 2)
        Dimensions kept per frequency on each side after rank truncation.
    n_datapoints : int
        Number of inputs ``N``.
    rtol : float
        Relative eigenvalue tolerance of the whitening.
    """

    size: tuple[int, int]
    frequencies: np.ndarray
    multiplicity: np.ndarray
    correlations: np.ndarray
    ranks: np.ndarray
    n_datapoints: int
    rtol: float

    @property
    def pooled(self) -> np.ndarray:
        """All correlations of all ``h * w`` frequencies, descending: each row repeated by its
        multiplicity. On circularly translation-invariant data of equal spatial size, these are the
        canonical correlations of the flattened layers (neurons = positions x channels)."""
        k = np.minimum(self.ranks[:, 0], self.ranks[:, 1])
        parts = [np.tile(self.correlations[f, : k[f]], int(m)) for f, m in enumerate(self.multiplicity)]
        out = np.concatenate(parts) if parts else np.zeros(0)
        return np.sort(out)[::-1]

    @property
    def mean(self) -> float:
        """Mean of :attr:`pooled`: the mean CCA over all frequencies (0.0 if none survive)."""
        p = self.pooled
        return float(p.mean()) if p.size else 0.0

    def grid(self) -> np.ndarray:
        """Correlations on the full ``(h, w)`` grid in ``numpy.fft`` order, shape (h, w, min(C_x, C_y)).

        Entry ``[k % h, l % w]`` holds frequency ``(k, l)``; the conjugate ``(-k, -l)`` of a computed
        frequency has the same correlations.
        """
        h, w = self.size
        out = np.full((h, w, self.correlations.shape[1]), np.nan)
        for (k, l), rho in zip(self.frequencies, self.correlations):
            out[k % h, l % w] = rho
            out[(-k) % h, (-l) % w] = rho
        return out


def _prepare(acts1: object, acts2: object, size: object, names: tuple[str, str],
             channels_last: bool, stacklevel: int = 4) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Checks shared by :func:`dft_cca` and ``compat.fourier_ccas``, before any work.

    ``stacklevel`` of the :class:`~cca_core.RankWarning`: 4 points at the caller of a public
    function that calls this directly.
    """
    layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
    a1 = check_conv_activations(names[0], acts1, layout=layout)
    a2 = check_conv_activations(names[1], acts2, layout=layout)
    if not channels_last:
        a1, a2 = np.moveaxis(a1, 1, -1), np.moveaxis(a2, 1, -1)
    if a1.shape[0] != a2.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of inputs (first "
                         f"axis): {names[0]} has shape {np.shape(acts1)}, {names[1]} has shape "
                         f"{np.shape(acts2)}")
    shared = (min(a1.shape[1], a2.shape[1]), min(a1.shape[2], a2.shape[2]))
    if size is None:
        size = shared
    else:
        size = _check_size(size)
        for name, a, orig in ((names[0], a1, acts1), (names[1], a2, acts2)):
            if size[0] > a.shape[1] or size[1] > a.shape[2]:
                raise ValueError(
                    f"size {size} is not available in {name} of shape {np.shape(orig)}: its maps are "
                    f"{a.shape[1]} x {a.shape[2]} positions, so its DFT has at most "
                    f"{(a.shape[1], a.shape[2])} frequencies per axis; the layers share at most "
                    f"{shared}")
    for name, a in zip(names, (a1, a2)):
        warn_if_underdetermined(f"{name} (per frequency)", a.shape[3], a.shape[0], stacklevel)
    return a1, a2, size


def dft_cca(acts1: np.ndarray, acts2: np.ndarray, *, size: tuple[int, int] | None = None,
            rtol: float | None = None, channels_last: bool = True,
            chunk_size: int | None = None) -> DFTCCAResult:
    """CCA of two conv layers, one spatial frequency at a time (DFT-CCA, Raghu et al. 2017, Theorem 1).

    The 2-D DFT over positions of each layer, then for every shared frequency ``k`` the canonical
    correlations of ``X^(k)`` (``C_x`` complex channels) and ``Y^(k)`` over the ``N`` inputs, from
    their Hermitian covariance blocks. Exact on circularly translation-invariant data of equal
    spatial size, where :attr:`DFTCCAResult.pooled` are the canonical correlations of the flattened
    layers; elsewhere the correlations between different frequencies are ignored. See the module
    docstring for the frequencies two layers of different sizes share.

    Parameters
    ----------
    acts1, acts2 : ndarray, shapes (N, H1, W1, C1) and (N, H2, W2, C2)
        Real conv activations over the same ``N`` inputs (``(N, C, H, W)`` with
        ``channels_last=False``); float32 is transformed chunk by chunk in float64.
    size : (int, int), optional
        The frequency grid ``(h, w)`` to compare on; default ``(min(H1, H2), min(W1, W2))``. A
        smaller grid keeps only the lower frequencies (band-limited, as ``resize_to(..., "fft")``).
    rtol : float, optional
        Relative eigenvalue tolerance of the whitening (default
        :func:`~cca_core.canonical.default_rtol` of ``max(C1, C2)``), the same for every frequency.
    channels_last : bool
        ``False`` for ``(N, C, H, W)`` input.
    chunk_size : int, optional
        Inputs per chunk (default: about 32 MiB of DFT coefficients, at least 16 inputs).

    Returns
    -------
    DFTCCAResult
        ``correlations`` per frequency, ``pooled`` over all frequencies, ``mean`` (mean CCA).

    Raises
    ------
    TypeError
        Complex or non-numeric input; ``size`` not a pair of ints.
    ValueError
        Input not 4-D, fewer than 2 inputs, NaN/Inf, different numbers of inputs, or a ``size``
        larger than one layer's spatial size (a frequency it does not have).

    Warns
    -----
    RankWarning
        A layer with at least as many channels as inputs (each frequency's CCA is then degenerate).

    Notes
    -----
    Time: one FFT of each layer plus, per frequency, ``O(N (C1 + C2)^2)`` for the covariance and
    ``O((C1 + C2)^3)`` for the decompositions, over the ``h * w / 2`` (about) frequencies of one
    half of the grid, with BLAS limited to one thread (threadpoolctl) since every
    matrix is small. Memory: the DFT of one chunk of inputs plus ``(h w / 2) (C1 + C2 + 1)^2``
    complex numbers.
    """
    a1, a2, size = _prepare(acts1, acts2, size, ("acts1", "acts2"), channels_last)
    if rtol is None:
        rtol = default_rtol(max(a1.shape[3], a2.shape[3]))
    with single_blas_thread():  # many small C x C calls: see cca_core._threads
        fm = _frequency_moments(a1, a2, size, chunk_size)
        floor_x, floor_y = _noise_floors(fm)
        n_freq = fm.frequencies.shape[0]
        k_max = min(fm.n_x, fm.n_y)
        corr = np.full((n_freq, k_max), np.nan)
        ranks = np.zeros((n_freq, 2), dtype=int)
        for f in range(n_freq):
            sxx, sxy, syy = _blocks(fm, f)
            rho, rx, ry = _complex_cca(_drop_below(sxx, floor_x), sxy, _drop_below(syy, floor_y),
                                       rtol)
            corr[f, : rho.size] = rho
            ranks[f] = rx, ry
    return DFTCCAResult(size, fm.frequencies, fm.multiplicity, corr, ranks, fm.count, float(rtol))

"""The joint first and second moments of two activation sets, accumulated chunk by chunk.

Every measure of the CCA family and linear CKA is a function of the count, the means and the
centred Gram matrix of ``[X, Y]``. :class:`Moments` accumulates them in float64, one chunk of
datapoints at a time (two-pass centring inside each chunk, Chan et al. 1979 to combine chunks), so
one pass over the data gives every measure, data larger than memory can be streamed, and partial
results from other processes or machines can be merged (``a + b`` or ``a.merge(b)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.linalg.blas import dgemm as _gemm
from scipy.linalg.blas import dsyrk as _syrk

from . import canonical, cka
from ._threads import blas_threads_for, single_blas_thread
from .validation import check_finite_values, check_pair, warn_forced
from .shapes import PROCRUSTES_METRICS, check_alpha, shape_similarity_from_covariances

__all__ = ["Moments", "centred_moments"]

#: Elements per float64 working buffer (32 MiB): big enough for BLAS to run at full speed.
CHUNK_ELEMENTS = 1 << 22


@dataclass
class Moments:
    """Running count, means and centred Gram matrix of ``[X, Y]``, mergeable.

    Parameters
    ----------
    n_x, n_y : int
        Number of neurons of X and of Y.
    track_r : bool
        Also accumulate the triangular factor ``R`` of a QR decomposition of ``[1, Z - shift]``
        (``Z = [X, Y]``; TSQR: each chunk's ``R`` is stacked under the running one and re-factored,
        merges likewise), ``(d + 1) x (d + 1)`` more memory and about twice the work of the Gram
        update. The trailing block of that ``R`` is the ``R`` of the centred ``Z``, so the CCA
        family can then be computed by QR (:func:`cca_core.canonical.cca_from_data`) when the
        covariance is too ill-conditioned, with an accuracy that follows the condition number of the
        data instead of its square. Without it, such directions are dropped with a
        :class:`~cca_core.ConditioningWarning`.

    Examples
    --------
    >>> m = Moments(3, 2)
    >>> for xb, yb in chunks:          # doctest: +SKIP
    ...     m.update(xb, yb)
    >>> m.pwcca(), m.linear_cka()      # doctest: +SKIP
    """

    n_x: int
    n_y: int
    count: int = 0
    mean: np.ndarray = field(default=None, repr=False)  # (n_x + n_y,)
    m2: np.ndarray = field(default=None, repr=False)    # sum of centred outer products
    track_r: bool = False
    r: np.ndarray | None = field(default=None, repr=False)        # R of [1, Z - r_shift]
    r_shift: np.ndarray | None = field(default=None, repr=False)  # (d,)
    # The in-memory arrays these moments came from (set by the measure functions for one call, so
    # that ill-conditioned data can take the QR route); never copied, merged or saved.
    _source: tuple | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.n_x) < 1 or int(self.n_y) < 1:
            raise ValueError(f"n_x and n_y must be >= 1, got n_x={self.n_x}, n_y={self.n_y}")
        self.n_x, self.n_y = int(self.n_x), int(self.n_y)
        d = self.n_x + self.n_y
        if self.mean is None:
            self.mean = np.zeros(d)
        if self.m2 is None:
            self.m2 = np.zeros((d, d))
        if self.mean.shape != (d,) or self.m2.shape != (d, d):
            raise ValueError(f"mean must have shape {(d,)} and m2 {(d, d)}, got "
                             f"{self.mean.shape} and {self.m2.shape}")

    # ------------------------------------------------------------------ accumulation
    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("X", "Y"),
                    chunk_size: int | None = None) -> "Moments":
        """Moments of two whole in-memory datasets ``(n_datapoints, n_neurons)``.

        Checks them as whole datasets (at least 2 datapoints; :class:`~cca_core.RankWarning` when
        neurons >= datapoints), then makes one chunked pass. The result refers to ``x`` and ``y``
        (no copy) until more datapoints are added, so that ill-conditioned data can take the QR
        route (:func:`cca_core.canonical.cca_from_data`); copies, merges and saved files do not.
        """
        x, y = check_pair(x, y, names, check_finite=False)
        m = cls(x.shape[1], y.shape[1])._accumulate(x, y, chunk_size, names)
        m._source = (x, y)
        return m

    @classmethod
    def from_dask(cls, x: "dask.array.Array", y: "dask.array.Array", **kwargs: object) -> "Moments":
        """Moments of two dask arrays ``(n_datapoints, n_neurons)`` chunked along datapoints.

        Per-block moments on the workers, merged by a tree reduction; needs the ``distributed``
        extra. Keyword arguments and errors: :func:`cca_core.distributed.moments_from_dask`.
        """
        from .distributed import moments_from_dask

        return moments_from_dask(x, y, **kwargs, accumulator=cls)

    def update(self, x: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("X", "Y"),
               chunk_size: int | None = None) -> "Moments":
        """Add datapoints: ``x`` of shape ``(n, n_x)`` and ``y`` of shape ``(n, n_y)``, any ``n >= 0``.

        Works through the rows in chunks of about 32 MiB of float64, so float32 input is never
        copied whole. Returns ``self``.
        """
        x, y = check_pair(x, y, names, whole=False, check_finite=False)
        for name, arr, expected in ((names[0], x, self.n_x), (names[1], y, self.n_y)):
            if arr.shape[1] != expected:
                raise ValueError(f"{name} has {arr.shape[1]} neurons (shape {arr.shape}) but this "
                                 f"accumulator was made for {expected}")
        return self._accumulate(x, y, chunk_size, names)

    def _accumulate(self, x: np.ndarray, y: np.ndarray, chunk_size: int | None = None,
                    names: tuple[str, str] = ("X", "Y")) -> "Moments":
        """One pass over checked arrays (:func:`centred_moments`), merged in (Chan et al.)."""
        n, mean, m2 = centred_moments((x, y), names, chunk_size)
        self._source = None  # more datapoints than the arrays held for the QR route
        if n:
            if self.track_r:
                if self.r_shift is None:
                    self.r_shift = mean.copy()
                self._add_r(_r_factor((x, y), self.r_shift, chunk_size), self.r_shift)
            self._combine(n, mean, m2)
        return self

    def _add_r(self, r_b: np.ndarray, shift_b: np.ndarray) -> None:
        """Stack ``R`` of ``[1, Z - shift_b]`` (moved to this accumulator's shift) under ours, re-factor."""
        if self.r_shift is None:
            self.r_shift = shift_b.copy()
        if not np.array_equal(shift_b, self.r_shift):
            # [1, Z - s] = [1, Z - s_b] @ [[1, s_b - s], [0, I]]: R_b times that stays triangular.
            r_b = r_b.copy()
            r_b[:, 1:] += r_b[:, :1] * (shift_b - self.r_shift)
        self.r = canonical.tsqr_r([r_b], self.r)

    def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        """Chan, Golub & LeVeque's pairwise update, in place."""
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.m2 += m2_b
        if n_a:
            self.m2 += np.outer(delta, delta * (n_a * n_b / n))
        self.mean += delta * (n_b / n)
        self.count = n

    def merge(self, other: "Moments") -> "Moments":
        """A new accumulator holding the datapoints of both (order does not matter)."""
        if not isinstance(other, Moments):
            raise TypeError(f"can only merge Moments with Moments, not {type(other).__name__}")
        if (other.n_x, other.n_y) != (self.n_x, self.n_y):
            raise ValueError(f"cannot merge Moments of ({self.n_x}, {self.n_y}) neurons with "
                             f"({other.n_x}, {other.n_y})")
        out = self.copy()
        if other.count:
            if out.track_r != other.track_r:
                if out.count:  # one side kept no R: the merged moments cannot have one
                    out.track_r, out.r, out.r_shift = False, None, None
                else:
                    out.track_r = other.track_r
                    out.r = None if other.r is None else other.r.copy()
                    out.r_shift = None if other.r_shift is None else other.r_shift.copy()
            elif out.track_r and other.r is not None:
                out._add_r(other.r, other.r_shift)
            out._combine(other.count, other.mean, other.m2)
        return out

    __add__ = merge

    def copy(self) -> "Moments":
        return Moments(self.n_x, self.n_y, self.count, self.mean.copy(), self.m2.copy(), self.track_r,
                       None if self.r is None else self.r.copy(),
                       None if self.r_shift is None else self.r_shift.copy())

    def save(self, path: str | Path) -> None:
        """Write to an ``.npz`` file, to merge later with :meth:`load` (across machines)."""
        extra = {}
        if self.track_r and self.r is not None:
            extra = {"r": self.r, "r_shift": self.r_shift}
        np.savez(path, n_x=self.n_x, n_y=self.n_y, count=self.count, mean=self.mean, m2=self.m2,
                 track_r=self.track_r, **extra)

    @classmethod
    def load(cls, path: str | Path) -> "Moments":
        with np.load(path) as f:
            track = bool(f["track_r"]) if "track_r" in f.files else False
            r = f["r"] if "r" in f.files else None
            shift = f["r_shift"] if "r_shift" in f.files else None
            return cls(int(f["n_x"]), int(f["n_y"]), int(f["count"]), f["mean"], f["m2"], track, r, shift)

    def _data(self, center: bool = True):
        """A callable giving ``(xc, yc, n)`` for the QR route, or ``None`` when no data are at hand."""
        if self._source is not None:
            x, y = self._source

            def from_source():
                if center:
                    return (np.asarray(x, dtype=np.float64) - self.mean_x,
                            np.asarray(y, dtype=np.float64) - self.mean_y, self.count)
                return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), self.count
            return from_source
        if self.track_r and self.r is not None:
            def from_r():
                r = self.r
                if center:
                    z = r[1:, 1:]  # R of the centred Z
                else:
                    # Z = [1, Z - s] @ [[s^T], [I]]
                    z = r[:, 1:] + r[:, :1] * self.r_shift
                return z[:, : self.n_x], z[:, self.n_x :], self.count
            return from_r
        return None

    def _forced(self, res: canonical.CCAResult, center: bool) -> canonical.CCAResult:
        import dataclasses

        dof = self.count - 1 if center else self.count
        n_forced = canonical.forced_count(res.x_rank, res.y_rank, dof)
        warn_forced(n_forced, res.x_rank, res.y_rank, dof, stacklevel=5)
        return dataclasses.replace(res, n_forced=n_forced)

    # ------------------------------------------------------------------ statistics
    def covariance(self, ddof: int = 1, center: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The blocks ``(Sxx, Sxy, Syy)`` of the joint covariance (``ddof=1`` as ``np.cov``).

        ``center=False`` gives the blocks of the uncentred second moment ``[X Y]^T [X Y] / (n - ddof)``.
        """
        if self.count - ddof <= 0:
            raise ValueError(f"need more than {ddof} datapoint(s) for a covariance, have {self.count}")
        m2 = self.m2 if center else self.m2 + self.count * np.outer(self.mean, self.mean)
        c = m2 / (self.count - ddof)
        nx = self.n_x
        return c[:nx, :nx], c[:nx, nx:], c[nx:, nx:]

    @property
    def mean_x(self) -> np.ndarray:
        return self.mean[: self.n_x]

    @property
    def mean_y(self) -> np.ndarray:
        return self.mean[self.n_x :]

    def _blocks_checked(self, center: bool = True, names: tuple[str, str] = ("X", "Y")
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Covariance blocks; ``ValueError`` naming the side when all its neurons are constant."""
        sxx, sxy, syy = self.covariance(center=center)
        for name, s, size in ((names[0], sxx, self.n_x), (names[1], syy, self.n_y)):
            if not np.any(np.diagonal(s) > 0):
                raise ValueError(f"{name} has no variance: all {size} neurons are constant over the "
                                 f"{self.count} datapoints")
        return sxx, sxy, syy

    # ------------------------------------------------------------------ measures
    def cca(self, rtol: float | None = None, center: bool = True) -> canonical.CCAResult:
        """Canonical correlations and weights; see :func:`cca_core.cca`."""
        with single_blas_thread():
            res = canonical.cca_from_covariances(*self._blocks_checked(center), rtol=rtol,
                                                 data=self._data(center))
        return self._forced(res, center)

    def mean_cca(self, squared: bool = False, rtol: float | None = None, center: bool = True) -> float:
        """Mean canonical correlation (or mean squared); see :func:`cca_core.mean_cca`."""
        rho = self.cca(rtol, center).correlations
        return float(np.mean(rho**2 if squared else rho)) if rho.size else 0.0

    def svcca(self, keep: float | int = 0.99, rtol: float | None = None) -> float:
        """Mean canonical correlation after SVD reduction; see :func:`cca_core.svcca`."""
        with single_blas_thread():
            rho = canonical.svcca_from_covariances(*self._blocks_checked(), keep=keep, rtol=rtol,
                                                   data=self._data()).correlations
        return float(np.mean(rho)) if rho.size else 0.0

    def pwcca(self, rtol: float | None = None) -> float:
        """Projection-weighted CCA of X against Y; see :func:`cca_core.pwcca`."""
        with single_blas_thread():
            rho_pw, _, res = canonical.pwcca_from_covariances(*self._blocks_checked(), rtol=rtol,
                                                              data=self._data())
        self._forced(res, True)
        return rho_pw

    def linear_cka(self) -> float:
        """Linear CKA; see :func:`cca_core.linear_cka`.

        The covariance blocks are rescaled by powers of two before they are squared, so any
        accumulated blocks give the value of their data. The blocks themselves are sums of raw
        products, accumulated chunk by chunk (and merged across processes) without a common scale:
        data above about ``1e154`` make :meth:`update` raise the package's overflow error, and data
        whose largest variance is below ``2**-960`` (about ``1e-289``: values under about ``1e-145``)
        make this method raise ``ValueError``, as their products lost precision in float64's
        subnormal range. Rescale such activations by a constant (CKA does not change), or use
        :func:`cca_core.linear_cka` on in-memory arrays, which does so itself.
        """
        if self.count > 1:
            var = np.diagonal(self.m2) / (self.count - 1)
            cka.check_gram_range(var[: self.n_x], "X", self.mean_x)
            cka.check_gram_range(var[self.n_x :], "Y", self.mean_y)
        return cka.linear_cka_from_covariances(*self._blocks_checked())

    # Shape metrics (Williams et al. 2021): functions of the covariance blocks, so they stream too.
    def shape_similarity(self, alpha: float = 1.0, rtol: float | None = None) -> float:
        """``cos`` of the angular shape metric; see :func:`cca_core.shape_similarity`."""
        alpha = check_alpha(alpha)
        with single_blas_thread():
            return shape_similarity_from_covariances(*self._blocks_checked(), alpha=alpha, rtol=rtol,
                                                     max_rank=self.count - 1)

    def shape_distance(self, alpha: float = 1.0, rtol: float | None = None) -> float:
        """Angular shape metric in radians; see :func:`cca_core.shape_distance`."""
        return float(np.arccos(self.shape_similarity(alpha, rtol)))

    def procrustes_similarity(self) -> float:
        """``||X^T Y||_*`` on normalised centred data; see :func:`cca_core.procrustes_similarity`."""
        return self.shape_similarity(1.0)

    def procrustes_distance(self, metric: str = "euclidean") -> float:
        """Orthogonal Procrustes distance; see :func:`cca_core.procrustes_distance`."""
        if metric not in PROCRUSTES_METRICS:
            raise ValueError(f"metric must be one of {', '.join(PROCRUSTES_METRICS)}, got {metric!r}")
        s = self.procrustes_similarity()
        return float(np.arccos(s)) if metric == "angular" else float(np.sqrt(max(2.0 - 2.0 * s, 0.0)))


#: Centring after the product (``M2 = G - n m m^T``) multiplies the rounding error of a column's
#: variance by ``G_kk / M2_kk``; above this factor the shifted pass is used instead. Activations
#: after ReLU have about 1.5; a large offset against a small spread goes the safe way.
CANCELLATION_LIMIT = 4.0


def centred_moments(blocks: Sequence[np.ndarray], names: Sequence[str],
                    chunk_size: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Count, mean ``(d,)`` and centred Gram matrix ``M2`` ``(d, d)`` of ``[B_1, ..., B_k]``.

    ``blocks`` are checked 2-D arrays with the same rows (datapoints), ``d`` their neurons in
    all. float64, C-ordered blocks with no ``chunk_size`` take the direct path: column sums and the
    Gram matrix by BLAS on the arrays themselves (``syrk`` for each block, ``gemm`` across blocks; no
    copy), centred afterwards by ``M2 = G - n m m^T``. When a column's mean is so large against its
    spread that this centring would lose more than a factor 4 in accuracy (see :data:`CANCELLATION_LIMIT`), and
    for every other input (float32, strided, ``chunk_size`` given), the shifted pass is used: each
    chunk is shifted by the first chunk's mean while it is copied into a float64 buffer whose last
    column is 1, so that one symmetric rank-k update (``syrk``) of ``[Z - s, 1]^T [Z - s, 1]``
    accumulates the shifted Gram matrix, the column sums and the count together, free of
    cancellation for large offsets.

    NaN or Inf in the data make the Gram diagonal non-finite: only then are they counted, for a
    ``ValueError`` that names the block (:func:`~cca_core.validation.check_finite_values`).
    """
    n = blocks[0].shape[0]
    widths = [b.shape[1] for b in blocks]
    d = sum(widths)
    edges = np.cumsum([0] + widths)
    if n == 0:
        return 0, np.zeros(d), np.zeros((d, d))
    # A small pass, or any pass on a busy machine, runs on one BLAS thread: threads that wait for
    # busy cores cost more than they gain (cca_core._threads).
    with blas_threads_for(n * d * d):
        return _centred_moments(blocks, names, chunk_size, n, d, edges)


def _centred_moments(blocks: Sequence[np.ndarray], names: Sequence[str], chunk_size: int | None,
                     n: int, d: int, edges: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    direct = chunk_size is None and all(b.dtype == np.float64 and b.flags.c_contiguous for b in blocks)
    if direct:
        result = _direct_moments(blocks, edges, names)
        if result is not None:
            return result
    with np.errstate(invalid="ignore", over="ignore"):
        rows = min(chunk_size or max(256, CHUNK_ELEMENTS // d), n)
        shift = np.concatenate([b[:rows].mean(axis=0, dtype=np.float64) for b in blocks])
        buf = np.empty((rows, d + 1))
        buf[:, d] = 1.0
        gram = np.zeros((d + 1, d + 1), order="F")
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            chunk = buf[: stop - start]
            for b, lo, hi in zip(blocks, edges[:-1], edges[1:]):
                np.subtract(b[start:stop], shift[lo:hi], out=chunk[:, lo:hi])
            # chunk.T is Fortran-ordered: syrk reads it without a copy and adds into gram in place.
            gram = _syrk(1.0, chunk.T, beta=1.0, c=gram, trans=0, lower=0, overwrite_c=1)
    _check_gram_diagonal(np.diagonal(gram), blocks, edges, names)
    gram = np.triu(gram) + np.triu(gram, 1).T
    offset = gram[:d, d] / n
    return n, shift + offset, gram[:d, :d] - n * np.outer(offset, offset)


def _r_factor(blocks: Sequence[np.ndarray], shift: np.ndarray, chunk_size: int | None = None) -> np.ndarray:
    """``R`` (``(d + 1) x (d + 1)``, or fewer rows) of ``[1, Z - shift]``, chunk by chunk (TSQR)."""
    n = blocks[0].shape[0]
    widths = [b.shape[1] for b in blocks]
    d = sum(widths)
    edges = np.cumsum([0] + widths)
    # Blocks of a few times d rows: Householder QR runs much faster on blocks that stay in cache.
    rows = min(chunk_size or max(256, 4 * (d + 1)), n)
    buf = np.empty((rows, d + 1))
    buf[:, 0] = 1.0

    def chunks():  # one buffer, refilled for each block once the running R no longer needs it
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            chunk = buf[: stop - start]
            for b, lo, hi in zip(blocks, edges[:-1], edges[1:]):
                np.subtract(b[start:stop], shift[lo:hi], out=chunk[:, lo + 1 : hi + 1])
            yield chunk

    return canonical.tsqr_r(chunks())


def _direct_moments(blocks: Sequence[np.ndarray], edges: np.ndarray, names: Sequence[str]
                    ) -> tuple[int, np.ndarray, np.ndarray] | None:
    """The no-copy path of :func:`centred_moments`; ``None`` when centring would cancel."""
    n, d = blocks[0].shape[0], int(edges[-1])
    gram = np.empty((d, d))
    with np.errstate(invalid="ignore", over="ignore"):
        sums = np.concatenate([b.sum(axis=0) for b in blocks])
        for a, (ba, lo, hi) in enumerate(zip(blocks, edges[:-1], edges[1:])):
            # ba.T is Fortran-ordered (d_a, n): BLAS reads the array in place, no copy.
            gram[lo:hi, lo:hi] = _syrk(1.0, ba.T, trans=0, lower=0)
            for bb, lo2, hi2 in zip(blocks[a + 1:], edges[a + 1:-1], edges[a + 2:]):
                gram[lo:hi, lo2:hi2] = _gemm(1.0, ba.T, bb.T, trans_b=1)
    _check_gram_diagonal(np.diagonal(gram), blocks, edges, names)
    gram = np.triu(gram) + np.triu(gram, 1).T
    mean = sums / n
    m2 = gram - n * np.outer(mean, mean)
    centred = np.diagonal(m2)
    if np.any(np.diagonal(gram) > CANCELLATION_LIMIT * np.maximum(centred, 0.0)):
        # Large offsets, or constant columns (M2 = 0), whose tiny variance the shifted pass gets right.
        return None
    return n, mean, m2


def _check_gram_diagonal(diagonal: np.ndarray, blocks: Sequence[np.ndarray], edges: np.ndarray,
                         names: Sequence[str]) -> None:
    for name, b, lo, hi in zip(names, blocks, edges[:-1], edges[1:]):
        if not np.all(np.isfinite(diagonal[lo:hi])):
            check_finite_values(name, b, known_bad=True)

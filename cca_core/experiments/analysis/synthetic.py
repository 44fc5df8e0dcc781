"""Synthetic representations with a known shared signal, and PCA reduction by explained variance.

Morcos, Raghu & Bengio (2018), section 2.2 and appendix A.4 (their Figure 2), test how similarity
measures react to noise: two "layers" share ``k`` signal dimensions (the same latent signal seen
through different orthonormal bases) and each has ``n_neurons - k`` dimensions of independent
noise. A measure that is robust to noise should call the two layers similar even when ``k`` is
small. :func:`signal_noise_pair` draws such a pair; :func:`pca_reduce` keeps the leading principal
directions that explain a given fraction of the variance (the SVD step of SVCCA as the paper
describes it: "enough dimensions to explain 99% of the variance").

Numpy only; no TensorFlow.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from cca_core.canonical import svd_keep_count

__all__ = ["signal_noise_pair", "random_orthogonal", "pca_reduce", "pca_keep_count"]


def _int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def random_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed random ``n x n`` orthogonal matrix.

    QR decomposition of a standard Gaussian matrix with the signs of ``R``'s diagonal moved into
    ``Q`` (Mezzadri 2007, "How to generate random matrices from the classical compact groups"),
    so the distribution is uniform over the orthogonal group.
    """
    n = _int(n, "n", 1)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def signal_noise_pair(n_signal: int, n_neurons: int = 200, n_datapoints: int = 2000,
                      noise_std: float = 0.1, rng: np.random.Generator | int | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Two representations that share ``n_signal`` signal dimensions, the rest independent noise.

    With ``S`` an ``(n_datapoints, n_signal)`` matrix of N(0, 1) entries (the shared signal), ``Q`` a
    random ``n_signal x n_signal`` orthogonal matrix (:func:`random_orthogonal`) and ``E_x``,
    ``E_y`` independent ``(n_datapoints, n_neurons - n_signal)`` matrices of N(0, noise_std^2)
    entries::

        X = [S,      E_x]
        Y = [S @ Q,  E_y]

    ``Y``'s signal neurons are an orthonormal map of ``X``'s, so its first ``n_signal`` columns span
    the same subspace of datapoint space; no further rotation mixes signal and noise neurons.

    Parameters
    ----------
    n_signal : int
        Number of shared signal dimensions ``k``, ``0 <= k <= n_neurons``.
    n_neurons : int
        Neurons of each representation, >= 1.
    n_datapoints : int
        Datapoints (rows), >= 2.
    noise_std : float
        Standard deviation of the noise entries, >= 0.
    rng : numpy Generator, int or None
        Source of randomness (an int seeds ``numpy.random.default_rng``).

    Returns
    -------
    X, Y : ndarray of float64, shape (n_datapoints, n_neurons)

    Raises
    ------
    ValueError
        Any argument outside its range.
    """
    n_neurons = _int(n_neurons, "n_neurons", 1)
    n_datapoints = _int(n_datapoints, "n_datapoints", 2)
    k = _int(n_signal, "n_signal", 0)
    if k > n_neurons:
        raise ValueError(f"n_signal must be <= n_neurons ({n_neurons}), got {k}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, Real) or not np.isfinite(noise_std) \
            or noise_std < 0:
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    signal = rng.standard_normal((n_datapoints, k))
    q = random_orthogonal(k, rng) if k > 0 else np.zeros((0, 0))
    n_noise = n_neurons - k
    noise_x = float(noise_std) * rng.standard_normal((n_datapoints, n_noise))
    noise_y = float(noise_std) * rng.standard_normal((n_datapoints, n_noise))
    return np.hstack([signal, noise_x]), np.hstack([signal @ q, noise_y])


def pca_keep_count(variances: np.ndarray, fraction: float) -> int:
    """Fewest leading components whose variances add up to at least ``fraction`` of the total.

    Parameters
    ----------
    variances : array_like, 1-D
        Variance along each principal direction (eigenvalues of the covariance), any order.
    fraction : float in (0, 1]

    Returns
    -------
    int
        Between 1 and ``len(variances)``.
    """
    v = np.sort(np.clip(np.asarray(variances, dtype=float).ravel(), 0.0, None))[::-1]
    if v.size == 0:
        raise ValueError("variances must not be empty")
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    # The cumulative rule of SVCCA's keep count, applied to variances instead of singular values;
    # all-zero variances keep one component.
    return max(1, svd_keep_count(v, float(fraction)))


def pca_reduce(X: np.ndarray, fraction: float = 0.99) -> np.ndarray:
    """Centre ``X`` and project it on its leading principal directions explaining ``fraction`` of its variance.

    This is the SVD step of SVCCA as Morcos et al. (2018) and Raghu et al. (2017) describe it in
    words ("keep enough directions to explain 99% of the variance"); compare
    :func:`cca_core.svcca`, whose float ``keep`` counts the sum of singular values instead.
    Following it with :func:`cca_core.mean_cca` gives SVCCA by the variance rule.

    Parameters
    ----------
    X : array_like, shape (n_datapoints, n_neurons)
    fraction : float in (0, 1]

    Returns
    -------
    ndarray, shape (n_datapoints, r)
        The principal-component scores, ``r = pca_keep_count(eigenvalues of Xc^T Xc, fraction)``.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"X must be 2-D (n_datapoints >= 2, n_neurons >= 1), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"X has {int(np.sum(~np.isfinite(x)))} NaN/Inf entries")
    xc = x - x.mean(axis=0)
    # Principal directions from the eigendecomposition of the (n_neurons x n_neurons) scatter matrix:
    # the same directions as the SVD of xc, much cheaper when datapoints outnumber neurons.
    evals, evecs = np.linalg.eigh(xc.T @ xc)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    r = pca_keep_count(evals, fraction)
    return xc @ evecs[:, :r]

"""Turn convolutional activations ``(N, H, W, C)`` into datapoints x neurons, and resize them.

Two layers of different spatial sizes (different strides or pooling) can be compared channel by
channel after :func:`resize_to` brings one to the other's ``(H, W)``, or on the spatial frequencies
they share with :func:`cca_core.dft_cca`, or after ``mode="mean"``, which needs no resizing.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from .validation import check_conv_activations

__all__ = ["ConvActivations", "conv_to_2d", "CONV_MODES", "RESIZE_METHODS", "resize_to"]

ConvMode = Literal["mean", "positions", "flatten"]
ResizeMethod = Literal["zoom", "fft"]

RESIZE_METHODS: dict[str, str] = {
    "zoom": "bilinear interpolation between pixel centres (scipy.ndimage.zoom, order=1, "
            "grid_mode=True, edges replicated)",
    "fft": "band-limited periodic resampling (scipy.signal.resample along H, then W)",
}

CONV_MODES: dict[str, str] = {
    "mean": "mean over spatial positions: (N, C), each channel a neuron, each input a datapoint "
            "(Morcos et al. 2018)",
    "positions": "every spatial position a datapoint: (N*H*W, C), each channel a neuron "
                 "(Raghu et al. 2017)",
    "flatten": "every (position, channel) a neuron: (N, H*W*C)",
}


class ConvActivations(NamedTuple):
    """A 2-D view of conv activations and how it was made."""

    data: np.ndarray
    mode: str
    description: str


def conv_to_2d(acts: np.ndarray, mode: ConvMode = "mean", channels_last: bool = True, *,
               size: tuple[int, int] | None = None, resize: ResizeMethod = "zoom") -> ConvActivations:
    """Reduce ``(N, H, W, C)`` activations (or ``(N, C, H, W)`` with ``channels_last=False``).

    Parameters
    ----------
    acts : ndarray, 4-D
    mode : {"mean", "positions", "flatten"}
        ``"mean"`` averages each channel over positions (the 2018 paper); ``"positions"`` treats each
        position of each input as a datapoint (the 2017 paper; no copy when ``acts`` is contiguous);
        ``"flatten"`` makes every position-channel pair a neuron.
    size : (int, int), optional
        Resample the maps to ``(h, w)`` first (:func:`resize_to`), so that two layers of different
        spatial sizes give the same datapoints in ``mode="positions"``.
    resize : {"zoom", "fft"}
        How to resample when ``size`` is given; see :func:`resize_to` for when each is right.

    Returns
    -------
    ConvActivations
        ``data`` (2-D), ``mode`` and a one-line ``description`` of what rows and columns are (and
        of the resizing, if any).
    """
    if size is not None:
        if mode not in CONV_MODES:
            raise ValueError(f"mode must be one of {sorted(CONV_MODES)}, got {mode!r}")
        acts = np.asarray(acts)
        spatial = acts.shape[1:3] if channels_last else acts.shape[2:4]
        resized = resize_to(acts, size, resize, channels_last)
        out = conv_to_2d(resized, mode, channels_last)
        how = f"; maps resized from {tuple(spatial)} to {tuple(size)} by {RESIZE_METHODS[resize]}"
        return ConvActivations(out.data, out.mode, out.description + how)
    acts = np.asarray(acts)
    if acts.ndim != 4:
        raise ValueError(f"acts must be 4-D (N, H, W, C), got {acts.ndim}-D array of shape {acts.shape}")
    if mode not in CONV_MODES:
        raise ValueError(f"mode must be one of {sorted(CONV_MODES)}, got {mode!r}")
    if not channels_last:
        acts = np.moveaxis(acts, 1, -1)
    n, h, w, c = acts.shape
    if mode == "mean":
        dtype = acts.dtype if np.issubdtype(acts.dtype, np.floating) else np.float64
        data = acts.mean(axis=(1, 2), dtype=np.float64).astype(dtype, copy=False)
    elif mode == "positions":
        data = acts.reshape(n * h * w, c)
    else:
        data = acts.reshape(n, h * w * c)
    return ConvActivations(data, mode, CONV_MODES[mode])


def _check_size(size: object, name: str = "size") -> tuple[int, int]:
    """``(h, w)`` as two positive ints; ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    try:
        h, w = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (height, width) of positive ints, got {size!r}") from None
    for v in (h, w):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be a pair (height, width) of positive ints, got {size!r}")
        if v < 1:
            raise ValueError(f"{name} must be a pair (height, width) of positive ints, got {size!r}")
    return int(h), int(w)


def resize_to(acts: np.ndarray, size: tuple[int, int], method: ResizeMethod = "zoom",
              channels_last: bool = True) -> np.ndarray:
    """Resample conv activations to spatial size ``size = (h, w)``, channel by channel.

    Raghu et al. (2017) and google/svcca's tutorial 002 compare conv layers of different spatial
    sizes by interpolating the smaller map up to the larger one, then treating positions as
    datapoints (``conv_to_2d(..., mode="positions")``).

    Parameters
    ----------
    acts : ndarray, shape (N, H, W, C) (or (N, C, H, W) with ``channels_last=False``)
        Real activations; integers and bools are converted to float64, float32 stays float32
        (computed in float64).
    size : (int, int)
        Target ``(h, w)``, in positions; either may be larger or smaller than ``(H, W)``.
    method : {"zoom", "fft"}
        ``"zoom"``: bilinear interpolation (``scipy.ndimage.zoom``, ``order=1``, ``grid_mode=True``):
        output position ``o`` samples input coordinate ``(o + 0.5) * H / h - 0.5``, i.e. pixel
        centres are aligned as for feature maps of layers with different strides (a stride-2 map's
        pixel covers two input pixels), values beyond the outermost centres are the edge values.
        Right for upsampling the smaller map of two layers with different strides or pooling: a
        constant map stays constant and a linear ramp stays exact between the centres. Downsampling
        by it aliases; use ``"fft"`` or mean pooling for that.
        ``"fft"``: periodic, band-limited resampling (``scipy.signal.resample`` along H, then W):
        exact for maps that are periodic and band-limited to the smaller grid, the model behind the
        DFT (:func:`cca_core.dft_cca` compares two sizes on exactly the frequencies this keeps, the
        Nyquist pair of an even smaller grid folded into one bin). Right for (circularly)
        translation-invariant maps and for downsampling without aliasing; on maps with borders it
        rings (Gibbs), where ``"zoom"`` does not.
    channels_last : bool
        ``False`` for ``(N, C, H, W)`` input; the output keeps the input's layout.

    Returns
    -------
    ndarray, shape (N, h, w, C) (or (N, C, h, w))

    Raises
    ------
    TypeError
        Complex or non-numeric ``acts``; ``size`` not a pair of ints.
    ValueError
        ``acts`` not 4-D, empty, or with NaN/Inf; ``size`` not positive; unknown ``method``.
    """
    layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
    acts = check_conv_activations("acts", acts, min_datapoints=1, layout=layout)
    h, w = _check_size(size)
    if method not in RESIZE_METHODS:
        raise ValueError(f"method must be one of {sorted(RESIZE_METHODS)}, got {method!r}")
    if not channels_last:
        acts = np.moveaxis(acts, 1, -1)
    out_dtype = acts.dtype if np.issubdtype(acts.dtype, np.floating) else np.dtype(np.float64)
    n, height, width, c = acts.shape
    x = np.asarray(acts, dtype=np.float64)
    if (height, width) == (h, w):
        out = x.copy()
    elif method == "zoom":
        import scipy.ndimage

        # Channels into the batch axis: interpolation runs over (H, W) only.
        planes = np.moveaxis(x, -1, 1).reshape(n * c, height, width)
        out = scipy.ndimage.zoom(planes, (1.0, h / height, w / width), order=1, mode="nearest",
                                 grid_mode=True)
        out = np.moveaxis(out.reshape(n, c, h, w), 1, -1)
    else:
        import scipy.signal

        out = scipy.signal.resample(x, h, axis=1) if h != height else x
        out = scipy.signal.resample(out, w, axis=2) if w != width else out
    out = np.ascontiguousarray(out, dtype=out_dtype)
    return np.ascontiguousarray(np.moveaxis(out, -1, 1)) if not channels_last else out

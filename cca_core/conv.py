"""Turn convolutional activations ``(N, H, W, C)`` into datapoints x neurons."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

__all__ = ["ConvActivations", "conv_to_2d", "CONV_MODES"]

ConvMode = Literal["mean", "positions", "flatten"]

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


def conv_to_2d(acts: np.ndarray, mode: ConvMode = "mean", channels_last: bool = True) -> ConvActivations:
    """Reduce ``(N, H, W, C)`` activations (or ``(N, C, H, W)`` with ``channels_last=False``).

    Parameters
    ----------
    acts : ndarray, 4-D
    mode : {"mean", "positions", "flatten"}
        ``"mean"`` averages each channel over positions (the 2018 paper); ``"positions"`` treats each
        position of each input as a datapoint (the 2017 paper; no copy when ``acts`` is contiguous);
        ``"flatten"`` makes every position-channel pair a neuron.

    Returns
    -------
    ConvActivations
        ``data`` (2-D), ``mode`` and a one-line ``description`` of what rows and columns are.
    """
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

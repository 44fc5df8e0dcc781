"""Batched extraction of named layers' activations as ``(n_datapoints, n_neurons)`` arrays.

A sub-model whose outputs are the requested layers is run over the inputs batch by batch; each
batch is reduced to 2-D at once and written into preallocated float32 arrays, so what is held beyond
the returned arrays is one batch of the requested layers.

Reduction to ``(datapoints, neurons)`` by the number of dimensions of a layer's output:

- 2-D ``(N, units)`` (dense, pooled, softmax): unchanged.
- 4-D ``(N, H, W, C)`` (conv, batch norm, ReLU): :func:`cca_core.conv_to_2d` with ``conv_mode``:
  ``"mean"`` (default; mean over positions, ``(N, C)``, Morcos et al. 2018), ``"positions"``
  (``(N*H*W, C)``, Raghu et al. 2017; rows ordered datapoint-major) or ``"flatten"``
  (``(N, H*W*C)``).
- 3-D ``(N, T, F)`` (e.g. every timestep of a recurrent layer): treated as ``(N, T, 1, F)`` by the
  same modes: mean over timesteps, every timestep a datapoint, or flattened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cca_core.conv import CONV_MODES, conv_to_2d

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["get_activations", "layer_outputs", "reduce_to_2d"]


def reduce_to_2d(acts: np.ndarray, conv_mode: str = "mean") -> np.ndarray:
    """Reduce one batch of a layer's output to 2-D (see the module docstring for the rules)."""
    acts = np.asarray(acts)
    if acts.ndim == 2:
        return acts
    if acts.ndim == 4:
        return conv_to_2d(acts, mode=conv_mode).data  # type: ignore[arg-type]
    if acts.ndim == 3:
        return conv_to_2d(acts[:, :, None, :], mode=conv_mode).data  # type: ignore[arg-type]
    if acts.ndim == 1:
        return acts[:, None]
    return acts.reshape(acts.shape[0], -1)


def get_activations(model: "keras.Model", x: np.ndarray, layers: str | Sequence[str],
                    batch_size: int = 256, conv_mode: str = "mean") -> dict[str, np.ndarray]:
    """Activations of the named layers of ``model`` for inputs ``x``, in inference mode.

    Parameters
    ----------
    model : keras.Model
        A built functional or sequential model.
    x : ndarray, shape (N, ...)
        Inputs.
    layers : str or sequence of str
        Layer names (``model.get_layer`` names, e.g. ``"conv_2"``, ``"gap"``, ``"logits"``).
    batch_size : int
        Inputs per forward pass.
    conv_mode : {"mean", "positions", "flatten"}
        How 4-D (and 3-D) outputs become datapoints x neurons; see :func:`cca_core.conv_to_2d`.

    Returns
    -------
    dict[str, ndarray of float32]
        Layer name -> ``(n_datapoints, n_neurons)``, in the order of ``layers``.

    Raises
    ------
    ValueError
        An absent layer name (the message lists the model's layers), an unknown ``conv_mode``,
        empty ``layers``, ``batch_size < 1`` or empty ``x``.
    """
    if conv_mode not in CONV_MODES:
        raise ValueError(f"conv_mode must be one of {sorted(CONV_MODES)}, got {conv_mode!r}")
    names = [layers] if isinstance(layers, str) else list(layers)
    x = np.asarray(x)
    n = len(x)
    out: dict[str, np.ndarray] = {}
    row: dict[str, int] = {}
    for batch_len, values in layer_outputs(model, x, names, batch_size):
        for name, value in values.items():
            flat = reduce_to_2d(value, conv_mode)
            if name not in out:
                per_datapoint = flat.shape[0] // batch_len
                out[name] = np.empty((n * per_datapoint, flat.shape[1]), dtype=np.float32)
                row[name] = 0
            out[name][row[name]:row[name] + flat.shape[0]] = flat
            row[name] += flat.shape[0]
    return {name: out[name] for name in names}


def layer_outputs(model: "keras.Model", x: np.ndarray, layers: str | Sequence[str],
                  batch_size: int = 256) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Run ``model`` over ``x`` batch by batch in inference mode, yielding the named layers' outputs.

    The shared mechanism of :func:`get_activations` and
    :func:`~cca_core.experiments.training.lstm.hidden_states`: the layer names and ``batch_size`` are
    checked first, then one sub-model whose outputs are the requested layers (each once) is called
    eagerly -- no tf.function to trace per model, so extracting from many small models costs no
    retracing.

    Yields
    ------
    batch_len : int
        Number of inputs in the batch (the last batch may be shorter).
    outputs : dict[str, ndarray]
        Layer name -> that layer's output for the batch, unreduced, for each distinct name.

    Raises
    ------
    ValueError
        An absent layer name (the message lists the model's layers), empty ``layers``,
        ``batch_size < 1`` or empty ``x``.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers must name at least one layer")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    available = [layer.name for layer in model.layers]
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"layer(s) {missing} not in model {model.name!r}; available layers: {available}")
    if len(x) == 0:
        raise ValueError(f"x has no datapoints (shape {np.shape(x)})")

    import keras

    unique = list(dict.fromkeys(names))
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    sub = keras.Model(inputs, [model.get_layer(name).output for name in unique], name=f"{model.name}_outputs")
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        values = sub(batch, training=False)
        if not isinstance(values, (list, tuple)):
            values = [values]
        yield len(batch), {name: keras.ops.convert_to_numpy(v) for name, v in zip(unique, values)}

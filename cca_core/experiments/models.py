"""The convolutional network family used for the CNN experiments of Morcos et al. (2018), section 3.

After A. S. Morcos, M. Raghu, S. Bengio, "Insights on representational similarity in neural
networks with canonical correlation", NeurIPS 2018, section 3: plain stacks of 3x3 convolutions,
each followed by batch normalization and ReLU, the number of filters doubling at every strided
(stride 2) layer, then global average pooling and a dense softmax classifier. Depth, base width and
the position of strided layers are parameters so that width and depth sweeps share one builder.

Layer names are stable so analyses can ask for them by name::

    input, conv_1, bn_1, relu_1, ..., conv_n, bn_n, relu_n, gap, logits, softmax
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["build_cnn", "default_strides", "layer_names", "layer_widths", "validate_architecture",
           "BN_MOMENTUM"]

#: Momentum of the batch-normalization moving statistics. Keras' default (0.99) leaves the moving
#: statistics near their initial values after the few hundred steps of the small experiments here,
#: which makes inference-mode accuracy meaningless; 0.9 converges within ~50 steps.
BN_MOMENTUM: float = 0.9


def default_strides(depth: int) -> tuple[int, ...]:
    """Default strided layers: every second layer, ``(2, 4, 6, ...)`` (1-based), up to ``depth``."""
    return tuple(range(2, int(depth) + 1, 2))


def validate_architecture(depth: int, width: int, strides: Sequence[int] | None = None) -> tuple[int, ...]:
    """Check ``depth``, ``width`` and ``strides``; return the strides as a sorted tuple.

    Raises
    ------
    ValueError
        ``depth < 1``, ``width <= 0``, or a strided layer outside ``1 .. depth``.
    """
    if isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1 (number of conv layers), got {depth!r}")
    if isinstance(width, bool) or not isinstance(width, Integral) or width <= 0:
        raise ValueError(f"width must be an integer > 0 (filters in the first conv layer), got {width!r}")
    if strides is None:
        return default_strides(depth)
    out = tuple(sorted({int(s) for s in strides}))
    bad = [s for s in out if not 1 <= s <= depth]
    if bad:
        raise ValueError(f"strides must be 1-based conv layer indices in 1..{depth} (depth={depth}), "
                         f"got {tuple(strides)!r}")
    return out


def layer_widths(depth: int, width: int, strides: Sequence[int] | None = None) -> list[int]:
    """Number of filters of ``conv_1 .. conv_depth``: ``width``, doubled at each strided layer."""
    strides = validate_architecture(depth, width, strides)
    widths, w = [], int(width)
    for i in range(1, depth + 1):
        if i in strides and i > 1:
            w *= 2
        widths.append(w)
    return widths


def layer_names(depth: int) -> list[str]:
    """Names of all layers of :func:`build_cnn` with this ``depth``, input to output."""
    names = ["input"]
    for i in range(1, depth + 1):
        names += [f"conv_{i}", f"bn_{i}", f"relu_{i}"]
    return names + ["gap", "logits", "softmax"]


def build_cnn(depth: int = 3, width: int = 8, strides: Sequence[int] | None = None,
              input_shape: Sequence[int] = (8, 8, 1), num_classes: int = 10,
              name: str = "cnn") -> "keras.Model":
    """Build an (uncompiled) CNN of the Morcos et al. (2018) family.

    Layer ``i`` (1-based) is ``conv_i`` (3x3, "same" padding, no bias, stride 2 if ``i`` is in
    ``strides`` else 1) -> ``bn_i`` (BatchNormalization, momentum :data:`BN_MOMENTUM`) ->
    ``relu_i``. ``conv_1`` has ``width`` filters and the count doubles at every strided layer after
    the first (a strided first layer downsamples the input without widening). Then ``gap``
    (GlobalAveragePooling2D), ``logits`` (Dense, ``num_classes`` units) and ``softmax``.

    Parameters
    ----------
    depth : int
        Number of conv layers, >= 1.
    width : int
        Filters of the first conv layer (the width multiplier of a sweep), > 0.
    strides : sequence of int, optional
        1-based indices of the stride-2 layers; default :func:`default_strides` (every second).
    input_shape : (H, W, C)
    num_classes : int
        Number of classes, >= 2.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        A functional model (weights initialized from keras' global seed; call
        ``keras.utils.set_random_seed`` first for reproducible initial weights).

    Raises
    ------
    ValueError
        ``depth < 1``, ``width <= 0``, bad ``strides``, ``num_classes < 2`` or an input shape that
        is not ``(H, W, C)``.
    """
    strides = validate_architecture(depth, width, strides)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes, got {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    depth, width, num_classes = int(depth), int(width), int(num_classes)

    import keras
    from keras import layers

    widths = layer_widths(depth, width, strides)
    inputs = keras.Input(shape=input_shape, name="input")
    h = inputs
    for i, w in enumerate(widths, start=1):
        h = layers.Conv2D(w, 3, strides=2 if i in strides else 1, padding="same", use_bias=False,
                          name=f"conv_{i}")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_{i}")(h)
        h = layers.ReLU(name=f"relu_{i}")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    h = layers.Dense(num_classes, name="logits")(h)
    outputs = layers.Softmax(name="softmax")(h)
    return keras.Model(inputs, outputs, name=name)

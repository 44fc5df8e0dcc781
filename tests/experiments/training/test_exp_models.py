"""The Morcos et al. (2018) CNN family: layer names, widths, strides, errors."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from cca_core.experiments import build_cnn, default_strides, layer_names
from cca_core.experiments.training.cnn import layer_widths


def test_layer_names_and_shapes():
    model = build_cnn(depth=3, width=4, strides=(2,), input_shape=(8, 8, 1), num_classes=10)
    assert [layer.name for layer in model.layers] == layer_names(3)
    assert layer_names(3) == ["input", "conv_1", "bn_1", "relu_1", "conv_2", "bn_2", "relu_2",
                              "conv_3", "bn_3", "relu_3", "gap", "logits", "softmax"]
    assert tuple(model.get_layer("relu_1").output.shape) == (None, 8, 8, 4)
    assert tuple(model.get_layer("relu_2").output.shape) == (None, 4, 4, 8)  # strided: half size, double width
    assert tuple(model.get_layer("conv_3").output.shape) == (None, 4, 4, 8)
    assert tuple(model.get_layer("gap").output.shape) == (None, 8)
    assert tuple(model.output.shape) == (None, 10)


def test_widths_double_at_strided_layers():
    assert default_strides(5) == (2, 4)
    assert layer_widths(5, 3) == [3, 6, 6, 12, 12]
    assert layer_widths(3, 4, strides=(1, 3)) == [4, 4, 8]  # a strided first layer does not widen
    assert layer_widths(1, 7) == [7]


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=2, width=0), "width must be an integer > 0"),
    (dict(depth=2, width=-3), "width must be an integer > 0"),
    (dict(depth=0, width=4), "depth must be an integer >= 1"),
    (dict(depth=2, width=4, strides=(3,)), "strides must be 1-based"),
    (dict(depth=2, width=4, num_classes=1), "num_classes"),
    (dict(depth=2, width=4, input_shape=(8, 8)), "input_shape"),
])
def test_bad_architecture(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_cnn(**kwargs)

"""Batched activation extraction: shapes per conv mode, agreement with a full-batch pass, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from cca_core import conv_to_2d
from cca_core.experiments import build_cnn, get_activations, load_dataset
from cca_core.experiments.training.activations import reduce_to_2d

N = 50


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return build_cnn(depth=3, width=4, strides=(2,), input_shape=(8, 8, 1), num_classes=10)


@pytest.fixture(scope="module")
def x():
    return load_dataset("digits").x_test[:N]


def _full_batch(model, x, name):
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    return np.asarray(sub(x, training=False))


def test_conv_mean_default(model, x):
    acts = get_activations(model, x, ["conv_1", "relu_2", "bn_3"], batch_size=16)
    assert list(acts) == ["conv_1", "relu_2", "bn_3"]
    assert acts["conv_1"].shape == (N, 4) and acts["relu_2"].shape == (N, 8) and acts["bn_3"].shape == (N, 8)
    for name, a in acts.items():
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, conv_to_2d(_full_batch(model, x, name), "mean").data, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode, shape", [("positions", (N * 4 * 4, 8)), ("flatten", (N, 4 * 4 * 8))])
def test_conv_positions_and_flatten(model, x, mode, shape):
    acts = get_activations(model, x, "relu_2", batch_size=16, conv_mode=mode)
    assert acts["relu_2"].shape == shape and acts["relu_2"].dtype == np.float32
    np.testing.assert_allclose(acts["relu_2"], conv_to_2d(_full_batch(model, x, "relu_2"), mode).data,
                               rtol=1e-5, atol=1e-5)


def test_pooled_and_dense_layers(model, x):
    acts = get_activations(model, x, ("gap", "logits", "softmax", "input"), batch_size=7)
    assert acts["gap"].shape == (N, 8)
    assert acts["logits"].shape == (N, 10) and acts["softmax"].shape == (N, 10)
    np.testing.assert_allclose(acts["softmax"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(acts["logits"], _full_batch(model, x, "logits"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(acts["input"], x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_sequential_model_and_3d_outputs():
    import keras

    keras.utils.set_random_seed(1)
    seq = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(4, name="per_step"),
                            keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="out")])
    x = np.random.default_rng(0).normal(size=(9, 5, 3)).astype(np.float32)
    acts = get_activations(seq, x, ["per_step", "flat", "out"], batch_size=4, conv_mode="positions")
    assert acts["per_step"].shape == (9 * 5, 4)  # every timestep a datapoint
    assert acts["flat"].shape == (9, 20) and acts["out"].shape == (9, 2)
    assert reduce_to_2d(np.zeros((9, 5, 4))).shape == (9, 4)
    assert reduce_to_2d(np.zeros((9, 5, 4)), "flatten").shape == (9, 20)


def test_absent_layer_lists_available(model, x):
    with pytest.raises(ValueError, match=r"\['conv_9'\] not in model") as info:
        get_activations(model, x, ["conv_1", "conv_9"])
    assert "available layers" in str(info.value) and "'relu_3'" in str(info.value)


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers=[]), "at least one layer"),
    (dict(layers="gap", conv_mode="max"), "conv_mode"),
    (dict(layers="gap", batch_size=0), "batch_size"),
])
def test_bad_arguments(model, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_activations(model, x, **kwargs)

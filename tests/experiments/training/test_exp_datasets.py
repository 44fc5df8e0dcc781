"""Embedded digits dataset, label modes and errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cca_core.experiments import KNOWN_DATASETS, load_dataset
from cca_core.experiments.training.datasets import random_label_permutation


def test_digits_shapes_and_standardization():
    d = load_dataset("digits")
    assert d.name == "digits" and d.num_classes == 10 and d.labels == "true"
    assert d.x_train.shape == (1348, 8, 8, 1) and d.x_test.shape == (449, 8, 8, 1)
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.shape == (1348,) and d.y_test.shape == (449,)
    assert d.input_shape == (8, 8, 1)
    assert set(np.unique(d.y_train)) == set(range(10))
    # standardized with training statistics: exactly on train, approximately on test
    assert abs(float(d.x_train.mean(dtype=np.float64))) < 1e-5
    assert abs(float(d.x_train.std(dtype=np.float64)) - 1) < 1e-5
    assert abs(float(d.x_test.mean())) < 0.1


def test_digits_split_is_fixed():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)


def test_random_labels_fixed_shared_permutation():
    true = load_dataset("digits", "true")
    r1 = load_dataset("digits", "random")
    r2 = load_dataset("digits", labels="random")
    assert np.array_equal(r1.y_train, r2.y_train)  # one fixed permutation
    assert np.array_equal(np.sort(r1.y_train), np.sort(true.y_train))  # same label multiset
    perm = random_label_permutation(len(true.y_train))
    assert np.array_equal(r1.y_train, true.y_train[perm])
    assert np.mean(r1.y_train == true.y_train) < 0.3  # ~1/10 agree by chance
    # images and test labels unchanged
    assert np.array_equal(r1.x_train, true.x_train) and np.array_equal(r1.y_test, true.y_test)
    assert r1.labels == "random"


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as info:
        load_dataset("nope")
    for name in KNOWN_DATASETS:
        assert name in str(info.value)
    assert {"digits", "mnist", "fashion_mnist", "cifar10"} <= set(KNOWN_DATASETS)


def test_unknown_label_mode():
    with pytest.raises(ValueError, match="label mode 'shuffled'.*true, random"):
        load_dataset("digits", "shuffled")


def test_image_datasets_are_read_from_the_data_directory(tmp_path, monkeypatch):
    """A copy at $CCA_CORE_DATA_DIR/<name>/<name>.npz (keras' mnist.npz layout) is used as it is."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(20, 5, 5), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(7, 5, 5), dtype=np.uint8)
    y_train, y_test = rng.integers(0, 10, 20), rng.integers(0, 10, 7)
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(tmp_path))
    data = load_dataset("mnist")
    assert data.x_train.shape == (20, 5, 5, 1) and data.x_test.shape == (7, 5, 5, 1)
    mean, std = x_train.astype(float).mean(), x_train.astype(float).std()
    np.testing.assert_allclose(data.x_test[..., 0], (x_test - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.y_train, y_train)


def test_incomplete_data_directory_copy_is_named(tmp_path, monkeypatch):
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10.npz", x_train=np.zeros((2, 2, 2, 3)))
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"cifar10\.npz lacks arrays \['x_test', 'y_test', 'y_train'\]"):
        load_dataset("cifar10")

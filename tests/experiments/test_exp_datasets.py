"""Embedded digits dataset, label modes and errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cca_core.experiments import KNOWN_DATASETS, load_dataset
from cca_core.experiments.datasets import random_label_permutation


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

"""Image classification datasets with true or randomly permuted training labels.

The embedded default is scikit-learn's bundled 8x8 ``digits`` (no network needed). ``mnist``,
``fashion_mnist`` and ``cifar10`` are read from the data directory when it has them
(``$CCA_CORE_DATA_DIR/<name>/<name>.npz`` with arrays ``x_train, y_train, x_test, y_test`` -- the
layout of keras' own ``mnist.npz``, so that file can be copied there as it is), and otherwise come
through ``keras.datasets``, which downloads them once into ``$KERAS_HOME/datasets``.

Every dataset is returned as float32 images ``(N, H, W, C)`` standardized with statistics of the
training split only (one mean and one standard deviation per channel, so spatial structure is
kept), and int64 labels ``0 .. num_classes - 1``.

Random labels (Zhang et al. 2017; Morcos et al. 2018, section 3.2) are ONE fixed permutation of the
training labels, drawn with :data:`RANDOM_LABEL_SEED`: every memorizing network sees the same
labels, independently of its own seed, and the label histogram is unchanged. Test labels stay true.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from cca_core.experiments.paths import data_dir

__all__ = ["Dataset", "load_dataset", "KNOWN_DATASETS", "LABEL_MODES", "RANDOM_LABEL_SEED",
           "DIGITS_SPLIT_SEED", "DIGITS_TEST_FRACTION", "mirror_path"]

LabelMode = Literal["true", "random"]

#: Label modes understood by :func:`load_dataset`.
LABEL_MODES: tuple[str, ...] = ("true", "random")
#: Seed of the one permutation that makes the random training labels. Never change it: cached
#: networks trained on random labels depend on it (it is part of the hashed source code).
RANDOM_LABEL_SEED: int = 20180401
#: Seed of the fixed train/test split of the embedded digits data.
DIGITS_SPLIT_SEED: int = 0
#: Fraction of the 1797 digits held out as the test split.
DIGITS_TEST_FRACTION: float = 0.25


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split ready for a Keras model.

    Attributes
    ----------
    x_train, x_test : ndarray of float32, shape (N, H, W, C)
        Images standardized with the training split's per-channel mean and standard deviation.
    y_train, y_test : ndarray of int64, shape (N,)
        Integer class labels. ``y_train`` is permuted when the dataset was loaded with
        ``labels="random"``; ``y_test`` is always true.
    num_classes : int
    name : str
        Dataset name as given to :func:`load_dataset`.
    labels : str
        ``"true"`` or ``"random"``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    labels: str = "true"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(H, W, C)``."""
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardize per channel with the training split's statistics (in float64, stored as float32)."""
    mean = x_train.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x_train.std(axis=(0, 1, 2), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    return (((x_train - mean) / std).astype(np.float32),
            ((x_test - mean) / std).astype(np.float32))


def _load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float64)[..., None]  # (1797, 8, 8, 1), values 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    n_test = int(round(DIGITS_TEST_FRACTION * len(y)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test], 10


def mirror_path(name: str) -> Path | None:
    """``$CCA_CORE_DATA_DIR/<name>/<name>.npz`` when the data directory is set, else ``None``."""
    root = data_dir()
    return None if root is None else root / name / f"{name}.npz"


def _keras_loader(module: str, num_classes: int) -> Callable[[], tuple]:
    def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        mirror = mirror_path(module)
        if mirror is not None and mirror.exists():
            with np.load(mirror, allow_pickle=False) as npz:
                missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
                if missing:
                    raise ValueError(f"{mirror} lacks arrays {sorted(missing)}; expected x_train, y_train, "
                                     f"x_test, y_test (the layout of keras' mnist.npz)")
                x_train, y_train, x_test, y_test = (npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        else:
            import keras

            try:
                (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, module).load_data()
            except Exception as err:  # network errors come in many types (URLError, OSError, ...)
                where = (f"{mirror}" if mirror is not None
                         else f"$CCA_CORE_DATA_DIR/{module}/{module}.npz (CCA_CORE_DATA_DIR is not set)")
                raise RuntimeError(f"could not load {module!r} through keras.datasets ({type(err).__name__}: {err}); "
                                   f"on an offline machine put a copy at {where} with arrays "
                                   f"x_train, y_train, x_test, y_test") from err
        x_train = np.asarray(x_train, dtype=np.float64)
        x_test = np.asarray(x_test, dtype=np.float64)
        if x_train.ndim == 3:  # grayscale (N, H, W) -> (N, H, W, 1)
            x_train, x_test = x_train[..., None], x_test[..., None]
        return (x_train, np.asarray(y_train, dtype=np.int64).ravel(),
                x_test, np.asarray(y_test, dtype=np.int64).ravel(), num_classes)

    return load


_LOADERS: dict[str, Callable[[], tuple]] = {
    "digits": _load_digits,
    "mnist": _keras_loader("mnist", 10),
    "fashion_mnist": _keras_loader("fashion_mnist", 10),
    "cifar10": _keras_loader("cifar10", 10),
}

#: Dataset names understood by :func:`load_dataset`; ``"digits"`` is embedded, the others need
#: network access the first time, or a copy in the data directory (:func:`mirror_path`).
KNOWN_DATASETS: tuple[str, ...] = tuple(_LOADERS)


def random_label_permutation(n_train: int) -> np.ndarray:
    """The fixed permutation of ``range(n_train)`` that makes random training labels.

    Drawn from ``numpy.random.default_rng(RANDOM_LABEL_SEED)``, so it depends only on the size of
    the training split, never on a network's seed.
    """
    return np.random.default_rng(RANDOM_LABEL_SEED).permutation(n_train)


def load_dataset(name: str = "digits", labels: LabelMode = "true") -> Dataset:
    """Load a dataset as standardized ``(N, H, W, C)`` float32 images and int64 labels.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion_mnist", "cifar10"}
        ``"digits"`` is scikit-learn's bundled 8x8 digits (1797 images), split once with
        :data:`DIGITS_SPLIT_SEED` into 1348 training and 449 test images. The others come through
        ``keras.datasets`` with their canonical train/test splits.
    labels : {"true", "random"}
        ``"random"`` replaces the training labels by ``y_train[random_label_permutation(N)]``:
        a fixed permutation shared by every network, so the label counts are unchanged but the
        labels carry no information about the images. Test labels are always true.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Unknown ``name`` or ``labels``; the message lists the known values.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
    if labels not in LABEL_MODES:
        raise ValueError(f"unknown label mode {labels!r}; known label modes: {', '.join(LABEL_MODES)}")
    x_train, y_train, x_test, y_test, num_classes = _LOADERS[name]()
    x_train, x_test = _standardize(x_train, x_test)
    if labels == "random":
        y_train = y_train[random_label_permutation(len(y_train))]
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=num_classes, name=name, labels=labels)

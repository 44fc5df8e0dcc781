"""The CNNs: their architecture, deterministic Keras training cached on disk, sweeps through executors.

Training is a pure function of a :class:`TrainConfig`. :func:`train` stores its result -- weights at
every checkpoint epoch (epoch 0 = at initialization), the per-epoch history, final train and test
accuracy -- in ``cache_dir/<key>.npz``, where the key (:func:`cache_key`) is the SHA-256 of the
configuration as canonical JSON together with a fingerprint of the source code that defines
training (:func:`code_fingerprint`: ``cache.py``, ``cnn.py``, ``datasets.py``).
Files are written to a temporary file in the same directory and renamed with :func:`os.replace`, so
a cache file is either complete or absent: a rerun retrains nothing it has, and an interrupted sweep
loses only the networks in flight. The storage, key and sweep mechanics are shared with the language
models in :mod:`~cca_core.experiments.training.cache`.

Training runs each epoch as one TensorFlow graph (a loop over the epoch's minibatches) rather than
through ``keras.Model.fit``, whose per-step machinery cost several times the arithmetic of these
small networks (``benchmarks/train_bench.py``). After every epoch (and at initialization) the
batch-normalization layers' moving statistics are set to the population statistics of their inputs
over the first :data:`POPULATION_EXAMPLES` training examples (all of the digits;
:func:`population_statistics_function`), so that the test loss and the
activations compared by CCA are functions of the weights, not of the last few minibatches.

Reproducibility: :func:`train` calls ``keras.utils.set_random_seed(config.seed)`` (Python, NumPy and
TensorFlow seeds) and ``tf.config.experimental.enable_op_determinism()`` before building the model,
so training the same configuration twice on the same machine and software gives bitwise identical
weights. Op determinism is process-wide and stays on once a network has been trained.

Networks of one architecture trained one after another in a process share their traced TensorFlow
functions (:func:`_trainer`): the model's variables are reset to the new network's initial weights
and the optimizer's to zero, which trains the same bits as a fresh build and saves the tracing (about
1.5 s a network).

Parallel sweeps: :func:`train_many` takes any object with a ``submit(fn, *args)`` method returning a
future (``concurrent.futures.ProcessPoolExecutor``, ``distributed.Client.get_executor()``, ...).
With a process pool, prefer ``mp_context=multiprocessing.get_context("spawn")``: TensorFlow is not
fork-safe once imported in the parent.

Architecture (:func:`build_cnn`), after A. S. Morcos, M. Raghu, S. Bengio, "Insights on representational similarity in neural
networks with canonical correlation", NeurIPS 2018, section 3: plain stacks of 3x3 convolutions,
each followed by batch normalization and ReLU, the number of filters doubling at every strided
(stride 2) layer, then global average pooling and a dense softmax classifier. Depth, base width and
the position of strided layers are parameters so that width and depth sweeps share one builder.

Layer names are stable so analyses can ask for them by name::

    input, conv_1, bn_1, relu_1, ..., conv_n, bn_n, relu_n, gap, logits, softmax
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterable, Sequence
from numbers import Integral
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from cca_core.experiments.training.datasets import KNOWN_DATASETS, LABEL_MODES
from cca_core.experiments.training.cache import (OPTIMIZERS, RunConfig, check_diverged, digest, epoch_orders,
                                                 is_integer, learning_rate_at, load_checkpoints, make_optimizer,
                                                 record_checkpoints, save_checkpoints, source_fingerprint)
from cca_core.experiments.training.sweeps import SequentialExecutor, report_epoch, sweep

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["BN_MOMENTUM", "POPULATION_EXAMPLES", "build_cnn", "population_statistics_function", "default_strides", "layer_names", "layer_widths", "validate_architecture",
           "TrainConfig", "TrainResult", "OPTIMIZERS", "SequentialExecutor", "cache_key", "cache_path",
           "code_fingerprint", "load_result", "load_model", "model_from_result", "train", "train_many"]

#: Bumped when the layout of cache files changes.
CACHE_FORMAT: int = 1
#: Modules whose source code defines what a cached network is (hashed into every key).
TRAINING_MODULES: tuple[str, ...] = ("cache.py", "cnn.py", "datasets.py")


# ----------------------------------------------------------------------------------------------------
# architecture


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


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """Everything that determines a trained network.

    Parameters
    ----------
    dataset : str
        A name from :data:`~cca_core.experiments.training.datasets.KNOWN_DATASETS`.
    labels : {"true", "random"}
        ``"random"``: the fixed permutation of the training labels (memorizing networks).
    depth, width : int
        Number of conv layers and filters of the first one (see
        :func:`~cca_core.experiments.training.cnn.build_cnn`).
    strides : tuple of int, optional
        1-based indices of strided conv layers; ``None`` becomes the default (every second layer).
    learning_rate : float
    optimizer : {"sgd", "momentum", "adam"}
    epochs : int
        Number of passes over the training data, >= 0.
    batch_size : int
    seed : int
        Seeds weight initialization and data shuffling (not the random labels, which are fixed).
    checkpoints : tuple of int, optional
        Epochs whose weights are stored; 0 is at initialization, -1 means ``epochs``. ``None``
        becomes ``(0, epochs)``.
    lr_decay : float
        Step decay of the learning rate: every epoch after ``decay_after`` multiplies it by
        ``lr_decay``, in (0, 1]; 1: a constant rate
        (:func:`~cca_core.experiments.training.cache.learning_rate_at`).
    decay_after : int
        Epochs trained at ``learning_rate`` before the decay starts; with ``lr_decay < 1`` it must be
        below ``epochs``.

    Notes
    -----
    Fields are normalized on construction (``strides`` and ``checkpoints`` to sorted tuples with
    defaults resolved, ``learning_rate`` to float), so configurations that train the same network
    compare equal and share a cache key.
    """

    dataset: str = "digits"
    labels: str = "true"
    depth: int = 3
    width: int = 8
    strides: tuple[int, ...] | None = None
    learning_rate: float = 0.01
    optimizer: str = "momentum"
    epochs: int = 2
    batch_size: int = 32
    seed: int = 0
    checkpoints: tuple[int, ...] | None = None
    lr_decay: float = 1.0
    decay_after: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in KNOWN_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
        if self.labels not in LABEL_MODES:
            raise ValueError(f"unknown label mode {self.labels!r}; known label modes: {', '.join(LABEL_MODES)}")
        strides = validate_architecture(self.depth, self.width, self.strides)
        for field in ("batch_size", "seed"):
            value = getattr(self, field)
            if not is_integer(value):
                raise ValueError(f"{field} must be an integer, got {value!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self._normalize_schedule()
        object.__setattr__(self, "strides", strides)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "batch_size", int(self.batch_size))
        object.__setattr__(self, "seed", int(self.seed))

    def short(self) -> str:
        """A one-line human-readable summary for progress messages."""
        decay = f" x{self.lr_decay:g} after epoch {self.decay_after}" if self.lr_decay < 1 else ""
        return (f"{self.dataset}/{self.labels} depth={self.depth} width={self.width} "
                f"{self.optimizer} lr={self.learning_rate:g}{decay} epochs={self.epochs} seed={self.seed}")


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` stores for one network.

    Attributes
    ----------
    config : TrainConfig
    key : str
        Cache key (file name stem).
    path : Path
        Cache file.
    weights : dict[int, list of ndarray]
        ``model.get_weights()`` at each checkpoint epoch (0 = initialization), including the
        batch-normalization moving statistics (the population statistics of the training set's first
        :data:`POPULATION_EXAMPLES` examples at those weights).
    history : dict[str, list of float]
        Per-epoch training ``loss`` and ``accuracy`` (training mode: the mean over the epoch's
        minibatches, each measured before its step),
        ``val_loss`` and ``val_accuracy`` on the test split (inference mode) and the ``learning_rate``
        each epoch trained at.
    train_accuracy, test_accuracy, train_loss, test_loss : float
        Final evaluation in inference mode; ``train_*`` on the labels trained on.
    input_shape : tuple of int
    num_classes : int
    train_seconds : float
        Wall time that training took when it was run.
    cached : bool
        True when this call loaded the result instead of training.
    """

    config: TrainConfig
    key: str
    path: Path
    weights: dict[int, list[np.ndarray]]
    history: dict[str, list[float]]
    train_accuracy: float
    test_accuracy: float
    train_loss: float
    test_loss: float
    input_shape: tuple[int, ...]
    num_classes: int
    train_seconds: float
    cached: bool


# ----------------------------------------------------------------------------------------------------
# cache keys


def code_fingerprint(paths: Sequence[str | os.PathLike] | None = None) -> str:
    """SHA-256 over the source files that define training (default :data:`TRAINING_MODULES`); see
    :func:`~cca_core.experiments.training.cache.source_fingerprint`."""
    if paths is None:
        here = Path(__file__).resolve().parent
        paths = [here / name for name in TRAINING_MODULES]
    return source_fingerprint(paths)


def cache_key(config: TrainConfig) -> str:
    """SHA-256 hex digest of the canonical JSON of ``config``, the code fingerprint and cache format.

    Canonical JSON: sorted keys, no whitespace, floats by ``repr``. Stable across processes and
    machines for the same configuration and the same source code; does not import TensorFlow.
    """
    return digest({"config": config.to_dict(), "code": code_fingerprint(), "format": CACHE_FORMAT})


def cache_path(config: TrainConfig, cache_dir: str | os.PathLike) -> Path:
    """File where the result of ``config`` lives: ``cache_dir/<cache_key>.npz``."""
    return Path(cache_dir) / f"{cache_key(config)}.npz"


# ----------------------------------------------------------------------------------------------------
# storage


def _save(path: Path, key: str, config: TrainConfig, weights: dict[int, list[np.ndarray]],
          meta: dict[str, Any]) -> None:
    save_checkpoints(path, weights, dict(meta, key=key, config=config.to_dict(), format=CACHE_FORMAT))


def _load(path: Path, config: TrainConfig) -> TrainResult:
    meta, weights = load_checkpoints(path, config.to_dict(), config.checkpoints)
    return TrainResult(config=config, key=meta["key"], path=path, weights=weights,
                       history={k: [float(v) for v in vs] for k, vs in meta["history"].items()},
                       train_accuracy=meta["train_accuracy"], test_accuracy=meta["test_accuracy"],
                       train_loss=meta["train_loss"], test_loss=meta["test_loss"],
                       input_shape=tuple(meta["input_shape"]), num_classes=meta["num_classes"],
                       train_seconds=meta["train_seconds"], cached=True)


def load_result(config: TrainConfig, cache_dir: str | os.PathLike) -> TrainResult | None:
    """The cached result of ``config`` in ``cache_dir``, or ``None`` when it has not been trained."""
    path = cache_path(config, cache_dir)
    if not path.exists():
        return None
    return _load(path, config)


# ----------------------------------------------------------------------------------------------------
# training


@dataclass
class _Trainer:
    """One architecture's model, optimizer and traced functions, reused by the networks of that
    architecture trained one after another in a process (:func:`_trainer`)."""

    model: Any
    optimizer: Any
    train_epoch: Any
    evaluate: Any
    set_population_statistics: Any


#: The trainers of this process, by thread, architecture and data (:func:`_trainer`); the last few only.
#: Keyed by thread so that two threads of one process never train on one model at once.
_TRAINERS: dict[tuple[Any, ...], _Trainer] = {}
_TRAINERS_KEPT = 2


def _trainer(config: TrainConfig, data: Any) -> _Trainer:
    """A model of ``config``'s architecture holding its initial weights (drawn after
    ``keras.utils.set_random_seed(config.seed)``), an optimizer in its initial state, and the traced
    epoch, evaluation and population-statistics functions for it.

    Tracing an epoch's graph costs about 1.5 s, as much as 15 epochs of a width-8 network, so a trainer
    is kept per thread, architecture and data and reused: a fresh model is built (drawing the initial
    weights as always) and its weights copied into the kept one, whose optimizer variables (step count,
    moments, learning rate: :func:`_fit` sets it every epoch) are set to zero. The traced graphs are then the same computation on the same values, and train the
    same bits as a freshly built trainer (``tests/experiments/training/test_exp_training.py``)."""
    key = (threading.get_ident(), config.depth, config.width, config.strides, config.dataset, config.labels,
           config.optimizer, max(256, config.batch_size))
    model = build_cnn(config.depth, config.width, config.strides, data.input_shape, data.num_classes)
    kept = _TRAINERS.pop(key, None)
    if kept is not None:
        _TRAINERS[key] = kept
        kept.model.set_weights(model.get_weights())
        for variable in kept.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        kept.set_population_statistics()
        return kept
    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    optimizer.build(model.trainable_variables)
    trainer = _Trainer(model, optimizer, _epoch_function(model, optimizer, data.x_train, data.y_train),
                       _evaluation_function(model, key[-1]),
                       population_statistics_function(model, data.x_train[:POPULATION_EXAMPLES]))
    trainer.set_population_statistics()
    while len(_TRAINERS) >= _TRAINERS_KEPT:
        _TRAINERS.pop(next(iter(_TRAINERS)))  # the least recently used (a reused one moves to the end)
    _TRAINERS[key] = trainer
    return trainer


def _fit(config: TrainConfig) -> tuple[dict[int, list[np.ndarray]], dict[str, Any]]:
    import keras
    import tensorflow as tf

    from cca_core.experiments.training.checks import check_trainable
    from cca_core.experiments.training.datasets import load_dataset

    check_trainable([config])
    keras.backend.clear_session()  # Keras' global state; a kept trainer's model and graphs live on
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    data = load_dataset(config.dataset, config.labels)
    trainer = _trainer(config, data)
    model, optimizer, evaluate = trainer.model, trainer.optimizer, trainer.evaluate
    snapshots, record = record_checkpoints(model, config.checkpoints)

    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [],
                                       "learning_rate": []}
    orders = epoch_orders(len(data.x_train), config.batch_size, config.seed, drop_remainder=True)
    for epoch in range(1, config.epochs + 1):
        rate = learning_rate_at(epoch, config.learning_rate, config.lr_decay, config.decay_after)
        optimizer.learning_rate = rate
        loss, accuracy = (float(v) for v in trainer.train_epoch(tf.constant(next(orders), dtype=tf.int32)))
        trainer.set_population_statistics()
        # The test split after every epoch (history "val_loss", "val_accuracy"): the learning curve on
        # which the pages judge whether a network stopped improving.
        val_loss, val_accuracy = evaluate(data.x_test, data.y_test)
        check_diverged(config, epoch, float(np.log(data.num_classes)), "training loss", loss, test_loss=val_loss)
        for key, value in (("loss", loss), ("accuracy", accuracy), ("val_loss", val_loss),
                           ("val_accuracy", val_accuracy), ("learning_rate", rate)):
            history[key].append(value)
        record(epoch)
        report_epoch(epoch, f"loss {loss:.3f}, test loss {val_loss:.3f}")
    train_loss, train_accuracy = evaluate(data.x_train, data.y_train)
    if config.epochs:  # the last epoch's test evaluation is the final one
        test_loss, test_accuracy = history["val_loss"][-1], history["val_accuracy"][-1]
    else:
        test_loss, test_accuracy = evaluate(data.x_test, data.y_test)
    meta = {"history": history,
            "train_accuracy": train_accuracy, "train_loss": train_loss,
            "test_accuracy": test_accuracy, "test_loss": test_loss,
            "input_shape": list(data.input_shape), "num_classes": int(data.num_classes),
            "weight_paths": [w.path for w in model.weights],
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}}
    return snapshots, meta


#: Training examples (the first of the training split) whose statistics become the batch-normalization
#: layers' moving statistics after every epoch (:func:`population_statistics_function`): all of the digits'.
POPULATION_EXAMPLES: int = 2048


def population_statistics_function(model: "keras.Model", x: np.ndarray) -> Any:
    """``update()``: set every batch-normalization layer's moving mean and variance to the mean and (biased)
    variance of its input over the examples ``x``, per channel, in inference mode with the layers below
    already set: the population statistics that the exponential moving average of training estimates
    ("precise BN", Y. Wu and J. Johnson, "Rethinking 'Batch' in BatchNorm", 2021, section 3).

    Training (which normalizes with batch statistics) is unchanged; what changes is every inference-mode
    output -- test loss, activations compared by CCA -- which becomes a function of the weights alone.
    With minibatches reshuffled every epoch, the moving average with momentum :data:`BN_MOMENTUM`
    remembers the last ten or so minibatches, and its noise moved the test loss by several percent from
    one epoch to the next after the learning rate had decayed, so that networks failed the convergence
    criterion on noise (``tests/experiments/training/test_exp_training.py``).

    ``model``: a chain of layers as :func:`build_cnn` makes; ``x``: ``(N, H, W, C)``, all ``N`` examples in
    one graph (one layer's output of all of them in memory at a time).
    """
    import keras
    import tensorflow as tf

    x_all = tf.constant(x)
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    norms = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.BatchNormalization)]

    @tf.function
    def update() -> None:
        h = x_all
        for layer in chain[:norms[-1] + 1] if norms else []:
            if isinstance(layer, keras.layers.BatchNormalization):
                mean, variance = tf.nn.moments(h, axes=[0, 1, 2])
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
            h = layer(h, training=False)

    return update


def _epoch_function(model: "keras.Model", optimizer: Any, x_train: np.ndarray, y_train: np.ndarray) -> Any:
    """One epoch of minibatch training as one TensorFlow graph: ``train_epoch(order)`` takes the
    ``(steps, batch)`` indices of the epoch's minibatches into ``x_train``, takes a step of
    ``optimizer`` on each (training mode: batch statistics, moving statistics updated) and returns the
    mean over the steps of the minibatch loss and accuracy.

    The whole epoch runs in one call, so Python and ``keras.Model.fit``'s per-step machinery run once
    an epoch instead of once a step: for the book's small CNNs that machinery cost several times the
    arithmetic (``benchmarks/train_bench.py``)."""
    import keras
    import tensorflow as tf

    x_all, y_all = tf.constant(x_train), tf.constant(y_train)
    variables = model.trainable_variables

    @tf.function
    def train_epoch(order: Any) -> tuple[Any, Any]:
        loss_sum, hits = tf.constant(0.0), tf.constant(0.0)
        for step in tf.range(tf.shape(order)[0]):
            x, y = tf.gather(x_all, order[step]), tf.gather(y_all, order[step])
            with tf.GradientTape() as tape:
                p = model(x, training=True)
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, p))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            loss_sum += loss
            hits += tf.reduce_mean(tf.cast(tf.equal(tf.argmax(p, axis=-1), y), tf.float32))
        steps = tf.cast(tf.shape(order)[0], tf.float32)
        return loss_sum / steps, hits / steps

    return train_epoch


def _evaluation_function(model: "keras.Model", batch_size: int) -> Any:
    """``evaluate(x, y) -> (loss, accuracy)`` in inference mode (moving statistics), over chunks of
    ``batch_size`` examples: mean cross-entropy and the fraction classified correctly. The last chunk is
    padded to ``batch_size`` and the padding masked out, so the graph is traced once."""
    import keras
    import tensorflow as tf

    @tf.function
    def chunk(x: Any, y: Any, weight: Any) -> tuple[Any, Any]:
        p = model(x, training=False)
        hit = tf.cast(tf.equal(tf.argmax(p, axis=-1), y), tf.float32)
        return (tf.reduce_sum(weight * keras.losses.sparse_categorical_crossentropy(y, p)),
                tf.reduce_sum(weight * hit))

    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        n, loss, hits = len(x), 0.0, 0.0
        for i in range(0, n, batch_size):
            xs, ys = x[i:i + batch_size], y[i:i + batch_size]
            weight = np.ones(batch_size, dtype=np.float32)
            if len(xs) < batch_size:
                weight[len(xs):] = 0.0
                xs = np.concatenate([xs, np.zeros((batch_size - len(xs), *xs.shape[1:]), xs.dtype)])
                ys = np.concatenate([ys, np.zeros(batch_size - len(ys), ys.dtype)])
            chunk_loss, chunk_hits = chunk(xs, ys, weight)
            loss, hits = loss + float(chunk_loss), hits + float(chunk_hits)
        return loss / n, hits / n

    return evaluate


def train(config: TrainConfig, cache_dir: str | os.PathLike) -> TrainResult:
    """Train ``config`` (or load it from ``cache_dir`` if it is there) and return its result.

    Deterministic: seeds everything from ``config.seed`` and enables TensorFlow op determinism.
    The loss is sparse categorical cross-entropy on the softmax output; the optimizer is
    ``config.optimizer`` at the rate :func:`~cca_core.experiments.training.cache.learning_rate_at` gives
    each epoch. Every epoch draws a fresh permutation of the training set from
    ``np.random.default_rng(config.seed)`` and cuts it into ``N // batch_size`` minibatches; the last
    ``N mod batch_size`` examples of the permutation sit that epoch out. The epoch runs as one
    TensorFlow graph (:func:`_epoch_function`). After every epoch (and at initialization) the
    batch normalizations take the population statistics of the first :data:`POPULATION_EXAMPLES`
    training examples (:func:`population_statistics_function`); the test split is evaluated after every
    epoch, and the last of these evaluations is the final ``test_loss``/``test_accuracy``.

    Raises
    ------
    ValueError
        ``config.batch_size`` above the training examples (before training).
    DivergedError
        (:class:`~cca_core.experiments.training.cache.DivergedError`) The training loss became NaN,
        infinite or more than ten times the chance level ``ln(num_classes)``, or the test loss NaN or
        infinite (:func:`~cca_core.experiments.training.cache.check_diverged`); names the configuration
        and the epoch, and nothing is cached.

    Parameters
    ----------
    config : TrainConfig
    cache_dir : path
        Directory of the cache (created if needed).

    Returns
    -------
    TrainResult
        ``cached`` tells whether it was loaded rather than trained.
    """
    path = cache_path(config, cache_dir)
    if path.exists():
        return _load(path, config)
    start = time.perf_counter()
    weights, meta = _fit(config)
    meta["train_seconds"] = time.perf_counter() - start
    key = path.stem
    _save(path, key, config, weights, meta)
    result = _load(path, config)
    return dataclasses.replace(result, cached=False)


def model_from_result(result: TrainResult, epoch: int | None = None) -> "keras.Model":
    """Rebuild the Keras model of ``result`` with its weights at checkpoint ``epoch``.

    ``epoch=None`` (or -1) takes the last checkpoint. Raises ``ValueError`` for an epoch that was
    not checkpointed, listing those that were.
    """

    if epoch is None or epoch == -1:
        epoch = max(result.weights)
    if epoch not in result.weights:
        raise ValueError(f"epoch {epoch} was not checkpointed; available checkpoints: {sorted(result.weights)}")
    c = result.config
    model = build_cnn(c.depth, c.width, c.strides, result.input_shape, result.num_classes)
    model.set_weights(result.weights[epoch])
    return model


def load_model(config: TrainConfig, cache_dir: str | os.PathLike, epoch: int | None = None) -> "keras.Model":
    """Rebuild the trained model of ``config`` at checkpoint ``epoch`` from the cache.

    Raises
    ------
    FileNotFoundError
        ``config`` is not in ``cache_dir`` (call :func:`train` first).
    ValueError
        ``epoch`` was not checkpointed.
    """
    result = load_result(config, cache_dir)
    if result is None:
        raise FileNotFoundError(f"{config.short()} is not in cache {cache_dir} "
                                f"(expected {cache_path(config, cache_dir).name}); call train(config, cache_dir) first")
    return model_from_result(result, epoch)


# ----------------------------------------------------------------------------------------------------
# sweeps


def train_many(configs: Iterable[TrainConfig], cache_dir: str | os.PathLike, executor: Any = None, *,
               progress: bool = True, stream: IO[str] | None = None) -> list[TrainResult]:
    """Train (or load) many independent networks, optionally in parallel.

    Cached networks are loaded in the caller; the others are submitted as ``train(config,
    cache_dir)`` to ``executor``. Each network is written to the cache as soon as it finishes, so an
    interrupted sweep loses only the networks in flight and a rerun trains only those.

    Parameters
    ----------
    configs : iterable of TrainConfig
    cache_dir : path
    executor : object with ``submit(fn, *args)``, optional
        ``concurrent.futures.ProcessPoolExecutor`` (spawn context recommended), a Dask client's
        ``get_executor()``, ... Default: :func:`~cca_core.experiments.training.sweeps.local_executor`, one training
        process per core (``$CCA_CORE_TRAIN_WORKERS`` to change), each running TensorFlow on one
        thread; :class:`SequentialExecutor` trains one after another in this process.
    progress : bool
        Print one line per network and a sweep summary to ``stream`` (default ``sys.stderr``), e.g.
        ``[3/10] training digits/true depth=3 ... done in 12.3 s, test acc 0.97`` or ``... cached``.

    Returns
    -------
    list of TrainResult
        In the order of ``configs``, which also numbers the progress lines and
        :class:`~cca_core.experiments.training.sweeps.SweepError`'s failures; they are trained longest
        first (epochs times the arithmetic of the conv layers).
    """
    def done_message(result: TrainResult) -> str:
        return f"done in {result.train_seconds:.1f} s, test acc {result.test_accuracy:.3f}"

    # Longest first, so that the widest networks do not end the sweep on one core while the others idle.
    return sweep(configs, cache_dir, train, load_result, done_message, executor, progress=progress, stream=stream,
                 cost=_arithmetic)


def _arithmetic(config: TrainConfig) -> float:
    """Relative cost of training ``config``: epochs times the multiply-adds of its conv layers on an
    input of unit area (each layer's area quartered by a stride; the input's channels count as one)."""
    area, total, previous = 1.0, 0.0, 1
    for i, w in enumerate(layer_widths(config.depth, config.width, config.strides), start=1):
        area /= 4.0 if i in config.strides else 1.0
        total += area * previous * w
        previous = w
    return config.epochs * total

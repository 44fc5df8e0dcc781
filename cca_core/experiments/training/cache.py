"""What every cached training run shares: keys, checkpointed weights on disk, optimizers, divergence.

:mod:`~cca_core.experiments.training.cnn` (CNNs) and :mod:`~cca_core.experiments.training.lstm`
(LSTMs) each define a configuration dataclass and a ``_fit``; what both need is here, once:

- cache keys: :func:`config_dict` (a configuration as canonical JSON-ready data), :func:`source_fingerprint`
  (SHA-256 of the source files that define a result) and :func:`digest` (SHA-256 of canonical JSON);
- configurations: :class:`RunConfig`, the base of both configuration dataclasses (``to_dict`` /
  ``from_dict``, the canonical form hashed into keys, and the checks of the training schedule both
  share: optimizer, learning rate and its decay, epochs, checkpoints);
- storage: :func:`save_checkpoints` / :func:`load_checkpoints` (weights at the checkpoint epochs and
  a JSON ``meta`` record in one ``.npz`` file, written atomically by
  :func:`cca_core.experiments.files.atomic_write`);
- training: :func:`normalize_checkpoints`, :func:`make_optimizer`, :func:`learning_rate_at` (the
  step decay of the learning rate), :func:`epoch_orders` (a fresh shuffle of the training examples
  every epoch), :func:`record_checkpoints`, and :func:`check_diverged` with :class:`DivergedError`.

Sweeps of many runs (executors, progress, failures) are in :mod:`~cca_core.experiments.training.sweeps`,
which decides nothing about a trained network. This module is part of the code fingerprint of both kinds
of cached results: editing it gives new keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import IO, Any

import numpy as np

from cca_core.experiments.files import atomic_write

__all__ = ["DIVERGENCE_FACTOR", "OPTIMIZERS", "DivergedError", "RunConfig", "check_diverged", "config_dict", "digest",
           "epoch_orders", "is_integer", "learning_rate_at", "load_checkpoints", "make_optimizer", "normalize_checkpoints",
           "record_checkpoints", "save_checkpoints", "source_fingerprint"]

#: Optimizers understood by the configurations: plain SGD, SGD with momentum 0.9, Adam.
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")


# ----------------------------------------------------------------------------------------------------
# keys


def config_dict(config: Any) -> dict[str, Any]:
    """A configuration dataclass as a JSON-serializable dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def is_integer(value: object) -> bool:
    """``value`` is an integer (Python or NumPy), not a bool."""
    return not isinstance(value, bool) and isinstance(value, Integral)


class RunConfig:
    """Base of the configuration dataclasses of cached runs (:class:`~cca_core.experiments.training.cnn.TrainConfig`,
    :class:`~cca_core.experiments.training.lstm.LMConfig`): their canonical dict form and back, and the
    checks of the training schedule that both share (fields ``optimizer``, ``learning_rate``, ``epochs``,
    ``lr_decay``, ``decay_after``, ``checkpoints``)."""

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serializable dict (tuples become lists): what cache keys hash."""
        return config_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)

    def _normalize_schedule(self) -> None:
        """Check the training schedule and store its normalized values (``learning_rate`` and
        ``lr_decay`` as floats, ``epochs`` and ``decay_after`` as ints, ``checkpoints`` as a sorted tuple).
        ``decay_after`` is stored as 0 when ``lr_decay`` is 1: it changes nothing then, and the same
        network must have one cache key whatever ``decay_after`` was given.

        Raises ``ValueError`` naming the field: an unknown optimizer; a learning rate that is not a
        finite number > 0; ``epochs`` or ``decay_after`` not an integer >= 0; ``lr_decay`` outside
        (0, 1]; a decay that starts after the last epoch; checkpoints outside ``0 .. epochs``."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known optimizers: {', '.join(OPTIMIZERS)}")
        for field in ("learning_rate", "lr_decay"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{field} must be a finite number, got {value!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a finite number > 0, got {self.learning_rate!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be a finite number in (0, 1] (1 = a constant learning rate), "
                             f"got {self.lr_decay!r}")
        for field in ("epochs", "decay_after"):
            value = getattr(self, field)
            if not is_integer(value):
                raise ValueError(f"{field} must be an integer, got {value!r}")
            if value < 0:
                raise ValueError(f"{field} must be >= 0, got {value}")
        if self.lr_decay < 1 and self.epochs > 0 and self.decay_after >= self.epochs:
            raise ValueError(f"decay_after={self.decay_after} leaves no epoch to decay the learning rate in "
                             f"(epochs={self.epochs}): make it below epochs, or lr_decay 1")
        checkpoints = None if self.checkpoints is None else tuple(self.checkpoints)  # any iterable, read once
        if checkpoints is not None and not all(is_integer(e) for e in checkpoints):
            raise ValueError(f"checkpoints must be integers, got {checkpoints!r}")
        checkpoints = normalize_checkpoints(checkpoints, int(self.epochs))
        for field, kind in (("learning_rate", float), ("lr_decay", float), ("epochs", int), ("decay_after", int)):
            object.__setattr__(self, field, kind(getattr(self, field)))
        if self.lr_decay == 1:
            object.__setattr__(self, "decay_after", 0)
        object.__setattr__(self, "checkpoints", checkpoints)


def source_fingerprint(paths: Sequence[str | os.PathLike]) -> str:
    """SHA-256 over source files: each contributes its base name and its bytes, so any edit (even a
    comment) gives a new fingerprint."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        data = p.read_bytes()
        h.update(p.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def digest(payload: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``payload`` as canonical JSON (sorted keys, no whitespace, floats by ``repr``)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_checkpoints(checkpoints: Iterable[int] | None, epochs: int) -> tuple[int, ...]:
    """Checkpoint epochs as a sorted tuple: ``None`` -> ``(0, epochs)``, -1 -> ``epochs``.

    Raises ``ValueError`` when an epoch falls outside ``0 .. epochs`` or none is left."""
    raw = (0, epochs) if checkpoints is None else tuple(checkpoints)
    normalized = tuple(sorted({int(epochs) if int(e) == -1 else int(e) for e in raw}))
    if not normalized or normalized[0] < 0 or normalized[-1] > epochs:
        raise ValueError(f"checkpoints must be epochs in 0..{epochs} (or -1 for the last), got {checkpoints!r}")
    return normalized


# ----------------------------------------------------------------------------------------------------
# storage


def save_checkpoints(path: Path, weights: dict[int, list[np.ndarray]], meta: dict[str, Any]) -> None:
    """Write the weights of every checkpoint epoch and ``meta`` (JSON; ``n_weights`` is added) atomically."""
    arrays: dict[str, np.ndarray] = {}
    for epoch, ws in weights.items():
        for i, w in enumerate(ws):
            arrays[f"w_e{epoch}_{i:04d}"] = np.asarray(w)
    meta = dict(meta, n_weights=len(next(iter(weights.values()))) if weights else 0)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoints(path: Path, config: dict[str, Any],
                     epochs: Iterable[int]) -> tuple[dict[str, Any], dict[int, list[np.ndarray]]]:
    """``meta`` and the weights at ``epochs`` from a file of :func:`save_checkpoints`.

    Raises ``ValueError`` when the file's ``meta["config"]`` is not ``config``."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta["config"] != config:
            raise ValueError(f"cache file {path} holds another configuration: {meta['config']}")
        weights = {e: [npz[f"w_e{e}_{i:04d}"] for i in range(meta["n_weights"])] for e in epochs}
    return meta, weights


# ----------------------------------------------------------------------------------------------------
# training


def learning_rate_at(epoch: int, learning_rate: float, lr_decay: float = 1.0, decay_after: int = 0) -> float:
    """The learning rate of epoch ``epoch`` (1-based) under step decay (Zaremba et al. 2014, section 4).

    Epochs ``1 .. decay_after`` train at ``learning_rate``; every later epoch multiplies it by
    ``lr_decay``: epoch ``e`` trains at ``learning_rate * lr_decay ** max(0, e - decay_after)``.
    ``lr_decay = 1`` is a constant rate.
    """
    return float(learning_rate) * float(lr_decay) ** max(0, int(epoch) - int(decay_after))


def make_optimizer(name: str, learning_rate: float, global_clipnorm: float = 0.0) -> Any:
    """The Keras optimizer ``name`` (see :data:`OPTIMIZERS`), clipping the gradient's global norm
    when ``global_clipnorm > 0``."""
    import keras

    clip = {"global_clipnorm": global_clipnorm} if global_clipnorm > 0 else {}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, **clip)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(learning_rate=learning_rate, **clip)


def epoch_orders(n_examples: int, batch_size: int, seed: int, drop_remainder: bool) -> Iterable[np.ndarray]:
    """The order of the training examples in each epoch: for every epoch, a fresh permutation of
    ``range(n_examples)`` drawn from ``np.random.default_rng(seed)``, one generator for the whole run.

    ``drop_remainder``: the permutation's first ``n // batch_size * batch_size`` indices as a
    ``(steps, batch_size)`` array (the rest sit the epoch out); otherwise the whole permutation, for a
    trainer whose last minibatch is smaller. The CNNs train each epoch as one graph over these
    minibatches; the language models give the order to Keras' ``fit(shuffle=False)``, since
    ``fit(shuffle=True)`` under TensorFlow's op determinism visits the examples in the same order every
    epoch (``tests/experiments/training/test_exp_training.py``)."""
    rng = np.random.default_rng(seed)
    steps = n_examples // batch_size
    while True:
        order = rng.permutation(n_examples)
        yield order[:steps * batch_size].reshape(steps, batch_size) if drop_remainder else order


#: A run has diverged when its loss exceeds this many times the chance level (see :func:`check_diverged`).
DIVERGENCE_FACTOR: float = 10.0


class DivergedError(FloatingPointError):
    """A training run whose loss became NaN, infinite, or more than :data:`DIVERGENCE_FACTOR` times the
    chance level; names the configuration and the epoch. Nothing of the run is cached."""


def check_diverged(config: Any, epoch: int, chance_level: float, name: str, loss: float, **others: float) -> None:
    """Raise :class:`DivergedError` when the loss ``name`` = ``loss`` (nats a prediction) is NaN,
    infinite or above :data:`DIVERGENCE_FACTOR` times ``chance_level`` (``ln K`` for ``K`` equally
    likely classes or words: the loss of predicting all of them alike), or when a loss in ``others``
    (keyword: its name with ``_`` for spaces) is NaN or infinite.

    A finite blow-up counts: with a far too large learning rate the cross-entropy of a saturated softmax
    stays finite (1.7e15 at rate 1e6) while the network predicts nothing. Only ``loss`` is held to the
    bound: a CNN that memorizes random labels legitimately reaches a test loss several times chance.
    """
    values = {name: loss, **{key.replace("_", " "): value for key, value in others.items()}}
    if all(math.isfinite(v) for v in values.values()) and loss <= DIVERGENCE_FACTOR * chance_level:
        return
    shown = ", ".join(f"{key} {value:.4g}" for key, value in values.items())
    raise DivergedError(f"{config.short()}: the loss diverged in epoch {epoch} ({shown}; the {name} must stay "
                        f"at most {DIVERGENCE_FACTOR:g} x the chance level {chance_level:.3g}); nothing was cached")


def record_checkpoints(model: Any, checkpoints: Sequence[int]) -> tuple[dict[int, list[np.ndarray]],
                                                                        Callable[[int], None]]:
    """Copy ``model``'s weights now (epoch 0, if asked for) and return ``(snapshots, record)``:
    ``record(epoch)`` (1-based, called when the epoch ends) adds a copy of the weights to ``snapshots``
    when ``epoch`` is in ``checkpoints``."""
    snapshots: dict[int, list[np.ndarray]] = {}

    def record(epoch: int) -> None:
        if epoch in checkpoints:
            snapshots[epoch] = [np.array(w, copy=True) for w in model.get_weights()]

    record(0)
    return snapshots, record

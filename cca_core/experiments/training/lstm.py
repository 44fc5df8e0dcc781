"""LSTM language models trained deterministically and cached on disk, and their hidden states.

The model (:func:`build_lm`) is the word-level LSTM language model of Zaremba et al. (2014), as used
by Morcos, Raghu & Bengio (2018, section 4), at a configurable size::

    tokens (batch, T) -> Embedding "embedding" -> [Dropout] -> LSTM "lstm_1" -> [Dropout] -> ...
                      -> LSTM "lstm_L" -> [Dropout] -> Dense "logits" -> softmax "softmax"

Every LSTM returns its whole sequence of hidden states ``h_t`` (``return_sequences=True``); dropout
(layers ``dropout_0`` .. ``dropout_L``, when ``dropout > 0``) acts only in training.

Training (:func:`train_lm`) is a pure function of an :class:`LMConfig`, cached like
:func:`cca_core.experiments.training.cnn.train`: ``cache_dir/lm-<key>.npz`` holds the weights at the
checkpoint epochs (0 = initialization), per-epoch history and the vocabulary size; the key is the
SHA-256 of the configuration as canonical JSON, a fingerprint of :data:`LM_MODULES` and
:data:`LM_CACHE_FORMAT`. Files are written atomically; keys, storage and divergence checks are shared
with the CNNs in :mod:`~cca_core.experiments.training.cache`, sweeps in
:mod:`~cca_core.experiments.training.sweeps`.

Simplifications, at the scale of the notebooks:

- **Stateless** LSTM: every training window of ``seq_len`` tokens starts from a zero state (Zaremba
  et al. carry the state across windows). The windows are those of
  :func:`cca_core.experiments.training.text.bptt_windows`; every epoch visits them in a fresh random
  order (:func:`~cca_core.experiments.training.cache.epoch_orders`), which a stateless model allows.
  (Keras' own ``fit(shuffle=True)`` under op determinism repeats one order every epoch: until this
  edition the models saw their windows in the same order in every epoch.)
- The validation perplexity recorded at every epoch is ``exp`` of the mean cross-entropy per token
  on the first ``eval_tokens`` tokens of the validation split, cut into windows of ``seq_len``
  (each starting from a zero state), in inference mode.

Training cost: the output softmax is most of a small language model's arithmetic (87% for PTB's
10,000 words at 3 x LSTM(64), 93% for WikiText-2's 33,278). With ``softmax_samples = k > 0`` the
training loss is the sampled softmax of Jean et al. (2015, "On using very large target vocabulary
for neural machine translation", section 3): each step scores the true next token against ``k``
candidates drawn from the log-uniform (Zipfian) distribution over the frequency-ordered ids of
:func:`~cca_core.experiments.training.text.build_vocab`, with the logQ correction of
``tf.nn.sampled_softmax_loss``. Validation loss and perplexity always use the full softmax. The
training graph unrolls the LSTMs over the ``seq_len`` steps of a window (the same weights; the
model that :func:`lm_from_result` rebuilds for analysis is not unrolled, so it takes any length).
The output bias starts at the log of the add-one unigram frequencies of the training tokens, so a
model starts as the word-frequency model (:func:`unigram_perplexity`, the bar it must beat) and the
sampled softmax, which updates few rare words' biases per step, does not have to learn them first.
``benchmarks/train_bench.py`` measures the tokens per second of both recipes.

Learning-rate schedule: the step decay of Zaremba et al. (2014, section 4.1): ``decay_after`` epochs
at ``learning_rate``, then the rate times ``lr_decay`` after every epoch
(:func:`~cca_core.experiments.training.cache.learning_rate_at`; the rate of each epoch is recorded in
the history). It is what lets the validation loss settle before the epoch cap, so that the last
checkpoint is a converged representation (:mod:`cca_core.experiments.analysis.learning`).

Determinism: ``keras.utils.set_random_seed(config.seed)`` and
``tf.config.experimental.enable_op_determinism()`` before the model is built, so the same
configuration gives bitwise identical weights on the same machine and software.

Hidden states: :func:`hidden_states` runs a model over ``(n_sequences, T)`` token windows and returns
each LSTM layer's ``h_t`` as ``(n_sequences, T, hidden)``; :mod:`~cca_core.experiments.analysis.sequences`
turns them into datapoints.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from cca_core.experiments.training.activations import layer_outputs
from cca_core.experiments.training.cache import (DivergedError, RunConfig, check_diverged, digest, epoch_orders,
                                                 is_integer, learning_rate_at, load_checkpoints, make_optimizer,
                                                 record_checkpoints, save_checkpoints, source_fingerprint)
from cca_core.experiments.training.sweeps import report_epoch, sweep
from cca_core.experiments.training.text import KNOWN_CORPORA, load_corpus, window_arrays

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["LMConfig", "LMResult", "LM_CACHE_FORMAT", "LM_MODULES", "lm_cache_key", "lm_cache_path",
           "build_lm", "lstm_layer_names", "train_lm", "train_lm_many", "load_lm_result", "lm_from_result",
           "eval_windows", "hidden_states", "perplexity",
           "training_models", "unigram_probabilities", "unigram_perplexity", "DivergedError"]

#: Bumped when the layout of LM cache files changes.
LM_CACHE_FORMAT: int = 1
#: Modules whose source defines what a cached language model is (hashed into every key).
LM_MODULES: tuple[str, ...] = ("cache.py", "lstm.py", "text.py")


@dataclass(frozen=True)
class LMConfig(RunConfig):
    """Everything that determines a trained language model.

    Parameters
    ----------
    corpus : {"ptb", "wikitext2", "tinyshakespeare"}
    max_tokens : int or None
        Train on the first ``max_tokens`` tokens of the training split only; ``None``: all.
    embedding_size, hidden_size : int
        Width of the embedding and of every LSTM layer.
    n_layers : int
        Number of stacked LSTM layers (``lstm_1`` .. ``lstm_L``).
    dropout : float
        Dropout rate in [0, 1) after the embedding and after every LSTM (0: no dropout layers).
    seq_len : int
        Length of the training windows (truncated backpropagation through time).
    batch_size : int
        Rows of the :func:`~cca_core.experiments.training.text.batchify` layout = sequences per step.
    learning_rate : float
    optimizer : {"sgd", "momentum", "adam"}
        Plain SGD, SGD with momentum 0.9, or Adam.
    epochs : int
        Passes over the (capped) training tokens, >= 0.
    seed : int
        Seeds initialization, dropout and shuffling.
    checkpoints : tuple of int, optional
        Epochs whose weights are stored; 0 = at initialization, -1 = ``epochs``. ``None``:
        ``(0, epochs)``.
    grad_clip : float
        Clip the global norm of the gradient to this value (Zaremba et al. use 5); 0: no clipping.
    eval_tokens : int or None
        Validation tokens used for the per-epoch perplexity; ``None``: the whole validation split.
    softmax_samples : int
        0: train on the full softmax. ``k > 0``: train on the sampled softmax with ``k`` candidates
        (Jean et al. 2015; see the module docstring); must be below the vocabulary size, which is
        checked before training. Evaluation always uses the full softmax.
    lr_decay : float
        Step decay of the learning rate (Zaremba et al. 2014): every epoch after ``decay_after``
        multiplies it by ``lr_decay``, in (0, 1]; 1: a constant rate
        (:func:`~cca_core.experiments.training.cache.learning_rate_at`).
    decay_after : int
        Epochs trained at ``learning_rate`` before the decay starts; with ``lr_decay < 1`` it must be
        below ``epochs``, so that at least one epoch decays.

    Notes
    -----
    Fields are normalized on construction (``checkpoints`` to a sorted tuple with -1 resolved,
    floats to float, ``max_tokens``/``eval_tokens`` beyond a split's length are kept as given), so
    equal configurations share a cache key.
    """

    corpus: str = "ptb"
    max_tokens: int | None = 50_000
    embedding_size: int = 64
    hidden_size: int = 64
    n_layers: int = 3
    dropout: float = 0.0
    seq_len: int = 20
    batch_size: int = 20
    learning_rate: float = 0.002
    optimizer: str = "adam"
    epochs: int = 4
    seed: int = 0
    checkpoints: tuple[int, ...] | None = None
    grad_clip: float = 5.0
    eval_tokens: int | None = 10_000
    softmax_samples: int = 0
    lr_decay: float = 1.0
    decay_after: int = 0

    def __post_init__(self) -> None:
        if self.corpus not in KNOWN_CORPORA:
            raise ValueError(f"unknown corpus {self.corpus!r}; known corpora: {', '.join(KNOWN_CORPORA)}")
        sizes = ("embedding_size", "hidden_size", "n_layers", "seq_len", "batch_size", "seed", "softmax_samples")
        for field in sizes:
            value = getattr(self, field)
            if not is_integer(value):
                raise ValueError(f"{field} must be an integer, got {value!r}")
            minimum = 0 if field in ("seed", "softmax_samples") else 1
            if value < minimum:
                raise ValueError(f"{field} must be >= {minimum}, got {value}")
        for field, minimum in (("max_tokens", 2), ("eval_tokens", 2)):
            value = getattr(self, field)
            if value is not None and (not is_integer(value) or value < minimum):
                raise ValueError(f"{field} must be None or an integer >= {minimum}, got {value!r}")
        if self.eval_tokens is not None and self.eval_tokens < self.seq_len + 1:
            raise ValueError(f"eval_tokens={self.eval_tokens} is too few for one validation window: need at least "
                             f"seq_len + 1 = {self.seq_len + 1}")
        if self.max_tokens is not None and self.max_tokens < self.batch_size * (self.seq_len + 1):
            raise ValueError(f"max_tokens={self.max_tokens} is too few for one window: need at least "
                             f"batch_size * (seq_len + 1) = {self.batch_size * (self.seq_len + 1)}")
        for field in ("dropout", "grad_clip"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value):
                raise ValueError(f"{field} must be a finite number, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0 (0 = no clipping), got {self.grad_clip!r}")
        self._normalize_schedule()
        for field in sizes:
            object.__setattr__(self, field, int(getattr(self, field)))
        for field in ("max_tokens", "eval_tokens"):
            value = getattr(self, field)
            object.__setattr__(self, field, None if value is None else int(value))
        for field in ("dropout", "grad_clip"):
            object.__setattr__(self, field, float(getattr(self, field)))

    def short(self) -> str:
        """A one-line summary for progress messages."""
        tokens = "all" if self.max_tokens is None else f"{self.max_tokens}"
        sampled = f" sampled softmax {self.softmax_samples}" if self.softmax_samples else ""
        decay = f" x{self.lr_decay:g} after epoch {self.decay_after}" if self.lr_decay < 1 else ""
        return (f"{self.corpus}[{tokens} tokens] {self.n_layers}x LSTM({self.hidden_size}) "
                f"{self.optimizer} lr={self.learning_rate:g}{decay} batch={self.batch_size}x{self.seq_len}{sampled} "
                f"epochs={self.epochs} seed={self.seed}")


@dataclass(frozen=True, eq=False)
class LMResult:
    """What :func:`train_lm` stores for one language model.

    Attributes
    ----------
    config : LMConfig
    key : str
        Cache key.
    path : Path
        Cache file.
    weights : dict[int, list of ndarray]
        ``model.get_weights()`` at each checkpoint epoch (0 = initialization).
    history : dict[str, list of float]
        ``train_loss`` (mean cross-entropy per token in training mode, nats, one per epoch; with
        ``softmax_samples`` the sampled-softmax loss, which is not comparable with the full one),
        ``valid_loss`` and ``valid_perplexity`` (inference mode, epochs 0 .. ``epochs``),
        ``learning_rate`` (the rate each epoch trained at, one per epoch).
    vocab_size : int
    train_seconds : float
    cached : bool
        True when this call loaded the result instead of training.
    """

    config: LMConfig
    key: str
    path: Path
    weights: dict[int, list[np.ndarray]]
    history: dict[str, list[float]]
    vocab_size: int
    train_seconds: float
    cached: bool

    @property
    def valid_perplexity(self) -> dict[int, float]:
        """Validation perplexity by epoch (0 .. ``epochs``)."""
        return dict(enumerate(self.history["valid_perplexity"]))


# ----------------------------------------------------------------------------------------------------
# cache


def lm_cache_key(config: LMConfig) -> str:
    """SHA-256 of the canonical JSON of ``config``, the code fingerprint of :data:`LM_MODULES` and
    :data:`LM_CACHE_FORMAT` (sorted keys, no whitespace). Does not import TensorFlow."""
    here = Path(__file__).resolve().parent
    return digest({"config": config.to_dict(), "code": source_fingerprint([here / m for m in LM_MODULES]),
                   "format": LM_CACHE_FORMAT, "kind": "lstm-lm"})


def lm_cache_path(config: LMConfig, cache_dir: str | os.PathLike) -> Path:
    """File where the result of ``config`` lives: ``cache_dir/lm-<key>.npz``."""
    return Path(cache_dir) / f"lm-{lm_cache_key(config)}.npz"


def _save(path: Path, config: LMConfig, weights: dict[int, list[np.ndarray]], meta: dict[str, Any]) -> None:
    save_checkpoints(path, weights, dict(meta, key=path.stem[3:], config=config.to_dict(), format=LM_CACHE_FORMAT))


def _load(path: Path, config: LMConfig) -> LMResult:
    meta, weights = load_checkpoints(path, config.to_dict(), config.checkpoints)
    return LMResult(config=config, key=meta["key"], path=path, weights=weights,
                    history={k: [float(v) for v in vs] for k, vs in meta["history"].items()},
                    vocab_size=int(meta["vocab_size"]), train_seconds=float(meta["train_seconds"]), cached=True)


def load_lm_result(config: LMConfig, cache_dir: str | os.PathLike) -> LMResult | None:
    """The cached result of ``config`` in ``cache_dir``, or ``None`` when it has not been trained."""
    path = lm_cache_path(config, cache_dir)
    return _load(path, config) if path.exists() else None


# ----------------------------------------------------------------------------------------------------
# model


def lstm_layer_names(n_layers: int) -> list[str]:
    """Names of the LSTM layers of :func:`build_lm`: ``["lstm_1", ..., "lstm_L"]``."""
    return [f"lstm_{i}" for i in range(1, int(n_layers) + 1)]


def build_lm(config: LMConfig, vocab_size: int, unroll: bool = False) -> "keras.Model":
    """The (uncompiled) Keras language model of ``config`` over ``vocab_size`` tokens.

    Input: int token ids ``(batch, T)`` with any ``T``; output: next-token probabilities
    ``(batch, T, vocab_size)``. Layers are named as in the module docstring; the output layer is a
    Dense layer ``logits`` followed by a softmax activation layer ``softmax`` (training uses the
    logits with the fused softmax cross-entropy, about twice as fast on CPU as going through the
    probabilities). ``unroll=True`` unrolls the LSTMs (training windows of a fixed length; faster on
    CPU); the weights are the same either way.
    """
    import keras

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(vocab_size, config.embedding_size, name="embedding")(tokens)
    if config.dropout > 0:
        h = keras.layers.Dropout(config.dropout, name="dropout_0")(h)
    for i, name in enumerate(lstm_layer_names(config.n_layers), start=1):
        h = keras.layers.LSTM(config.hidden_size, return_sequences=True, unroll=unroll, name=name)(h)
        if config.dropout > 0:
            h = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(h)
    logits = keras.layers.Dense(vocab_size, name="logits")(h)
    probs = keras.layers.Activation("softmax", name="softmax")(logits)
    return keras.Model(tokens, probs, name=f"lstm_lm_{config.n_layers}x{config.hidden_size}")


def eval_windows(ids: np.ndarray, seq_len: int, max_tokens: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping windows of a token stream and their next tokens.

    ``x[i] = ids[i*seq_len:(i+1)*seq_len]`` and ``y[i] = ids[i*seq_len+1:(i+1)*seq_len+1]`` for
    ``i < (n - 1) // seq_len``, where ``n = min(len(ids), max_tokens)``.

    Returns
    -------
    x, y : ndarray of int32, shape (n_windows, seq_len)
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"seq_len must be an integer >= 1, got {seq_len!r}")
    n = len(ids) if max_tokens is None else min(len(ids), int(max_tokens))
    count = (n - 1) // seq_len
    if count < 1:
        raise ValueError(f"{n} tokens are too few for one window of seq_len={seq_len} (+1 target)")
    x = ids[:count * seq_len].reshape(count, seq_len)
    y = ids[1:count * seq_len + 1].reshape(count, seq_len)
    return x.astype(np.int32), y.astype(np.int32)


def perplexity(model: "keras.Model", x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """``exp`` of the mean cross-entropy per token (nats) of ``model`` predicting ``y`` from ``x``,
    in inference mode (computed here from the predicted probabilities, float64 accumulation)."""
    total, count = 0.0, 0
    for s in range(0, len(x), batch_size):
        p = np.asarray(model.predict_on_batch(x[s:s + batch_size]), dtype=np.float64)
        picked = np.take_along_axis(p, y[s:s + batch_size, :, None].astype(np.int64), axis=-1)[..., 0]
        total += float(-np.log(np.maximum(picked, 1e-300)).sum())
        count += picked.size
    return float(np.exp(total / count))


def _sampled_softmax_model(model: "keras.Model", config: LMConfig, vocab_size: int) -> "keras.Model":
    """``(tokens, targets) -> per-token sampled-softmax loss`` over ``model``'s layers (shared weights)."""
    import keras
    import tensorflow as tf

    logits = model.get_layer("logits")

    class SampledSoftmaxLoss(keras.layers.Layer):
        """Sampled softmax cross-entropy (Jean et al. 2015) with the ``logits`` layer's weights."""

        def __init__(self, dense: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = dense

        def call(self, h: Any, targets: Any) -> Any:
            flat = tf.reshape(h, [-1, config.hidden_size])
            labels = tf.reshape(tf.cast(targets, tf.int64), [-1, 1])
            loss = tf.nn.sampled_softmax_loss(
                weights=tf.transpose(self.dense.kernel.value), biases=self.dense.bias.value, labels=labels,
                inputs=flat, num_sampled=config.softmax_samples, num_classes=vocab_size, seed=config.seed)
            return tf.reshape(loss, tf.shape(targets))

    targets = keras.Input(shape=(config.seq_len,), dtype="int32", name="targets")
    loss = SampledSoftmaxLoss(logits, name="sampled_softmax_loss")(logits.input, targets)
    return keras.Model([model.inputs[0], targets], loss, name="lm_sampled_softmax")


def unigram_probabilities(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Add-one (Laplace) unigram probabilities ``(count_w + 1) / (n + V)`` of the ids, shape ``(V,)``."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64).ravel(), minlength=int(vocab_size)).astype(np.float64)
    return (counts + 1.0) / (counts.sum() + vocab_size)


def unigram_perplexity(config: LMConfig) -> float:
    """Validation perplexity of the add-one unigram (word-frequency) model of ``config``'s training tokens.

    The reference a language model must beat (issue: a model at this perplexity knows word
    frequencies and nothing of context): ``exp(-mean log p(w))`` over the targets of the validation
    windows :func:`train_lm` evaluates on (the first ``eval_tokens`` validation tokens), ``p`` from
    :func:`unigram_probabilities` of the first ``max_tokens`` training tokens.
    """
    corpus = load_corpus(config.corpus, config.max_tokens)
    _, vy = eval_windows(corpus.valid, config.seq_len, config.eval_tokens)
    p = unigram_probabilities(corpus.train, corpus.vocab_size)
    return float(np.exp(-np.log(p[vy.ravel()]).mean()))


def training_models(config: LMConfig, vocab_size: int, x: np.ndarray, y: np.ndarray, unroll: bool = True
                    ) -> tuple["keras.Model", "keras.Model", "keras.Model", Any, np.ndarray]:
    """The compiled models that :func:`train_lm` fits, over shared layers.

    Returns ``(model, full, train_model, fit_x, fit_y)``: ``model`` the probabilities model whose
    weights are stored; ``full`` the logits model compiled with the full softmax cross-entropy (the
    validation loss); ``train_model`` what ``fit`` runs on ``(fit_x, fit_y)`` built from the training
    windows ``x, y`` — ``full`` itself, or the sampled-softmax model when ``config.softmax_samples``.
    ``benchmarks/train_bench.py`` builds the previous recipe with ``unroll=False``.

    Raises
    ------
    ValueError
        ``softmax_samples`` not below ``vocab_size``.
    """
    import keras

    if config.softmax_samples >= vocab_size:
        raise ValueError(f"softmax_samples={config.softmax_samples} must be below the vocabulary size of "
                         f"{config.corpus} ({vocab_size} words)")
    model = build_lm(config, vocab_size, unroll=unroll)
    # The output bias starts at the log of the add-one unigram frequencies of the training targets:
    # the model starts as the word-frequency model and training learns what the context adds.
    model.get_layer("logits").bias.assign(np.log(unigram_probabilities(y, vocab_size)).astype("float32"))
    # Same layers (same weights) up to the logits: evaluated with the fused softmax cross-entropy.
    full = keras.Model(model.inputs, model.get_layer("logits").output, name="lm_logits")
    optimizer = make_optimizer(config.optimizer, config.learning_rate, config.grad_clip)
    full_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if not config.softmax_samples:
        full.compile(optimizer=optimizer, loss=full_loss)
        return model, full, full, x, y
    full.compile(loss=full_loss)
    train_model = _sampled_softmax_model(model, config, vocab_size)
    train_model.compile(optimizer=optimizer, loss=lambda _, per_token: keras.ops.mean(per_token))
    return model, full, train_model, [x, y], np.zeros(len(y), dtype=np.float32)


def _fit(config: LMConfig) -> tuple[dict[int, list[np.ndarray]], dict[str, Any]]:
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    corpus = load_corpus(config.corpus, config.max_tokens)
    x, y = window_arrays(corpus.train, config.batch_size, config.seq_len)
    vx, vy = eval_windows(corpus.valid, config.seq_len, config.eval_tokens)
    model, full, train_model, fit_x, fit_y = training_models(config, corpus.vocab_size, x, y)
    eval_bs = max(64, config.batch_size)

    def valid_loss_now() -> float:
        return float(full.evaluate(vx, vy, batch_size=eval_bs, verbose=0))

    snapshots, record = record_checkpoints(model, config.checkpoints)
    valid_loss = [valid_loss_now()]
    train_loss: list[float] = []
    rates: list[float] = []

    # Every epoch a fresh order of the windows (not fit's shuffle=True: under op determinism it repeats
    # one order every epoch); fit then takes them in that order, the last minibatch the remainder.
    orders = epoch_orders(len(y), config.batch_size, config.seed, drop_remainder=False)
    for epoch in range(1, config.epochs + 1):
        rates.append(learning_rate_at(epoch, config.learning_rate, config.lr_decay, config.decay_after))
        train_model.optimizer.learning_rate = rates[-1]
        order = next(orders)
        inputs = [a[order] for a in fit_x] if isinstance(fit_x, list) else fit_x[order]
        logs = train_model.fit(inputs, fit_y[order], batch_size=config.batch_size, epochs=1, shuffle=False,
                               verbose=0).history
        loss, valid = float(logs["loss"][-1]), valid_loss_now()
        check_diverged(config, epoch, float(np.log(corpus.vocab_size)), "validation loss", valid,
                       training_loss=loss)
        train_loss.append(loss)
        valid_loss.append(valid)
        record(epoch)
        report_epoch(epoch, f"training loss {loss:.3f}, valid perplexity {np.exp(valid):.1f}")
    history = {"train_loss": train_loss, "valid_loss": valid_loss,
               "valid_perplexity": [float(np.exp(v)) for v in valid_loss], "learning_rate": rates}
    meta = {"history": history, "vocab_size": int(corpus.vocab_size), "train_tokens": int(len(corpus.train)),
            "train_windows": int(len(x)), "valid_windows": int(len(vx)),
            "weight_paths": [w.path for w in model.weights],
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}}
    return snapshots, meta


def train_lm(config: LMConfig, cache_dir: str | os.PathLike) -> LMResult:
    """Train the language model of ``config`` (or load it from ``cache_dir``) and return its result.

    Loss: sparse categorical cross-entropy of the next token at every position of the training
    windows; optimizer ``config.optimizer`` with global-norm gradient clipping ``config.grad_clip``.
    See the module docstring for what is cached and how determinism is obtained.
    """
    path = lm_cache_path(config, cache_dir)
    if path.exists():
        return _load(path, config)
    start = time.perf_counter()
    weights, meta = _fit(config)
    meta["train_seconds"] = time.perf_counter() - start
    _save(path, config, weights, meta)
    return dataclasses.replace(_load(path, config), cached=False)


def train_lm_many(configs: Iterable[LMConfig], cache_dir: str | os.PathLike, executor: Any = None, *,
                  progress: bool = True, stream: IO[str] | None = None) -> list[LMResult]:
    """Train (or load) several language models, one progress line each; see
    :func:`cca_core.experiments.training.cnn.train_many` for ``executor`` (default: one training process per
    core, each on one thread). Returns the results in the order of ``configs``."""
    def done_message(result: LMResult) -> str:
        return f"done in {result.train_seconds:.1f} s, valid perplexity {result.history['valid_perplexity'][-1]:.1f}"

    return sweep(configs, cache_dir, train_lm, load_lm_result, done_message, executor, progress=progress, stream=stream)


def lm_from_result(result: LMResult, epoch: int | None = None) -> "keras.Model":
    """Rebuild the model of ``result`` with its weights at checkpoint ``epoch`` (``None``/-1: last).

    Raises ``ValueError`` for an epoch that was not checkpointed, listing those that were.
    """
    if epoch is None or epoch == -1:
        epoch = max(result.weights)
    if epoch not in result.weights:
        raise ValueError(f"epoch {epoch} was not checkpointed; available checkpoints: {sorted(result.weights)}")
    model = build_lm(result.config, result.vocab_size)
    model.set_weights(result.weights[epoch])
    return model


# ----------------------------------------------------------------------------------------------------
# hidden states


def hidden_states(model: "keras.Model", tokens: np.ndarray, layers: str | Sequence[str],
                  batch_size: int = 256) -> dict[str, np.ndarray]:
    """Hidden states ``h_t`` of the named layers for every sequence and timestep, in inference mode.

    Parameters
    ----------
    model : keras.Model
        E.g. from :func:`lm_from_result`.
    tokens : ndarray of int, shape (n_sequences, T)
        Token windows (e.g. :func:`eval_windows` ``(corpus.valid, T)[0]``); each starts from a zero state.
    layers : str or sequence of str
        Layer names, e.g. ``lstm_layer_names(L)``.
    batch_size : int
        Sequences per forward pass.

    Returns
    -------
    dict[str, ndarray of float32]
        Layer -> ``(n_sequences, T, units)``, in the order of ``layers``.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"tokens must be a non-empty (n_sequences, T) array, got shape {tokens.shape}")
    if not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be integer ids, got dtype {tokens.dtype}")
    out: dict[str, np.ndarray] = {}
    n, s = tokens.shape[0], 0
    for batch_len, values in layer_outputs(model, tokens.astype(np.int32), names, batch_size):
        for name, v in values.items():
            if v.ndim != 3:
                raise ValueError(f"layer {name!r} gives outputs of shape {v.shape}, not (batch, T, units)")
            if name not in out:
                out[name] = np.empty((n,) + v.shape[1:], dtype=np.float32)
            out[name][s:s + batch_len] = v
        s += batch_len
    return {name: out[name] for name in names}

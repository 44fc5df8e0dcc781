"""LSTM language models: configuration, cache keys, deterministic cached training, hidden states,
and the sequence-dynamics helpers (linear RNN, naive distances)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from key_checks import assert_key_sensitive_to_every_field
from text_mirror import MIRROR

from cca_core import mean_cca
from cca_core.experiments.training import lstm as lm
from cca_core.experiments.training.lstm import (LMConfig, eval_windows, hidden_states, lm_cache_key,
                                                 lm_from_result, load_lm_result, lstm_layer_names, train_lm,
                                                 train_lm_many)

HAVE_TF = importlib.util.find_spec("tensorflow") is not None


needs_training = pytest.mark.skipif(not HAVE_TF or MIRROR is None,
                                    reason="needs TensorFlow and the text data mirror (set CCA_CORE_DATA_DIR)")

#: A language model that trains in about a second: characters (65-way softmax), 2 x LSTM(8).
TINY = LMConfig(corpus="tinyshakespeare", max_tokens=3000, embedding_size=8, hidden_size=8, n_layers=2,
                seq_len=10, batch_size=16, learning_rate=0.01, optimizer="adam", epochs=1, seed=3,
                checkpoints=(0, 1), eval_tokens=1000)


@pytest.fixture(scope="module")
def data_env():
    if MIRROR is None:
        pytest.skip("text data mirror not found (set CCA_CORE_DATA_DIR)")
    old = os.environ.get("CCA_CORE_DATA_DIR")
    os.environ["CCA_CORE_DATA_DIR"] = str(MIRROR)
    yield MIRROR
    if old is None:
        del os.environ["CCA_CORE_DATA_DIR"]
    else:
        os.environ["CCA_CORE_DATA_DIR"] = old


@pytest.fixture(scope="module")
def tiny_result(data_env, tmp_path_factory):
    if not HAVE_TF:
        pytest.skip("needs TensorFlow")
    return train_lm(TINY, tmp_path_factory.mktemp("lm_cache"))


# ------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize("changes, match", [
    ({"corpus": "enwik8"}, "unknown corpus"), ({"optimizer": "rmsprop"}, "unknown optimizer"),
    ({"hidden_size": 0}, "hidden_size must be >= 1"), ({"n_layers": 2.0}, "n_layers must be an integer"),
    ({"embedding_size": True}, "embedding_size must be an integer"), ({"epochs": -1}, "epochs must be >= 0"),
    ({"seq_len": 0}, "seq_len"), ({"batch_size": 0}, "batch_size"),
    ({"max_tokens": 1}, "max_tokens"), ({"max_tokens": 100}, "too few for one window"),
    ({"eval_tokens": 1.5}, "eval_tokens"), ({"eval_tokens": 20}, "too few for one validation window"), ({"learning_rate": 0}, "learning_rate must be a finite number > 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite"), ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"grad_clip": -1}, "grad_clip must be >= 0"), ({"checkpoints": (0, 9)}, "checkpoints must be epochs in 0..4"),
    ({"checkpoints": ()}, "checkpoints"), ({"checkpoints": (0.5,)}, "checkpoints must be integers"),
    ({"lr_decay": 0}, r"lr_decay must be a finite number in \(0, 1\]"), ({"lr_decay": 1.5}, r"lr_decay must be a finite number in \(0, 1\]"),
    ({"lr_decay": float("inf")}, "lr_decay must be a finite"), ({"decay_after": -1}, "decay_after must be >= 0"),
    ({"lr_decay": 0.5, "decay_after": 4}, "decay_after=4 leaves no epoch to decay"),
])
def test_config_validation(changes, match):
    with pytest.raises(ValueError, match=match):
        LMConfig(**{**dict(epochs=4), **changes})


def test_config_normalization_and_round_trip():
    a = LMConfig(epochs=3, checkpoints=[3, 0, -1, 1], learning_rate=1, dropout=0, grad_clip=5)
    assert a.checkpoints == (0, 1, 3) and isinstance(a.learning_rate, float) and isinstance(a.dropout, float)
    assert LMConfig(epochs=3, checkpoints=None).checkpoints == (0, 3)
    assert LMConfig.from_dict(a.to_dict()) == a
    assert "ptb" in a.short() and "LSTM(64)" in a.short()


# ------------------------------------------------------------------------------------------------
# cache keys

BASE = LMConfig(corpus="ptb", max_tokens=50_000, embedding_size=64, hidden_size=64, n_layers=3, dropout=0.0,
                seq_len=20, batch_size=20, learning_rate=0.002, optimizer="adam", epochs=4, seed=0,
                checkpoints=(0, 4), grad_clip=5.0, eval_tokens=10_000, lr_decay=0.8)  # decaying: decay_after counts
ALTERNATIVES = {"corpus": "wikitext2", "max_tokens": None, "embedding_size": 32, "hidden_size": 32, "n_layers": 2,
                "dropout": 0.1, "seq_len": 35, "batch_size": 32, "learning_rate": 0.001, "optimizer": "sgd",
                "epochs": 5, "seed": 1, "checkpoints": (0, 2, 4), "grad_clip": 0.0, "eval_tokens": None,
                "softmax_samples": 64, "lr_decay": 0.5, "decay_after": 2}


def test_key_is_sensitive_to_every_field():
    assert_key_sensitive_to_every_field(BASE, ALTERNATIVES, lm_cache_key)


def test_key_is_stable_across_processes_and_light():
    code = ("from cca_core.experiments.training.lstm import LMConfig, lm_cache_key; import sys; "
            f"print(lm_cache_key(LMConfig.from_dict({BASE.to_dict()!r}))); "
            "assert 'tensorflow' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONHASHSEED": "4321", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == lm_cache_key(BASE) and len(lm_cache_key(BASE)) == 64
    assert lm_cache_key(LMConfig(epochs=4, checkpoints=(4, 0))) == lm_cache_key(LMConfig(epochs=4, checkpoints=(0, -1)))


def test_key_depends_on_the_code(monkeypatch, tmp_path):
    before = lm_cache_key(BASE)
    for name in lm.LM_MODULES:
        (tmp_path / name).write_text(f"# {name}\n")
    monkeypatch.setattr(lm, "__file__", str(tmp_path / "language_model.py"))
    assert lm_cache_key(BASE) != before


# ------------------------------------------------------------------------------------------------
# training


@needs_training
def test_training_is_deterministic_and_cached(tiny_result, data_env, tmp_path):
    again = train_lm(TINY, tmp_path)
    assert not again.cached and not tiny_result.cached
    for epoch in (0, 1):
        assert len(again.weights[epoch]) == len(tiny_result.weights[epoch])
        for a, b in zip(again.weights[epoch], tiny_result.weights[epoch]):
            assert np.array_equal(a, b), "same configuration must give bitwise identical weights"
    assert any(not np.array_equal(a, b) for a, b in zip(again.weights[0], again.weights[1])), "training changed nothing"
    loaded = train_lm(TINY, tmp_path)
    assert loaded.cached and loaded.history == again.history
    assert all(np.array_equal(a, b) for a, b in zip(loaded.weights[1], again.weights[1]))
    assert [p.name for p in tmp_path.iterdir()] == [f"lm-{lm_cache_key(TINY)}.npz"], "no temporary files left"
    other = train_lm(dataclasses.replace(TINY, seed=4), tmp_path)
    assert not np.array_equal(other.weights[0][0], again.weights[0][0]), "the seed must change initialization"


@needs_training
def test_history_and_initial_perplexity(tiny_result, data_env, tmp_path):
    h = tiny_result.history
    assert len(h["train_loss"]) == TINY.epochs and len(h["valid_perplexity"]) == TINY.epochs + 1
    assert np.all(np.isfinite(h["valid_perplexity"]))
    assert np.allclose(h["valid_perplexity"], np.exp(h["valid_loss"]))
    # At initialization the output is the add-one unigram model of the training targets (the output bias),
    # up to the small random logits of the untrained LSTM: computed here from counts, independently.
    assert tiny_result.vocab_size == 65
    from cca_core.experiments.training.text import load_corpus, window_arrays

    corpus = load_corpus("tinyshakespeare", TINY.max_tokens)
    _, targets = window_arrays(corpus.train, TINY.batch_size, TINY.seq_len)
    counts = np.bincount(targets.ravel(), minlength=65) + 1.0
    _, vy_all = eval_windows(corpus.valid, TINY.seq_len, TINY.eval_tokens)
    unigram = float(np.exp(-np.mean(np.log(counts[vy_all.ravel()] / counts.sum()))))
    assert unigram / 1.1 < h["valid_perplexity"][0] < unigram * 1.1
    # (18 steps from the unigram start need not lower the validation perplexity: learning is checked on two
    # epochs in test_sampled_softmax_trains_evaluates_with_the_full_softmax_and_is_deterministic.)
    # Keras's evaluate agrees with exp(mean -log p) computed directly from the predicted probabilities.
    from cca_core.experiments.training.text import load_corpus

    vx, vy = eval_windows(load_corpus("tinyshakespeare").valid, TINY.seq_len, TINY.eval_tokens)
    for epoch in (0, 1):
        model = lm_from_result(tiny_result, epoch)
        assert np.isclose(lm.perplexity(model, vx, vy), h["valid_perplexity"][epoch], rtol=1e-4)
    ptb0 = train_lm(LMConfig(corpus="ptb", max_tokens=2000, embedding_size=8, hidden_size=8, n_layers=1,
                             epochs=0, eval_tokens=2000), tmp_path)
    assert ptb0.vocab_size == 10_000
    # Epoch 0 is the word-frequency model of the 2,000 training tokens (below 10,000, the uniform model's).
    assert np.isclose(ptb0.history["valid_perplexity"][0], lm.unigram_perplexity(ptb0.config), rtol=0.1)


@needs_training
def test_train_lm_many_and_load(tiny_result, data_env, tmp_path):
    cache = tiny_result.path.parent
    configs = [TINY, dataclasses.replace(TINY, epochs=0, checkpoints=(0,))]
    stream = io.StringIO()
    results = train_lm_many(configs, cache, stream=stream)
    assert results[0].cached and not results[1].cached
    assert np.array_equal(results[1].weights[0][0], tiny_result.weights[0][0]), "epoch 0 = same initialization"
    assert "cached" in stream.getvalue() and "1 trained, 1 cached" in stream.getvalue()
    assert load_lm_result(dataclasses.replace(TINY, seed=99), cache) is None
    with pytest.raises(ValueError, match=r"available checkpoints: \[0, 1\]"):
        lm_from_result(tiny_result, 2)


@needs_training
def test_sampled_softmax_trains_evaluates_with_the_full_softmax_and_is_deterministic(data_env, tmp_path):
    config = dataclasses.replace(TINY, max_tokens=12_000, softmax_samples=16, epochs=2, checkpoints=(0, 1, 2))
    a = train_lm(config, tmp_path / "a")
    b = train_lm(config, tmp_path / "b")
    for wa, wb in zip(a.weights[2], b.weights[2]):
        assert np.array_equal(wa, wb), "the sampled softmax must be deterministic"
    h = a.history
    assert h["valid_perplexity"][2] < h["valid_perplexity"][0], "training on the sampled softmax must learn"
    # The recorded validation perplexity is the full softmax's: recomputed here from the stored weights'
    # predicted probabilities (float64, independent of Keras's loss).
    from cca_core.experiments.training.text import load_corpus

    vx, vy = eval_windows(load_corpus("tinyshakespeare").valid, TINY.seq_len, TINY.eval_tokens)
    for epoch in (0, 2):
        assert np.isclose(lm.perplexity(lm_from_result(a, epoch), vx, vy), h["valid_perplexity"][epoch], rtol=1e-4)
    full = train_lm(dataclasses.replace(config, softmax_samples=0), tmp_path / "a")
    assert not np.array_equal(full.weights[2][0], a.weights[2][0]), "the sampled loss is not the full one"


@needs_training
def test_unigram_perplexity_is_the_add_one_word_frequency_model(data_env):
    from cca_core.experiments.training.text import load_corpus

    corpus = load_corpus("tinyshakespeare", TINY.max_tokens)
    counts = {}
    for t in corpus.train.tolist():
        counts[t] = counts.get(t, 0) + 1
    _, vy = eval_windows(corpus.valid, TINY.seq_len, TINY.eval_tokens)
    total = len(corpus.train) + corpus.vocab_size
    log_p = [np.log((counts.get(t, 0) + 1) / total) for t in vy.ravel().tolist()]
    assert np.isclose(lm.unigram_perplexity(TINY), np.exp(-np.mean(log_p)), rtol=1e-12)


@needs_training
def test_softmax_samples_must_be_below_the_vocabulary(data_env, tmp_path):
    with pytest.raises(ValueError, match=r"softmax_samples=65 must be below the vocabulary size of tinyshakespeare \(65"):
        train_lm(dataclasses.replace(TINY, softmax_samples=65), tmp_path)
    assert not list(tmp_path.iterdir()), "nothing cached"
    with pytest.raises(ValueError, match="softmax_samples must be >= 0"):
        LMConfig(softmax_samples=-1)


# ------------------------------------------------------------------------------------------------
# hidden states


@needs_training
def test_hidden_state_shapes_batching_and_causality(tiny_result):
    model = lm_from_result(tiny_result)
    names = lstm_layer_names(TINY.n_layers)
    assert names == ["lstm_1", "lstm_2"]
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 65, (7, 12))
    states = hidden_states(model, tokens, names, batch_size=3)
    assert list(states) == names
    for s in states.values():
        assert s.shape == (7, 12, TINY.hidden_size) and s.dtype == np.float32
        assert np.all(np.abs(s) < 1), "LSTM outputs o * tanh(c) lie in (-1, 1)"
    one = hidden_states(model, tokens[4:5], "lstm_2")["lstm_2"]
    np.testing.assert_allclose(one[0], states["lstm_2"][4], rtol=1e-5, atol=1e-6)
    changed = tokens.copy()
    changed[:, 8] = (changed[:, 8] + 1) % 65
    after = hidden_states(model, changed, names, batch_size=3)  # same batching: only the tokens differ
    for name in names:  # h_t depends on tokens up to t only
        np.testing.assert_array_equal(after[name][:, :8], states[name][:, :8])
        assert not np.allclose(after[name][:, 8:], states[name][:, 8:])
    probs = model.predict_on_batch(tokens.astype(np.int32))
    np.testing.assert_allclose(np.asarray(probs).sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="not in model"):
        hidden_states(model, tokens, ["lstm_9"])
    with pytest.raises(ValueError, match="integer ids"):
        hidden_states(model, tokens.astype(float), names)


def test_eval_windows_against_direct_slicing():
    ids = np.arange(103)
    x, y = eval_windows(ids, 10)
    assert x.shape == y.shape == (10, 10)
    for i in range(10):
        assert x[i].tolist() == list(range(10 * i, 10 * i + 10)) and y[i].tolist() == list(range(10 * i + 1, 10 * i + 11))
    assert eval_windows(ids, 10, max_tokens=31)[0].shape == (3, 10)
    with pytest.raises(ValueError, match="too few"):
        eval_windows(ids, 10, max_tokens=10)


# ------------------------------------------------------------------------------------------------
# sequence dynamics helpers




@needs_training
def test_learning_rate_decays_as_scheduled(data_env, tmp_path):
    """The rate of every epoch, recorded and actually used by the optimizer, is Zaremba et al.'s step decay
    lr * decay ** max(0, epoch - decay_after), written out here by hand."""
    config = dataclasses.replace(TINY, epochs=4, checkpoints=(0, 4), lr_decay=0.5, decay_after=2)
    result = train_lm(config, tmp_path)
    assert result.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025], rel=1e-12)
    constant = train_lm(dataclasses.replace(config, lr_decay=1.0, decay_after=0), tmp_path)
    assert constant.history["learning_rate"] == pytest.approx([0.01] * 4, rel=1e-12)
    # Same first two epochs (same rate, same seed), different weights once the rate differs.
    assert result.history["valid_loss"][:3] == constant.history["valid_loss"][:3]
    assert not np.array_equal(result.weights[4][0], constant.weights[4][0])


def test_sweep_goes_on_past_a_failed_run_and_names_it(tmp_path):
    """A diverged run fails alone: the others are trained and returned, then SweepError names the failed one."""
    from cca_core.experiments.training.cache import DivergedError
    from cca_core.experiments.training.sweeps import SequentialExecutor, SweepError, sweep

    configs = [dataclasses.replace(TINY, seed=s) for s in range(3)]

    def train(config, cache_dir):
        if config.seed == 1:
            raise DivergedError(f"{config.short()}: the loss diverged in epoch 1")
        return dataclasses.replace(config, seed=config.seed + 100)  # stands in for a result

    class Done:
        def __init__(self, config):
            self.cached, self.config = False, config

    stream = io.StringIO()
    with pytest.raises(SweepError, match=r"1 of 3 run\(s\) failed.*\[2/3\].*diverged in epoch 1") as caught:
        sweep(configs, tmp_path, lambda c, d: Done(train(c, d)), lambda c, d: None, lambda r: "done",
              SequentialExecutor(), stream=stream)
    assert [(i, c.seed) for i, c, _ in caught.value.failures] == [(1, 1)]
    assert stream.getvalue().count("done") == 2 and "FAILED" in stream.getvalue()


@needs_training
@pytest.mark.parametrize("softmax_samples", [0, 16])
def test_every_epoch_takes_the_windows_in_a_fresh_order(data_env, tmp_path, monkeypatch, softmax_samples):
    """Each epoch's fit gets all the training windows and their targets, in the order of a fresh permutation
    of np.random.default_rng(seed) (cache.epoch_orders), not fit's own shuffle; with the full softmax and
    with the sampled one (whose model takes the targets as a second input)."""
    import keras

    from cca_core.experiments.training.text import load_corpus, window_arrays

    seen = []
    real_fit = keras.Model.fit

    def spy(self, x=None, y=None, **kwargs):
        inputs, targets = (x[0], x[1]) if isinstance(x, list) else (x, y)
        seen.append((np.array(inputs), np.array(targets), kwargs.get("shuffle")))
        return real_fit(self, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    config = dataclasses.replace(TINY, epochs=3, checkpoints=(0, 3), softmax_samples=softmax_samples)
    train_lm(config, tmp_path)
    corpus = load_corpus(config.corpus, config.max_tokens)
    windows, targets = window_arrays(corpus.train, config.batch_size, config.seq_len)
    rng = np.random.default_rng(config.seed)
    assert len(seen) == 3 and all(shuffle is False for *_, shuffle in seen)
    for x, y, _ in seen:
        order = rng.permutation(len(windows))
        np.testing.assert_array_equal(x, windows[order])
        np.testing.assert_array_equal(y.reshape(targets[order].shape), targets[order])
    assert not np.array_equal(seen[0][0], seen[1][0])


@needs_training
def test_a_language_model_whose_validation_loss_blows_up_has_diverged(data_env, tmp_path):
    from cca_core.experiments.training.cache import DivergedError

    config = dataclasses.replace(TINY, optimizer="sgd", learning_rate=1e8, grad_clip=0.0, softmax_samples=0)
    with pytest.raises(DivergedError, match=r"diverged in epoch 1 \(validation loss"):
        train_lm(config, tmp_path)
    assert list(tmp_path.iterdir()) == []

"""Cached, deterministic training: keys, atomic writes, resume after interruption, determinism."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import io
import multiprocessing
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from key_checks import assert_key_sensitive_to_every_field

from cca_core.experiments import (TrainConfig, cache_key, code_fingerprint, load_model, load_result, train,
                                  train_many)
from cca_core.experiments.training import cnn as training_module
from cca_core.experiments.training.datasets import load_dataset

TINY = dict(dataset="digits", depth=2, width=4, epochs=1, batch_size=64)  # as conftest.TINY
needs_tf = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("tensorflow", "sklearn")),
    reason="needs the 'experiments' extra (tensorflow, scikit-learn)")

# ------------------------------------------------------------------------------------------------
# cache keys

# A decaying rate, so that decay_after matters (at lr_decay 1 it is stored as 0).
BASE = TrainConfig(dataset="digits", labels="true", depth=3, width=8, strides=(2,), learning_rate=0.01,
                   optimizer="momentum", epochs=2, batch_size=32, seed=0, checkpoints=(0, 2), lr_decay=0.8)

# One changed value per field. Adding a field to TrainConfig without adding it here fails the test.
ALTERNATIVES = {
    "dataset": "mnist", "labels": "random", "depth": 4, "width": 9, "strides": (1, 2),
    "learning_rate": 0.02, "optimizer": "adam", "epochs": 3, "batch_size": 16, "seed": 1,
    "checkpoints": (0, 1, 2), "lr_decay": 0.5, "decay_after": 1,
}


def test_key_is_sensitive_to_every_field():
    assert_key_sensitive_to_every_field(BASE, ALTERNATIVES, cache_key)


def test_key_is_stable_across_processes():
    code = ("from cca_core.experiments import TrainConfig, cache_key; import sys; "
            "print(cache_key(TrainConfig(dataset='digits', labels='true', depth=3, width=8, strides=(2,), "
            "learning_rate=0.01, optimizer='momentum', epochs=2, batch_size=32, seed=0, checkpoints=(0, 2), "
            "lr_decay=0.8))); "
            "assert 'tensorflow' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == cache_key(BASE)
    assert len(cache_key(BASE)) == 64


def test_equivalent_configs_share_a_key():
    a = TrainConfig(depth=3, epochs=2, strides=None, checkpoints=None, learning_rate=1)
    b = TrainConfig(depth=3, epochs=2, strides=[2], checkpoints=(2, -1, 0), learning_rate=1.0)
    assert a == b and cache_key(a) == cache_key(b)
    assert a.strides == (2,) and a.checkpoints == (0, 2) and isinstance(a.learning_rate, float)
    assert TrainConfig.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("kind", ["cnn", "lm"])
@pytest.mark.parametrize("decay_after", [1, 3, 50])
def test_decay_after_without_a_decay_is_stored_as_zero(kind, decay_after):
    """At lr_decay 1 the rate is constant whatever decay_after says: the configurations train one network,
    and must have one key."""
    from cca_core.experiments.training.lstm import LMConfig, lm_cache_key

    make, key = (TrainConfig, cache_key) if kind == "cnn" else (LMConfig, lm_cache_key)
    given, plain = make(epochs=60, lr_decay=1, decay_after=decay_after), make(epochs=60)
    assert given == plain and given.decay_after == 0 and key(given) == key(plain)
    decaying = make(epochs=60, lr_decay=0.5, decay_after=decay_after)  # with a decay it counts
    assert decaying.decay_after == decay_after and key(decaying) != key(make(epochs=60, lr_decay=0.5))


def test_key_depends_on_code(tmp_path, monkeypatch):
    files = []
    for name in ("datasets.py", "models.py", "training.py"):
        p = tmp_path / name
        p.write_text(f"# {name}\n")
        files.append(p)
    before = code_fingerprint(files)
    files[1].write_text("# models.py \n")
    assert code_fingerprint(files) != before
    key = cache_key(BASE)
    monkeypatch.setattr(training_module, "code_fingerprint", lambda paths=None: "edited")
    assert cache_key(BASE) != key


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="imagenet"), "unknown dataset 'imagenet'; known datasets: digits, mnist"),
    (dict(labels="noisy"), "unknown label mode"),
    (dict(width=0), "width must be an integer > 0"),
    (dict(width=-1), "width must be an integer > 0"),
    (dict(depth=0), "depth must be an integer >= 1"),
    (dict(optimizer="lbfgs"), "unknown optimizer"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(epochs=-1), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(epochs=2, checkpoints=(0, 3)), "checkpoints"),
    (dict(depth=2, strides=(3,)), "strides"),
    (dict(lr_decay=0.0), r"lr_decay must be a finite number in \(0, 1\]"),
    (dict(lr_decay=2), r"lr_decay must be a finite number in \(0, 1\]"),
    (dict(decay_after=-1), "decay_after must be >= 0"),
    (dict(epochs=3, lr_decay=0.5, decay_after=3), "decay_after=3 leaves no epoch to decay the learning rate in"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


# ------------------------------------------------------------------------------------------------
# training, caching, rebuilding


@needs_tf
def test_train_stores_checkpoints_history_accuracy(tiny_result, tiny_config):
    r = tiny_result
    assert r.config == tiny_config and r.key == cache_key(tiny_config) and r.path.exists()
    assert sorted(r.weights) == [0, 1]
    assert len(r.weights[0]) == len(r.weights[1]) > 0
    assert any(not np.array_equal(a, b) for a, b in zip(r.weights[0], r.weights[1]))
    assert set(r.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} and len(r.history["loss"]) == 1
    # the learning curve's last test loss is the final evaluation of the same weights on the test split
    assert np.isclose(r.history["val_loss"][-1], r.test_loss, rtol=1e-4)
    assert np.isclose(r.history["val_accuracy"][-1], r.test_accuracy)
    assert 0.0 <= r.test_accuracy <= 1.0 and 0.0 <= r.train_accuracy <= 1.0
    assert r.input_shape == (8, 8, 1) and r.num_classes == 10


@needs_tf
def test_rerun_loads_from_cache_and_trains_nothing(tiny_result, tiny_config, tiny_cache, monkeypatch):
    def no_training(config):
        raise AssertionError("trained although cached")

    monkeypatch.setattr(training_module, "_fit", no_training)
    again = train(tiny_config, tiny_cache)
    assert again.cached and not tiny_result.cached
    assert again.test_accuracy == tiny_result.test_accuracy
    for e in tiny_result.weights:
        assert all(np.array_equal(a, b) for a, b in zip(again.weights[e], tiny_result.weights[e]))


@needs_tf
def test_load_model_at_checkpoints(tiny_result, tiny_config, tiny_cache):
    final = load_model(tiny_config, tiny_cache)
    init = load_model(tiny_config, tiny_cache, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(init.get_weights(), tiny_result.weights[0]))
    assert all(np.array_equal(a, b) for a, b in zip(final.get_weights(), tiny_result.weights[1]))
    data = load_dataset("digits")
    probs = final.predict(data.x_test, batch_size=256, verbose=0)
    assert np.mean(probs.argmax(axis=1) == data.y_test) == pytest.approx(tiny_result.test_accuracy, abs=1e-6)
    with pytest.raises(ValueError, match=r"available checkpoints: \[0, 1\]"):
        load_model(tiny_config, tiny_cache, epoch=5)


@needs_tf
def test_load_model_not_in_cache(tmp_path):
    with pytest.raises(FileNotFoundError, match="call train"):
        load_model(TrainConfig(**TINY, seed=99), tmp_path)
    assert load_result(TrainConfig(**TINY, seed=99), tmp_path) is None


@needs_tf
def test_training_is_deterministic(tmp_path):
    config = TrainConfig(**dict(TINY, epochs=2), seed=7, checkpoints=(0, 1, 2))
    a = train(config, tmp_path / "a")
    b = train(config, tmp_path / "b")
    assert not a.cached and not b.cached
    for epoch in (0, 1, 2):
        assert all(np.array_equal(x, y) for x, y in zip(a.weights[epoch], b.weights[epoch]))
    assert a.history == b.history
    assert a.test_accuracy == b.test_accuracy
    other = train(dataclasses.replace(config, seed=8, epochs=0, checkpoints=(0,)), tmp_path / "a")
    assert other.history == {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "learning_rate": []}
    assert not all(np.array_equal(x, y) for x, y in zip(a.weights[0], other.weights[0]))


@needs_tf
def test_training_is_deterministic_across_processes(tiny_result, tiny_config, tmp_path):
    code = ("import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; "
            "from cca_core.experiments import TrainConfig, train; "
            f"train(TrainConfig(**{TINY!r}, seed={tiny_config.seed}), sys.argv[1])")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fresh = load_result(tiny_config, tmp_path)
    assert fresh is not None and fresh.key == tiny_result.key
    for epoch in tiny_result.weights:
        assert all(np.array_equal(x, y) for x, y in zip(fresh.weights[epoch], tiny_result.weights[epoch]))
    assert fresh.history == tiny_result.history


# ------------------------------------------------------------------------------------------------
# sweeps


class CountingExecutor:
    """Executor-like: runs jobs immediately, counts submissions, optionally interrupts the n-th."""

    def __init__(self, interrupt_at: int | None = None):
        self.submitted = 0
        self.interrupt_at = interrupt_at

    def submit(self, fn, *args, **kwargs):
        self.submitted += 1
        if self.submitted == self.interrupt_at:
            raise KeyboardInterrupt
        future = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


@needs_tf
def test_interrupted_sweep_resumes(tmp_path):
    configs = [TrainConfig(**TINY, seed=10), TrainConfig(**TINY, seed=11),
               TrainConfig(**TINY, seed=10, labels="random")]
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        train_many(configs, tmp_path, executor=CountingExecutor(interrupt_at=2), stream=log)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [f"{cache_key(configs[0])}.npz"]  # complete file only, no temp
    mtime = files[0].stat().st_mtime_ns
    assert "[1/3] training digits/true" in log.getvalue() and "done in" in log.getvalue()
    assert "interrupted: 1 of 3 network(s) trained and cached; rerun to continue" in log.getvalue()

    executor = CountingExecutor()
    log = io.StringIO()
    results = train_many(configs, tmp_path, executor=executor, stream=log)
    assert executor.submitted == 2  # only the missing networks
    assert [r.cached for r in results] == [True, False, False]
    assert [r.config for r in results] == configs
    assert files[0].stat().st_mtime_ns == mtime
    assert "[1/3]" in log.getvalue() and "cached" in log.getvalue() and "sweep done: 2 trained" in log.getvalue()

    executor = CountingExecutor()
    results = train_many(configs, tmp_path, executor=executor, progress=False)
    assert executor.submitted == 0 and all(r.cached for r in results)
    assert len(list(tmp_path.iterdir())) == 3


@needs_tf
def test_sweep_default_executor_and_thread_pool(tiny_result, tiny_config, tiny_cache, capsys):
    new = TrainConfig(**TINY, seed=21)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        results = train_many([tiny_config, new], tiny_cache, executor=pool)
    assert [r.cached for r in results] == [True, False]
    err = capsys.readouterr().err
    assert "[1/2]" in err and "cached" in err and "[2/2]" in err and "test acc" in err
    results = train_many([new, tiny_config], tiny_cache)  # default executor, all cached: no process started
    assert all(r.cached for r in results)
    assert "local process" not in capsys.readouterr().err


@needs_tf
def test_sweep_default_trains_in_local_single_threaded_processes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CCA_CORE_TRAIN_WORKERS", "1")
    config = TrainConfig(**TINY, seed=41)
    (result,) = train_many([config], tmp_path)
    assert "training on 1 local process(es), one thread each" in capsys.readouterr().err
    assert not result.cached and load_result(config, tmp_path).test_accuracy == result.test_accuracy
    monkeypatch.setenv("CCA_CORE_TRAIN_WORKERS", "zero")
    with pytest.raises(ValueError, match="CCA_CORE_TRAIN_WORKERS must be a positive integer"):
        train_many([TrainConfig(**TINY, seed=42)], tmp_path)


@needs_tf
def test_sweep_in_spawned_process_pool(tmp_path):
    config = TrainConfig(**TINY, seed=31)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        (result,) = train_many([config], tmp_path, executor=pool, progress=False)
    assert not result.cached and result.path.exists()
    assert load_result(config, tmp_path).test_accuracy == result.test_accuracy


@needs_tf
def test_learning_rate_decay_and_a_batch_larger_than_the_data(tmp_path):
    """The CNN's rate at every epoch is lr * decay ** max(0, epoch - decay_after) (written out here); a batch
    larger than the training set fails before training, naming the parameter."""
    result = train(TrainConfig(**dict(TINY, epochs=3), lr_decay=0.5, decay_after=1), tmp_path)
    assert result.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025], rel=1e-6)  # float32 in Keras
    with pytest.raises(ValueError, match=r"batch_size=5000 is larger than the \d+ training examples of digits"):
        train(TrainConfig(**dict(TINY, batch_size=5000)), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [result.path.name], "nothing cached for the failed run"


def _population_statistics_by_hand(model, x):
    """Each batch normalization's moving mean and variance set, bottom up, to the per-channel mean and
    variance of its input over ``x`` (float64), that input computed by a model cut at the conv layer below."""
    import keras

    depth = sum(1 for layer in model.layers if layer.name.startswith("bn_"))
    for i in range(1, depth + 1):
        below = keras.Model(model.input, model.get_layer(f"conv_{i}").output)
        h = np.asarray(below(x, training=False), dtype=np.float64)
        bn = model.get_layer(f"bn_{i}")
        bn.moving_mean.assign(h.mean(axis=(0, 1, 2)).astype(np.float32))
        bn.moving_variance.assign(h.var(axis=(0, 1, 2)).astype(np.float32))


@needs_tf
def test_training_matches_plain_gradient_descent_written_out(tmp_path):
    """The graph-mode epoch loop against a slow direct implementation: the same network from the same
    initial weights, stepped eagerly one minibatch at a time by w <- w - rate * gradient (plain SGD),
    over the minibatches the training documents (a fresh ``np.random.default_rng(seed)`` permutation
    every epoch, cut into ``N // batch`` batches, the remainder left out), at the scheduled rates
    (epoch 2 at half the rate), the batch normalizations' moving statistics then set to the population
    statistics of their inputs over the training set. Weights, moving statistics (at initialization too)
    and the recorded mean minibatch loss agree."""
    import keras
    import tensorflow as tf

    config = TrainConfig(dataset="digits", depth=2, width=4, epochs=2, batch_size=64, optimizer="sgd",
                         learning_rate=0.05, lr_decay=0.5, decay_after=1, seed=3, checkpoints=(0, 1, 2))
    result = train(config, tmp_path)
    data = load_dataset("digits")
    model = training_module.model_from_result(result, epoch=0)
    initial = model.get_weights()
    _population_statistics_by_hand(model, data.x_train)
    for got, want in zip(initial, model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    rng, n, b = np.random.default_rng(3), len(data.x_train), 64
    for epoch, rate in ((1, 0.05), (2, 0.025)):
        order = rng.permutation(n)[: (n // b) * b].reshape(-1, b)
        losses = []
        for batch in order:
            with tf.GradientTape() as tape:
                p = model(data.x_train[batch], training=True)
                loss = tf.reduce_mean(keras.ops.sparse_categorical_crossentropy(data.y_train[batch], p))
            grads = tape.gradient(loss, model.trainable_variables)
            for v, g in zip(model.trainable_variables, grads):
                v.assign(v - rate * g)
            losses.append(float(loss))
        _population_statistics_by_hand(model, data.x_train)
        assert result.history["loss"][epoch - 1] == pytest.approx(np.mean(losses), rel=1e-4)
        for got, want in zip(result.weights[epoch], model.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert result.test_loss == pytest.approx(float(keras.ops.mean(keras.ops.sparse_categorical_crossentropy(
        data.y_test, model(data.x_test, training=False)))), rel=1e-4)


@needs_tf
def test_a_diverging_network_names_its_configuration_and_epoch(tmp_path):
    from cca_core.experiments.training.cache import DivergedError

    config = TrainConfig(**dict(TINY, epochs=2), optimizer="sgd", learning_rate=1e30)
    with pytest.raises(DivergedError, match=r"depth=2 width=4 sgd lr=1e\+30.*diverged in epoch 1"):
        train(config, tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing cached for a diverged run"


@needs_tf
def test_a_sweep_trains_the_widest_networks_first_and_returns_them_in_order(tmp_path):
    """Longest first (so that a wide network does not end a sweep alone on one core); the results still
    come back in the order of the configurations."""
    from cca_core.experiments.training.sweeps import SequentialExecutor

    configs = [TrainConfig(**dict(TINY, width=w)) for w in (2, 8, 4)] + [TrainConfig(**dict(TINY, width=4, epochs=3))]
    stream = io.StringIO()
    results = train_many(configs, tmp_path, executor=SequentialExecutor(), stream=stream)
    assert [r.config for r in results] == configs
    trained = [line.split(" width=")[1].split()[0] + "/" + line.split(" epochs=")[1].split()[0]
               for line in stream.getvalue().splitlines() if " training " in line]
    assert trained == ["8/1", "4/3", "4/1", "2/1"]


@needs_tf
def test_a_finite_blow_up_is_a_divergence_too(tmp_path):
    """With a far too large rate the cross-entropy of a saturated softmax stays finite (about 1e15 at rate
    1e6) while the network predicts nothing: above ten times the chance level ln(10) it counts as diverged."""
    from cca_core.experiments.training.cache import DivergedError

    config = TrainConfig(**dict(TINY, epochs=2), optimizer="sgd", learning_rate=1e6)
    with pytest.raises(DivergedError, match=r"diverged in epoch 1 \(training loss [0-9.e+]+, test loss .*chance level 2\.3"):
        train(config, tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing cached for a diverged run"


@needs_tf
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_networks_trained_one_after_another_share_graphs_and_give_the_same_bits(tmp_path, optimizer):
    """A network trained after others of its architecture (its traced graphs reused, weights and the
    optimizer's step count and moments reset) -- one at another rate, one of another batch size, one
    that diverged -- has the same weights, bit for bit, as one trained by a fresh trainer."""
    from cca_core.experiments.training.cache import DivergedError

    config = TrainConfig(**dict(TINY, epochs=2), optimizer=optimizer, learning_rate=0.01, checkpoints=(0, 1, 2))
    training_module._TRAINERS.clear()
    fresh = train(config, tmp_path / "fresh")
    train(dataclasses.replace(config, seed=1, learning_rate=0.003), tmp_path / "other")
    assert len(training_module._TRAINERS) == 1, "the second network did not reuse the first one's trainer"
    train(dataclasses.replace(config, seed=2, batch_size=32), tmp_path / "batch")
    with pytest.raises(DivergedError):
        train(dataclasses.replace(config, seed=3, learning_rate=1e30), tmp_path / "diverged")
    reused = train(config, tmp_path / "reused")
    for epoch in (0, 1, 2):
        for a, b in zip(fresh.weights[epoch], reused.weights[epoch], strict=True):
            assert np.array_equal(a, b)
    assert fresh.history == reused.history


@needs_tf
def test_a_failed_network_is_named_by_its_place_in_the_sweep_as_given(tmp_path):
    """The sweep trains the longest first, but its messages and SweepError count in the order given."""
    from cca_core.experiments.training.sweeps import SequentialExecutor, SweepError

    configs = [TrainConfig(**TINY), TrainConfig(**dict(TINY, width=8)),
               TrainConfig(**dict(TINY, epochs=2), optimizer="sgd", learning_rate=1e30)]
    stream = io.StringIO()
    with pytest.raises(SweepError, match=r"1 of 3 run\(s\) failed.*\[3/3\] .*lr=1e\+30") as caught:
        train_many(configs, tmp_path, executor=SequentialExecutor(), stream=stream)
    assert [(i, c) for i, c, _ in caught.value.failures] == [(2, configs[2])]
    lines = [line for line in stream.getvalue().splitlines() if " training " in line]
    assert [line.split("]")[0] for line in lines] == ["[2/3", "[3/3", "[1/3"]  # width 8, 2 epochs, 1 epoch
    assert " width=8 " in lines[0] and "FAILED" in lines[1]
    assert lines[1].count(configs[2].short()) == 1  # the error names the run: the line does not repeat it
    # the epoch count ends at its total: the diverged run's epochs left are taken out of it
    counts = _meter_counts(stream.getvalue())
    assert counts[0][1] == 4 and counts[-1] == (2, 2), counts  # 1 + 1 + 2, then the diverged run's 2 out


def _meter_counts(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"epochs:[^|]*\|[^|]*\|\s*(\d+)/(\d+) \[", text)]


def test_epoch_progress_ends_at_its_total_when_a_failed_run_ends_last_or_its_epochs_come_late():
    from cca_core.experiments.training.sweeps import EpochProgress

    stream = io.StringIO()  # a pipe: lines, no bar
    meter = EpochProgress(total=4, n=2, stream=stream, interval=3600)  # runs 0 and 1, 2 epochs each
    for message in ((0, 1, "a"), (0, 2, "b"), (1, 1, "c")):
        meter(message, 2)
    meter.stopped(1, 2)  # run 1 failed after its first epoch, and ended last
    assert _meter_counts(stream.getvalue())[-1] == (3, 3) and "[2/2] failed" in stream.getvalue()

    stream = io.StringIO()
    meter = EpochProgress(total=4, n=2, stream=stream, interval=3600)
    meter((0, 1, "a"), 2)
    meter.stopped(1, 2)  # failed before the queue delivered its epoch ...
    meter((1, 1, "late"), 2)  # ... which then arrives: counted in the total again
    meter((0, 2, "b"), 2)
    meter.stopped(1, 2)  # told twice: once counts
    assert meter.done == meter.total == 3 and _meter_counts(stream.getvalue())[-1] == (3, 3)


def test_every_epoch_visits_the_examples_in_a_fresh_order():
    from cca_core.experiments.training.cache import epoch_orders

    orders = epoch_orders(10, 3, seed=7, drop_remainder=True)
    epochs = [next(orders) for _ in range(3)]
    assert all(e.shape == (3, 3) for e in epochs)
    assert all(len(set(e.ravel())) == 9 and set(e.ravel()) <= set(range(10)) for e in epochs)
    assert len({e.tobytes() for e in epochs}) == 3
    rng = np.random.default_rng(7)  # the documented draw: one generator, a permutation an epoch
    for e in epochs:
        np.testing.assert_array_equal(e.ravel(), rng.permutation(10)[:9])
    whole = next(epoch_orders(10, 3, seed=7, drop_remainder=False))
    np.testing.assert_array_equal(np.sort(whole), np.arange(10))


@needs_tf
def test_keras_fit_under_op_determinism_repeats_one_order_every_epoch():
    """Why the trainers shuffle themselves: ``fit(shuffle=True)`` with op determinism on visits the examples
    in the same order in every epoch (the running mean loss of a model that outputs its input, at rate 0,
    follows the order). If Keras changes this, the test says so; the trainers need no change."""
    code = textwrap.dedent("""
        import os
        import cca_core.experiments.training
        import numpy as np, keras, tensorflow as tf
        keras.utils.set_random_seed(0)
        tf.config.experimental.enable_op_determinism()
        x = np.arange(200, dtype="float32").reshape(200, 1)
        inputs = keras.Input((1,))
        model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mae")
        seen = []
        class Record(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                seen.append([])
            def on_train_batch_end(self, batch, logs=None):
                seen[-1].append(round(float(logs["loss"]), 4))
        model.fit(x, np.zeros(200, "float32"), batch_size=20, epochs=3, shuffle=True, verbose=0, callbacks=[Record()])
        print(seen[0] == seen[1] == seen[2], seen[0] != sorted(seen[0]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["True", "True"], "fit now reshuffles every epoch: the comment in cache.epoch_orders is stale"


def test_divergence_is_a_loss_beyond_ten_times_chance_or_not_finite():
    """check_diverged on stand-in numbers: the bounded loss must stay at most 10 x chance; the others need only be finite."""
    from cca_core.experiments.training.cache import DivergedError, check_diverged

    class Config:
        def short(self):
            return "a network"

    chance = float(np.log(10))
    check_diverged(Config(), 3, chance, "training loss", 10 * chance, test_loss=50 * chance)  # memorizers: test loss high
    for loss, others in [(10.01 * chance, {}), (1e15, {}), (float("nan"), {}), (float("inf"), {}),
                         (0.5, {"test_loss": float("nan")}), (0.5, {"test_loss": float("inf")})]:
        with pytest.raises(DivergedError, match=r"^a network: the loss diverged in epoch 3 \(training loss"):
            check_diverged(Config(), 3, chance, "training loss", loss, **others)
    words = float(np.log(10_000))  # a language model: the validation loss is bounded, the training loss need be finite
    check_diverged(Config(), 1, words, "validation loss", 9 * words, training_loss=1e6)
    with pytest.raises(DivergedError, match="validation loss 101.3"):
        check_diverged(Config(), 1, words, "validation loss", 11 * words, training_loss=3.0)


@needs_tf
def test_a_thread_pool_trains_the_same_networks_as_one_after_another(tmp_path):
    """Training seeds Keras and TensorFlow process-wide, so threads of one process must not train at once
    (a ThreadPoolExecutor(2) gave other initial weights from sweep to sweep): the sweep trains their runs
    one at a time, and the weights are those of a sequential sweep, bit for bit."""
    from cca_core.experiments.training.sweeps import SequentialExecutor

    configs = [TrainConfig(**TINY, seed=s) for s in range(4)]
    one_by_one = train_many(configs, tmp_path / "sequential", executor=SequentialExecutor(), progress=False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        threaded = train_many(configs, tmp_path / "threads", executor=pool, progress=False)
    for a, b in zip(one_by_one, threaded, strict=True):
        for epoch in a.weights:
            for wa, wb in zip(a.weights[epoch], b.weights[epoch], strict=True):
                assert np.array_equal(wa, wb)


def test_a_broken_process_pool_ends_the_sweep_with_one_line_saying_why(tmp_path):
    from concurrent.futures.process import BrokenProcessPool

    from cca_core.experiments.training.sweeps import sweep

    class Broken:
        def submit(self, fn, *args):
            future = concurrent.futures.Future()
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future

    configs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    with pytest.raises(RuntimeError, match=r"training processes ended.*if __name__ == \"__main__\"") as caught:
        sweep(configs, tmp_path, train, load_result, str, Broken(), progress=False)
    assert isinstance(caught.value.__cause__, BrokenProcessPool)

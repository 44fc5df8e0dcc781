"""The book's parameter sets, checked without running the book: book/experiments.yml and the paper's scale
(book/experiments.paper.yml, for a machine with a GPU).

- every page's parameters pass its template's rules (the check the pipeline makes before a kernel starts);
- pages that share trained networks (conv_layers with width, measure_checks with memorization and
  learning_rates, rnn_sequence_dynamics with rnn_training_dynamics) ask for the same networks, so that a
  build trains them once;
- the dry run: one training step of every distinct network configuration of the paper's set (a CNN per
  width, learning rate and label kind, each language model) at its full size, on this machine's CPU: the
  language models in a traced graph, as they train; the CNNs eagerly (a CNN builds from checked layer
  sizes, and tracing a Keras graph cost four times the step: 2.0 s against 0.5 s a network).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
SETS = {"book": BOOK / "experiments.yml", "paper": BOOK / "experiments.paper.yml"}
LM_FIELDS = ("corpus", "max_tokens", "embedding_size", "hidden_size", "n_layers", "dropout", "seq_len", "batch_size",
             "learning_rate", "optimizer", "epochs", "grad_clip", "eval_tokens", "softmax_samples", "lr_decay",
             "decay_after")


def _values(pipeline, page):
    """The page's parameters over its template's defaults, checked and typed by the pipeline's one check."""
    spec = pipeline.template_spec(page.template_path)
    given = pipeline.check_values(page.template_path, spec, dict(page.parameters), page.source)
    return {**{name: p.default for name, p in spec.items()}, **given}


def _cnn_configs(page, v):
    """The CNN configurations a page trains, as its notebook builds them (seeds aside)."""
    from cca_core.experiments import TrainConfig
    from cca_core.experiments.analysis.measure_checks import learning_rate_configs, memorization_configs

    if page.template in ("memorization", "measure_checks"):
        configs = memorization_configs(dataset=v.get("dataset", "digits"), n_networks=1, depth=v["depth"],
                                       width=v["width"], optimizer=v["optimizer"], learning_rate=v["learning_rate"],
                                       epochs=v["epochs"], batch_size=v["batch_size"], seed=0,
                                       lr_decay=v["lr_decay"], decay_after=v["decay_after"])
        out = configs["generalizing"] + configs["memorizing"]
        if page.template == "measure_checks" and v["lr_seeds"]:
            out += learning_rate_configs(dataset=v.get("dataset", "digits"), depth=v["depth"], width=v["width"],
                                         learning_rates=v["lr_values"], seeds=1, epochs=v["lr_epochs"],
                                         optimizer=v["lr_optimizer"], batch_size=v["lr_batch_size"],
                                         lr_decay=v["lr_group_decay"], decay_after=v["lr_group_decay_after"])[1]
        return out
    common = dict(dataset=v.get("dataset", "digits"), depth=v["depth"], optimizer=v["optimizer"],
                  batch_size=v["batch_size"], epochs=v["epochs"], lr_decay=v.get("lr_decay", 1.0),
                  decay_after=v.get("decay_after", 0))
    if page.template == "width":
        return [TrainConfig(width=w, learning_rate=v["learning_rate"], **common) for w in v["widths"]]
    if page.template == "learning_rates":
        return [TrainConfig(width=v["width"], learning_rate=lr, **common) for lr in v["learning_rates"]]
    return [TrainConfig(width=v["width"], learning_rate=v["learning_rate"], **common)]


def _lm_config(v):
    from cca_core.experiments import LMConfig

    return LMConfig(**{k: v[k] for k in LM_FIELDS if k in v} | {"max_tokens": v["max_tokens"] or None,
                                                                 "eval_tokens": v["eval_tokens"] or None})


def _networks(pipeline, path):
    """page name -> (kind, configurations with seed 0 and the default checkpoints) for every page that trains
    networks: what two pages must agree on to share trained networks (each page keeps its own checkpoints)."""
    import dataclasses

    def unseeded(c):
        return dataclasses.replace(c, seed=0, checkpoints=None)

    out = {}
    for page in pipeline.load_pages(path):
        v = _values(pipeline, page)
        if page.template.startswith("rnn_"):
            out[page.name] = ("lm", [unseeded(_lm_config(v))])
        elif page.template != "signal_noise":
            out[page.name] = ("cnn", [unseeded(c) for c in _cnn_configs(page, v)])
    return out


@pytest.mark.parametrize("name", SETS)
def test_every_page_passes_its_templates_rules(pipeline, name):
    pages = pipeline.load_pages(SETS[name])
    assert [p.name for p in pages] == [p.name for p in pipeline.load_pages(SETS["book"])], "the same pages"
    for page in pages:
        _values(pipeline, page)  # raises UsageError naming the page's bad parameter


@pytest.mark.parametrize("name", SETS)
def test_pages_that_share_networks_ask_for_the_same_ones(pipeline, name):
    nets = _networks(pipeline, SETS[name])
    assert set(nets["conv_layers"][1]) <= set(nets["width"][1]), "conv_layers reuses the width page's networks"
    assert nets["rnn_sequence_dynamics"][1] == nets["rnn_training_dynamics"][1], "the sequence page reuses the PTB models"
    lr_nets = set(nets["learning_rates"][1])
    memorization = set(nets["memorization"][1])
    assert set(nets["measure_checks"][1]) <= memorization | lr_nets


def _one_cnn_step(config):
    import keras

    from cca_core.experiments import build_cnn, load_dataset

    from cca_core.experiments.training.cache import make_optimizer

    data = load_dataset(config.dataset, config.labels)
    keras.utils.set_random_seed(0)
    model = build_cnn(config.depth, config.width, config.strides, data.input_shape, data.num_classes)
    model.compile(optimizer=make_optimizer(config.optimizer, config.learning_rate),
                  loss="sparse_categorical_crossentropy", run_eagerly=True)  # one eager step: tracing costs more
    loss = model.train_on_batch(data.x_train[:config.batch_size], data.y_train[:config.batch_size])
    return float(np.ravel(loss)[0])


def _one_lm_step(config):
    import keras

    from cca_core.experiments.training.lstm import training_models
    from cca_core.experiments.training.text import load_corpus, window_arrays

    corpus = load_corpus(config.corpus, config.max_tokens)
    x, y = window_arrays(corpus.train[: config.batch_size * (config.seq_len + 1) + 1], config.batch_size, config.seq_len)
    keras.utils.set_random_seed(0)
    _, _, train_model, fit_x, fit_y = training_models(config, corpus.vocab_size, x, y)
    first = [a[: config.batch_size] for a in fit_x] if isinstance(fit_x, list) else fit_x[: config.batch_size]
    loss = train_model.train_on_batch(first, fit_y[: config.batch_size])
    return float(np.ravel(loss)[0])


def test_paper_scale_dry_run_one_training_step_each(pipeline, monkeypatch):
    """Every distinct network of the paper's set builds at full size and takes one finite training step."""
    pytest.importorskip("tensorflow")
    from text_mirror import find_text_mirror

    mirror = find_text_mirror()
    if mirror is None:
        pytest.skip("text data mirror not found (set CCA_CORE_DATA_DIR)")
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(mirror))
    from cca_core.experiments import check_trainable

    seen = set()
    for kind, configs in _networks(pipeline, SETS["paper"]).values():
        check_trainable(configs)  # batch sizes and softmax samples against the data, as the notebooks do
        for config in configs:
            if config in seen:
                continue
            seen.add(config)
            loss = (_one_lm_step if kind == "lm" else _one_cnn_step)(config)
            assert np.isfinite(loss) and loss > 0, config.short()
    assert len(seen) >= 10

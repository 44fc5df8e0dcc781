"""Training cost of the book's networks: today's recipe against the previous one, in one run.

Usage::

    python benchmarks/train_bench.py              # PTB and WikiText-2 LMs, two CNN sweeps (about 10 minutes)
    python benchmarks/train_bench.py --quick      # fewer steps and epochs (about 3 minutes)
    python benchmarks/train_bench.py --markdown   # the table as markdown
    python benchmarks/train_bench.py --markdown --readme benchmarks/README.md   # and as its section there

Nothing is asserted: the script prints figures and whether each meets the goal (>= 5x). The first
line states the machine and its load average when the run started, since a busy machine (networks
training beside it) changes every figure; ratios measured in one run carry over better than seconds.

Language models (tokens/s): the book's LSTM language models (``book/experiments.yml``), timed over
``--steps`` training steps after one warm-up epoch of two steps, on the training tokens the book's
page uses (all of PTB's, the first 1,000,000 of WikiText-2's).

- previous recipe: full softmax, LSTM loop not unrolled, 20 x 20-token windows a step, TensorFlow's
  default threads (what the book used up to this change);
- recipe: the book's configuration now (sampled softmax with ``softmax_samples`` candidates,
  unrolled LSTMs, its batch size), in a process running TensorFlow on one thread, as the sweep's
  local training processes do (:func:`cca_core.experiments.training.sweeps.local_executor`).

CNN sweeps (networks/min): the sweeps of the book's width page (20 networks, widths 2 to 32, 10 epochs)
and memorization page (5 networks on true labels and 5 on random ones, 60 epochs of Adam), as
``book/experiments.yml`` sets them (``--epochs`` caps their epochs; ``--quick``: 3 and 10).

- previous recipe: ``keras.Model.fit`` (one Python call a step), networks trained one after another
  in this process with TensorFlow's default threads (what the book used up to this change, written
  out in the case below); one network has no start-up to share with the others, so it is timed on a
  sample of the sweep (one seed of each width; one network of each group);
- recipe: the whole sweep as the page trains it, :func:`~cca_core.experiments.training.cnn.train_many`'s
  default: every epoch one TensorFlow graph, one single-threaded process per core, from an empty
  cache, the processes' start (each imports TensorFlow, about 10 s) included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 5.0

LM_CASE = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
spec = json.loads(sys.argv[1])
import tensorflow as tf
if spec["threads"]:
    tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(spec["threads"])
import keras
from cca_core.experiments.training.lstm import LMConfig, training_models
from cca_core.experiments.training.text import load_corpus, window_arrays
config = LMConfig(**spec["config"])
keras.utils.set_random_seed(0)
corpus = load_corpus(config.corpus, config.max_tokens)
x, y = window_arrays(corpus.train, config.batch_size, config.seq_len)
rows = spec["steps"] * config.batch_size
x, y = x[:rows], y[:rows]
_, _, model, fit_x, fit_y = training_models(config, corpus.vocab_size, x, y, unroll=spec["unroll"])
model.fit(fit_x, fit_y, batch_size=config.batch_size, epochs=1, steps_per_epoch=2, verbose=0)
start = time.perf_counter()
model.fit(fit_x, fit_y, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0)
seconds = time.perf_counter() - start
print(json.dumps({"tokens_per_s": rows * config.seq_len / seconds, "ms_per_step": 1000 * seconds / spec["steps"]}))
"""

CNN_CASE = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
spec = json.loads(sys.argv[1])
from cca_core.experiments import TrainConfig, train_many


def previous_recipe(config):
    # What train() did up to the change: keras.Model.fit, one Python call a step, the learning rate set by a
    # callback, the test split evaluated after every epoch; in this process with TensorFlow's default threads.
    import keras
    import tensorflow as tf
    from cca_core.experiments.training.cache import learning_rate_at, make_optimizer
    from cca_core.experiments.training.cnn import build_cnn
    from cca_core.experiments.training.datasets import load_dataset

    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    data = load_dataset(config.dataset, config.labels)
    model = build_cnn(config.depth, config.width, config.strides, data.input_shape, data.num_classes)
    model.compile(optimizer=make_optimizer(config.optimizer, config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rate = lambda epoch, _: learning_rate_at(epoch + 1, config.learning_rate, config.lr_decay, config.decay_after)
    model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
              verbose=0, validation_data=(data.x_test, data.y_test), validation_batch_size=256,
              callbacks=[keras.callbacks.LearningRateScheduler(rate)])
    model.evaluate(data.x_train, data.y_train, batch_size=256, verbose=0)
    model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0)


if __name__ == "__main__":
    configs = [TrainConfig(**c) for c in spec["configs"]]
    start = time.perf_counter()
    if spec["previous"]:
        for config in configs:
            previous_recipe(config)
    else:
        train_many(configs, spec["cache"], progress=False)
    print(json.dumps({"networks_per_min": 60 * len(configs) / (time.perf_counter() - start)}))
"""


def _book_lm(page: str) -> dict:
    """The LM configuration of a book page (``book/experiments.yml``), as :class:`LMConfig` fields."""
    import yaml

    params = yaml.safe_load((ROOT / "book" / "experiments.yml").read_text())["pages"][page]["parameters"]
    fields = ("corpus", "max_tokens", "embedding_size", "hidden_size", "n_layers", "dropout", "learning_rate",
              "batch_size", "seq_len", "softmax_samples")
    config = {k: params[k] for k in fields if k in params}
    if "max_tokens" in config:
        config["max_tokens"] = config["max_tokens"] or None  # the notebooks' 0: the whole training split
    return config


def _book_cnn_sweeps(epochs: int | None, quick: bool) -> list[tuple[str, list[dict], list[dict]]]:
    """The CNN sweeps of the book's width and memorization pages (``book/experiments.yml``, built as their
    notebooks build them), as ``(page, configurations, sample)``: the recipe trains every configuration
    as the page does; the previous recipe, one network at a time with no start-up to share, is timed on
    a sample (one seed of each width; one network of each group). ``epochs``: cap on the epochs (``--quick``: 3 and 10)."""
    import yaml

    pages = yaml.safe_load((ROOT / "book" / "experiments.yml").read_text())["pages"]
    w = pages["width"]["parameters"]
    cap = epochs or (3 if quick else None)
    width_epochs = min(w["epochs"], cap) if cap else w["epochs"]
    width = [dict(depth=w["depth"], width=width, epochs=width_epochs, seed=seed, checkpoints=[0, width_epochs],
                  lr_decay=w["lr_decay"], decay_after=min(w["decay_after"], width_epochs - 1))
             for width in w["widths"] for seed in range(w["seeds"])]
    m = pages["memorization"]["parameters"]
    cap = epochs or (10 if quick else None)
    mem_epochs = min(m["epochs"], cap) if cap else m["epochs"]
    memorization = [dict(labels=labels, depth=m["depth"], width=m["width"], optimizer=m["optimizer"],
                         learning_rate=m["learning_rate"], epochs=mem_epochs, batch_size=m["batch_size"],
                         seed=offset + i, lr_decay=m.get("lr_decay", 1.0),
                         decay_after=min(m.get("decay_after", 0), mem_epochs - 1))
                    for labels, offset in (("true", 0), ("random", 1000)) for i in range(m["n_networks"])]
    return [("width", width, [c for c in width if c["seed"] == 0]),
            ("memorization", memorization, [memorization[0], memorization[m["n_networks"]]])]


#: The previous recipe ran TensorFlow's default threads (one per core): "0" asks for them, and keeps
#: ``cca_core.experiments.training.REPRODUCIBLE_ENV`` (one thread, unless set) from pinning one.
DEFAULT_THREADS = {"TF_NUM_INTRAOP_THREADS": "0", "TF_NUM_INTEROP_THREADS": "0"}


def _run(code: str, spec: dict, **env: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run([sys.executable, f.name, json.dumps(spec)], capture_output=True, text=True,
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env), check=False)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark case failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and epochs")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--steps", type=int, default=None, help="timed training steps per LM case")
    ap.add_argument("--epochs", type=int, default=None, help="cap on the epochs of the CNN sweeps")
    ap.add_argument("--readme", metavar="PATH", help="also write the report as its section of PATH (make bench: benchmarks/README.md)")
    args = ap.parse_args(argv)
    for name in ("steps", "epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    from readme import recorded

    with recorded(args.readme, "train", "Training the book's networks: the recipe against the previous one",
                  markdown=args.markdown):
        return report(args)


def report(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report."""
    steps = args.steps or (30 if args.quick else 120)
    # A sweep's processes each import TensorFlow first (about 10 s): a sweep of a few short networks pays
    # that more than it gains; the book's sweeps are of 10 to 20 networks.

    from readme import BUSY_LOAD, load_now

    load = load_now()
    print(f"# {platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load average {load:.2f} at the start ({'busy' if load >= BUSY_LOAD else 'idle'})")
    rows = []
    for page in ("rnn_training_dynamics", "rnn_training_dynamics_wikitext2"):
        now = _book_lm(page)
        before = dict(now, softmax_samples=0, batch_size=20, seq_len=20)
        print(f"[{page}] previous recipe ...", file=sys.stderr, flush=True)
        # The previous recipe's step costs about 3x more: fewer steps keep the run short.
        old = _run(LM_CASE, {"config": before, "steps": max(10, steps // 3), "unroll": False, "threads": 0},
                   **DEFAULT_THREADS)
        print(f"[{page}] recipe ...", file=sys.stderr, flush=True)
        new = _run(LM_CASE, {"config": now, "steps": steps, "unroll": True, "threads": 1})
        label = (f"{page}: {now.get('n_layers')} x LSTM({now.get('hidden_size')}), "
                 f"batch {now.get('batch_size', 20)} x {now.get('seq_len', 20)}, softmax samples {now.get('softmax_samples', 0)}")
        rows.append((label, "tokens/s", old["tokens_per_s"], new["tokens_per_s"]))
    for name, sweep, sample in _book_cnn_sweeps(args.epochs, args.quick):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"[{name}] previous recipe: {len(sample)} of its networks one after another ...", file=sys.stderr,
                  flush=True)
            old = _run(CNN_CASE, {"configs": sample, "previous": True}, **DEFAULT_THREADS)
            print(f"[{name}] recipe: its {len(sweep)} networks, one process per core ...", file=sys.stderr, flush=True)
            new = _run(CNN_CASE, {"configs": sweep, "previous": False, "cache": tmp})
        epochs = sweep[0]["epochs"]
        rows.append((f"CNN sweep of the {name} page: {len(sweep)} networks, {epochs} epochs (previous: {len(sample)} of them)",
                     "networks/min", old["networks_per_min"], new["networks_per_min"]))

    header = ("case", "unit", "previous", "now", "speed-up", f"goal >= {GOAL:g}x")
    lines = [(name, unit, f"{a:,.0f}" if a >= 100 else f"{a:.2f}", f"{b:,.0f}" if b >= 100 else f"{b:.2f}",
              f"{b / a:.1f}x", ("ok" if b / a >= GOAL else "MISS" + ("" if load < BUSY_LOAD else " under load")))
             for name, unit, a, b in rows]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
        for r in [header, *lines]:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

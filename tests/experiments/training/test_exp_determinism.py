"""Training gives the same bits whatever the machine's core count and whichever process trains
(cca_core.experiments.training.REPRODUCIBLE_ENV).

Each case trains a small CNN (3 conv layers of 8-16 filters, 2 epochs: large enough for TensorFlow
to split its products over threads) in a fresh process (TensorFlow reads its thread counts when it starts
its runtime, at the first op; the oneDNN settings at import) and prints a hash of every weight at every
checkpoint. The processes
of a test run side by side: the bits do not depend on the load, and the test takes the time of one.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("tensorflow", "sklearn")) or not hasattr(os, "sched_setaffinity"),
    reason="needs the 'experiments' extra and CPU affinity (Linux)")

SCRIPT = textwrap.dedent("""
    import hashlib, os, sys, tempfile
    cores, how = int(sys.argv[1]), sys.argv[2]
    if cores > 0:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    if how == "tensorflow-first":
        import tensorflow  # imported before cca_core sets its thread counts (no op run yet)
    if how == "op-first":
        import tensorflow
        tensorflow.constant(1.0) + 1.0  # TensorFlow started: its thread counts are fixed
    import numpy as np
    import cca_core.experiments  # sets the reproducible environment before TensorFlow starts


    def digest(snaps):
        h = hashlib.sha256()
        for epoch in sorted(snaps):
            for w in snaps[epoch]:
                h.update(np.ascontiguousarray(w).tobytes())
        return h.hexdigest()


    if __name__ == "__main__":
        env = os.environ["TF_NUM_INTRAOP_THREADS"], os.environ["ONEDNN_MAX_CPU_ISA"]
        if how in ("env", "op-first"):
            print(*env, "-")
            sys.exit(0)
        from cca_core.experiments.training.cnn import TrainConfig, _fit, train_many
        config = TrainConfig(dataset="digits", depth=3, width=8, epochs=2, batch_size=32, seed=0,
                             optimizer="momentum", learning_rate=0.01)
        if how == "sweep":  # a sweep's local training process (spawned), through the cache
            with tempfile.TemporaryDirectory() as tmp:
                snaps = train_many([config], tmp, progress=False)[0].weights
        else:
            snaps = _fit(config)[0]
        print(*env, digest(snaps))
""")


def _start(cores: int, how: str = "fit", **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "ONEDNN_MAX_CPU_ISA",
                            "TF_ENABLE_ONEDNN_OPTS", "CCA_CORE_TRAIN_WORKERS")}
    environ.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(cores), how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environ)


def _results(*runs: subprocess.Popen) -> list[list[str]]:
    """The ``[threads, isa, digest]`` each run printed, waiting for all (and ending the others when one fails)."""
    out = []
    try:
        for run in runs:
            stdout, stderr = run.communicate(timeout=600)
            assert run.returncode == 0, stderr[-3000:]
            out.append(stdout.strip().splitlines()[-1].split())
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
    return out


def test_the_environment_is_set_and_can_be_overridden():
    runs = [_start(-1, "env"), _start(-1, "env", TF_NUM_INTRAOP_THREADS="2"), _start(-1, "env", TF_NUM_INTRAOP_THREADS=""),
            _start(-1, "env", TF_NUM_INTRAOP_THREADS="abc"), _start(-1, "op-first")]
    bad, op_first = runs[3], runs[4]
    default, overridden, empty = _results(*runs[:3])
    assert default[:2] == ["1", "AVX2"]  # by importing cca_core.experiments, whose names load lazily
    assert overridden[0] == "2"  # a value in the environment wins ...
    assert empty[0] == "1"  # ... an empty one does not (TensorFlow would read it as unset: its default)
    _, stderr = bad.communicate(timeout=600)
    assert bad.returncode != 0 and "TF_NUM_INTRAOP_THREADS='abc' in the environment: it must be an integer >= 0" in stderr
    _, stderr = op_first.communicate(timeout=600)
    assert op_first.returncode == 0 and "TensorFlow ran before cca_core.experiments was imported" in stderr


def test_a_thread_count_of_the_user_is_warned_about_once():
    env = dict(os.environ, TF_NUM_INTEROP_THREADS="3", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("CCA_CORE_THREADS_WARNED", None)
    code = "import cca_core.experiments.training, importlib, cca_core.experiments.training.sweeps"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stderr.count("TF_NUM_INTEROP_THREADS=3 in the environment") == 1, out.stderr
    # a process it starts (a sweep's) inherits the mark and stays quiet
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True,
                         env=dict(env, CCA_CORE_THREADS_WARNED="1"), timeout=120)
    assert "in the environment" not in out.stderr


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores to compare with 1")
def test_training_bits_do_not_depend_on_the_cores_or_the_process_that_trains():
    two_threads_env = dict(TF_NUM_INTRAOP_THREADS="2", TF_NUM_INTEROP_THREADS="2")
    two, one, sweep, tf_first, two_threads, two_threads_sweep = _results(
        _start(2), _start(1), _start(2, "sweep"), _start(2, "tensorflow-first"),
        # what a process with two cores gave before the environment pinned one thread
        _start(2, **two_threads_env), _start(2, "sweep", **two_threads_env))
    assert two == one  # the core count does not matter
    assert sweep[-1] == two[-1]  # a sweep's worker trains what the caller's process trains: one cache key, one network
    assert tf_first[-1] == two[-1]  # TensorFlow imported first still reads the environment when it starts
    # the test can fail: another thread count splits the sums otherwise and gives other bits
    assert two_threads[0] == "2" and two_threads[-1] != two[-1]
    # a thread count set by the user applies to the sweep's processes too: still one network per key here
    assert two_threads_sweep[-1] == two_threads[-1]

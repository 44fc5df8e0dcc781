"""Training gives the same bits whatever the machine's core count (cca_core.experiments.training.REPRODUCIBLE_ENV).

Each test trains a small CNN (3 conv layers of 8-16 filters, 2 epochs: large enough for TensorFlow
to split its products over threads) in fresh processes (TensorFlow reads its threading and oneDNN settings
once, at import) and compares a hash of every weight at every checkpoint.
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
    import hashlib, os, sys
    cores = int(sys.argv[1])
    if cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    import numpy as np
    import cca_core.experiments.training  # sets the reproducible environment before TensorFlow is imported
    if cores < 0:
        print(os.environ["TF_NUM_INTRAOP_THREADS"], os.environ["ONEDNN_MAX_CPU_ISA"], "-")
        sys.exit(0)
    from cca_core.experiments.training.cnn import TrainConfig, _fit
    snaps, _ = _fit(TrainConfig(dataset="digits", depth=3, width=8, epochs=2, batch_size=32, seed=0,
                                optimizer="momentum", learning_rate=0.01))
    h = hashlib.sha256()
    for epoch in sorted(snaps):
        for w in snaps[epoch]:
            h.update(np.ascontiguousarray(w).tobytes())
    print(os.environ["TF_NUM_INTRAOP_THREADS"], os.environ["ONEDNN_MAX_CPU_ISA"], h.hexdigest())
""")


def _train(cores: int, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "ONEDNN_MAX_CPU_ISA",
                            "TF_ENABLE_ONEDNN_OPTS")}
    environ.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(cores)], capture_output=True, text=True,
                         env=environ, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_the_environment_is_set_and_can_be_overridden():
    assert _train(-1).split()[:2] == ["2", "AVX2"]
    assert _train(-1, TF_NUM_INTRAOP_THREADS="1").split()[0] == "1"  # a value in the environment wins


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores to compare with 1")
def test_training_bits_do_not_depend_on_the_cores_available():
    two, one = _train(2), _train(1)
    assert two == one
    # without the pinned thread count, the core count decides TensorFlow's threads and the bits differ
    free_one = _train(1, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    assert free_one.split()[-1] != two.split()[-1]

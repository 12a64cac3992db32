"""Sentence-level sentiment data: TFDS builders and the tf.data pipeline (many-to-one).

Datasets (the ``dataset`` key of a config's ``data`` section, see `DATASETS`):

* ``mr`` (default): the Pang & Lee movie-review sentences (the "MR" family) with
  human ratings, from the ground truth of Hutto & Gilbert, "VADER", ICWSM 2014,
  shipped in the PyPI sdist ``vaderSentiment-3.3.2.tar.gz`` (`VADER_ARTIFACT`):
  ``vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz`` ->
  ``hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt``, tab-separated
  ``id``, mean rating of 20 raters (-4..+4), sentence; 10,605 rows. Label =
  ``rating > 0`` (1 = positive); the 37 rows rated exactly 0 are dropped, leaving
  10,568 (5,242 positive, 5,326 negative).
* ``tweets``, ``amazon``, ``nyt``: the tweet (4,200 rows, 4 zeros), Amazon review
  (3,708 rows, 98 zeros) and New York Times editorial (5,190 rows, 244 zeros)
  snippets of the same archive, same format and labelling.
* ``mr_polarity``: the original sentence polarity data v1.0 (5,331 positive and
  5,331 negative sentences, ``rt-polaritydata.tar.gz`` from Cornell, needs internet
  or a mirror copy).
* ``imdb``: the Large Movie Review Dataset v1.0 (``aclImdb_v1.tar.gz`` from Stanford,
  25,000 train / 25,000 test reviews; the same data as TFDS ``imdb_reviews``).

Splits (fixed, documented): for the datasets without an official split (all but
``imdb``) the kept rows, in file order, are permuted with
``numpy.random.default_rng(0).permutation(n)``; the first ``n - 2*round(0.1*n)`` are
train, the next ``round(0.1*n)`` validation, the last ``round(0.1*n)`` test
(``mr``: 8,454 / 1,057 / 1,057). ``imdb`` keeps its official test split and takes
validation = 10% of its train split the same way (22,500 / 2,500 / 25,000).

Each source is a TFDS builder registered on import (`zoo.data.sentiment_tfds`; the raw
files are read by `zoo.data.sentiment_sources`), so
``tfds.load("zoo_sentiment_snippets/movie_reviews", data_dir=tfds_data_dir())`` works
offline once the registry artifact is cached.

Text -> token ids: `standardize` (lower-casing and GloVe/PTB-like tokenization:
punctuation split off, ``n't`` and ``'s``-style clitics separated) then whitespace
split (`zoo.data.sentiment_text`), then a Keras `TextVectorization` whose vocabulary is fit on the train split
only (index 0 = padding ``""``, 1 = ``"[UNK]"``); sequences are truncated to
``max_length`` tokens (default `DEFAULT_MAX_LENGTH`). The same pure-TensorFlow
`standardize` runs inside exported SavedModels.

Public API: `DATASETS`, `load_data` (train/validation/test pipelines + assets),
`make_dataset`, `fit_vocabulary`, `standardize`, `read_split`, `split_indices`,
`parse_ratings`, `info`, `bench`, `tfds_data_dir`.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import config
from zoo.data import lexicon
from zoo.data.sentiment_sources import (
    ARTIFACTS,
    IMDB_ARTIFACT,
    LABELS,
    MR_POLARITY_ARTIFACT,
    SNIPPET_FILES,
    SPLIT_SEED,
    SPLITS,
    VADER_ARTIFACT,
    DataFormatError,
    parse_ratings,
    read_imdb,
    read_mr_polarity,
    read_snippets,
    split_indices,
)
from zoo.data.sentiment_text import (
    extend_vocabulary,
    fit_vocabulary,
    standardize,
    text_vectorizer,
    tokenize,
)
from zoo.data.sentiment_tfds import (
    ALIASES,
    DATASETS,
    ZooImdbReviews,
    ZooMrPolarity,
    ZooSentimentSnippets,
    builder_name,
    read_split,
    tfds_data_dir,
)

__all__ = [
    "ARTIFACTS",
    "DATASETS",
    "DEFAULT_MAX_LENGTH",
    "IMDB_ARTIFACT",
    "LABELS",
    "MR_POLARITY_ARTIFACT",
    "SNIPPET_FILES",
    "SPLITS",
    "VADER_ARTIFACT",
    "DataFormatError",
    "ZooImdbReviews",
    "ZooMrPolarity",
    "ZooSentimentSnippets",
    "bench",
    "check_data_cfg",
    "extend_vocabulary",
    "fetch_all",
    "fit_vocabulary",
    "info",
    "load_data",
    "make_dataset",
    "parse_ratings",
    "read_imdb",
    "read_mr_polarity",
    "read_snippets",
    "read_split",
    "split_indices",
    "standardize",
    "tfds_data_dir",
    "tokenize",
]

DEFAULT_MAX_LENGTH = 100


# --------------------------------------------------------------------------------------
# the pipeline


def make_dataset(
    ds: tf.data.Dataset,
    vocabulary: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = DEFAULT_MAX_LENGTH,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batched ``(token_ids, label)`` pipeline from an unbatched ``(text, label)`` dataset.

    Args:
        ds: yields ``(text: tf.string [], label: int [])``, or
            ``(text, label, weight: float32 [])`` for weighted training examples.
        vocabulary: from `fit_vocabulary` (``""`` at 0, ``"[UNK]"`` at 1).
        max_length: sequences are truncated to this many tokens.
        shuffle: shuffle examples each epoch with `seed` (deterministic order per seed).
        bucketing: batch sentences of similar length together
            (``bucket_by_sequence_length``, boundaries 8/16/24/32/48/64) instead of
            padding each batch to its longest sentence.
        cache: cache the vectorized examples in memory (before shuffling).

    Returns:
        A dataset of ``(ids: int32 [batch, time], label: float32 [batch])`` (plus
        ``weight: float32 [batch]`` when `ds` has weights); padding
        is 0 (the mask is ``ids != 0``); time = the longest sentence in the batch
        (at least 1). Prefetched.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(
            f"Received an invalid value for argument 'max_length', expected a positive int, got {max_length!r}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"Received an invalid value for argument 'batch_size', expected a positive int, got {batch_size!r}."
        )
    vectorizer = text_vectorizer(vocabulary)

    def vectorize(texts, labels, *weight):
        ids = vectorizer(texts)[:, :max_length]
        return (ids, tf.cast(labels, tf.float32), *weight)

    # Vectorize in blocks (much faster than per example), then unbatch for batching.
    ds = ds.batch(512).map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.map(lambda ids, *rest: (tf.cast(ids, tf.int32), *rest))
    padded_shapes = ([None], [], [])[: len(ds.element_spec)]
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(20_000, seed=seed, reshuffle_each_iteration=True)
    if bucketing:
        bounds = [b for b in (8, 16, 24, 32, 48, 64) if b < max_length]
        ds = ds.bucket_by_sequence_length(
            lambda ids, *rest: tf.maximum(tf.shape(ids)[0], 1),
            bucket_boundaries=[b + 1 for b in bounds],
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
            padded_shapes=padded_shapes,
        )
    else:
        ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes)
    # An empty sentence would give a [batch, 0] tensor: keep at least one (padding) step.
    ds = ds.map(
        lambda ids, *rest: (tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]]), *rest)
    )
    return ds.prefetch(tf.data.AUTOTUNE)


DATA_KEYS = {
    "dataset",
    "max_tokens",
    "max_length",
    "bucketing",
    "data_dir",
    "soft_labels",
    "glove_vocabulary",
    *lexicon.LEXICON_DEFAULTS,  # extra rated words/snippets (zoo.data.lexicon), off by default
}


def check_data_cfg(data_cfg: dict | None) -> dict:
    """Validate a config's ``data`` section and fill in defaults."""
    cfg = dict(config.check_keys("data", dict(data_cfg or {}), DATA_KEYS))
    cfg.setdefault("dataset", "mr")
    cfg.setdefault("max_tokens", None)
    cfg.setdefault("max_length", DEFAULT_MAX_LENGTH)
    cfg.setdefault("bucketing", False)
    cfg.setdefault("data_dir", None)
    cfg.setdefault("soft_labels", None)
    cfg.setdefault("glove_vocabulary", 0)
    # How many of GloVe's most frequent words to add to the vocabulary.
    config.non_negative_int(cfg["glove_vocabulary"], "glove_vocabulary", "data")
    builder_name(cfg["dataset"])
    return lexicon.check_lexicon_cfg(cfg)


def _count(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    return n if n >= 0 else sum(1 for _ in ds)


SMOKE_SIZES = {"train": 320, "validation": 128, "test": 128}


def load_data(
    data_cfg: dict | None = None, *, batch_size: int = 32, seed: int = 0, smoke: bool = False
) -> dict[str, Any]:
    """Train/validation/test pipelines for a config's ``data`` section.

    Args:
        data_cfg: ``{"dataset": "mr", "max_tokens": None, "max_length": 100,
            "bucketing": False, "data_dir": None, "soft_labels": None}`` (all optional;
            ``soft_labels=a`` trains on ``sigmoid(a * rating)`` targets, see `read_split`;
            ``lexicon_weight``, ``lexicon_phrases``, ``lexicon_negators``,
            ``extra_datasets``, ``extra_weight`` add human-rated words and non-movie
            snippets as weighted train examples, see `zoo.data.lexicon`; off by default).
        batch_size: examples per batch.
        seed: shuffling seed of the train split (the split itself is fixed).
        smoke: use the first 320 / 128 / 128 examples of train / validation / test.

    Returns:
        ``{"train", "validation", "test"}`` datasets as in `make_dataset` (train
        shuffled), ``"assets"``: ``{"vocabulary": [...], "labels": ["negative",
        "positive"], "preprocessing": {"max_length": int, "standardize": "zoo_v1",
        "train_vocabulary_size": int}}`` (vocabulary fit on the train split only, then
        optionally extended with GloVe words, see `extend_vocabulary`), and ``"info"``:
        dataset name, TFDS builder and version, split sizes (MR's own; the extra train
        examples are counted under ``"extra_train_examples"``). With extras on, train
        batches are ``(ids, target, weight float32 [batch])``.
    """
    cfg = check_data_cfg(data_cfg)
    raw = {s: read_split(cfg["dataset"], s, data_dir=cfg["data_dir"]) for s in SPLITS}
    if cfg["soft_labels"] is not None:  # training targets only; evaluation stays hard
        raw["train"] = read_split(
            cfg["dataset"], "train", data_dir=cfg["data_dir"], soft_labels=cfg["soft_labels"]
        )
    if smoke:
        raw = {s: ds.take(SMOKE_SIZES[s]) for s, ds in raw.items()}
    vocab = fit_vocabulary(raw["train"].map(lambda t, y: t), max_tokens=cfg["max_tokens"])
    train_vocabulary_size = len(vocab)
    vocab = extend_vocabulary(vocab, cfg["glove_vocabulary"])
    sizes = {s: _count(raw[s]) for s in SPLITS}
    extra_counts = None
    if lexicon.enabled(cfg):  # after the vocabulary: extras add examples, not words
        raw["train"], extra_counts = lexicon.augment_train(raw["train"], cfg, vocab)
        if smoke:  # the mix, shuffled, at smoke size
            raw["train"] = raw["train"].take(SMOKE_SIZES["train"])
    out: dict[str, Any] = {
        s: make_dataset(
            raw[s],
            vocab,
            batch_size=batch_size,
            max_length=cfg["max_length"],
            shuffle=(s == "train"),
            seed=seed,
            bucketing=cfg["bucketing"] and s == "train",
        )
        for s in SPLITS
    }
    out["assets"] = {
        "vocabulary": vocab,
        "labels": list(LABELS),
        "preprocessing": {
            "max_length": cfg["max_length"],
            "standardize": "zoo_v1",
            "train_vocabulary_size": train_vocabulary_size,
        },
    }
    builder = tfds.builder(
        builder_name(cfg["dataset"]), data_dir=str(cfg["data_dir"] or tfds_data_dir())
    )
    out["info"] = {
        "dataset": cfg["dataset"],
        "tfds_name": builder.info.full_name,
        "data_version": f"{builder.info.full_name} split_seed={SPLIT_SEED}",
        "sizes": sizes,
        "vocabulary_size": len(vocab),
        "smoke": smoke,
    }
    if extra_counts is not None:
        out["info"]["extra_train_examples"] = extra_counts
    return out


# --------------------------------------------------------------------------------------
# info and bench


def info(name: str = "mr", *, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Facts about a dataset for ``python -m zoo data info``.

    Returns:
        ``{"dataset", "tfds_name", "splits": {split: {"size", "labels": {name: count},
        "length": {"mean", "max", "histogram": {"1-8": n, ...}}}}, "artifact": ...}``
        with lengths in tokens after `standardize`.
    """
    tfds_name = builder_name(name)
    edges = [0, 8, 16, 24, 32, 48, 64, 100, 200, 400, 10**9]
    splits = {}
    for split in SPLITS:
        labels: Counter = Counter()
        lengths: list[int] = []
        for texts, ys in read_split(name, split, data_dir=data_dir).batch(1024):
            lengths.extend(tokenize(texts).row_lengths().numpy().tolist())
            labels.update(LABELS[int(y)] for y in ys.numpy())
        hist = np.histogram(lengths, bins=edges)[0]
        splits[split] = {
            "size": len(lengths),
            "labels": {k: labels[k] for k in LABELS},
            "length": {
                "mean": round(float(np.mean(lengths)), 2) if lengths else 0.0,
                "max": int(max(lengths, default=0)),
                "histogram": {
                    (f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}"): int(c)
                    for lo, hi, c in zip(edges[:-1], edges[1:], hist)
                },
            },
        }
    name = ALIASES.get(name, name)
    source = {"mr_polarity": "mr_polarity", "imdb": "imdb"}.get(name, "vader")
    art = ARTIFACTS[source]
    return {
        "dataset": name,
        "tfds_name": tfds_name,
        "splits": splits,
        "split_rule": "80/10/10, numpy default_rng(0)"
        if name != "imdb"
        else "official test; validation 10% of train, default_rng(0)",
        "artifact": {"filename": art.filename, "sha256": art.sha256, "license": art.license},
    }


def fetch_all() -> dict[str, Any]:
    """Fetch the registry artifact (VADER sdist) and prepare the four snippet datasets;
    the URL-only datasets (``mr_polarity``, ``imdb``) are prepared on first use.

    Returns:
        ``{dataset: {split: size}}`` for ``mr``, ``tweets``, ``amazon``, ``nyt``.
    """
    out = {}
    for name in ("mr", "tweets", "amazon", "nyt"):
        builder = tfds.builder(DATASETS[name], data_dir=str(tfds_data_dir()))
        builder.download_and_prepare()
        out[name] = {s: builder.info.splits[s].num_examples for s in SPLITS}
    return out


def bench(
    name: str = "mr", *, batch_size: int = 32, epochs: int = 3, bucketing: bool = False
) -> dict[str, Any]:
    """Examples/second of the train pipeline (vocabulary fit excluded).

    The first epoch includes vectorization (the cold pass that fills the cache); the
    later ones read the cache, as training does from epoch 2 on.

    Returns:
        ``{"dataset", "batch_size", "examples", "first_epoch_examples_per_s",
        "cached_examples_per_s"}``.
    """
    raw = read_split(name, "train")
    vocab = fit_vocabulary(raw.map(lambda t, y: t))
    ds = make_dataset(raw, vocab, batch_size=batch_size, shuffle=True, bucketing=bucketing)
    rates = []
    n = 0
    for _ in range(max(2, epochs)):
        t0, n = time.perf_counter(), 0
        for ids, _y in ds:
            n += int(ids.shape[0])
        rates.append(n / (time.perf_counter() - t0))
    return {
        "dataset": name,
        "batch_size": batch_size,
        "bucketing": bucketing,
        "examples": n,
        "first_epoch_examples_per_s": round(rates[0], 1),
        "cached_examples_per_s": round(float(np.mean(rates[1:])), 1),
    }

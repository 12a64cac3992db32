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

Each source is a TFDS builder registered on import (``zoo_sentiment_snippets`` with
configs ``movie_reviews``, ``tweets``, ``amazon_reviews``, ``nyt_editorials``;
``zoo_mr_polarity``; ``zoo_imdb_reviews``), so
``tfds.load("zoo_sentiment_snippets/movie_reviews", data_dir=tfds_data_dir())`` works
offline once the registry artifact is cached.

Text -> token ids: `standardize` (lower-casing and GloVe/PTB-like tokenization:
punctuation split off, ``n't`` and ``'s``-style clitics separated) then whitespace
split, then a Keras `TextVectorization` whose vocabulary is fit on the train split
only (index 0 = padding ``""``, 1 = ``"[UNK]"``); sequences are truncated to
``max_length`` tokens (default `DEFAULT_MAX_LENGTH`). The same pure-TensorFlow
`standardize` runs inside exported SavedModels.

Public API: `DATASETS`, `load_data` (train/validation/test pipelines + assets),
`make_dataset`, `fit_vocabulary`, `standardize`, `read_split`, `split_indices`,
`parse_ratings`, `info`, `bench`, `tfds_data_dir`.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import config
from zoo.data import lexicon
from zoo.data.sources import Artifact, fetch, zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE

__all__ = [
    "ARTIFACTS",
    "DATASETS",
    "DEFAULT_MAX_LENGTH",
    "LABELS",
    "DataFormatError",
    "ZooImdbReviews",
    "ZooMrPolarity",
    "ZooSentimentSnippets",
    "bench",
    "fetch_all",
    "extend_vocabulary",
    "fit_vocabulary",
    "info",
    "load_data",
    "make_dataset",
    "parse_ratings",
    "read_split",
    "split_indices",
    "standardize",
    "tfds_data_dir",
    "tokenize",
]

# --------------------------------------------------------------------------------------
# sources

VADER_ARTIFACT = Artifact(
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    pypi="vadersentiment==3.3.2",
    pip_args=("--no-binary=:all:",),
    size=2_466_783,
    license="MIT (vaderSentiment); sentences: Pang & Lee 2005 movie reviews, "
    "Hutto & Gilbert 2014 ratings",
)
# sha256 of the canonical file as recorded by the Hugging Face `rotten_tomatoes` loader
# for a byte-identical copy (487,770 bytes); these machines cannot reach Cornell.
MR_POLARITY_ARTIFACT = Artifact(
    filename="rt-polaritydata.tar.gz",
    sha256="a05befe52aafda71d458d188a1c54506a998b1308613ba76bbda2e5029409ce9",
    url="https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
    size=487_770,
    license="sentence polarity dataset v1.0, Pang & Lee 2005 (research use)",
)
# sha256 as pinned by TFDS `imdb_reviews` (checksums.tsv).
IMDB_ARTIFACT = Artifact(
    filename="aclImdb_v1.tar.gz",
    sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    size=84_125_825,
    license="Large Movie Review Dataset v1.0, Maas et al. 2011",
)
#: source name -> Artifact; the builders look their artifact up here at build time.
ARTIFACTS: dict[str, Artifact] = {
    "vader": VADER_ARTIFACT,
    "mr_polarity": MR_POLARITY_ARTIFACT,
    "imdb": IMDB_ARTIFACT,
}

_VADER_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
#: snippets config -> file inside hutto_ICWSM_2014.tar.gz
SNIPPET_FILES = {
    "movie_reviews": "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
    "tweets": "hutto_ICWSM_2014/tweets_GroundTruth.txt",
    "amazon_reviews": "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "nyt_editorials": "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
}
#: short dataset name (configs' ``data.dataset``) -> TFDS builder name
DATASETS = {
    "mr": "zoo_sentiment_snippets/movie_reviews",
    "tweets": "zoo_sentiment_snippets/tweets",
    "amazon": "zoo_sentiment_snippets/amazon_reviews",
    "nyt": "zoo_sentiment_snippets/nyt_editorials",
    "mr_polarity": "zoo_mr_polarity",
    "imdb": "zoo_imdb_reviews",
}
#: label index -> name
LABELS = ("negative", "positive")
SPLITS = ("train", "validation", "test")
DEFAULT_MAX_LENGTH = 100
SPLIT_SEED = 0
_HOLDOUT_FRACTION = 0.1


class DataFormatError(ValueError):
    """A malformed line in a data file; the message names the file and the line."""


def tfds_data_dir() -> Path:
    """Where the zoo's TFDS datasets are prepared: ``zoo_home()/tensorflow_datasets``."""
    return zoo_home() / "tensorflow_datasets"


# --------------------------------------------------------------------------------------
# parsing


def parse_ratings(text: str | bytes, *, source: str) -> list[tuple[str, float, str]]:
    """Parse a VADER ground-truth file: one ``id<TAB>rating<TAB>sentence`` per line.

    Line endings may be CRLF; blank lines are skipped.

    Args:
        text: the file's contents (UTF-8 bytes or str).
        source: the file's name, used in error messages.

    Returns:
        ``[(id, rating, sentence), ...]`` in file order, rating a float in [-4, 4].

    Raises:
        DataFormatError: a line without exactly 3 tab-separated fields, a rating that
            is not a number in [-4, 4], an empty sentence, or bytes that are not UTF-8;
            the message says ``<source>, line <n>``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            line = text[: e.start].count(b"\n") + 1
            raise DataFormatError(f"{source}, line {line}: not valid UTF-8 ({e.reason}).") from e
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataFormatError(
                f"{source}, line {lineno}: expected 3 tab-separated fields "
                f"(id, rating, text), got {len(fields)}: {line[:80]!r}"
            )
        ident, rating, sentence = fields
        try:
            value = float(rating)
        except ValueError:
            value = float("nan")
        if not -4.0 <= value <= 4.0:
            raise DataFormatError(
                f"{source}, line {lineno}: the rating must be a number in [-4, 4], got {rating!r}."
            )
        if not sentence.strip():
            raise DataFormatError(f"{source}, line {lineno}: empty text.")
        rows.append((ident.strip(), value, sentence.strip()))
    return rows


def split_indices(n: int, *, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """The fixed 80/10/10 split of `n` rows (see the module docstring).

    Returns:
        ``{"train", "validation", "test"}`` -> sorted int64 index arrays, disjoint,
        covering ``range(n)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(
            f"Received an invalid value for argument 'n', expected an int >= 0, got {n!r}."
        )
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(_HOLDOUT_FRACTION * n))
    return {
        "train": np.sort(perm[: n - 2 * k]),
        "validation": np.sort(perm[n - 2 * k : n - k]),
        "test": np.sort(perm[n - k :]),
    }


def _read_vader_member(member: str) -> bytes:
    path = fetch(ARTIFACTS["vader"])
    with tarfile.open(path, "r:gz") as outer:
        inner_bytes = outer.extractfile(_VADER_INNER).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        return inner.extractfile(member).read()


def read_snippets(config: str) -> list[dict[str, Any]]:
    """All kept rows of one VADER ground-truth file (rating != 0), in file order.

    Returns:
        ``[{"id": str, "rating": float, "text": str, "label": 0|1}, ...]``.
    """
    if config not in SNIPPET_FILES:
        raise ValueError(
            f"Received an invalid value for argument 'config', expected one of "
            f"{sorted(SNIPPET_FILES)}, got {config!r}."
        )
    member = SNIPPET_FILES[config]
    source = f"{ARTIFACTS['vader'].filename}:{_VADER_INNER}:{member}"
    rows = parse_ratings(_read_vader_member(member), source=source)
    return [{"id": i, "rating": r, "text": t, "label": int(r > 0)} for i, r, t in rows if r != 0.0]


def read_mr_polarity() -> list[dict[str, Any]]:
    """The 10,662 sentences of ``rt-polaritydata.tar.gz`` (positive file first).

    Returns:
        ``[{"id": "pos-<line>"|"neg-<line>", "text": str, "label": 0|1}, ...]``.
    """
    path = fetch(ARTIFACTS["mr_polarity"])
    rows = []
    with tarfile.open(path, "r:gz") as tar:
        for polarity, label in (("pos", 1), ("neg", 0)):
            member = f"rt-polaritydata/rt-polarity.{polarity}"
            try:
                raw = tar.extractfile(member).read()
            except KeyError as e:
                raise DataFormatError(f"{path}: missing member {member!r}.") from e
            # The files are Windows-1252/Latin-1 (as read by every published loader).
            for lineno, line in enumerate(raw.decode("latin-1").split("\n"), start=1):
                line = line.strip()
                if line:
                    rows.append({"id": f"{polarity}-{lineno}", "text": line, "label": label})
    return rows


_IMDB_NAME = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def read_imdb() -> dict[str, list[dict[str, Any]]]:
    """The labelled reviews of ``aclImdb_v1.tar.gz`` (``unsup`` is skipped).

    Returns:
        ``{"train": [...], "test": [...]}`` of ``{"id", "rating" (1..10), "text",
        "label"}``, sorted by id; ``<br />`` tags replaced with spaces.
    """
    path = fetch(ARTIFACTS["imdb"])
    out: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            match = _IMDB_NAME.match(member.name)
            if not member.isfile() or not match:
                continue
            split, polarity, ident, stars = match.groups()
            text = tar.extractfile(member).read().decode("utf-8")
            text = re.sub(r"<br\s*/?>", " ", text).strip()
            out[split].append(
                {
                    "id": f"{split}/{polarity}/{ident}",
                    "rating": float(stars),
                    "text": text,
                    "label": int(polarity == "pos"),
                }
            )
    for rows in out.values():
        rows.sort(key=lambda r: r["id"])
    return out


def _fixed_splits(rows: list[dict]) -> dict[str, list[dict]]:
    idx = split_indices(len(rows))
    return {split: [rows[i] for i in idx[split]] for split in SPLITS}


# --------------------------------------------------------------------------------------
# TFDS builders

_CITATION_VADER = """@inproceedings{hutto2014vader,
  title={VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text},
  author={Hutto, C.J. and Gilbert, Eric}, booktitle={ICWSM}, year={2014}}"""


# TFDS 4.9 finds a builder's file through `importlib_resources` (not installed here);
# giving the path skips that. There is no TFDS checksums file: zoo.data.sources verifies.
_CODE_PATH = Path(__file__)


def _text_features(rating: bool) -> tfds.features.FeaturesDict:
    feats = {
        "id": tfds.features.Text(),
        "text": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=list(LABELS)),
    }
    if rating:
        feats["rating"] = tf.float32
    return tfds.features.FeaturesDict(feats)


class ZooSentimentSnippets(tfds.core.GeneratorBasedBuilder):
    """Human-rated sentences (VADER ground truth); label = mean rating > 0, zeros dropped."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = _CODE_PATH
    RELEASE_NOTES = {"1.0.0": "80/10/10 split with numpy default_rng(0)."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=name, description=f"{member} from vaderSentiment 3.3.2")
        for name, member in SNIPPET_FILES.items()
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=_text_features(rating=True),
            supervised_keys=("text", "label"),
            homepage="https://github.com/cjhutto/vaderSentiment",
            citation=_CITATION_VADER,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # bytes come from zoo.data.sources (pinned, mirrored, cached)
        splits = _fixed_splits(read_snippets(self.builder_config.name))
        return {split: self._generate_examples(rows) for split, rows in splits.items()}

    def _generate_examples(self, rows):
        for row in rows:
            yield row["id"], row


class ZooMrPolarity(tfds.core.GeneratorBasedBuilder):
    """Sentence polarity dataset v1.0 (Pang & Lee 2005), fixed 80/10/10 split."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = _CODE_PATH

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=_text_features(rating=False),
            supervised_keys=("text", "label"),
            homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        splits = _fixed_splits(read_mr_polarity())
        return {split: self._generate_examples(rows) for split, rows in splits.items()}

    def _generate_examples(self, rows):
        for row in rows:
            yield row["id"], row


class ZooImdbReviews(tfds.core.GeneratorBasedBuilder):
    """IMDB Large Movie Review Dataset (as TFDS ``imdb_reviews/plain_text``), with a
    validation split = 10% of train (numpy default_rng(0))."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = _CODE_PATH

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=_text_features(rating=True),
            supervised_keys=("text", "label"),
            homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        data = read_imdb()
        train = data["train"]
        perm = np.random.default_rng(SPLIT_SEED).permutation(len(train))
        k = int(round(_HOLDOUT_FRACTION * len(train)))
        return {
            "train": self._generate_examples([train[i] for i in np.sort(perm[k:])]),
            "validation": self._generate_examples([train[i] for i in np.sort(perm[:k])]),
            "test": self._generate_examples(data["test"]),
        }

    def _generate_examples(self, rows):
        for row in rows:
            yield row["id"], row


#: other accepted spellings (the TFDS config names)
ALIASES = {
    "sentiment": "mr",
    "movie_reviews": "mr",
    "amazon_reviews": "amazon",
    "nyt_editorials": "nyt",
}


def _builder_name(dataset: str) -> str:
    dataset = ALIASES.get(dataset, dataset)
    if dataset not in DATASETS:
        import difflib

        close = difflib.get_close_matches(str(dataset), DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Received an invalid value for argument 'dataset', expected one of "
            f"{sorted(DATASETS)}, got {dataset!r}.{hint}"
        )
    return DATASETS[dataset]


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of {list(SPLITS)}, "
            f"got {split!r}."
        )
    return split


def read_split(
    dataset: str = "mr",
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    soft_labels: float | None = None,
) -> tf.data.Dataset:
    """One split as an unbatched `tf.data.Dataset` of ``(text: tf.string [], label: tf.int64 [])``,
    preparing the TFDS dataset on first use (offline once the artifact is cached).

    With ``soft_labels=a`` (rated datasets only) the label is instead the float32 soft
    target ``sigmoid(a * rating)``: sentences with a mean human rating near 0 count as
    uncertain, strongly rated ones as near-certain. Only meant for training.
    """
    name = _builder_name(dataset)
    _check_split(split)
    data_dir = Path(data_dir) if data_dir else tfds_data_dir()
    builder = tfds.builder(name, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )
    ds = builder.as_dataset(split=split, shuffle_files=False, read_config=NO_AUTOCACHE)
    if soft_labels is not None:
        if "rating" not in builder.info.features:
            raise ValueError(
                f"Received soft_labels={soft_labels!r} for dataset {dataset!r}, which has no "
                f"human ratings; soft labels need one of {['mr', 'tweets', 'amazon', 'nyt']}."
            )
        if (
            isinstance(soft_labels, bool)
            or not isinstance(soft_labels, (int, float))
            or soft_labels <= 0
        ):
            raise ValueError(
                "Received an invalid value for argument 'soft_labels', expected None or a "
                f"positive number, got {soft_labels!r}."
            )
        scale = float(soft_labels)
        return ds.map(
            lambda ex: (ex["text"], tf.sigmoid(scale * tf.cast(ex["rating"], tf.float32))),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.map(lambda ex: (ex["text"], ex["label"]), num_parallel_calls=tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------
# text -> token ids

_PLACEHOLDER = "\x1f"  # marks the apostrophe of a clitic while other quotes are split off
#: Unicode separators (no-break and em spaces, line separators) and control characters
#: (tabs, NUL, the placeholder) are word breaks; replaced before lower-casing, because
#: `tf.strings.lower(..., encoding="utf-8")` cuts a string at its first NUL.
_BREAKS = r"[\p{Z}\p{Cc}]"
_RULES = (
    (r"<br\s*/?>", " "),
    (r"''|``|[“”«»]", ' " '),
    (r"[‘’`´]", "'"),
    (r"n't\b", f" n{_PLACEHOLDER}t"),
    (r"'(s|re|ve|ll|d|m)\b", f" {_PLACEHOLDER}\\1"),
    # Combining marks (\pM) stay with their letter: decomposed "e\u0301" is one token.
    (rf"([^\pL\pN\pM\s{_PLACEHOLDER}])", r" \1 "),
    (_PLACEHOLDER, "'"),
)


@tf.function(input_signature=[tf.TensorSpec(None, tf.string)], autograph=False)
def standardize(texts: tf.Tensor) -> tf.Tensor:
    """Lower-case and tokenize like GloVe's corpus (pure TensorFlow, exportable).

    Punctuation becomes separate tokens, ``n't`` and ``'s``/``'re``/``'ve``/``'ll``/
    ``'d``/``'m`` are split off (``"don't"`` -> ``"do n't"``), ``''``/``````/curly
    quotes become ``"``, IMDB's ``<br />`` a space. Non-ASCII letters are kept.

    Args:
        texts: tf.string tensor of any shape.

    Returns:
        tf.string tensor of the same shape, tokens separated by spaces.
    """
    x = tf.strings.lower(tf.strings.regex_replace(texts, _BREAKS, " "), encoding="utf-8")
    for pattern, rewrite in _RULES:
        x = tf.strings.regex_replace(x, pattern, rewrite)
    return x


def tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    """``standardize`` then whitespace split: tf.string ``[batch]`` -> ragged ``[batch, None]``."""
    return tf.strings.split(standardize(texts))


def _vectorizer(vocabulary: Sequence[str] | None = None, max_tokens: int | None = None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )


def fit_vocabulary(
    texts: tf.data.Dataset | Iterable[str], *, max_tokens: int | None = None
) -> list[str]:
    """Fit a Keras `TextVectorization` on `texts` (the train split only).

    Args:
        texts: a dataset of scalar tf.string, or an iterable of str.
        max_tokens: vocabulary size including ``""`` and ``"[UNK]"`` (None: every word).

    Returns:
        The vocabulary, most frequent first: ``["", "[UNK]", w2, w3, ...]``.
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 3
    ):
        raise ValueError(
            f"Received an invalid value for argument 'max_tokens', expected None or an int >= 3, got {max_tokens!r}."
        )
    layer = _vectorizer(max_tokens=max_tokens)
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    layer.adapt(texts.batch(1024))
    return [str(w) for w in layer.get_vocabulary()]


def extend_vocabulary(vocabulary: Sequence[str], glove_words: int) -> list[str]:
    """Append the words among GloVe's `glove_words` most frequent that `vocabulary` lacks.

    The train-fitted entries keep their ids (they come first); the appended words are
    an external lexicon (GloVe's own frequency order), not anything read from the
    validation or test text. At inference, a word never seen in training but known to
    GloVe then maps to its GloVe vector instead of ``[UNK]``.

    Args:
        vocabulary: from `fit_vocabulary`.
        glove_words: how many of GloVe's top words to consider (0: no change).

    Returns:
        ``list(vocabulary) + [new words in GloVe order]``.
    """
    vocab = list(vocabulary)
    if not glove_words:
        return vocab
    from zoo.data.glove import load_glove

    words, _ = load_glove()
    known = set(vocab)
    # Only words our tokenizer can produce (letters/digits/apostrophes; no "e.g.").
    return vocab + [
        w for w in words[:glove_words] if w not in known and w.replace("'", "").isalnum()
    ]


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
    vectorizer = _vectorizer(vocabulary)

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
    _builder_name(cfg["dataset"])
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
        _builder_name(cfg["dataset"]), data_dir=str(cfg["data_dir"] or tfds_data_dir())
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
    builder_name = _builder_name(name)
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
        "tfds_name": builder_name,
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

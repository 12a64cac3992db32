"""The sentiment datasets as TFDS builders, and `read_split` (one split as tf.data).

Each source is a TFDS builder registered on import (``zoo_sentiment_snippets`` with
configs ``movie_reviews``, ``tweets``, ``amazon_reviews``, ``nyt_editorials``;
``zoo_mr_polarity``; ``zoo_imdb_reviews``), so
``tfds.load("zoo_sentiment_snippets/movie_reviews", data_dir=tfds_data_dir())`` works
offline once the registry artifact is cached. The rows come from
`zoo.data.sentiment_sources`; the datasets are described in `zoo.data.sentiment`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data.sentiment_sources import (
    _HOLDOUT_FRACTION,
    LABELS,
    SNIPPET_FILES,
    SPLIT_SEED,
    SPLITS,
    fixed_splits,
    read_imdb,
    read_mr_polarity,
    read_snippets,
)
from zoo.data.sources import zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE

#: short dataset name (configs' ``data.dataset``) -> TFDS builder name
DATASETS = {
    "mr": "zoo_sentiment_snippets/movie_reviews",
    "tweets": "zoo_sentiment_snippets/tweets",
    "amazon": "zoo_sentiment_snippets/amazon_reviews",
    "nyt": "zoo_sentiment_snippets/nyt_editorials",
    "mr_polarity": "zoo_mr_polarity",
    "imdb": "zoo_imdb_reviews",
}


def tfds_data_dir() -> Path:
    """Where the zoo's TFDS datasets are prepared: ``zoo_home()/tensorflow_datasets``."""
    return zoo_home() / "tensorflow_datasets"


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
            description=self.__doc__,
            features=_text_features(rating=True),
            supervised_keys=("text", "label"),
            homepage="https://github.com/cjhutto/vaderSentiment",
            citation=_CITATION_VADER,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # bytes come from zoo.data.sources (pinned, mirrored, cached)
        splits = fixed_splits(read_snippets(self.builder_config.name))
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
        splits = fixed_splits(read_mr_polarity())
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


def builder_name(dataset: str) -> str:
    """The TFDS builder of a dataset name or alias (`DATASETS`, `ALIASES`)."""
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
    name = builder_name(dataset)
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

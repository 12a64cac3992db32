"""The raw files of the sentiment datasets: pinned artifacts, parsers, the fixed split.

What each dataset is and how it is split is documented in `zoo.data.sentiment`; this
module reads the bytes (through `zoo.data.sources`, sha256-pinned) into Python rows,
which the TFDS builders of `zoo.data.sentiment_tfds` store.
"""

from __future__ import annotations

import io
import re
import tarfile
from typing import Any

import numpy as np

from zoo.data.sources import Artifact, fetch

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
#: label index -> name
LABELS = ("negative", "positive")
SPLITS = ("train", "validation", "test")
SPLIT_SEED = 0
_HOLDOUT_FRACTION = 0.1


class DataFormatError(ValueError):
    """A malformed line in a data file; the message names the file and the line."""


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


def fixed_splits(rows: list[dict]) -> dict[str, list[dict]]:
    """`rows` cut by `split_indices` into ``{"train", "validation", "test"}`` lists."""
    idx = split_indices(len(rows))
    return {split: [rows[i] for i in idx[split]] for split in SPLITS}

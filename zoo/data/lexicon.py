"""Human-rated words and snippets as extra, lower-weighted sentiment training examples.

Sources (all inside the pinned VADER sdist, `zoo.data.sentiment.VADER_ARTIFACT`):

* the VADER lexicon, ``vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt``: one
  ``token<TAB>mean<TAB>std<TAB>[10 ratings]`` per line, 7,517 entries rated -4..+4 by
  10 people (Hutto & Gilbert 2014); `read_lexicon` keeps the plain words (letters,
  with inner ``'`` or ``-``), not the emoticons;
* VADER's own negation and booster constants, read from ``vaderSentiment.py``
  (``N_SCALAR = -0.74``: a negated word keeps -0.74 of its valence; ``B_INCR = 0.293``:
  a booster adds that much in the word's direction), which Hutto & Gilbert derived
  from their raters' judgements of negated and boosted phrases;
* the tweet, Amazon-review and NYT-editorial snippets (``zoo.data.sentiment``
  datasets ``tweets``, ``amazon``, ``nyt``), their train splits only. The movie-review
  snippets are MR itself and never come in here; a snippet whose text equals any MR
  sentence (one Amazon row: "Don't waste your money.") is dropped.

`augment_train` (the hook of `zoo.data.sentiment.load_data`) turns these into
``(text, target, weight)`` examples: targets on the same scale as MR's soft labels
(``sigmoid(soft_labels * rating)``, or ``rating > 0`` for hard labels), weights from
the config (``lexicon_weight``, ``extra_weight``; MR examples keep weight 1). The
vocabulary is fit on MR's train split before this, so presets keep their size.

Config keys (``data`` section, all off by default): ``lexicon_weight`` (0 = no
lexicon examples), ``lexicon_phrases`` (also negated ``not/never/n't WORD`` and
boosted ``very/really/extremely WORD`` phrases with VADER's constants),
``lexicon_negators`` (the negating words/phrases, default ``not``, ``never``,
``n't``), ``extra_datasets`` (a list among ``tweets``, ``amazon``, ``nyt``), ``extra_weight``.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data.sentiment_sources import ARTIFACTS, read_snippets, split_indices
from zoo.data.sources import fetch

__all__ = [
    "EXTRA_DATASETS",
    "LEXICON_DEFAULTS",
    "LexiconEntry",
    "augment_train",
    "check_lexicon_cfg",
    "lexicon_examples",
    "read_lexicon",
    "vader_constants",
]

_LEXICON_MEMBER = "vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt"
_CODE_MEMBER = "vaderSentiment-3.3.2/vaderSentiment/vaderSentiment.py"
_WORD = re.compile(r"^[a-z]+(?:['-][a-z]+)*$")
#: the non-movie rated snippet sets (``data.dataset`` names) usable as extra examples
EXTRA_DATASETS = ("tweets", "amazon", "nyt")
#: default negators and the boosters of the generated phrases (from VADER's NEGATE /
#: BOOSTER_DICT, tokenized as `zoo.data.sentiment.standardize` does: "isn't" -> "is n't")
NEGATORS = ("not", "never", "n't")
BOOSTERS = ("very", "really", "extremely")
LEXICON_DEFAULTS: dict[str, Any] = {
    "lexicon_weight": 0.0,
    "lexicon_phrases": False,
    "lexicon_negators": list(NEGATORS),
    "extra_datasets": [],
    "extra_weight": 0.5,
}
_SHUFFLE_SEED = 0


class LexiconEntry(tuple):
    """``(word, valence, std)``: mean and standard deviation of 10 ratings in [-4, 4]."""

    __slots__ = ()

    def __new__(cls, word: str, valence: float, std: float):
        return super().__new__(cls, (word, valence, std))

    word = property(lambda self: self[0])
    valence = property(lambda self: self[1])
    std = property(lambda self: self[2])


def _vader_member(member: str) -> bytes:
    with tarfile.open(fetch(ARTIFACTS["vader"]), "r:gz") as tar:
        return tar.extractfile(member).read()


def parse_lexicon(text: str, *, source: str = "vader_lexicon.txt") -> list[LexiconEntry]:
    """Parse VADER's lexicon format, keeping plain words.

    Args:
        text: ``token<TAB>mean<TAB>std<TAB>ratings`` lines.
        source: the file's name for error messages.

    Returns:
        ``[LexiconEntry(word, valence, std), ...]`` in file order, words matching
        letters with inner ``'``/``-`` (emoticons and symbols dropped). The ten chat
        words the file lists twice (``lol``, ``ok``, ``xd``, ...) keep both ratings.

    Raises:
        ValueError: a line with fewer than 3 fields or a valence outside [-4, 4],
            naming ``<source>, line <n>``.
    """
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            token, mean, std = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise ValueError(
                f"{source}, line {lineno}: expected token<TAB>mean<TAB>std, got {line[:80]!r}."
            ) from None
        if not -4.0 <= mean <= 4.0:
            raise ValueError(f"{source}, line {lineno}: valence {mean} is outside [-4, 4].")
        if _WORD.match(token):
            out.append(LexiconEntry(token, mean, std))
    return out


def read_lexicon() -> list[LexiconEntry]:
    """The plain-word entries of VADER's lexicon (see `parse_lexicon`), from the sdist."""
    raw = _vader_member(_LEXICON_MEMBER).decode("utf-8")
    return parse_lexicon(raw, source=_LEXICON_MEMBER)


def vader_constants() -> dict[str, float]:
    """``{"N_SCALAR": -0.74, "B_INCR": 0.293}`` as written in the sdist's ``vaderSentiment.py``."""
    code = _vader_member(_CODE_MEMBER).decode("utf-8")
    out = {}
    for name in ("N_SCALAR", "B_INCR"):
        match = re.search(rf"^{name}\s*=\s*(-?[0-9.]+)", code, re.M)
        if not match:
            raise ValueError(f"{_CODE_MEMBER}: no constant {name}.")
        out[name] = float(match.group(1))
    return out


def lexicon_examples(
    entries: Sequence[LexiconEntry],
    *,
    phrases: bool = False,
    constants: dict | None = None,
    negators: Sequence[str] = NEGATORS,
) -> list[tuple[str, float]]:
    """``(text, rating)`` pairs: each word alone, and with `phrases` one negated and one
    boosted phrase per word (negator from `negators`, booster from `BOOSTERS`, each
    chosen by a seeded generator).

    A negated word's rating is ``N_SCALAR * valence``; a boosted one's is
    ``valence + sign(valence) * B_INCR``, clipped to [-4, 4] (VADER's rules). Words rated
    0 only appear alone.
    """
    pairs = [(e.word, float(e.valence)) for e in entries]
    if not phrases:
        return pairs
    c = constants or vader_constants()
    rng = np.random.default_rng(_SHUFFLE_SEED)
    for e in entries:
        if e.valence == 0:
            continue
        negator = negators[rng.integers(len(negators))]
        booster = BOOSTERS[rng.integers(len(BOOSTERS))]
        boosted = float(np.clip(e.valence + np.sign(e.valence) * c["B_INCR"], -4, 4))
        pairs.append((f"{negator} {e.word}", c["N_SCALAR"] * e.valence))
        pairs.append((f"{booster} {e.word}", boosted))
    return pairs


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _snippet_examples(datasets: Sequence[str]) -> list[tuple[str, float]]:
    names = {"tweets": "tweets", "amazon": "amazon_reviews", "nyt": "nyt_editorials"}
    movie = {_norm(r["text"]) for r in read_snippets("movie_reviews")}
    pairs = []
    for name in datasets:
        rows = read_snippets(names[name])
        train = split_indices(len(rows))["train"]
        pairs += [
            (rows[i]["text"], rows[i]["rating"])
            for i in train
            if _norm(rows[i]["text"]) not in movie
        ]
    return pairs


def check_lexicon_cfg(cfg: dict) -> dict:
    """Fill in the lexicon keys of a ``data`` section and check their values."""
    from zoo import config

    for key, default in LEXICON_DEFAULTS.items():
        cfg.setdefault(key, list(default) if isinstance(default, list) else default)
    for key in ("lexicon_weight", "extra_weight"):
        if cfg[key] is False or cfg[key] != 0:  # 0 switches the source off
            config.positive_number(cfg[key], key, "data")
    config.boolean(cfg["lexicon_phrases"], "lexicon_phrases", "data")
    negators = cfg["lexicon_negators"]
    if (
        not isinstance(negators, (list, tuple))
        or not negators
        or not all(isinstance(n, str) and n.strip() for n in negators)
    ):
        raise config.ConfigError(
            f"invalid value for 'data.lexicon_negators': {negators!r}; expected a non-empty "
            'list of words or phrases (e.g. [not, never, "n\'t", "is n\'t"]).'
        )
    extra = cfg["extra_datasets"]
    if not isinstance(extra, (list, tuple)):
        raise config.ConfigError(
            f"invalid value for 'data.extra_datasets': {extra!r}; expected a list among "
            f"{', '.join(repr(n) for n in EXTRA_DATASETS)}."
        )
    for name in extra:
        config.one_of(name, EXTRA_DATASETS, "extra_datasets", "data")
    return cfg


def enabled(cfg: dict) -> bool:
    """True when the data section asks for any extra example."""
    return bool(cfg.get("lexicon_weight")) or bool(cfg.get("extra_datasets"))


def augment_train(
    train: tf.data.Dataset, cfg: dict, vocabulary: Sequence[str]
) -> tuple[tf.data.Dataset, dict[str, int]]:
    """MR's train split plus the configured extra examples, shuffled once (seed 0).

    Args:
        train: unbatched ``(text tf.string [], target [])`` (int label or float soft target).
        cfg: the checked ``data`` section (`check_lexicon_cfg`); ``soft_labels`` sets
            the targets' scale.
        vocabulary: the model's vocabulary; lexicon words outside it are skipped (they
            would all read as ``[UNK]``).

    Returns:
        ``(dataset of (text tf.string [], target float32 [], weight float32 []),
        {"lexicon": n, "snippets": n})``.
    """
    texts, targets, weights = [], [], []
    for t, y in train.as_numpy_iterator():
        texts.append(t.decode("utf-8"))
        targets.append(float(y))
        weights.append(1.0)

    def target(rating: float) -> float:
        if cfg.get("soft_labels") is None:
            return float(rating > 0)
        return float(1.0 / (1.0 + np.exp(-float(cfg["soft_labels"]) * rating)))

    counts = {"lexicon": 0, "snippets": 0}
    if cfg["lexicon_weight"]:
        known = set(vocabulary)
        entries = [e for e in read_lexicon() if e.word in known]
        pairs = lexicon_examples(
            entries, phrases=cfg["lexicon_phrases"], negators=list(cfg["lexicon_negators"])
        )
        counts["lexicon"] = len(pairs)
        texts += [t for t, _ in pairs]
        targets += [target(r) for _, r in pairs]
        weights += [float(cfg["lexicon_weight"])] * len(pairs)
    if cfg["extra_datasets"] and cfg["extra_weight"]:
        # Rating-0 rows are already dropped by read_snippets (as for MR).
        pairs = _snippet_examples(cfg["extra_datasets"])
        counts["snippets"] = len(pairs)
        texts += [t for t, _ in pairs]
        targets += [target(r) for _, r in pairs]
        weights += [float(cfg["extra_weight"])] * len(pairs)
    order = np.random.default_rng(_SHUFFLE_SEED).permutation(len(texts))
    ds = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant([texts[i] for i in order], tf.string),
            tf.constant([targets[i] for i in order], tf.float32),
            tf.constant([weights[i] for i in order], tf.float32),
        )
    )
    return ds, counts

"""VADER lexicon and extra rated examples (zoo.data.lexicon): the real artifact parses,
known words have their published valence, the extras are off by default, never bring
in MR's own sentences, and reach the train pipeline as weighted examples only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo import config
from zoo.data import lexicon, sentiment

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def entries():
    return lexicon.read_lexicon()


def test_lexicon_keeps_the_plain_words_of_the_7517_entries(entries):
    # 7,517 entries in vader_lexicon.txt; emoticons and symbols are dropped.
    assert 7_000 <= len(entries) < 7_517
    # Ten chat words (lol, ok, xd, ...) are listed twice with two ratings; both stay.
    assert len({e.word for e in entries}) == len(entries) - 10
    assert all(-4 <= e.valence <= 4 for e in entries)
    assert not any(":" in e.word or ")" in e.word for e in entries)


@pytest.mark.parametrize(
    "word, valence",
    [("excellent", 2.7), ("superb", 3.1), ("good", 1.9), ("bad", -2.5), ("dull", -1.7)],
)
def test_known_words_have_their_published_mean_rating(entries, word, valence):
    assert dict((e.word, e.valence) for e in entries)[word] == pytest.approx(valence)


def test_vader_constants_are_read_from_the_sdist():
    assert lexicon.vader_constants() == {"N_SCALAR": -0.74, "B_INCR": 0.293}


def test_negated_phrases_flip_and_shrink_boosted_ones_grow():
    pairs = lexicon.lexicon_examples(
        [lexicon.LexiconEntry("good", 1.9, 0.9), lexicon.LexiconEntry("meh", 0.0, 0.5)],
        phrases=True,
        constants={"N_SCALAR": -0.74, "B_INCR": 0.293},
    )
    ratings = dict(pairs)
    assert ratings["good"] == 1.9 and ratings["meh"] == 0.0
    negated = [r for t, r in pairs if t.split()[0] in lexicon.NEGATORS]
    boosted = [r for t, r in pairs if t.split()[0] in lexicon.BOOSTERS]
    assert negated == [pytest.approx(-0.74 * 1.9)]
    assert boosted == [pytest.approx(1.9 + 0.293)]
    assert len(pairs) == 4  # a word rated 0 gets no phrases
    custom = lexicon.lexicon_examples(
        [lexicon.LexiconEntry("bad", -2.5, 0.7)],
        phrases=True,
        constants={"N_SCALAR": -0.74, "B_INCR": 0.293},
        negators=["was n't"],
    )
    assert ("was n't bad", pytest.approx(0.74 * 2.5)) in custom


def test_parse_lexicon_names_the_bad_line():
    with pytest.raises(ValueError, match="lex.txt, line 2"):
        lexicon.parse_lexicon("good\t1.9\t0.9\t[]\nbad\tx\t1\t[]", source="lex.txt")
    with pytest.raises(ValueError, match="outside"):
        lexicon.parse_lexicon("good\t5.0\t0.9\t[]")


def test_extras_are_off_by_default():
    cfg = sentiment.check_data_cfg({})
    assert cfg["lexicon_weight"] == 0 and cfg["extra_datasets"] == []
    assert not lexicon.enabled(cfg)
    for name in ("sentiment_lstm_mr", "sentiment_bilstm_mr", "sentiment_gru_mr"):
        data = config.read(CONFIGS / f"{name}.yaml")["data"]
        assert not lexicon.enabled(sentiment.check_data_cfg(data))


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lexicon_weight": -1}, "lexicon_weight"),
        ({"extra_datasets": ["movie_reviews"]}, "extra_datasets"),
        ({"extra_datasets": "amazon"}, "extra_datasets"),
        ({"lexicon_phrases": "yes"}, "lexicon_phrases"),
        ({"lexicon_negators": []}, "lexicon_negators"),
        ({"lexicon_negators": ["not", ""]}, "lexicon_negators"),
    ],
)
def test_bad_lexicon_keys_raise_config_errors(data, message):
    with pytest.raises(config.ConfigError, match=message):
        sentiment.check_data_cfg(data)


def test_snippet_extras_are_train_splits_without_any_mr_sentence():
    norm = lambda t: " ".join(t.lower().split())  # noqa: E731
    movie = {norm(r["text"]) for r in sentiment.read_snippets("movie_reviews")}
    pairs = lexicon._snippet_examples(["amazon"])
    amazon = sentiment.read_snippets("amazon_reviews")
    n_train = len(sentiment.split_indices(len(amazon))["train"])
    assert n_train - 2 <= len(pairs) < n_train  # one Amazon row is also an MR sentence
    assert not any(norm(t) in movie for t, _ in pairs)


def test_augment_train_adds_weighted_soft_targets_and_keeps_mr_at_weight_one():
    train = tf.data.Dataset.from_tensor_slices(
        (tf.constant(["a fine film .", "a dull film ."]), tf.constant([0.9, 0.1]))
    )
    cfg = sentiment.check_data_cfg(
        {"soft_labels": 2.0, "lexicon_weight": 0.3, "lexicon_phrases": False}
    )
    ds, counts = lexicon.augment_train(train, cfg, ["", "[UNK]", "good", "awful", "film"])
    rows = {t.decode(): (y, w) for t, y, w in ds.as_numpy_iterator()}
    assert counts == {"lexicon": 2, "snippets": 0}
    assert rows["a fine film ."] == (pytest.approx(0.9), 1.0)
    y, w = rows["good"]
    assert y == pytest.approx(1 / (1 + np.exp(-2 * 1.9))) and w == pytest.approx(0.3)
    assert rows["awful"][0] < 0.05
    # make_dataset carries the weights through batching (bucketed or not).
    for bucketing in (False, True):
        batch = next(iter(sentiment.make_dataset(ds, ["", "[UNK]", "good"], bucketing=bucketing)))
        assert len(batch) == 3 and batch[2].dtype == tf.float32

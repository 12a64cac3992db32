"""Property tests (hypothesis): arbitrary Unicode through the text preprocessing and
`predict` of the committed sentiment, NER and translation presets never crashes, and the
outputs keep their shapes: one result per input, one tag per token, valid IOB2 spans inside
the token range, bounded translations; `predict` agrees with the training pipeline's
preprocessing and does not depend on what else is in the batch.

The default run uses a small, derandomized example budget (fast and reproducible); the
``slow`` variants (``make test-slow``) draw many more random examples.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

import zoo
from zoo.data import ner as ner_data
from zoo.data import sentiment as sentiment_data
from zoo.data import translation as translation_data

# -- strategies ---------------------------------------------------------------------------

#: Hand-picked hard cases, mixed into every draw.
SPECIAL = [
    "",
    " ",
    "\t\n\r\x0b\x0c",
    "\x00",
    "a\x00b",
    "x\x00",
    "\x1f\x1e\x85",
    "\u00a0\u2003\u2028\u2029\u3000",
    "New\u00a0York",
    "\u200b\u200d\ufeff",
    "e\u0301te\u0301",  # combining marks (decomposed é)
    "\u0301\u0301",  # marks with no base letter
    "🙂👍🏽👨\u200d👩\u200d👧🇪🇸",
    "שלום עולם",
    "مرحبا بالعالم",
    "\u202eevil\u202c \u200fRTL",
    "İstanbul ǅ ß ﬁ Σσς",
    "日本語のテキスト。中文。",
    "<br /><br/>",
    "don't won't it's ''quoted'' ``x``",
    "U.S. J. 5.20 1996-08-22 Pankaj's",
    "¿Qué? ¡Sí! ... «hola» — 3:30 p.m. 1,000 50%",
    ".",
    "'",
    "...!?",
    "EU rejects German call to boycott British lamb .",
]

#: Any Unicode scalar value (surrogates cannot be encoded as UTF-8; see the last test).
any_char = st.characters(blacklist_categories=("Cs",))
any_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(any_char, max_size=60),
    st.text(st.sampled_from(" \t\x00\u00a0.,'-&abcXYZé\u0301🙂שא1"), max_size=40),
    st.lists(st.sampled_from(SPECIAL), min_size=1, max_size=4).map(" ".join),
    # very long strings (longer than every max_length / MAX_TOKENS)
    st.builds(
        lambda s, n: s * n,
        st.sampled_from(["word ", "a", "¿Qué? ", "🙂 ", "x\x00"]),
        st.integers(300, 3000),
    ),
)
batches = st.lists(any_text, min_size=1, max_size=5)


def _budget(fast: int, slow: int):
    """(default test settings, slow test settings) for one property."""
    common = dict(
        deadline=None,
        database=None,  # no .hypothesis/ directory in the repository
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    return (
        settings(max_examples=fast, derandomize=True, **common),
        settings(max_examples=slow, **common),
    )


def property_tests(check, *, fast: int, slow: int, **strategies):
    """Turn ``check(<fixtures>, **drawn)`` into two tests: a default one with `fast`
    examples and a ``@pytest.mark.slow`` one with `slow` examples (fixtures by name)."""
    fast_settings, slow_settings = _budget(fast, slow)
    fast_test = fast_settings(given(**strategies)(check))
    slow_test = pytest.mark.slow(slow_settings(given(**strategies)(check)))
    return fast_test, slow_test


def _is_break(ch: str) -> bool:
    """What every tokenizer treats as a word break: Unicode separators and controls."""
    return unicodedata.category(ch)[0] == "Z" or unicodedata.category(ch) == "Cc"


def _strings(t) -> list[str]:
    return [b.decode("utf-8") for b in t.numpy().tolist()]


# -- presets (loaded once) --------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment():
    return zoo.load("sentiment_bilstm_mr")


@pytest.fixture(scope="module")
def ner():
    return zoo.load("ner_bilstm_conll2003")


@pytest.fixture(scope="module")
def translator():
    return zoo.load("translate_bigru_spa_eng")


# -- preprocessing ----------------------------------------------------------------------


def check_sentiment_tokens_are_clean_stable_and_per_row(texts):
    rows = [_strings(r) for r in sentiment_data.tokenize(tf.constant(texts, tf.string))]
    assert len(rows) == len(texts)
    for text, tokens in zip(texts, rows):
        # the same tokens alone as in a batch
        assert tokens == _strings(sentiment_data.tokenize(tf.constant([text]))[0])
        for tok in tokens:
            assert tok and not any(_is_break(c) for c in tok), (text, tokens)
        # tokens are fixed points: tokenizing the joined tokens gives them back
        again = _strings(sentiment_data.tokenize(tf.constant([" ".join(tokens)]))[0])
        assert again == tokens, (text, tokens, again)
        if not any(c.isalnum() for c in text):
            assert all(not t.isalnum() for t in tokens)


def check_ner_tokens_concatenate_to_the_input_without_blanks(texts):
    rows = [_strings(r) for r in ner_data.tokenize(tf.constant(texts, tf.string))]
    assert len(rows) == len(texts)
    for text, tokens in zip(texts, rows):
        assert len(tokens) <= ner_data.MAX_TOKENS
        for tok in tokens:
            assert tok and not any(_is_break(c) for c in tok), (text, tokens)
        content = "".join(c for c in text if not _is_break(c))
        if len(tokens) < ner_data.MAX_TOKENS:
            assert "".join(tokens) == content, (text, tokens)
        else:
            assert content.startswith("".join(tokens))


def check_translation_standardization_keeps_every_non_blank_character(texts):
    std = _strings(translation_data.standardize_source(tf.constant(texts, tf.string)))
    assert len(std) == len(texts)
    for text, out in zip(texts, std):
        assert out == out.strip() and "  " not in out, (text, out)
        tokens = out.split(" ") if out else []
        assert all(t and not any(_is_break(c) for c in t) for t in tokens), (text, out)
        content = "".join(c for c in text if not _is_break(c) and c != "\u200b")
        expected = tf.strings.lower(tf.constant(content), encoding="utf-8").numpy().decode()
        assert "".join(tokens) == expected, (text, out)


(
    test_sentiment_tokens_are_clean_stable_and_per_row,
    test_sentiment_tokens_are_clean_stable_and_per_row_many_examples,
) = property_tests(
    check_sentiment_tokens_are_clean_stable_and_per_row, texts=batches, fast=40, slow=1000
)
(
    test_ner_tokens_concatenate_to_the_input_without_blanks,
    test_ner_tokens_concatenate_to_the_input_without_blanks_many_examples,
) = property_tests(
    check_ner_tokens_concatenate_to_the_input_without_blanks, texts=batches, fast=40, slow=1000
)
(
    test_translation_standardization_keeps_every_non_blank_character,
    test_translation_standardization_keeps_every_non_blank_character_many_examples,
) = property_tests(
    check_translation_standardization_keeps_every_non_blank_character,
    texts=batches,
    fast=40,
    slow=1000,
)


# -- predict ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment_reference(sentiment):
    """P(positive) of one text, with the ids computed here: the data module's tokens looked
    up in a Python dict of the vocabulary asset (unknown -> 1), truncated like training."""
    index = {w: i for i, w in enumerate(sentiment.assets["vocabulary"])}
    max_length = int(sentiment.assets["preprocessing"]["max_length"])
    call = tf.function(lambda ids: sentiment.model(ids, training=False), reduce_retracing=True)

    def positive_probability(text: str) -> float:
        tokens = _strings(sentiment_data.tokenize(tf.constant([text]))[0])[:max_length]
        ids = [index.get(t, 1) for t in tokens] or [0]  # an empty text is one padding step
        return float(call(tf.constant([ids], tf.int32)).numpy().reshape(-1)[0])

    return positive_probability


def check_sentiment_predict_one_label_per_input_matching_the_training_pipeline(
    sentiment, sentiment_reference, texts
):
    out = sentiment.predict(texts)
    assert isinstance(out, list) and len(out) == len(texts)
    labels = sentiment.assets["labels"]
    for text, res in zip(texts, out):
        assert set(res) == {"label", "probability"} and res["label"] in labels
        p = res["probability"]
        assert np.isfinite(p) and 0.5 <= p <= 1.0
        # the two class probabilities (p, 1 - p) sum to one and match the model applied to
        # independently computed ids of this text alone (batch padding changes nothing)
        positive = p if res["label"] == labels[1] else 1.0 - p
        assert positive == pytest.approx(sentiment_reference(text), abs=1e-5), text


def _valid_iob2(tags: list[str]) -> bool:
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def check_ner_predict_one_tag_per_token_and_valid_spans(ner, texts):
    out = ner.predict(texts)
    assert isinstance(out, list) and len(out) == len(texts)
    for text, res in zip(texts, out):
        tokens, tags, entities = res["tokens"], res["tags"], res["entities"]
        assert tokens == _strings(ner_data.tokenize(tf.constant([text]))[0])
        assert len(tags) == len(tokens)
        assert set(tags) <= set(ner_data.TAGS)
        assert _valid_iob2(tags), (text, tags)
        # spans: inside the token range, text = their tokens, and exactly seqeval's chunks
        for e in entities:
            assert 0 <= e["start"] < e["end"] <= len(tokens)
            assert e["text"] == " ".join(tokens[e["start"] : e["end"]])
            assert tags[e["start"]] == f"B-{e['type']}"
        assert [(e["type"], e["start"], e["end"] - 1) for e in entities] == get_entities(tags)
    # a batch gives what each input gives alone (padding and batch-mates change nothing)
    if len(texts) > 1:
        for text, res in zip(texts, out):
            alone = ner.predict([text])[0]
            assert alone["tokens"] == res["tokens"] and alone["tags"] == res["tags"], text


def check_translation_predict_one_bounded_string_per_input(translator, texts):
    out = translator.predict(texts)
    assert isinstance(out, list) and len(out) == len(texts)
    limit = translator.model.max_output_length
    for res in out:
        assert isinstance(res, str) and res == res.strip()
        assert len(res.split()) <= limit
        assert "[START]" not in res and "[END]" not in res


(
    test_sentiment_predict_one_label_per_input_matching_the_training_pipeline,
    test_sentiment_predict_one_label_per_input_matching_the_training_pipeline_many_examples,
) = property_tests(
    check_sentiment_predict_one_label_per_input_matching_the_training_pipeline,
    texts=batches,
    fast=12,
    slow=300,
)
(
    test_ner_predict_one_tag_per_token_and_valid_spans,
    test_ner_predict_one_tag_per_token_and_valid_spans_many_examples,
) = property_tests(
    check_ner_predict_one_tag_per_token_and_valid_spans, texts=batches, fast=10, slow=300
)
(
    test_translation_predict_one_bounded_string_per_input,
    test_translation_predict_one_bounded_string_per_input_many_examples,
) = property_tests(
    check_translation_predict_one_bounded_string_per_input, texts=batches, fast=10, slow=300
)


@pytest.mark.parametrize("fixture", ["sentiment", "ner", "translator"])
def test_predict_on_an_empty_batch_gives_an_empty_list(fixture, request):
    assert request.getfixturevalue(fixture).predict([]) == []


@pytest.mark.parametrize("fixture", ["sentiment", "ner", "translator"])
def test_predict_on_a_lone_surrogate_is_a_value_error_not_a_crash(fixture, request):
    # A Python str may hold a lone surrogate, which has no UTF-8 encoding.
    with pytest.raises(ValueError):
        request.getfixturevalue(fixture).predict(["ok", "bad \ud800 text"])


def test_predict_on_a_megabyte_string_truncates_and_answers(sentiment, ner):
    huge = "Angela Merkel visited Paris . " * 35_000  # 1 MB, 175k tokens
    assert len(sentiment.predict([huge, "fine"])) == 2
    tokens = ner.predict([huge])[0]["tokens"]
    assert len(tokens) == ner_data.MAX_TOKENS
    assert tokens[:5] == ["Angela", "Merkel", "visited", "Paris", "."]

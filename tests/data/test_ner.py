"""CoNLL-2003 from the pinned wheel: counts, parser errors, tokenization, pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import ner


@pytest.fixture(scope="module")
def ner_train():
    return ner.load_split("train")


def test_split_sizes_match_the_published_counts():
    sizes = {s: len(ner.load_split(s)) for s in ner.SPLITS}
    assert sizes == {"train": 14041, "validation": 3250, "test": 3453}


def test_tfds_builder_loads_by_name_offline():
    import tensorflow_datasets as tfds

    ds = tfds.load("zoo_conll2003", split="validation", data_dir=str(ner.data_dir()))
    first = next(iter(tfds.as_numpy(ds.take(1))))
    assert set(first) == {"tokens", "pos", "chunk", "tags"}
    assert len(first["tokens"]) == len(first["tags"]) > 0


def test_tags_are_iob2_with_the_four_types(ner_train):
    seen = set()
    for s in ner_train[:3000]:
        prev = "O"
        for tag in s["tags"]:
            seen.add(tag)
            if tag.startswith("I-"):
                assert prev[2:] == tag[2:] and prev != "O"
            prev = tag
    assert seen == set(ner.TAGS)


def test_first_sentence_of_the_file_is_read_with_its_tags(ner_train):
    # TFDS stores examples in a deterministic key-hash order, not file order.
    first = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    found = [s for s in ner_train if s["tokens"] == first]
    assert len(found) == 1
    assert found[0]["tags"] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert ner.read_conll_split("train")[0]["tokens"] == first


@pytest.mark.parametrize(
    "bad, message",
    [
        ("EU NNP B-NP\n", "x.txt:3: expected 4"),
        ("EU NNP B-NP B-XYZ\n", "x.txt:3: unknown NER tag"),
        ("EU NNP B-NP I-ORG\n", "x.txt:3: tag 'I-ORG' follows 'O'"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line(bad, message):
    lines = ["-DOCSTART- -X- -X- O\n", "\n", bad]
    with pytest.raises(ner.ConllFormatError, match=message):
        ner.parse_conll(lines, source="x.txt")


def test_parser_splits_sentences_on_blank_lines_and_skips_docstart():
    text = "-DOCSTART- -X- -X- O\n\nA DT B-NP B-PER\nb NN I-NP I-PER\n\n\nc NN B-NP O\n"
    out = ner.parse_conll(text.splitlines(True))
    assert [s["tokens"] for s in out] == [["A", "b"], ["c"]]
    assert out[0]["tags"] == ["B-PER", "I-PER"]


def test_read_rejects_unknown_split():
    with pytest.raises(ValueError, match="'split'"):
        ner.load_split("dev")


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Pankaj lives in Munich", ["Pankaj", "lives", "in", "Munich"]),
        ("Pankaj lives in Munich.", ["Pankaj", "lives", "in", "Munich", "."]),
        (
            'The U.S. said (on 1996-08-22), "no"!',
            ["The", "U.S.", "said", "(", "on", "1996-08-22", ")", ",", '"', "no", '"', "!"],
        ),
        ("J. Smith's dog costs $5.20", ["J.", "Smith", "'s", "dog", "costs", "$", "5.20"]),
        ("Zürich  über\tALL-ROUNDER", ["Zürich", "über", "ALL-ROUNDER"]),
        ("", []),
    ],
)
def test_tokenize_splits_like_conll(text, tokens):
    got = [t.decode("utf-8") for t in ner.tokenize(tf.constant([text]))[0].numpy()]
    assert got == tokens


def test_tokenize_truncates_long_inputs():
    out = ner.tokenize(tf.constant(["a " * 1000]), max_tokens=300)
    assert out[0].shape[0] == 300


def test_casing_classes():
    toks = tf.constant(
        [
            "",
            "Munich",
            "EU",
            "lives",
            "1996",
            "1996-08-22",
            "iPhone5",
            ",",
            "U.S.",
            "F16",
            "McDonald",
        ]
    )
    want = [
        "<pad>",
        "title",
        "upper",
        "lower",
        "numeric",
        "mostly_numeric",
        "contains_digit",
        "other",
        "upper",
        "upper",
        "other",
    ]
    got = [ner.CASING_CLASSES[i] for i in ner.casing_ids(toks).numpy()]
    assert got == want


def test_vocabularies_come_from_train_only(ner_train):
    assets = ner.fit_vocabularies(ner_train)
    train_words = {t.lower() for s in ner_train for t in s["tokens"]}
    assert set(assets["words"]) == train_words
    assert "E" in assets["chars"] and "e" in assets["chars"]  # case kept for characters
    assert assets["tags"] == list(ner.TAGS)
    extra = ner.fit_vocabularies(ner_train, glove_words=["zzzunseen", "the"], glove_vocabulary=2)
    assert extra["words"][: len(assets["words"])] == assets["words"]
    assert extra["words"][len(assets["words"]) :] == ["zzzunseen"]


def test_glove_extra_tokens_add_only_words_glove_knows(ner_train):
    base = ner.fit_vocabularies(
        ner_train, glove_words=["zzzunseen", "the", "zzztest"], glove_vocabulary=1
    )
    known = base["words"]
    # Lower-cased, only GloVe words, each once, after the train words and GloVe's top-N.
    extra = ner.fit_vocabularies(
        ner_train,
        glove_words=["zzzunseen", "the", "zzztest"],
        glove_vocabulary=1,
        glove_extra_tokens=["ZZZTest", "qqqnotinglove", "zzztest", "The"],
    )
    assert extra["words"][: len(known)] == known
    assert extra["words"][len(known) :] == ["zzztest"]


def test_pipeline_aligns_words_chars_casing_and_tags(ner_train):
    sents = ner_train[:40]
    assets = ner.fit_vocabularies(sents)
    ds = ner.ner_pipeline(sents, assets, batch_size=8, bucket=False, with_tokens=True)
    vocab = ["", "[UNK]", *assets["words"]]
    chars = ["", "[UNK]", *assets["chars"]]
    seen = 0
    for inputs, tags, tokens in ds:
        words, char_ids, tags, tokens = (
            inputs["words"].numpy(),
            inputs["chars"].numpy(),
            tags.numpy(),
            tokens.numpy(),
        )
        assert words.shape == tags.shape == inputs["casing"].shape == tokens.shape
        for b in range(len(words)):
            s = sents[seen]
            n = len(s["tokens"])
            assert [vocab[i] for i in words[b, :n]] == [t.lower() for t in s["tokens"]]
            assert [ner.TAGS[i] for i in tags[b, :n]] == s["tags"]
            assert (words[b, n:] == 0).all() and (tags[b, n:] == -1).all()
            first = s["tokens"][0][: ner.MAX_CHARS]
            assert "".join(chars[i] for i in char_ids[b, 0] if i) == first
            seen += 1
    assert seen == len(sents)


def test_shuffled_pipeline_is_seeded(ner_train):
    sents = ner_train[:200]
    assets = ner.fit_vocabularies(sents)

    def first_batch(seed):
        ds = ner.ner_pipeline(sents, assets, batch_size=16, shuffle=True, seed=seed)
        return next(iter(ds))[0]["words"].numpy()

    a, b, c = first_batch(1), first_batch(1), first_batch(2)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_pipeline_rejects_bad_batch_size(ner_train):
    with pytest.raises(ValueError, match="batch_size"):
        ner.ner_pipeline(ner_train[:2], ner.fit_vocabularies(ner_train[:2]), batch_size=0)


def test_info_reports_sizes_tags_and_histogram():
    out = ner.info("conll2003")
    test = out["splits"]["test"]
    assert test["sentences"] == 3453
    assert sum(test["length_histogram"].values()) == 3453
    assert test["entities"]["PER"] == test["tags"]["B-PER"] > 0
    assert set(out["splits"]) == {"train", "validation", "test"}

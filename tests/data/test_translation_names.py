"""Name substitution (zoo/data/translation_names.py): made-up names replace shared names in
a seeded fraction of the training pairs, on both sides, outside both vocabularies."""

from __future__ import annotations

import random
import re

import pytest

from zoo import config
from zoo.data import translation as T
from zoo.data.translation_names import make_name, name_candidates, substitute_names


def _split(texts):  # a tokenizer independent of zoo's: words and punctuation apart
    return [re.findall(r"\w+|[^\w\s]", t) for t in texts]


PAIRS = [
    ("Tom vive en Boston.", "Tom lives in Boston."),
    ("Tom tiene un perro.", "Tom has a dog."),
    ("No lo sé.", "No, I don't know."),
    ("Me gusta el té.", "I like tea."),
    ("Mary conoce a Tom.", "Mary knows Tom."),
    ("¿Dónde está Tomás?", "Where is Thomas?"),
    ("no", "no"),  # "no" in lower case: "No" is not a name
]
ES, EN = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
VOCABS = {
    "source_vocabulary": ["", "[UNK]", "tom", "vive", "en", "boston", "mary"],
    "target_vocabulary": ["", "[UNK]", "[START]", "[END]", "Tom", "Boston", "Mary"],
}


def test_candidates_are_title_cased_words_both_sides_share():
    got = name_candidates(_split(ES), _split(EN))
    assert got == [["Boston", "Tom"], ["Tom"], [], [], ["Mary", "Tom"], [], []]


def test_rate_one_changes_every_pair_with_a_name_on_both_sides_alike():
    es, en, stats = substitute_names(ES, EN, 1.0, seed=3, tokenize=_split, vocabularies=VOCABS)
    assert stats == {"rate": 1.0, "pairs_with_names": 3, "pairs_changed": 3}
    for i in (0, 1, 4):
        assert "Tom" not in _split([es[i]])[0] and "Tom" not in _split([en[i]])[0]
        new = set(_split([es[i]])[0]) - set(_split([ES[i]])[0])
        assert new and new == set(_split([en[i]])[0]) - set(_split([EN[i]])[0])
        for name in new:  # outside both vocabularies and the text
            assert name.lower() not in VOCABS["source_vocabulary"]
            assert name not in VOCABS["target_vocabulary"]
            assert name[0].isupper() and name[1:].islower() and name.isalpha()
    # the rest of each sentence is untouched
    assert es[0].split()[1:3] == ["vive", "en"] and en[1].endswith(" has a dog.")
    for i in (2, 3, 5, 6):
        assert (es[i], en[i]) == PAIRS[i]
    assert (ES, EN) == ([p[0] for p in PAIRS], [p[1] for p in PAIRS])  # inputs kept


def test_rate_zero_changes_nothing_and_the_seed_decides():
    es, en, stats = substitute_names(ES, EN, 0.0, seed=0, tokenize=_split, vocabularies=VOCABS)
    assert (es, en) == (ES, EN) and stats["pairs_changed"] == 0
    many_es, many_en = ES * 200, EN * 200
    a = substitute_names(many_es, many_en, 0.25, seed=7, tokenize=_split, vocabularies=VOCABS)
    b = substitute_names(many_es, many_en, 0.25, seed=7, tokenize=_split, vocabularies=VOCABS)
    c = substitute_names(many_es, many_en, 0.25, seed=8, tokenize=_split, vocabularies=VOCABS)
    assert a == b and a[0] != c[0]
    assert 0.15 < a[2]["pairs_changed"] / a[2]["pairs_with_names"] < 0.35


def test_make_name_avoids_taken_names():
    taken = {make_name(random.Random(0), lambda n: False)}
    again = make_name(random.Random(0), lambda n: n in taken)
    assert again not in taken
    with pytest.raises(RuntimeError, match="1000 tries"):
        make_name(random.Random(0), lambda n: True)


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.2", True])
def test_bad_rate_is_named(rate):
    with pytest.raises(ValueError, match=r"argument 'rate'.*\[0, 1\].*got"):
        substitute_names(ES, EN, rate, seed=0, tokenize=_split, vocabularies=VOCABS)


def test_config_key_is_checked():
    assert T.data_config({})["name_substitution"] == 0.0
    with pytest.raises(config.ConfigError, match="name_substitution"):
        T.data_config({"name_substitution": 1.0})  # 1 would leave no real name to learn


def test_pipeline_substitutes_on_the_training_split_only():
    data = T.load_data({"name_substitution": 0.999}, batch_size=16, seed=0, smoke=True)
    stats = data["info"]["name_substitution"]
    assert stats["pairs_changed"] == stats["pairs_with_names"] > 0
    plain = T.load_data({}, batch_size=16, seed=0, smoke=True)
    assert "name_substitution" not in plain["info"]
    assert data["assets"] == plain["assets"]  # vocabularies fitted on the original text
    ids = {
        split: sorted(s.numpy().tolist() for (s, _), _ in data[split].unbatch())
        for split in ("validation", "test")
    }
    for split, got in ids.items():
        assert got == sorted(s.numpy().tolist() for (s, _), _ in plain[split].unbatch())

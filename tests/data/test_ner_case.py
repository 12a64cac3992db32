"""Casing augmentation of NER train sentences (`zoo.data.ner_case`): seeded, train split
only, rates as configured, tags untouched, clear config errors."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

from zoo import config
from zoo.data import ner, ner_case

RATES = {"lower": 0.3, "upper": 0.1, "title": 0.2}
# Every mode gives a different string: "Ab cD EF" -> "ab cd ef" / "AB CD EF" / "Ab Cd Ef".
SENTENCE = {"tokens": ["Ab", "cD", "EF", ","], "tags": ["B-PER", "O", "B-LOC", "O"]}
KINDS = {
    "Ab cD EF ,": "as_is",
    "ab cd ef ,": "lower",
    "AB CD EF ,": "upper",
    "Ab Cd Ef ,": "title",
}


def _sentences(ds: tf.data.Dataset) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (
            " ".join(t.decode() for t in ex["tokens"].numpy()),
            tuple(t.decode() for t in ex["tags"].numpy()),
        )
        for ex in ds
    ]


def _augmented(n: int, rates: dict, seed: int, passes: int = 1):
    ds = ner._raw_dataset([SENTENCE] * n)
    return _sentences(ner_case.augment_case(ds, rates, seed=seed).repeat(passes))


def test_same_seed_same_casing_other_seed_or_pass_differs():
    a, b = _augmented(200, RATES, seed=0, passes=2), _augmented(200, RATES, seed=0, passes=2)
    assert a == b
    assert a != _augmented(200, RATES, seed=1, passes=2)
    assert a[:200] != a[200:], "every pass (epoch) should draw the casing again"


def test_rates_are_roughly_as_configured_and_tags_untouched():
    n = 4000
    out = _augmented(n, RATES, seed=3)
    counts = collections.Counter(KINDS[text] for text, _ in out)
    expected = {**RATES, "as_is": 1 - sum(RATES.values())}
    for kind, p in expected.items():
        tolerance = 4 * np.sqrt(p * (1 - p) / n)  # 4 standard deviations of the binomial
        assert abs(counts[kind] / n - p) < tolerance, (kind, counts)
    assert {tags for _, tags in out} == {tuple(SENTENCE["tags"])}


def test_off_when_none_or_zero():
    ds = ner._raw_dataset([SENTENCE] * 20)
    assert ner_case.augment_case(ds, None, seed=0) is ds
    zero = {"lower": 0.0, "upper": 0.0, "title": 0.0}
    assert ner_case.augment_case(ds, zero, seed=0) is ds
    everything = _augmented(50, {"lower": 1.0}, seed=0)
    assert {text for text, _ in everything} == {"ab cd ef ,"}


def test_recase_modes_on_unicode():
    tokens = tf.constant(["éCOLE", "Zürich", "U.S.", ",", ""])
    got = {m: [t.decode() for t in ner_case.recase(tokens, m).numpy()] for m in ner_case.MODES}
    assert got["lower"] == ["école", "zürich", "u.s.", ",", ""]
    assert got["upper"] == ["ÉCOLE", "ZÜRICH", "U.S.", ",", ""]
    assert got["title"] == ["École", "Zürich", "U.s.", ",", ""]
    with pytest.raises(ValueError, match="'mode'.*'lowercase'"):
        ner_case.recase(tokens, "lowercase")


def test_lower_cased_sentence_keeps_word_ids_and_changes_chars_and_casing():
    sents = ner.load_split("train")[:64]
    assets = ner.fit_vocabularies(sents)
    plain = next(iter(ner.ner_pipeline(sents, assets, batch_size=64, bucket=False)))
    lowered = next(
        iter(
            ner.ner_pipeline(
                sents, assets, batch_size=64, bucket=False, case_augmentation={"lower": 1.0}
            )
        )
    )
    np.testing.assert_array_equal(plain[0]["words"], lowered[0]["words"])
    np.testing.assert_array_equal(plain[1], lowered[1])
    assert not np.array_equal(plain[0]["chars"], lowered[0]["chars"])
    title, upper = ner.CASING_CLASSES.index("title"), ner.CASING_CLASSES.index("upper")
    assert np.isin(plain[0]["casing"], [title, upper]).any()
    assert not np.isin(lowered[0]["casing"], [title, upper]).any()


def _casing_classes(dataset: tf.data.Dataset) -> set[int]:
    return {int(c) for inputs, _tags in dataset for c in np.unique(inputs["casing"])}


def test_only_the_train_split_is_augmented():
    from zoo.tasks import get_task

    data_cfg = {"case_augmentation": {"lower": 1.0}}
    data = get_task("ner").load_data(data_cfg, batch_size=32, seed=0, smoke=True)
    title = ner.CASING_CLASSES.index("title")
    assert title not in _casing_classes(data.train)
    assert title in _casing_classes(data.validation)
    assert title in _casing_classes(data.test)


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"lower": 1.5}, r"'data\.case_augmentation\.lower': 1\.5 .*a number in \[0, 1\]"),
        ({"lower": "0.3"}, r"'data\.case_augmentation\.lower': '0\.3' \(str\)"),
        ({"lowr": 0.3}, r"unknown key 'lowr'.*did you mean 'lower'\?.*lower, title, upper"),
        (
            {"lower": 0.7, "upper": 0.4},
            r"'data\.case_augmentation'.*sum to at most 1, got 1\.1",
        ),
        (0.3, r"'data\.case_augmentation': 0\.3 \(float\); expected a mapping from 'lower'"),
    ],
)
def test_bad_config_values_name_the_key_the_value_and_what_is_allowed(value, expected):
    from zoo.tasks import get_task

    with pytest.raises(config.ConfigError, match=expected):
        get_task("ner").data_config({"case_augmentation": value})


class _CapitalsOnlyRuntime:
    """A tagger that finds exactly the gold entities whose tokens carry a capital letter
    (casing title or upper) and nothing in lower-case text: the failure being measured."""

    def __init__(self, assets):
        self.assets = assets

    def collect(self, dataset):
        capital = [ner.CASING_CLASSES.index(c) for c in ("title", "upper")]
        y_true, y_pred = [], []
        for inputs, gold in dataset:
            for g, casing in zip(gold.numpy(), inputs["casing"].numpy()):
                n = int((g >= 0).sum())
                tags = [ner.TAGS[i] for i in g[:n]]
                y_true.append(tags)
                y_pred.append([t if c in capital else "O" for t, c in zip(tags, casing[:n])])
        return y_true, y_pred


def test_evaluate_reports_f1_on_the_lower_cased_split():
    from zoo.tasks import get_task

    task = get_task("ner")
    assets = ner.fit_vocabularies(ner.load_split("train")[:64])
    metrics = task.evaluate(_CapitalsOnlyRuntime(assets), {}, split="test", limit=200)
    assert metrics["f1"] > 90
    assert metrics["f1_lowercased"] == 0.0

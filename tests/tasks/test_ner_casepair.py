"""The cased/caseless NER pair (`zoo.tasks.ner.routed`): the router against hand-labelled
casing regimes, row remapping against a dictionary reference, the warm start against the
published cased tagger it copies, and the published pair against that tagger."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import config, registry
from zoo.data import ner as ner_data
from zoo.data.ner_text import make_vectorizer
from zoo.tasks.ner import NERTask
from zoo.tasks.ner.model import CASELESS_PREFIX, CaseRouter, build_model, casing_regime
from zoo.tasks.ner.routed import remap_rows

CASED = "ner_bilstm_conll2003"
PAIR = "ner_bilstm_casepair_conll2003"

#: sentence -> its regime, labelled by hand: 0 normal, 1 no capitals, 2 no lower case
REGIMES = {
    "Angela Merkel visited Paris .": 0,
    "The EU said so .": 0,
    "angela merkel visited paris .": 1,
    "1996-08-22": 1,
    "EU REJECTS GERMAN CALL TO BOYCOTT BRITISH LAMB .": 2,
    "SOCCER - JAPAN GET LUCKY WIN , 2-1 .": 2,
    "i met BOB": 0,  # lower case and capitals: trusted as written
}


def _casing(texts):
    tokens = tf.ragged.constant([t.split() for t in texts]).to_tensor("")
    return ner_data.casing_ids(tokens)


def test_case_router_takes_each_sentence_from_the_tagger_its_casing_calls_for():
    texts = list(REGIMES)
    casing = _casing(texts)
    rng = np.random.default_rng(0)
    shape = (len(texts), int(casing.shape[1]), 9)
    cased = rng.normal(size=shape).astype(np.float32)
    caseless = rng.normal(size=shape).astype(np.float32)
    out = np.asarray(CaseRouter()([casing, cased, caseless]))
    for i, text in enumerate(texts):
        want = cased[i] if REGIMES[text] == 0 else caseless[i]
        np.testing.assert_array_equal(out[i], want, err_msg=text)


def test_remap_rows_copies_rows_by_entry_and_unknown_entries_get_the_unknown_row():
    theirs, ours = ["a", "b", "c"], ["c", "x", "a"]
    table = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)  # "", [UNK], a, b, c
    reference = {"": table[0], "[UNK]": table[1], "a": table[2], "b": table[3], "c": table[4]}
    got = remap_rows(table, theirs, ours)
    for i, entry in enumerate(["", "[UNK]", *ours]):
        np.testing.assert_array_equal(got[i], reference.get(entry, table[1]), err_msg=entry)
    assert remap_rows(table, theirs, list(theirs)) is table


@pytest.fixture(scope="module")
def pair_setup():
    """The pair's config, smoke data (smaller vocabularies than the cased preset's) and
    the pair built for training, warm-started from the published cased tagger."""
    pair_config = registry.get_config(PAIR)
    data = NERTask().load_data(pair_config["data"], batch_size=8, seed=0, smoke=True)
    model = NERTask().build_model(pair_config["model"], data.assets, for_training=True)
    return pair_config, data, model, registry.load(CASED)


def _emissions(model, assets, texts):
    tokens = tf.ragged.constant([t.split() for t in texts]).to_tensor("")
    return np.asarray(model(make_vectorizer(assets)(tokens), training=False))


#: normal casing, lower case, upper case; every word occurs in the smoke vocabulary
TEXTS = ["Germany beat Japan in the final .", "germany beat japan in the final .", "GERMANY ."]


def test_warm_start_copies_the_cased_tagger_into_both_and_trains_only_the_caseless_one(
    pair_setup,
):
    pair_config, data, model, cased = pair_setup
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert trainable and all(name.startswith(CASELESS_PREFIX) for name in trainable), trainable
    words = set(data.assets["words"])
    assert all(w.lower() in words for t in TEXTS for w in t.split())
    # Before any training both taggers are the cased one: the pair answers like it.
    np.testing.assert_allclose(
        _emissions(model, data.assets, TEXTS),
        _emissions(cased.model, cased.assets, TEXTS),
        atol=1e-4,
    )


def test_training_the_pair_moves_only_the_answers_to_re_cased_text(pair_setup):
    pair_config, data, model, cased = pair_setup
    before = _emissions(model, data.assets, TEXTS)
    task = NERTask()
    task.compile_model(model, keras.optimizers.Adam(0.01), pair_config["train"])
    model.fit(data.train.take(3), epochs=1, verbose=0)
    after = _emissions(model, data.assets, TEXTS)
    np.testing.assert_array_equal(after[0], before[0])  # normal casing: the frozen tagger
    assert np.abs(after[1:] - before[1:]).max() > 1e-3  # re-cased: the trained twin


def test_a_cased_tagger_with_another_architecture_is_refused_naming_the_key(pair_setup):
    pair_config, data, _, _ = pair_setup
    with pytest.raises(config.ConfigError, match=r"cased_tagger.*units: 100 there, 16 here"):
        NERTask().build_model({**pair_config["model"], "units": 16}, data.assets, for_training=True)
    with pytest.raises(config.ConfigError, match="cased_tagger"):
        build_model({**pair_config["model"], "cased_tagger": ""}, data.assets)


@pytest.mark.skipif(registry.preset_dir(PAIR) is None, reason=f"{PAIR} is not published")
def test_published_pair_answers_normally_cased_test_sentences_as_the_cased_tagger():
    pair, cased = registry.load(PAIR), registry.load(CASED)
    texts, _ = NERTask().eval_examples(pair.config["data"], split="test", limit=200)
    regimes = keras.ops.convert_to_numpy(casing_regime(_casing(texts)))
    normal = [t for t, r in zip(texts, regimes) if r == 0]
    assert len(normal) > 100
    assert [p["tags"] for p in pair.predict(normal)] == [p["tags"] for p in cased.predict(normal)]
    # What people type: the cased tagger finds nothing, the pair finds the names.
    lower = ["angela merkel visited paris with siemens executives ."]
    assert not cased.predict(lower)[0]["entities"]
    found = {e["type"] for e in pair.predict(lower)[0]["entities"]}
    assert {"PER", "LOC"} <= found


def test_validation_case_re_cases_only_the_validation_split(pair_setup):
    pair_config, data, _, _ = pair_setup
    chars = ["", "[UNK]", *data.assets["chars"]]

    def letters(dataset):
        ids = np.concatenate([np.ravel(b[0]["chars"]) for b in dataset])
        return "".join(chars[i] for i in ids if i > 1)

    assert pair_config["data"]["validation_case"] == "lower"
    val = letters(data.validation)
    assert val == val.lower() and any(c.isalpha() for c in val)
    test = letters(data.test)
    assert test != test.lower()  # the test split stays as written
    with pytest.raises(config.ConfigError, match=r"validation_case.*'sideways'"):
        ner_data.data_config({"validation_case": "sideways"})


def test_an_unknown_cased_tagger_is_named_with_close_matches(pair_setup):
    pair_config, data, _, _ = pair_setup
    bad = {**pair_config["model"], "cased_tagger": "ner_bilstm_conl2003"}
    with pytest.raises(config.ConfigError, match=r"cased_tagger.*conl2003.*Did you mean"):
        NERTask().build_model(bad, data.assets, for_training=True)

"""Unknown-word replacement (`zoo.tasks.translation.copy`): the TF and NumPy versions on a
hand-computed example, the cased source tokens' alignment with the source ids, the
runtime hook, and names / numbers kept by the published preset."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks.translation import TranslationTask
from zoo.tasks.translation.copy import (
    cased_source_tokens,
    copy_unknowns,
    replace_unknowns,
    replace_unknowns_np,
)

TARGET_WORDS = ["", "[UNK]", "[START]", "[END]", "I", "live", "in", "with"]
#: "Vivo en Valparaíso con Kofi ." (Valparaíso and Kofi out of vocabulary), then a
#: sentence with no OOV word, then one whose two OOV words get equal attention.
SOURCE_WORDS = [
    ["Vivo", "en", "Valparaíso", "con", "Kofi", "."],
    ["Vivo", "en", "", "", "", ""],
    ["Ana", "y", "Kofi", "", "", ""],
]
SOURCE_IDS = [[10, 11, 1, 12, 1, 13], [10, 11, 0, 0, 0, 0], [1, 14, 1, 0, 0, 0]]
TOKENS = [[4, 5, 6, 1, 7, 1, 3, 0], [4, 5, 1, 3, 0, 0, 0, 0], [1, 3, 0, 0, 0, 0, 0, 0]]


def _attention():
    att = np.full((3, 8, 6), 0.01, np.float32)
    # first [UNK]: "en" gets the most attention, but only OOV positions may be copied
    att[0, 3, :5] = [0.05, 0.5, 0.3, 0.0, 0.15]
    att[0, 5, :5] = [0.0, 0.0, 0.4, 0.1, 0.45]  # second [UNK]: Kofi just ahead
    att[1, 2, :2] = [0.3, 0.7]
    att[2, 0, :3] = [0.4, 0.2, 0.4]  # a tie: the first position wins
    return att


EXPECTED_WORDS = [
    ["I", "live", "in", "Valparaíso", "with", "Kofi", "[END]", ""],
    ["I", "live", "[UNK]", "[END]", "", "", "", ""],
    ["Ana", "[END]", "", "", "", "", "", ""],
]
EXPECTED_COPIED = [
    [False, False, False, True, False, True, False, False],
    [False] * 8,
    [True] + [False] * 7,
]


def test_tf_replacement_copies_the_most_attended_oov_word():
    words, copied = replace_unknowns(
        tf.constant(TOKENS), tf.constant(_attention()), tf.constant(SOURCE_IDS),
        tf.constant(SOURCE_WORDS), tf.constant(TARGET_WORDS),
    )  # fmt: skip
    assert [[w.decode() for w in row] for row in words.numpy()] == EXPECTED_WORDS
    assert copied.numpy().tolist() == EXPECTED_COPIED


def test_numpy_replacement_equals_the_tf_one_batched_and_per_sentence():
    words, copied = replace_unknowns_np(
        TOKENS, _attention(), SOURCE_IDS, SOURCE_WORDS, TARGET_WORDS
    )
    assert words.tolist() == EXPECTED_WORDS and copied.tolist() == EXPECTED_COPIED
    for i in range(3):  # one sentence, its cased tokens as a short list (the client's case)
        n = sum(1 for t in SOURCE_WORDS[i] if t)
        w, c = replace_unknowns_np(
            TOKENS[i], _attention()[i], SOURCE_IDS[i], SOURCE_WORDS[i][:n], TARGET_WORDS
        )
        assert w.tolist() == EXPECTED_WORDS[i] and c.tolist() == EXPECTED_COPIED[i]


def test_only_oov_words_with_a_capital_or_a_digit_are_copied():
    # "Vi 37 ñandúes en Lima": ñandúes (lower case) is a Spanish word the model lacks
    ids, words = [[20, 1, 1, 21, 1]], [["Vi", "37", "ñandúes", "en", "Lima"]]
    attention = np.zeros((1, 3, 5), np.float32)
    attention[0, :, 2] = 0.9  # every row looks at "ñandúes" most
    attention[0, 0, 1], attention[0, 1:, 4] = 0.05, 0.05
    tokens = [[1, 1, 1]]
    expected = [["37", "Lima", "Lima"]]
    w, c = replace_unknowns_np(tokens, attention, ids, words, TARGET_WORDS)
    assert w.tolist() == expected and c.all()
    w, c = replace_unknowns(tf.constant(tokens), attention, tf.constant(ids),
                            tf.constant(words), tf.constant(TARGET_WORDS))  # fmt: skip
    assert [[x.decode() for x in row] for row in w.numpy()] == expected and c.numpy().all()
    only_lower = replace_unknowns_np([[1]], [[[0.1, 0.9]]], [[20, 1]], [["Vi", "ñandúes"]],
                                     TARGET_WORDS)  # fmt: skip
    assert only_lower[0].tolist() == [["[UNK]"]] and not only_lower[1].any()


def test_cased_source_tokens_align_with_the_source_ids_and_their_truncation():
    texts = [
        "¡Hola, Señora KOWALCZYK! ¿Vives en Ñuñoa?",
        "Tengo 37 gatos y 2.5 kilos de café… «Sí».",
        "Ángel\u00a0llegó a las 7:45 p.m.",
        "",
    ]
    vocab = data_lib.fit_vocabularies(["hola tengo gatos"], ["hi"], 50, 50)
    source_vec, _ = data_lib.make_vectorizers(vocab)
    for max_len in (64, 3):
        ids = source_vec(tf.constant(texts))[:, :max_len].to_tensor()
        words = cased_source_tokens(tf.constant(texts), tf.shape(ids)[1], max_len).numpy()
        lowered = tf.strings.split(data_lib.standardize_source(tf.constant(texts)))
        lowered = lowered[:, :max_len].to_tensor(default_value="").numpy()
        assert words.shape == ids.shape == lowered.shape
        for row, low in zip(words, lowered):
            assert [w.decode().lower() for w in row] == [w.decode() for w in low]
    full = cased_source_tokens(tf.constant(texts[:1]), 8, 64).numpy()[0].tolist()
    assert full == [b"\xc2\xa1", b"Hola", b",", b"Se\xc3\xb1ora", b"KOWALCZYK", b"!", b"\xc2\xbf",
                    b"Vives"]  # fmt: skip


def test_runtime_keeps_copied_unknowns_and_drops_the_rest():
    es, en = ["Vivo en Lima ."], ["I live in Lima ."]
    assets = data_lib.fit_vocabularies(es, en, 50, 50)
    task = TranslationTask()
    tiny = {"embedding_dim": 8, "target_embedding_dim": 8, "encoder_units": 8,
            "decoder_units": 8, "attention_units": 8, "max_output_length": 6}  # fmt: skip
    model = task.build_model(tiny, assets, data_cfg={})
    rt = task.runtime(model, assets, {"model": tiny, "data": {}})
    live = assets["target_vocabulary"].index("live")
    tokens = tf.constant([[live, 1, 3, 1, 0]])  # the [UNK] after [END] never shows
    words = tf.constant([["live", "Kofi", "[END]", "Ana", ""]])
    copied = tf.constant([[False, True, False, True, False]])
    assert rt.ids_to_text(tokens, (words, copied)).numpy().tolist() == [b"live Kofi"]
    assert rt.ids_to_text(tokens).numpy().tolist() == [b"live"]
    # copy_unknowns on a real (untrained) model: padding after [END] changes nothing
    strings = tf.constant(["Vivo en Xalapa con Kofi ."])
    source = rt.source_ids(strings)
    short = tf.constant([[1, live, 1, 3]])
    padded = tf.pad(short, [[0, 0], [0, 5]])
    args = (rt.target_words, rt.max_source_length)
    w_short, c_short = copy_unknowns(model, strings, source, short, *args)
    w_padded, c_padded = copy_unknowns(model, strings, source, padded, *args)
    assert w_padded.numpy()[:, :4].tolist() == w_short.numpy().tolist()
    assert c_short.numpy().tolist() == [[True, False, True, False]]
    assert set(w_short.numpy()[0, [0, 2]].tolist()) <= {b"Xalapa", b"Kofi"}
    assert not c_padded.numpy()[:, 4:].any()


# -- the published preset ----------------------------------------------------------------------
PRESET = "translate_bigru_spa_eng"
KEPT = {
    "Mi tía vive en Valparaíso.": ["Valparaíso"],
    "Kofi trabaja en Nairobi.": ["Kofi", "Nairobi"],
    "Tengo 37 gatos.": ["37"],
}


@pytest.fixture(scope="module")
def preset():
    from zoo import registry

    if registry.preset_dir(PRESET) is None:
        pytest.skip(f"{PRESET} has no published preset")
    return registry.load(PRESET)


def test_preset_keeps_out_of_vocabulary_names_and_numbers(preset):
    inputs = list(KEPT)
    greedy = preset.predict(inputs)
    beam = preset.runtime.translate(inputs, beam_size=preset.runtime.beam_size)
    serving = preset.runtime.serving_functions()["serving_default"](tf.constant(inputs))
    exported = [t.decode() for t in serving["translation"].numpy()]
    assert exported == greedy  # the SavedModel's signature copies too
    for outputs in (greedy, beam):
        for text, out in zip(inputs, outputs):
            assert all(word in out for word in KEPT[text]), (text, out)
    assert greedy[0] == "My aunt lives in Valparaíso."


def test_copy_numbers_keeps_every_token_with_a_digit_out_of_both_vocabularies():
    es = ["Tengo 27 años .", "Tengo 27 gatos .", "Sale a las 7:45 .", "Tengo dos gatos ."]
    en = ["I'm 27 years old .", "I have 27 cats .", "It leaves at 7:45 .", "I have 2 cats ."]
    plain = data_lib.fit_vocabularies(es, en, 50, 50)
    assert {"27", "7:45"} <= set(plain["source_vocabulary"])
    assert {"27", "7:45", "2"} <= set(plain["target_vocabulary"])
    numbers = data_lib.fit_vocabularies(es, en, 50, 50, copy_numbers=True)
    for key, vocabulary in numbers.items():
        kept = [t for t in plain[key] if not any(ch.isdigit() for ch in t)]
        assert vocabulary == kept, key  # the same order, the digit tokens gone
    # the freed places go to the next most frequent words
    small = data_lib.fit_vocabularies(es, en, 5, 50, copy_numbers=True)
    assert small["source_vocabulary"] == numbers["source_vocabulary"][:5]
    assert data_lib.data_config({"copy_numbers": True})["copy_numbers"] is True
    with pytest.raises(ValueError, match="data.copy_numbers"):
        data_lib.data_config({"copy_numbers": "yes"})
    # in the training pipeline a number is [UNK] on both sides
    source_vec, target_vec = data_lib.make_vectorizers(numbers)
    assert source_vec(tf.constant(["Tengo 27 años ."])).numpy().tolist()[0][1] == data_lib.UNK_ID
    assert target_vec(tf.constant(["I'm 27 years old ."])).numpy().tolist()[0][1] == data_lib.UNK_ID

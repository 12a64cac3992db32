"""TranslationTask: the encoder-decoder with attention, its decoding, predict and export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks.attention import Attention, masked_softmax
from zoo.tasks.decoding import beam_search
from zoo.tasks.translation import (
    MaskedSparseCrossentropy,
    TranslationTask,
    model_config,
)

PAIRS = [
    ("Tengo hambre.", "I'm hungry."),
    ("¿Dónde está la estación?", "Where is the station?"),
    ("Tom no sabe nadar.", "Tom can't swim."),
    ("Me gusta el café.", "I like coffee."),
    ("Ella está cansada.", "She is tired."),
    ("Abre la puerta, por favor.", "Open the door, please."),
]
TINY = {
    "embedding_dim": 32,
    "target_embedding_dim": 32,
    "encoder_units": 48,
    "decoder_units": 48,
    "attention_units": 48,
    "dropout": 0.0,
    "max_output_length": 12,
    "beam_size": 3,
}


@pytest.fixture(scope="module")
def assets():
    es, en = zip(*PAIRS)
    return data_lib.fit_vocabularies(list(es), list(en), 100, 100)


def vectorize(assets, pairs):
    """Teacher-forcing batch ``(source, target_in), target_out`` for (es, en) pairs."""
    fn = data_lib._vectorize_fn(assets, data_lib.data_config({}))
    src, tgt_in, tgt_out = fn(
        {"es": tf.constant([p[0] for p in pairs]), "en": tf.constant([p[1] for p in pairs])}
    )
    dense = [tf.cast(x.to_tensor(), tf.int32) for x in (src, tgt_in, tgt_out)]
    return (dense[0], dense[1]), dense[2]


def build(assets, **overrides):
    return TranslationTask().build_model({**TINY, **overrides}, assets, data_cfg={})


def runtime(task, model, assets):
    """The runtime of a model built by `build` (decoding settings from TINY)."""
    return task.runtime(model, assets, {"model": TINY, "data": {}})


@pytest.fixture(scope="module")
def trained(assets):
    """A tiny model overfitted on PAIRS (shared by the inference tests)."""
    keras.utils.set_random_seed(0)
    task = TranslationTask()
    model = task.build_model(TINY, assets, data_cfg={})
    task.compile_model(model, keras.optimizers.Adam(0.01), {})
    x, y = vectorize(assets, PAIRS)
    first = float(model.evaluate(x, y, verbose=0)[0])
    model.fit(x, y, epochs=120, batch_size=len(PAIRS), verbose=0)
    last = float(model.evaluate(x, y, verbose=0)[0])
    return task, model, first, last


# -- building --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("attention", ["general", "additive"])
def test_model_builds_and_runs_for_each_cell(assets, cell, bidirectional, attention):
    model = build(assets, cell=cell, bidirectional=bidirectional, attention=attention)
    (src, tgt_in), _ = vectorize(assets, PAIRS[:3])
    logits, weights = model((src, tgt_in), return_attention=True)
    assert logits.shape == (3, tgt_in.shape[1], len(assets["target_vocabulary"]))
    assert weights.shape == (3, tgt_in.shape[1], src.shape[1])
    assert np.all(np.isfinite(logits.numpy()))


def test_unknown_config_key_and_bad_cell_are_rejected():
    with pytest.raises(ValueError, match="units_typo"):
        model_config({"units_typo": 3})
    with pytest.raises(ValueError, match="cell'.*'transformer'"):
        model_config({"cell": "transformer"})
    with pytest.raises(ValueError, match="max_source_length"):
        data_lib.data_config({"max_source_length": 0})


# -- training --------------------------------------------------------------------------------


def test_overfits_a_tiny_batch_and_then_translates_it(trained, assets):
    task, model, first, last = trained
    assert last < 0.1 * first
    out = runtime(task, model, assets).predict([p[0] for p in PAIRS])
    assert out == [p[1] for p in PAIRS]  # cased, punctuation re-attached


def test_loss_ignores_padding_and_matches_numpy_label_smoothing():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    y = np.array([[3, 4, 2, 0], [5, 0, 0, 0]], "int32")
    eps = 0.1
    loss = float(MaskedSparseCrossentropy(eps)(y, logits))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    terms = [
        (1 - eps) * -logp[b, t, y[b, t]] - eps * logp[b, t].mean()
        for b in range(2)
        for t in range(4)
        if y[b, t] != 0
    ]
    assert loss == pytest.approx(np.mean(terms), rel=1e-5)
    # changing the logits at padded positions changes nothing
    logits2 = logits.copy()
    logits2[1, 1:] = 100.0
    assert float(MaskedSparseCrossentropy(eps)(y, logits2)) == pytest.approx(loss, rel=1e-6)


# -- attention -------------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["general", "dot", "additive"])
def test_attention_sums_to_one_over_real_positions_and_ignores_padding(score):
    rng = np.random.default_rng(1)
    memory = rng.normal(size=(2, 5, 8)).astype("float32")
    query = rng.normal(size=(2, 3, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = Attention(score, units=6)
    context, weights = layer(query, memory, mask)
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    assert np.all(w[0, :, 3:] == 0.0)
    # garbage in the padded memory slots changes nothing
    memory2 = memory.copy()
    memory2[0, 3:] = 1e3
    context2, weights2 = layer(query, memory2, mask)
    np.testing.assert_allclose(context2.numpy()[0], context.numpy()[0], atol=1e-5)
    np.testing.assert_allclose(weights2.numpy()[0], w[0], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_masked_softmax_of_an_all_padding_row_is_zero_not_nan(dtype):
    mask = tf.constant([[False, False, False], [True, True, False]])
    w = masked_softmax(tf.ones((2, 2, 3), dtype), mask).numpy()
    assert w.dtype == dtype
    assert np.all(w[0] == 0.0)
    np.testing.assert_allclose(w[1], [[0.5, 0.5, 0.0]] * 2, atol=1e-3)


def test_model_attention_rows_sum_to_one_and_extra_padding_changes_nothing(assets):
    model = build(assets)
    (src, tgt_in), _ = vectorize(assets, PAIRS)
    logits, weights = model((src, tgt_in), return_attention=True)
    real = (src.numpy() != 0)[:, None, :]
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    assert np.all(w[~np.broadcast_to(real, w.shape)] == 0.0)
    padded_src = tf.pad(src, [[0, 0], [0, 4]])
    padded_tgt = tf.pad(tgt_in, [[0, 0], [0, 3]])
    logits2 = model((padded_src, padded_tgt))
    n = tgt_in.shape[1]
    np.testing.assert_allclose(logits2.numpy()[:, :n], logits.numpy(), atol=1e-5)


# -- inference -------------------------------------------------------------------------------


def test_predict_handles_empty_long_non_ascii_and_mixed_batches(trained, assets):
    task, model, _, _ = trained
    long = "Tengo hambre " * 200  # 400 tokens, truncated to max_source_length
    inputs = ["", long, "¿Dónde está la estación? ñandú Ω 😀", "Tengo hambre.", "a"]
    rt = runtime(task, model, assets)
    out = rt.predict(inputs)
    assert len(out) == len(inputs) and all(isinstance(t, str) for t in out)
    assert all(len(t.split()) <= model.max_output_length for t in out)
    # one at a time == in a batch of mixed lengths
    assert [rt.predict([x])[0] for x in inputs] == out
    # the long input is truncated to max_source_length tokens
    assert rt.source_ids(tf.constant([long])).shape[1] == model.max_source_length
    truncated = " ".join(long.split()[: model.max_source_length])
    assert rt.predict([truncated]) == [out[1]]


def test_predict_rejects_a_bare_string(trained, assets):
    task, model, _, _ = trained
    with pytest.raises(TypeError, match="inputs"):
        runtime(task, model, assets).predict("Tengo hambre.")


def test_beam_of_one_through_the_model_equals_greedy(trained, assets):
    task, model, _, _ = trained
    rt = runtime(task, model, assets)
    src = rt.source_ids(tf.constant([p[0] for p in PAIRS] + ["", "Tom nada"]))
    greedy = rt.decode(src, 1).numpy()
    start = tf.fill([src.shape[0]], data_lib.START_ID)
    beam1, _ = beam_search(
        model.decode_step,
        start,
        model.decode_state(src),
        beam_size=1,
        max_length=model.max_output_length,
        end_token=data_lib.END_ID,
    )
    np.testing.assert_array_equal(beam1.numpy(), greedy)


def test_beam_search_translation_scores_at_least_greedy(trained, assets):
    task, model, _, _ = trained
    rt = runtime(task, model, assets)
    src = rt.source_ids(tf.constant(["Tom está cansado.", "Me gusta la puerta."]))
    state = model.decode_state(src)
    start = tf.fill([2], data_lib.START_ID)
    _, b_scores = beam_search(
        model.decode_step,
        start,
        state,
        beam_size=4,
        max_length=model.max_output_length,
        end_token=data_lib.END_ID,
    )
    from zoo.tasks.decoding import greedy_search

    _, g_scores = greedy_search(
        model.decode_step,
        start,
        state,
        max_length=model.max_output_length,
        end_token=data_lib.END_ID,
    )
    assert np.all(b_scores.numpy() >= g_scores.numpy() - 1e-4)


def test_translate_returns_attention_for_plotting(trained, assets):
    task, model, _, _ = trained
    (r,) = runtime(task, model, assets).translate(["Tengo hambre."], return_attention=True)
    assert r["translation"] == "I'm hungry."
    assert r["source_tokens"] == ["tengo", "hambre", "."]
    assert r["target_tokens"][-1] == data_lib.END
    assert r["attention"].shape == (len(r["target_tokens"]), 3)
    np.testing.assert_allclose(r["attention"].sum(-1), 1.0, atol=1e-5)


def test_float16_weights_round_trip_exactly_and_halve_the_file(trained, assets, tmp_path):
    task, model, _, _ = trained
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = build(assets)
    fresh.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(
            np.asarray(a.numpy(), np.float16).astype(np.float32), b.numpy()
        )
    n_params = sum(int(np.prod(v.shape)) for v in model.weights)
    assert os.path.getsize(tmp_path / "w.weights.h5") < 2 * n_params + 200_000
    wrong = build(assets, decoder_units=40)
    with pytest.raises(ValueError, match="shape"):
        wrong.load_weights(tmp_path / "w.weights.h5")


def test_stored_copy_rounds_a_copy_and_leaves_the_model_untouched(trained, assets):
    task, model, _, _ = trained
    before = [v.numpy().copy() for v in model.weights]
    copy = model.stored_copy()
    assert copy is not model  # trained float32 weights are not all float16 values
    for b, v, c in zip(before, model.weights, copy.weights):
        np.testing.assert_array_equal(v.numpy(), b)
        np.testing.assert_array_equal(c.numpy(), np.asarray(b, np.float16).astype(np.float32))
    assert copy.stored_copy() is copy
    rt = runtime(task, model, assets)
    assert rt.stored().model is not model and rt.stored().stored() is not rt


# -- export ----------------------------------------------------------------------------------

PLAIN_TF = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    assert not any(name.split(".")[0] == "zoo" for name in sys.modules)
    texts = tf.constant(json.loads(sys.argv[2]))
    out = {}
    for name in ("serving_default", "beam_search"):
        res = m.signatures[name](text=texts)
        out[name] = [t.decode("utf-8") for t in res["translation"].numpy()]
    print(json.dumps(out))
    """
)


def test_exported_savedmodel_in_plain_tensorflow_matches_predict(trained, assets, tmp_path):
    from zoo import export, registry

    task, model, _, _ = trained
    config = {
        "name": "translate_tiny_test",
        "task": "translation",
        "model": TINY,
        "data": {},
        "train": {},
    }
    preset = registry.save_preset(model, config, assets, {}, tmp_path / "preset")
    loaded = registry.load(preset)
    out_dir = export.export(loaded, tmp_path / "saved")
    inputs = [p[0] for p in PAIRS] + ["", "¿Qué? " * 100, "Ñandú"]
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_TF, str(out_dir), json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["serving_default"] == loaded.predict(inputs)
    rt = runtime(task, model, assets)
    assert got["serving_default"] == rt.predict(inputs)
    assert got["beam_search"] == rt.translate(inputs, beam_size=3)


# -- the published preset --------------------------------------------------------------------

PRESET = "translate_bigru_spa_eng"


def _preset_or_skip():
    from zoo import registry

    if registry.preset_dir(PRESET) is None:
        pytest.skip(f"{PRESET} has no published preset")
    return registry.load(PRESET)


def test_published_preset_loads_small_and_writes_cased_english():
    loaded = _preset_or_skip()
    assert loaded.metadata["size_bytes"] < 10_000_000
    out = loaded.predict(["Tengo hambre.", "¿Dónde está Tom?", ""])
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert out[0][:1].isupper() and out[0][-1:] in ".!"
    assert out[1].endswith("?") and "Tom" in out[1]


@pytest.mark.slow
def test_published_preset_reproduces_its_recorded_subset_metrics():
    loaded = _preset_or_skip()
    recorded = loaded.metadata["eval_subset"]
    got = loaded.evaluate(split=recorded["split"], limit=recorded["limit"])
    for key in ("bleu", "bleu_lowercase", "chrf", "bleu_greedy"):
        assert got[key] == pytest.approx(recorded["metrics"][key], abs=0.05)

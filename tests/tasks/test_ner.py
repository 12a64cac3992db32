"""The NER task: every config builds and learns, padding invariance, decoding, predict,
and the exported serving function in a plain-TensorFlow process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from budget import default_or_slow

from zoo.data import ner as ner_data
from zoo.tasks.ner import NERTask, decode_tags, repair_iob2, spans_from_tags

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("ner_*.yaml"))
TAGS = ner_data.TAGS


def _read(path):
    import yaml

    return yaml.safe_load(path.read_text())


def _small_cfg(model_cfg, **over):
    """The config's architecture, narrower so the tests stay fast."""
    return {**model_cfg, "units": 16, "char_filters": 8, "char_dim": 8, **over}


@pytest.fixture(scope="module")
def ner_task():
    return NERTask()


@pytest.fixture(scope="module")
def ner_smoke_data(ner_task):
    return ner_task.load_data({"dataset": "conll2003"}, batch_size=16, smoke=True)


def _valid_iob2(tags):
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            return False
        prev = tag
    return True


def test_there_are_configs_for_the_three_cells():
    names = {p.stem for p in CONFIGS}
    assert {"ner_bilstm_conll2003", "ner_bigru_conll2003", "ner_birnn_conll2003"} <= names
    for p in CONFIGS:
        cfg = _read(p)
        assert cfg["name"] == p.stem and cfg["task"] == "ner"
        NERTask.model_config(cfg["model"])
        NERTask.data_config(cfg["data"])


@pytest.mark.parametrize("config", default_or_slow(CONFIGS))
def test_config_builds_runs_on_a_pipeline_batch_and_overfits(config, ner_task, ner_smoke_data):
    cfg = _read(config)
    keras.utils.set_random_seed(0)
    model = ner_task.build_model(_small_cfg(cfg["model"], dropout=0.0), ner_smoke_data.assets)
    ner_task.compile_model(model, keras.optimizers.Adam(0.02), cfg["train"])
    inputs, tags = next(iter(ner_smoke_data.train))
    out = model(inputs)
    assert out.shape == (*inputs["words"].shape, len(TAGS))
    first = float(model.evaluate(inputs, tags, verbose=0))
    for _ in range(25):
        model.train_on_batch(inputs, tags)
    last = float(model.evaluate(inputs, tags, verbose=0))
    assert last < 0.3 * first, (first, last)
    pred = decode_tags(model, inputs).numpy()
    gold = tags.numpy()
    valid = gold >= 0
    assert (pred[valid] == gold[valid]).mean() > 0.9


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
def test_extra_padding_does_not_change_predictions(crf, ner_task, ner_smoke_data):
    model = ner_task.build_model(
        {"cell": "lstm", "crf": crf, "units": 8, "char_filters": 8}, ner_smoke_data.assets
    )
    # Random (untrained) weights everywhere, including the CRF transitions.
    for w in model.weights:
        w.assign(np.random.default_rng(0).normal(0, 0.5, w.shape).astype("float32"))
    inputs, _ = next(iter(ner_smoke_data.validation))
    padded = {
        "words": tf.pad(inputs["words"], [[0, 0], [0, 7]]),
        "casing": tf.pad(inputs["casing"], [[0, 0], [0, 7]]),
        "chars": tf.pad(inputs["chars"], [[0, 0], [0, 7], [0, 5]]),
    }
    t = inputs["words"].shape[1]
    mask = inputs["words"].numpy() != 0
    a, b = model(inputs).numpy(), model(padded).numpy()[:, :t]
    np.testing.assert_allclose(a[mask], b[mask], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(
        decode_tags(model, inputs).numpy(), decode_tags(model, padded).numpy()[:, :t]
    )


def _regime_reference(tokens):
    """The casing regime of a tokenized sentence, in plain Python: 1 when no token has a
    capital letter, 2 when a token is all capitals and no token has a lower-case letter,
    else 0 (ASCII letters, as `casing_ids`)."""
    upper = any(any("A" <= ch <= "Z" for ch in t) for t in tokens)
    lower = any(any("a" <= ch <= "z" for ch in t) for t in tokens)
    if not upper:
        return 1
    return 2 if not lower else 0


def test_case_regime_matches_a_python_reference_and_repeats_on_every_token():
    from zoo.tasks.ner.model import CaseRegime

    texts = [
        "angela merkel visited paris .",
        "Angela Merkel visited Paris .",
        "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT .",
        "1996-08-22",
        "the EU said",
        "i met Bob in berlin",
        "EU rejects German call",
        "F16 AND U.S. JETS",
    ]
    tokens = ner_data.tokenize(tf.constant(texts)).to_tensor("")
    layer = CaseRegime(3)
    layer.build()
    layer.embeddings.assign(np.arange(9, dtype="float32").reshape(3, 3))
    casing = ner_data.casing_ids(tokens)
    want = [_regime_reference(t.split()) for t in texts]
    assert list(layer.regime(casing).numpy()) == want
    assert sorted(set(want)) == [0, 1, 2]
    out = layer(casing).numpy()
    assert out.shape == (len(texts), tokens.shape[1], 3)
    for i, r in enumerate(want):
        np.testing.assert_array_equal(out[i], np.tile(np.arange(3) + 3 * r, (tokens.shape[1], 1)))


def test_case_regime_is_off_by_default_and_adds_its_weights_when_on(ner_task, ner_smoke_data):
    cfg = {"cell": "lstm", "units": 8, "char_filters": 8}
    off = ner_task.build_model(cfg, ner_smoke_data.assets)
    on = ner_task.build_model({**cfg, "case_regime_dim": 4}, ner_smoke_data.assets)
    assert "case_regime" not in [layer.name for layer in off.layers]
    assert on.count_params() - off.count_params() == 3 * 4 + 4 * (8 * 4 * 2)
    inputs, _ = next(iter(ner_smoke_data.validation))
    assert on(inputs).shape == off(inputs).shape


def test_repair_turns_stray_inside_tags_into_begin_tags():
    names = [["O", "I-PER", "I-PER", "B-LOC", "I-ORG", "I-ORG", "O", "I-MISC"]]
    ids = tf.constant([[TAGS.index(n) for n in row] for row in names])
    out = [TAGS[i] for i in repair_iob2(ids).numpy()[0]]
    assert out == ["O", "B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG", "O", "B-MISC"]
    assert _valid_iob2(out)


def test_spans_from_tags():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-MISC"]
    assert spans_from_tags(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("MISC", 7, 8)]


@pytest.fixture(scope="module")
def ner_trained(ner_task, ner_smoke_data):
    """A small CRF model trained for a few epochs on the smoke slice."""
    keras.utils.set_random_seed(0)
    model = ner_task.build_model(
        {"cell": "lstm", "crf": True, "units": 16, "char_filters": 16}, ner_smoke_data.assets
    )
    ner_task.compile_model(model, keras.optimizers.Adam(0.01), {})
    model.fit(ner_smoke_data.train, epochs=3, verbose=0)
    return model


@pytest.fixture(scope="module")
def ner_runtime(ner_task, ner_trained, ner_smoke_data):
    return ner_task.runtime(ner_trained, ner_smoke_data.assets, {})


RAW = [
    "Pankaj lives in Munich",
    "",
    "Zürich, São Paulo und Genève: ünïcödé ✓ 東京",
    "Qwzxvbn Plorkistan met Grmblfz at the Xyzzyq Corporation .",
    "EU rejects German call to boycott British lamb. " * 60,
    "   ",
]


def test_predict_handles_edge_inputs_and_returns_valid_iob2(
    ner_task, ner_trained, ner_smoke_data, ner_runtime
):
    out = ner_runtime.predict(RAW)
    assert len(out) == len(RAW)
    assert out[1] == {"tokens": [], "tags": [], "entities": []}
    assert out[5]["tokens"] == []
    assert out[0]["tokens"] == ["Pankaj", "lives", "in", "Munich"]
    assert out[2]["tokens"][:3] == ["Zürich", ",", "São"]
    assert len(out[4]["tokens"]) == ner_data.MAX_TOKENS  # truncated at the documented max
    for r in out:
        assert len(r["tokens"]) == len(r["tags"])
        assert set(r["tags"]) <= set(TAGS)
        assert _valid_iob2(r["tags"])
        for e in r["entities"]:
            assert r["tags"][e["start"]] == "B-" + e["type"]
            assert e["text"] == " ".join(r["tokens"][e["start"] : e["end"]])
    # Batched and one-by-one predictions agree (mixed lengths, padding invariance).
    single = [ner_runtime.predict([x])[0] for x in RAW[:4]]
    assert single == out[:4]


def test_predict_rejects_non_strings(ner_task, ner_trained, ner_smoke_data, ner_runtime):
    with pytest.raises(TypeError, match="inputs"):
        ner_runtime.predict([3])


def test_evaluate_reports_entity_f1_consistent_with_seqeval(
    ner_task, ner_trained, ner_smoke_data, ner_runtime
):
    from seqeval.metrics import f1_score

    out = ner_task.evaluate(ner_runtime, {}, split="validation", limit=40)
    assert out["sentences"] == 40
    sents = ner_data.load_split("validation")[:40]
    pred = ner_runtime.predict([" ".join(s["tokens"]) for s in sents])
    # Re-tokenizing the joined tokens can differ from CoNLL's tokens; compare where equal.
    same = [i for i, s in enumerate(sents) if pred[i]["tokens"] == s["tokens"]]
    assert len(same) > 20
    if len(same) == 40:
        want = 100 * f1_score([s["tags"] for s in sents], [p["tags"] for p in pred])
        assert out["f1"] == pytest.approx(want)
    assert 0.0 <= out["f1"] <= 100.0


def test_val_f1_callback_writes_logs(ner_task, ner_trained, ner_smoke_data):
    (cb,) = ner_task.callbacks(ner_trained, ner_smoke_data, {})
    cb.set_model(ner_trained)
    logs = {}
    cb.on_epoch_end(0, logs)
    assert 0.0 <= logs["val_f1"] <= 100.0


def test_exported_serving_in_plain_tensorflow_equals_predict(
    ner_task, ner_trained, ner_smoke_data, tmp_path, ner_runtime
):
    from zoo.export import serving_module

    class _Zoo:
        task, model, assets = ner_task, ner_trained, ner_smoke_data.assets
        runtime = ner_task.runtime(ner_trained, ner_smoke_data.assets, {})

    module, signatures = serving_module(_Zoo())
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=signatures)
    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
        out = fn(text=tf.constant(json.loads(sys.argv[2])))
        loaded = [m for m in sys.modules if m == "zoo" or m.startswith("zoo.")]
        print(json.dumps({
            "zoo_modules": loaded,
            "tokens": [[t.decode() for t in row] for row in out["tokens"].numpy()],
            "tags": [[t.decode() for t in row] for row in out["tags"].numpy()],
            "lengths": out["lengths"].numpy().tolist(),
            "entities": [[t.decode() for t in row] for row in out["entities"].numpy()],
        }))
        """
    )
    inputs = RAW[:4]
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "sm"), json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served["zoo_modules"] == []
    want = ner_runtime.predict(inputs)
    for i, w in enumerate(want):
        n = served["lengths"][i]
        assert served["tokens"][i][:n] == w["tokens"]
        assert served["tags"][i][:n] == w["tags"]
        ents = [e for e in served["entities"][i] if e]
        assert ents == [f"{e['type']}:{e['text']}" for e in w["entities"]]


def test_bad_config_values_are_rejected_with_the_key_name():
    with pytest.raises(ValueError, match="model.cell"):
        NERTask.model_config({"cell": "lstmm"})
    with pytest.raises(ValueError, match="model.units"):
        NERTask.model_config({"cell": "lstm", "units": 0})
    with pytest.raises(ValueError, match="model.case_regime_dim"):
        NERTask.model_config({"cell": "lstm", "case_regime_dim": -1})
    with pytest.raises(ValueError, match="unknown key 'unit'.*did you mean 'units'"):
        NERTask.model_config({"cell": "lstm", "unit": 3})
    with pytest.raises(ValueError, match="data.dataset"):
        NERTask.data_config({"dataset": "conll2002"})
    with pytest.raises(ValueError, match=r"data.glove_splits.*'tset'"):
        NERTask.data_config({"glove_splits": ["tset"]})
    with pytest.raises(ValueError, match="data.glove_splits"):
        NERTask.data_config({"glove_splits": "test"})


PRESETS = sorted(
    p.parent.name
    for p in (Path(__file__).resolve().parents[2] / "zoo" / "pretrained").glob(
        "ner_*/metadata.json"
    )
)


@pytest.mark.parametrize("name", default_or_slow(PRESETS))
def test_preset_reproduces_its_recorded_subset_metric(name):
    import zoo

    m = zoo.load(name)
    meta = m.metadata
    subset = meta["eval_subset"]
    got = m.evaluate(split=subset["split"], limit=subset["limit"])
    assert got["f1"] == pytest.approx(subset["metrics"]["f1"], abs=0.05)
    out = m.predict(["Pankaj lives in Munich"])[0]
    assert _valid_iob2(out["tags"]) and out["tokens"][-1] == "Munich"


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_preset_reproduces_its_recorded_test_metric(name):
    import zoo

    m = zoo.load(name)
    got = m.evaluate(split="test")
    assert got["f1"] == pytest.approx(m.metadata["metrics"]["f1"], abs=0.05)

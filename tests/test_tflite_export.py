"""TFLite export of a bidirectional sentiment preset (and, slow, the NER one): builtin
ops only (the stock interpreter runs them), outputs equal to the Keras model's on real
test sentences vectorized by the zoo's own data pipelines, and the raw-text round trip
through the exported JSON assets (`zoo.export.TFLiteModel`, kept as an alias of
`zoo.load_exported`) equal to ``zoo.load(name).predict``. The best presets of each task
in every format: tests/test_export_formats.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.export import ExportError, TFLiteModel

NAMES = (
    "sentiment_bilstm_mr",
    pytest.param("ner_bilstm_conll2003", marks=pytest.mark.slow),  # the best NER preset
)
FUNCTION = {"sentiment": "classify", "ner": "tag"}
N_SENTENCES = 10
pytestmark = [
    pytest.mark.xdist_group("export"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]

#: Raw inputs beyond the test split: empty, non-ASCII, and longer than both tasks'
#: maximum lengths (truncated), plus each task's own examples.
EDGE_TEXTS = [
    "",
    "Ünïcødé ✓ 電影 in Zürich's café, naïve résumé!",
    "Pankaj lives in Munich",
    "EU rejects German call to boycott British lamb. " * 40,
]


@pytest.fixture(scope="module", params=NAMES)
def exported(request, tmp_path_factory):
    model = zoo.load(request.param)
    path = zoo.export(model, tmp_path_factory.mktemp("tflite") / request.param, format="tflite")
    return model, path


def _interpreter(path, task):
    interpreter = tf.lite.Interpreter(model_path=str(path / f"{FUNCTION[task]}.tflite"))
    return interpreter, interpreter.get_signature_runner("serving_default")


def _test_sentences(model) -> tuple[list[str], list]:
    """(raw test sentences, their batch-of-1 inputs from the task's data pipeline)."""
    if model.task.name == "sentiment":
        from zoo.data import sentiment as data

        cfg = data.check_data_cfg(model.config["data"])
        raw = data.read_split(cfg["dataset"], "test", data_dir=cfg["data_dir"]).take(N_SENTENCES)
        max_length = model.assets["preprocessing"]["max_length"]
        ds = data.make_dataset(
            raw, model.assets["vocabulary"], batch_size=1, max_length=max_length, cache=False
        )
        texts = [t.numpy().decode("utf-8") for t, _ in raw]
        return texts, [{"token_ids": ids.numpy()} for ids, _ in ds]
    from zoo.data import ner as ner_data

    sents = ner_data.load_split("test")[:N_SENTENCES]
    ds = ner_data.ner_pipeline(sents, model.assets, batch_size=1, bucket=False, cache=False)
    inputs = []
    for x, _ in ds:
        x = {k: v.numpy() for k, v in x.items()}
        width = ner_data.MAX_CHARS - x["chars"].shape[2]
        x["chars"] = np.pad(x["chars"], [(0, 0), (0, 0), (0, width)])
        inputs.append(x)
    return [" ".join(s["tokens"]) for s in sents], inputs


def test_tflite_holds_only_builtin_ops_and_the_documented_signature(exported):
    model, path = exported
    interpreter, _ = _interpreter(path, model.task.name)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), sorted(ops)
    documented = json.loads((path / "export.json").read_text("utf-8"))
    assert documented["task"] == model.task.name
    assert documented["format"] == "tflite"
    spec = documented["functions"][FUNCTION[model.task.name]]
    signature = interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["inputs"]) == sorted(spec["inputs"])
    assert sorted(signature["outputs"]) == sorted(spec["outputs"])
    for key, value in model.assets.items():
        assert json.loads((path / "assets" / f"{key}.json").read_text("utf-8")) == value


def test_tflite_outputs_equal_the_keras_model_on_pipeline_inputs(exported):
    model, path = exported
    _, run = _interpreter(path, model.task.name)
    _, inputs = _test_sentences(model)
    assert len(inputs) == N_SENTENCES
    from zoo.tasks.ner import decode_tags

    keras_fn = tf.function(lambda x: model.model(x, training=False), reduce_retracing=True)
    tags_fn = tf.function(lambda x: decode_tags(model.model, x), reduce_retracing=True)
    for x in inputs:
        out = run(**x)
        if model.task.name == "sentiment":
            expected = keras_fn(x["token_ids"]).numpy().reshape(-1)
            np.testing.assert_allclose(out["positive_probability"], expected, atol=1e-4)
        else:
            np.testing.assert_allclose(out["emissions"], keras_fn(x).numpy(), atol=1e-4)
            np.testing.assert_array_equal(out["tags"], tags_fn(x).numpy())


def test_tflite_on_raw_text_via_json_assets_equals_predict(exported):
    model, path = exported
    texts, _ = _test_sentences(model)
    texts = texts + EDGE_TEXTS + model.task.example_inputs()
    got = TFLiteModel(path).predict(texts)
    expected = model.predict(texts)
    assert len(got) == len(expected) == len(texts)
    for g, e in zip(got, expected):
        if model.task.name == "sentiment":
            assert g["label"] == e["label"]
            assert g["probability"] == pytest.approx(e["probability"], abs=1e-4)
        else:
            assert g == e


def test_tflite_model_refuses_another_format(tmp_path):
    path = zoo.export("sentiment_lstm_mr", tmp_path / "sm")
    with pytest.raises(ExportError, match="saved_model export, not a TFLite one"):
        TFLiteModel(path)


def test_tflite_model_rejects_a_single_string(exported):
    with pytest.raises(TypeError, match="'inputs'"):
        TFLiteModel(exported[1]).predict("just one string")

"""Every export format of the best sentiment and NER presets: SavedModel, TFLite (float
and int8) and ONNX export, load with `zoo.load_exported` and answer like
``zoo.load(name).predict``; the SavedModel signatures take a scalar string; the
sentiment SavedModel streams token by token to the whole-sentence answer; the CLI
predicts from an export directory like from the preset name.

Each preset is exported once per format (module-scoped cache); the int8 measurement on
the full evaluation subset is `slow`, a small-subset int8 export runs by default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import cli
from zoo.demo import best_models
from zoo.export import INT8_MAX_DROP, ExportError, _interpreter

BEST = best_models()
TASKS = [t for t in ("sentiment", "ner") if t in BEST]
FLOAT_FORMATS = ("saved_model", "tflite", "onnx")
BEHAVIOUR = Path(__file__).parent / "behaviour"
pytestmark = [
    pytest.mark.xdist_group("export"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]

#: Beyond each task's examples and behaviour cases: empty, non-ASCII, longer than both
#: tasks' maximum lengths (truncated).
EDGE_TEXTS = [
    "",
    "Ünïcødé ✓ 電影 in Zürich's café, naïve résumé!",
    "EU rejects German call to boycott British lamb. " * 40,
]


def sentences(task: str, n: int = 20) -> list[str]:
    """~`n` raw sentences: the task's examples, the edge texts, then behaviour inputs."""
    from zoo.tasks import get_task

    out = list(get_task(task).example_inputs()) + EDGE_TEXTS
    for line in (BEHAVIOUR / f"{task}.jsonl").read_text("utf-8").splitlines():
        case = json.loads(line)
        out += [case["input"]] if "input" in case else list(case["inputs"])
        if len(out) >= n:
            break
    return out[:n]


@pytest.fixture(scope="module")
def presets():
    return {task: zoo.load(BEST[task]) for task in TASKS}


@pytest.fixture(scope="module")
def exports(tmp_path_factory, presets):
    """``get(task, format, quantize=None) -> directory``, each exported once."""
    root = tmp_path_factory.mktemp("exports")
    cache = {}

    def get(task, fmt, quantize=None, **kwargs):
        key = (task, fmt, quantize)
        if key not in cache:
            path = root / f"{task}-{fmt}-{quantize}"
            cache[key] = zoo.export(presets[task], path, format=fmt, quantize=quantize, **kwargs)
        return cache[key]

    return get


@pytest.mark.parametrize("fmt", FLOAT_FORMATS)
@pytest.mark.parametrize("task", TASKS)
def test_float_export_predicts_like_the_preset(task, fmt, presets, exports):
    texts = sentences(task)
    exported = zoo.load_exported(exports(task, fmt))
    assert (exported.task, exported.format) == (task, fmt)
    assert exported.metadata["model"] == BEST[task]
    got, expected = exported.predict(texts), presets[task].predict(texts)
    assert len(got) == len(expected) == len(texts) == 20
    for text, g, e in zip(texts, got, expected):
        if task == "sentiment":
            assert g["label"] == e["label"], text
            assert g["probability"] == pytest.approx(e["probability"], abs=1e-4), text
        else:
            assert g == e, text
    assert exported.predict([]) == []
    with pytest.raises(TypeError, match="'inputs'"):
        exported.predict("one string")


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("task", TASKS)
def test_portable_export_json_lists_its_files_and_assets(task, fmt, presets, exports):
    path = exports(task, fmt)
    meta = json.loads((path / "export.json").read_text("utf-8"))
    assert {k: meta[k] for k in ("task", "model", "format")} == {
        "task": task,
        "model": BEST[task],
        "format": fmt,
    }
    assert meta["quantization"]["mode"] == "none"
    assert sorted(meta["functions"]) == sorted(presets[task].runtime.portable_functions())
    for name, spec in meta["functions"].items():
        assert (path / spec["file"]).is_file(), name
        assert spec["inputs"] and spec["outputs"]
    for key, value in presets[task].assets.items():
        assert json.loads((path / "assets" / f"{key}.json").read_text("utf-8")) == value
    assert json.loads((path / "config.json").read_text())["name"] == BEST[task]


@pytest.mark.parametrize("task", TASKS)
def test_tflite_has_builtin_ops_only_and_equals_the_function(task, presets, exports):
    path = exports(task, "tflite")
    runtime = presets[task].runtime
    calibration = runtime.calibration_inputs(5)
    for name, fn in runtime.portable_functions().items():
        interpreter = _interpreter(model_path=str(path / f"{name}.tflite"))
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
        run = interpreter.get_signature_runner("serving_default")
        for inputs in calibration[name]:
            out, ref = run(**inputs), fn(**inputs)
            for key, value in ref.items():
                value = value.numpy()
                if value.dtype.kind == "f":
                    np.testing.assert_allclose(out[key], value, atol=1e-4, err_msg=key)
                else:
                    np.testing.assert_array_equal(out[key], value, err_msg=key)


@pytest.mark.parametrize("task", TASKS)
def test_saved_model_signature_takes_a_scalar_string(task, presets, exports):
    loaded = tf.saved_model.load(str(exports(task, "saved_model")))
    sig = loaded.signatures["serving_default"]
    text = presets[task].task.example_inputs()[0]
    one = sig(text=tf.constant(text))
    batch = sig(text=tf.constant([text]))
    assert sorted(one) == sorted(batch)
    for key in one:
        np.testing.assert_array_equal(one[key].numpy(), batch[key].numpy(), err_msg=key)
    meta = json.loads((exports(task, "saved_model") / "assets.extra" / "export.json").read_text())
    assert (meta["task"], meta["format"]) == (task, "saved_model")


def test_sentiment_streams_token_by_token_to_the_full_call(presets, exports):
    model = presets["sentiment"]
    if model.config["model"]["bidirectional"]:
        pytest.skip("the best sentiment preset is bidirectional (no step signature)")
    from zoo.data import sentiment as data

    loaded = tf.saved_model.load(str(exports("sentiment", "saved_model")))
    step, init = loaded.signatures["step"], loaded.signatures["initial_state"]
    full = loaded.signatures["serving_default"]
    texts = [t for t in sentences("sentiment") if t]
    for text in texts:
        tokens = data.tokenize(tf.constant([text])).to_list()[0]
        state = init(batch_size=tf.constant(1))["state"]
        for token in tokens:  # one token per call, as a stream would deliver them
            out = step(text=tf.constant([token]), state=state)
            state = out["state"]
        expected = full(text=tf.constant([text]))
        np.testing.assert_allclose(
            out["positive_probability"].numpy(),
            expected["positive_probability"].numpy(),
            atol=1e-5,
            err_msg=text,
        )
        assert out["label"].numpy()[0] == expected["label"].numpy()[0]
    # A batch of pieces of different lengths (padding is masked) gives each text's answer.
    state = init(batch_size=tf.constant(2))["state"]
    out = step(text=tf.constant(texts[:2]), state=state)
    np.testing.assert_allclose(
        out["positive_probability"].numpy(),
        full(text=tf.constant(texts[:2]))["positive_probability"].numpy(),
        atol=1e-5,
    )


def test_ner_export_offers_no_step_signature_for_bidirectional_models(presets, exports):
    assert presets["ner"].config["model"]["bidirectional"]
    loaded = tf.saved_model.load(str(exports("ner", "saved_model")))
    assert sorted(loaded.signatures) == ["serving_default"]
    assert presets["ner"].runtime.streaming_functions() == {}


def test_int8_tflite_records_its_mode_and_metric_drop(presets, exports):
    """A cheap int8 export (40 examples measured): the record is complete and
    consistent, and the int8 model still answers like the preset on most sentences."""
    path = exports("sentiment", "tflite", "int8", eval_limit=40)
    q = json.loads((path / "export.json").read_text("utf-8"))["quantization"]
    assert q["mode"] in ("int8-full", "int8-dynamic")
    assert q["why"] and q["metric"] == "accuracy"
    assert q["subset"]["examples"] == 40 and q["calibration"]["examples"] > 0
    assert q["drop"] == pytest.approx(q["float"] - q["int8"], abs=1e-3)
    assert q["mode"] == "int8-dynamic" or q["drop"] <= INT8_MAX_DROP
    float_size = (exports("sentiment", "tflite") / "classify.tflite").stat().st_size
    assert (path / "classify.tflite").stat().st_size < float_size / 2
    texts = sentences("sentiment")
    got = zoo.load_exported(path).predict(texts)
    expected = presets["sentiment"].predict(texts)
    agree = sum(g["label"] == e["label"] for g, e in zip(got, expected))
    assert agree >= 0.9 * len(texts)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_int8_metric_drop_on_the_evaluation_subset_is_at_most_one_point(task, exports, presets):
    path = exports(task, "tflite", "int8")
    q = json.loads((path / "export.json").read_text("utf-8"))["quantization"]
    assert q["subset"]["examples"] == min(presets[task].task.eval_subset_size, 500)
    assert q["drop"] <= INT8_MAX_DROP, q


def _zoo(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600
    )


def test_cli_predict_on_an_export_directory_prints_like_the_preset(exports, capsys):
    texts = sentences("sentiment", 6)[:6]
    from_dir = _zoo("predict", str(exports("sentiment", "tflite")), *texts)
    assert from_dir.returncode == 0, from_dir.stderr[-2000:]
    assert cli.main(["predict", BEST["sentiment"], *texts]) == 0  # in-process: cheaper
    assert from_dir.stdout == capsys.readouterr().out
    assert len(from_dir.stdout.splitlines()) == len(texts)


def test_cli_predict_json_on_an_export_directory(exports, capsys):
    text = sentences("ner")[0]
    assert cli.main(["predict", str(exports("ner", "onnx")), text, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["input"] == text and row["output"]["tokens"]


@pytest.mark.parametrize(
    "args, named",
    [
        (["--format", "onx"], ["onx", "saved_model", "tflite", "onnx"]),
        (["--format", "tflite", "--quantize", "int4"], ["int4", "int8"]),
        (["--format", "onnx", "--quantize", "int8"], ["--quantize", "tflite"]),
    ],
)
def test_cli_export_rejects_bad_format_and_quantize(args, named, tmp_path, capsys):
    assert cli.main(["export", "sentiment_lstm_mr", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    for word in named:
        assert word in err, err
    assert not (tmp_path / "out").exists()


def test_export_rejects_bad_format_and_quantize(tmp_path):
    with pytest.raises(ValueError, match=r"'format'.*\['saved_model', 'tflite', 'onnx'\].*'onx'"):
        zoo.export("sentiment_lstm_mr", tmp_path / "a", format="onx")
    with pytest.raises(ValueError, match=r"'quantize'.*\[None, 'int8'\].*'int4'"):
        zoo.export("sentiment_lstm_mr", tmp_path / "b", format="tflite", quantize="int4")
    with pytest.raises(ValueError, match=r"'quantize'.*tflite.*'onnx'"):
        zoo.export("sentiment_lstm_mr", tmp_path / "c", format="onnx", quantize="int8")
    assert list(tmp_path.iterdir()) == []


def test_load_exported_names_a_directory_that_is_no_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="export.json"):
        zoo.load_exported(tmp_path)


def test_task_without_portable_functions_is_refused(monkeypatch, presets, tmp_path):
    runtime = presets["sentiment"].runtime
    monkeypatch.setattr(type(runtime), "portable_functions", lambda self: {})
    with pytest.raises(ExportError, match="no portable functions"):
        zoo.export(presets["sentiment"], tmp_path / "out", format="onnx")
    assert not (tmp_path / "out").exists()

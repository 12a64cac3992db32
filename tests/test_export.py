"""Export of the published presets: raw-input SavedModels that plain TensorFlow, the TF1
session loader and saved_model_cli can run, no GPU-only ops, atomic writes, no silent overwrite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import export as export_module
from zoo import registry
from zoo.demo import SERVE_SCRIPT, best_models

BEST = best_models()
pytestmark = pytest.mark.xdist_group("export")


@pytest.fixture(scope="module")
def sentiment_export(tmp_path_factory):
    if "sentiment" not in BEST:
        pytest.skip("no published sentiment preset")
    path = tmp_path_factory.mktemp("export") / "sentiment"
    model = zoo.load(BEST["sentiment"])
    zoo.export(model, path)
    return model, path


@pytest.mark.parametrize("task", sorted(BEST))
def test_serving_graph_of_every_task_has_no_gpu_only_ops(task):
    model = zoo.load(BEST[task])
    _, signatures = export_module.serving_module(model)
    for name, concrete in signatures.items():
        ops = export_module.graph_op_types(concrete)
        assert ops, name
        assert not any(op.startswith("Cudnn") for op in ops), (name, sorted(ops))


def test_gpu_only_op_in_a_signature_is_refused(monkeypatch):
    if not BEST:
        pytest.skip("no published presets")
    model = zoo.load(next(iter(BEST.values())))
    monkeypatch.setattr(export_module, "graph_op_types", lambda fn: {"MatMul", "CudnnRNNV3"})
    with pytest.raises(export_module.ExportError, match="CudnnRNNV3"):
        export_module.serving_module(model)


def test_saved_model_runs_in_plain_tensorflow_process_like_predict(sentiment_export):
    model, path = sentiment_export
    texts = ["There is nothing to like in this movie.", "", "Ünïcødé ✓ 電影 " * 300]
    proc = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(path), json.dumps(texts)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = model.predict(texts)
    assert served["label"] == [e["label"] for e in expected]
    assert served["probability"] == pytest.approx([e["probability"] for e in expected], abs=1e-5)


def _cli():
    return shutil.which("saved_model_cli") or os.path.join(
        os.path.dirname(sys.executable), "saved_model_cli"
    )


def test_saved_model_cli_shows_the_raw_input_signature(sentiment_export):
    show = subprocess.run(
        [_cli(), "show", "--dir", str(sentiment_export[1]), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert show.returncode == 0, show.stderr[-2000:]
    assert "signature_def['serving_default']" in show.stdout
    assert "DT_STRING" in show.stdout


def test_saved_model_cli_runs_the_signature_like_predict(sentiment_export):
    model, path = sentiment_export
    text = "There is nothing to like in this movie."
    run = subprocess.run(
        [
            _cli(),
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f"text=[{text!r}]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (expected,) = model.predict([text])
    label = run.stdout.split("Result for output key label:")[1].split()[0]
    assert label == repr([expected["label"].encode()])


def _run_in_tf1_session(path, values) -> dict:
    """``serving_default`` through the TF1 loader (what ``saved_model_cli run`` and
    TF1-style servers use): variables restored through the SavedModel's saver_def,
    tables initialised by its init op."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
        sig = meta.signature_def["serving_default"]
        (inp,) = sig.inputs.values()
        fetches = {k: v.name for k, v in sig.outputs.items()}
        return sess.run(fetches, {inp.name: values})


@pytest.mark.parametrize(
    "task",
    [t if t == "sentiment" else pytest.param(t, marks=pytest.mark.slow) for t in sorted(BEST)],
)
def test_tf1_session_loader_restores_the_weights_the_signature_reads(task, tmp_path):
    model = zoo.load(BEST[task])
    zoo.export(model, tmp_path / task)
    if task == "captioning":
        from zoo.data import captioning

        values = captioning.sample_images(model.config["data"], n=2)
    else:
        values = model.task.example_inputs()[:2]
    tf1 = _run_in_tf1_session(tmp_path / task, values)
    fn = tf.saved_model.load(str(tmp_path / task)).signatures["serving_default"]
    arg = next(iter(fn.structured_input_signature[1]))
    tf2 = {k: v.numpy() for k, v in fn(**{arg: tf.constant(values)}).items()}
    assert sorted(tf1) == sorted(tf2)
    for key, value in tf2.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(tf1[key], value, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(tf1[key], value, err_msg=key)


def test_each_weight_is_saved_once_under_the_names_the_graph_reads(sentiment_export):
    model, path = sentiment_export
    saved = [
        name
        for name, _ in tf.train.list_variables(str(path / "variables" / "variables"))
        if "VARIABLE_VALUE" in name
    ]
    assert len(saved) == len(model.model.weights)


def test_failed_export_leaves_nothing_and_existing_target_is_kept(tmp_path, monkeypatch):
    if "sentiment" not in BEST:
        pytest.skip("no published sentiment preset")
    model = zoo.load(BEST["sentiment"])

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        zoo.export(model, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("1")
    with pytest.raises(FileExistsError, match="overwrite"):
        zoo.export(model, tmp_path / "out")
    with pytest.raises(RuntimeError, match="disk full"):
        zoo.export(model, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "keep").read_text() == "1"


def test_export_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'format'.*'onnx2'"):
        zoo.export("sentiment_bilstm_mr", "/tmp/x", format="onnx2")
    with pytest.raises(TypeError, match="'model'"):
        zoo.export(42, "/tmp/never-written")
    with pytest.raises(registry.UnknownModelError):
        zoo.export("sentimental_lstm", "/tmp/never-written")


def test_ner_serving_graph_rounds_word_rows_not_the_whole_table():
    if "ner" not in BEST:
        pytest.skip("no published NER preset")
    model = zoo.load(BEST["ner"])
    table = model.model.get_layer("word_embedding").embeddings
    _, signatures = export_module.serving_module(model)
    graph = signatures["serving_default"].graph
    whole_table_casts = [
        op.name
        for op in graph.get_operations()
        if op.type == "Cast" and op.inputs[0].shape.as_list() == list(table.shape)
    ]
    assert not whole_table_casts

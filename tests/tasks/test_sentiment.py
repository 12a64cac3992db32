"""SentimentTask: every cell builds and learns, padding does not matter, predict on awkward
input, and the exported SavedModel runs in a plain-TensorFlow process with the same output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.data import sentiment as data
from zoo.tasks import get_task
from zoo.tasks.sentiment import SentimentTask

CELLS = [("simple_rnn", False), ("lstm", False), ("gru", False), ("lstm", True), ("gru", True)]
SMALL = {"units": 8, "pooling": "max_mean"}


@pytest.fixture(scope="module")
def sentiment_task():
    return SentimentTask()


@pytest.fixture(scope="module")
def sentiment_smoke(sentiment_task):
    return sentiment_task.load_data({"dataset": "mr"}, batch_size=16, seed=0, smoke=True)


def _build(task, assets, cell, bidirectional, **extra):
    cfg = {"cell": cell, "bidirectional": bidirectional, **SMALL, **extra}
    return task.build_model(cfg, assets, for_training=True)


def test_task_is_registered_under_sentiment():
    task = get_task("sentiment")
    assert isinstance(task, SentimentTask)
    assert (task.primary_metric, task.monitor, task.monitor_mode) == (
        "accuracy",
        "val_accuracy",
        "max",
    )


@pytest.mark.parametrize("cell, bidirectional", CELLS)
def test_model_builds_and_runs_on_a_batch_from_its_pipeline(
    sentiment_task, sentiment_smoke, cell, bidirectional
):
    model = _build(sentiment_task, sentiment_smoke.assets, cell, bidirectional)
    ids, y = next(iter(sentiment_smoke.train))
    p = model(ids).numpy()
    assert p.shape == (ids.shape[0], 1)
    assert np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("pooling", ["final", "max", "mean", "max_mean"])
def test_every_pooling_builds(sentiment_task, sentiment_smoke, pooling):
    model = _build(
        sentiment_task, sentiment_smoke.assets, "gru", True, pooling=pooling, num_layers=2
    )
    ids, _ = next(iter(sentiment_smoke.train))
    assert model(ids).shape == (ids.shape[0], 1)


def test_embedding_starts_from_glove(sentiment_task, sentiment_smoke):
    from zoo.data.glove import load_glove

    words, vectors = load_glove()
    vocab = sentiment_smoke.assets["vocabulary"]
    for mode in ("full", "frozen", "scaled"):
        model = _build(sentiment_task, sentiment_smoke.assets, "lstm", False, embedding=mode)
        emb = model.get_layer("embedding")
        table = np.asarray(emb.embeddings)
        np.testing.assert_array_equal(table[vocab.index("the")], vectors[words.index("the")])
        np.testing.assert_array_equal(table[0], np.zeros(50))
        assert len(emb.trainable_weights) == (0 if mode == "frozen" else 1)


@pytest.mark.parametrize("cell, bidirectional", CELLS)
def test_overfits_a_tiny_batch(sentiment_task, sentiment_smoke, cell, bidirectional):
    model = _build(sentiment_task, sentiment_smoke.assets, cell, bidirectional)
    sentiment_task.compile_model(model, keras.optimizers.Adam(1e-2), {})
    ids, y = next(iter(sentiment_smoke.train))
    first = float(model.evaluate(ids, y, verbose=0)[0])
    for _ in range(25):
        model.train_on_batch(ids, y)
    last, acc = (float(v) for v in model.evaluate(ids, y, verbose=0))
    assert last < 0.5 * first
    assert acc == 1.0


@pytest.mark.parametrize("cell, bidirectional", CELLS)
def test_extra_padding_does_not_change_predictions(
    sentiment_task, sentiment_smoke, cell, bidirectional
):
    model = _build(sentiment_task, sentiment_smoke.assets, cell, bidirectional, pooling="final")
    pooled = _build(sentiment_task, sentiment_smoke.assets, cell, bidirectional)
    ids, _ = next(iter(sentiment_smoke.test))
    padded = tf.pad(ids, [[0, 0], [0, 13]])
    for m in (model, pooled):
        np.testing.assert_allclose(m(ids).numpy(), m(padded).numpy(), atol=1e-5)


# -- predict on raw strings -------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment_model(sentiment_task, sentiment_smoke):
    """A briefly trained BiLSTM (smoke data) so predictions are not all ~0.5."""
    keras.utils.set_random_seed(0)
    model = _build(sentiment_task, sentiment_smoke.assets, "lstm", True)
    sentiment_task.compile_model(model, keras.optimizers.Adam(3e-3), {})
    model.fit(sentiment_smoke.train, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def sentiment_runtime(sentiment_task, sentiment_smoke, sentiment_model):
    return sentiment_task.runtime(sentiment_model, sentiment_smoke.assets, {})


AWKWARD = [
    "There is nothing to like in this movie.",
    "",
    "   ",
    "wonderful " * 2000,
    "Ein großartiger Film – très émouvant, 素晴らしい映画 🎬",
    "zqxv flurbington wibblewobble",
    "Bad.",
]


def test_predict_handles_awkward_inputs(
    sentiment_task, sentiment_smoke, sentiment_model, sentiment_runtime
):
    out = sentiment_runtime.predict(AWKWARD)
    assert len(out) == len(AWKWARD)
    for item in out:
        assert set(item) == {"label", "probability"}
        assert item["label"] in ("positive", "negative")
        assert 0.5 <= item["probability"] <= 1.0
    # Empty and whitespace-only text are the same input: no tokens.
    assert out[1] == pytest.approx(out[2])


def test_predict_on_a_mixed_batch_equals_one_by_one(
    sentiment_task, sentiment_smoke, sentiment_model, sentiment_runtime
):
    batch = sentiment_runtime.predict(AWKWARD)
    for text, expected in zip(AWKWARD, batch):
        (single,) = sentiment_runtime.predict([text])
        assert single["label"] == expected["label"]
        assert single["probability"] == pytest.approx(expected["probability"], abs=1e-5)


def test_unknown_words_map_to_unk_and_long_text_is_truncated(
    sentiment_task, sentiment_smoke, sentiment_model, sentiment_runtime
):
    assets = sentiment_smoke.assets
    p = lambda texts: [  # noqa: E731
        r["probability"] if r["label"] == "positive" else 1 - r["probability"]
        for r in sentiment_runtime.predict(texts)
    ]
    # Two different unknown words give the same ids ([UNK]) hence the same output.
    a, b = p(["a zqxvnotaword film", "a wibblewobble film"])
    assert a == pytest.approx(b, abs=1e-6)
    # Beyond max_length tokens nothing is read.
    n = assets["preprocessing"]["max_length"]
    c, d = p(["good " * n, "good " * n + "awful " * 50])
    assert c == pytest.approx(d, abs=1e-6)


def test_predict_matches_the_model_on_pipeline_ids(
    sentiment_task, sentiment_smoke, sentiment_model, sentiment_runtime
):
    raw = data.read_split("mr", "validation").take(40)
    texts = [t.numpy().decode() for t, _ in raw]
    ds = data.make_dataset(raw, sentiment_smoke.assets["vocabulary"], batch_size=40)
    ids, _ = next(iter(ds))
    expected = sentiment_model(ids).numpy().reshape(-1)
    got = sentiment_runtime.predict(texts)
    positive = [r["probability"] if r["label"] == "positive" else 1 - r["probability"] for r in got]
    np.testing.assert_allclose(positive, expected, atol=1e-5)


def test_evaluate_limit_agrees_with_predict(
    sentiment_task, sentiment_smoke, sentiment_model, sentiment_runtime
):
    result = sentiment_task.evaluate(sentiment_runtime, {"dataset": "mr"}, split="test", limit=64)
    assert result["examples"] == 64
    raw = list(data.read_split("mr", "test").take(64))
    preds = sentiment_runtime.predict([t.numpy().decode() for t, _ in raw])
    correct = [(r["label"] == "positive") == bool(int(y)) for r, (_, y) in zip(preds, raw)]
    assert result["accuracy"] == pytest.approx(100 * np.mean(correct))
    assert result["loss"] > 0


@pytest.mark.parametrize("bad", ["just a string", [1, 2], None])
def test_predict_rejects_non_string_lists(
    sentiment_task, sentiment_smoke, sentiment_model, bad, sentiment_runtime
):
    with pytest.raises(TypeError, match="inputs"):
        sentiment_runtime.predict(bad)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"cell": "lstm", "pooling": "median"}, "pooling"),
        ({"cell": "lstn"}, "cell"),
        ({"cell": "lstm", "units": 0}, "units"),
        ({"cell": "lstm", "colour": "red"}, "colour"),
        ({"cell": "lstm", "embedding": "thawed"}, "embedding"),
    ],
)
def test_bad_model_config_is_a_clear_error(sentiment_task, sentiment_smoke, cfg, match):
    with pytest.raises(ValueError, match=match):
        sentiment_task.build_model(cfg, sentiment_smoke.assets)


# -- export ---------------------------------------------------------------------------------

_PLAIN_TF = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    texts = json.loads(sys.argv[2])
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules), "zoo was imported"
    print(json.dumps({
        "label": [b.decode() for b in out["label"].numpy()],
        "probability": out["probability"].numpy().tolist(),
        "ops": sorted({op.type for f in [loaded.signatures["serving_default"]]
                       for op in f.graph.get_operations()}),
    }))
    """
)


def test_exported_saved_model_runs_in_plain_tensorflow_and_equals_predict(
    sentiment_task, sentiment_smoke, sentiment_model, tmp_path, sentiment_runtime
):
    from zoo import export as zoo_export
    from zoo.registry import ZooModel

    config = {"name": "sentiment_test", "task": "sentiment", "model": {}, "data": {}, "train": {}}
    zm = ZooModel(sentiment_model, sentiment_task, config, sentiment_smoke.assets)
    target = zoo_export.export(zm, tmp_path / "exported")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _PLAIN_TF, str(target), json.dumps(AWKWARD)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = sentiment_runtime.predict(AWKWARD)
    assert served["label"] == [r["label"] for r in expected]
    np.testing.assert_allclose(
        served["probability"], [r["probability"] for r in expected], atol=1e-5
    )
    assert not {op for op in served["ops"] if op.startswith("Cudnn")}


# -- the published preset ---------------------------------------------------------------

PRESET = Path(__file__).resolve().parents[2] / "zoo" / "pretrained" / "sentiment_bilstm_mr"


@pytest.mark.skipif(not (PRESET / "metadata.json").exists(), reason="preset not published yet")
def test_published_bilstm_preset_reproduces_its_subset_accuracy():
    import zoo

    model = zoo.load("sentiment_bilstm_mr")
    recorded = model.metadata["eval_subset"]["metrics"]["accuracy"]
    result = model.evaluate(split="test", limit=model.metadata["eval_subset"]["limit"])
    assert result["accuracy"] == pytest.approx(recorded, abs=0.21)
    out = model.predict(["There is nothing to like in this movie.", "A wonderful, moving film."])
    assert [r["label"] for r in out] == ["negative", "positive"]


@pytest.mark.slow
@pytest.mark.skipif(not (PRESET / "metadata.json").exists(), reason="preset not published yet")
def test_published_bilstm_preset_reproduces_its_full_test_accuracy():
    import zoo

    model = zoo.load("sentiment_bilstm_mr")
    result = model.evaluate(split="test")
    assert result["accuracy"] == pytest.approx(model.metadata["metrics"]["accuracy"], abs=0.11)
    assert result["accuracy"] >= 81.5 - 2.0


def test_weights_round_trip_after_export_setup(
    sentiment_task, sentiment_smoke, sentiment_model, tmp_path
):
    """Preparing serving functions must not change what a weights file holds."""
    sentiment_task.runtime(sentiment_model, sentiment_smoke.assets, {}).serving_functions()
    path = tmp_path / "model.weights.h5"
    sentiment_model.save_weights(path)
    fresh = _build(sentiment_task, sentiment_smoke.assets, "lstm", True)
    fresh.load_weights(path)
    ids, _ = next(iter(sentiment_smoke.test))
    np.testing.assert_allclose(fresh(ids).numpy(), sentiment_model(ids).numpy(), atol=1e-6)


def test_scaled_embedding_offsets_only_train_rows_and_can_store_float16(sentiment_task):
    data_ = data.load_data({"dataset": "mr", "glove_vocabulary": 2000}, batch_size=16, smoke=True)
    assets = data_["assets"]
    k = assets["preprocessing"]["train_vocabulary_size"]
    model = _build(
        sentiment_task, assets, "gru", False, embedding="scaled", storage_dtype="float16"
    )
    emb = model.get_layer("embedding")
    assert emb.base.dtype == "float16" and tuple(emb.delta.shape) == (k, 50)
    emb.delta.assign(np.ones((k, 50), np.float32))
    ids = np.array([[2, k - 1, k, len(assets["vocabulary"]) - 1]], np.int32)
    out = emb(ids).numpy()[0]
    base = np.asarray(emb.base, np.float32)[ids[0]]
    np.testing.assert_allclose(out[:2], base[:2] + emb.scale, atol=1e-6)
    np.testing.assert_allclose(out[2:], base[2:], atol=1e-6)
    # A word known only from GloVe gets its GloVe vector, not [UNK]'s.
    from zoo.data.glove import embedding_matrix

    np.testing.assert_allclose(base[3], embedding_matrix([assets["vocabulary"][-1]])[0], atol=1e-2)


def test_training_accuracy_thresholds_soft_targets(sentiment_task, sentiment_smoke):
    model = _build(sentiment_task, sentiment_smoke.assets, "gru", False)
    sentiment_task.compile_model(model, keras.optimizers.Adam(1e-3), {})
    ids, y = next(iter(sentiment_smoke.test))
    p = model(ids).numpy().reshape(-1)
    soft = tf.where(y > 0.5, 0.8, 0.2)  # soft targets with the same sign as y
    _, acc = model.evaluate(ids, soft, verbose=0)
    assert acc == pytest.approx(np.mean((p >= 0.5) == (y.numpy() > 0.5)), abs=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("mode", ["max", "mean", "max_mean"])
def test_masked_pooling_of_an_all_padding_row_is_zero_not_nan(mode, dtype):
    from zoo.tasks.sentiment import MaskedPooling

    x = tf.constant(np.arange(12).reshape(2, 3, 2) - 20.0, dtype)
    mask = tf.constant([[False, False, False], [True, True, False]])
    y = MaskedPooling(mode=mode, dtype=dtype)(x, mask=mask).numpy()
    assert np.all(y[0] == 0.0), y
    valid = x.numpy()[1, :2].astype("float64")
    expected = {"max": valid.max(0), "mean": valid.mean(0)}
    want = np.concatenate([expected[m] for m in mode.split("_")])
    np.testing.assert_allclose(y[1], want, rtol=1e-3)

"""Config round trips, .keras reload in a fresh process, SavedModel without zoo."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from layer_helpers import FEATURES, UNITS, random_inputs

import zoo.layers as zl

LAYERS = {
    "simple_rnn": lambda: zl.SimpleRNN(
        UNITS, activation="relu", dropout=0.1, return_sequences=True, go_backwards=True
    ),
    "lstm": lambda: zl.LSTM(
        UNITS,
        unit_forget_bias=False,
        kernel_regularizer="l2",
        activity_regularizer="l1",
        recurrent_constraint="max_norm",
        return_state=True,
        seed=7,
    ),
    "gru": lambda: zl.GRU(UNITS, reset_after=False, trainable_initial_state=True),
    "bidirectional": lambda: zl.Bidirectional(
        zl.LSTM(UNITS, return_sequences=True),
        merge_mode="ave",
        backward_layer=zl.GRU(UNITS, go_backwards=True, return_sequences=True),
    ),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_round_trip(name):
    layer = LAYERS[name]()
    config = layer.get_config()
    json.dumps(config)  # serializable
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = random_inputs()
    layer.build(x.shape)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    for a, b in zip(keras.tree.flatten(layer(x)), keras.tree.flatten(clone(x)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_config_keeps_every_constructor_argument():
    config = zl.LSTM(3, dropout=0.25, recurrent_dropout=0.5, stateful=True, seed=2).get_config()
    for key in (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "recurrent_constraint",
        "bias_constraint",
        "dropout",
        "recurrent_dropout",
        "seed",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "trainable_initial_state",
        "name",
        "trainable",
        "dtype",
    ):
        assert key in config, key
    assert config["dropout"] == 0.25 and config["recurrent_dropout"] == 0.5
    assert config["stateful"] is True and config["seed"] == 2
    assert zl.GRU(3, reset_after=False).get_config()["reset_after"] is False


def every_layer_model():
    """A model using each of our layers, on token ids with padding (mask_zero)."""
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, FEATURES, mask_zero=True)(inputs)
    h = zl.Bidirectional(zl.LSTM(UNITS, return_sequences=True), merge_mode="concat")(h)
    h = zl.GRU(UNITS, return_sequences=True)(h)
    h = zl.SimpleRNN(UNITS, return_sequences=True)(h)
    h = zl.GRU(UNITS, reset_after=False, trainable_initial_state=True)(h)
    outputs = keras.layers.Dense(2)(h)
    model = keras.Model(inputs, outputs)
    model.set_weights(
        [np.random.default_rng(1).normal(scale=0.5, size=w.shape) for w in model.weights]
    )
    return model


IDS = np.array([[3, 1, 4, 1, 5, 0, 0], [9, 2, 6, 5, 3, 5, 8], [0, 0, 0, 0, 0, 0, 0]], "int32")


def run_python(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_keras_file_reloads_in_fresh_process(tmp_path):
    model = every_layer_model()
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "ids.npy", IDS)
    np.save(tmp_path / "expected.npy", np.asarray(model(IDS)))
    run_python(
        f"""
        import numpy as np, keras
        import zoo.layers  # registers the classes
        model = keras.saving.load_model({str(path)!r})
        got = np.asarray(model(np.load("ids.npy")))
        np.testing.assert_allclose(got, np.load("expected.npy"), atol=1e-6)
        """,
        tmp_path,
    )


def test_saved_model_reloads_without_zoo_and_has_no_cudnn_ops(tmp_path):
    model = every_layer_model()
    model.export(str(tmp_path / "saved"), verbose=False)
    np.save(tmp_path / "ids.npy", IDS)
    np.save(tmp_path / "expected.npy", np.asarray(model(IDS)))
    out = run_python(
        f"""
        import sys
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "saved")!r})
        got = loaded.serve(tf.constant(np.load("ids.npy"))).numpy()
        np.testing.assert_allclose(got, np.load("expected.npy"), atol=1e-6)
        graph = loaded.signatures["serving_default"].graph.as_graph_def()
        ops = {{n.op for n in graph.node}}
        for function in graph.library.function:
            ops |= {{n.op for n in function.node_def}}
        assert "While" in ops or "StatelessWhile" in ops, sorted(ops)
        print("CUDNN", sorted(op for op in ops if "cudnn" in op.lower()))
        print("ZOO", "zoo" in sys.modules)
        """,
        tmp_path,
    )
    assert "CUDNN []" in out
    assert "ZOO False" in out

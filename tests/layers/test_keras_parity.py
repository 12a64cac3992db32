"""Our layers reproduce Keras's outputs with Keras's weights (atol 1e-5, float32)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import (
    CELLS,
    FEATURES,
    UNITS,
    assert_same_outputs,
    make_pair,
    masks,
    random_inputs,
    sync,
)

import zoo.layers as zl

MASKS = [None, "right", "left", "empty_row", "holes"]


@pytest.mark.parametrize("mask_name", MASKS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_matches_keras(cell, return_sequences, go_backwards, mask_name):
    # return_state=True: the output and every final state are compared.
    ours, theirs = make_pair(
        cell, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards
    )
    x = random_inputs()
    mask = None if mask_name is None else masks()[mask_name]
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_without_return_state_matches_keras(cell, return_sequences):
    ours, theirs = make_pair(cell, return_sequences=return_sequences)
    x = random_inputs()
    out = ours(x, mask=masks()["right"])
    assert not isinstance(out, (list, tuple))
    assert_same_outputs(out, theirs(x, mask=masks()["right"]))


@pytest.mark.parametrize("mask_name", [None, "left", "empty_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_initial_state_matches_keras(cell, go_backwards, mask_name):
    ours, theirs = make_pair(
        cell, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    x = random_inputs()
    rng = np.random.default_rng(5)
    n_states = 2 if cell == "lstm" else 1
    state = [rng.normal(size=(x.shape[0], UNITS)).astype("float32") for _ in range(n_states)]
    mask = None if mask_name is None else masks()[mask_name]
    assert_same_outputs(
        ours(x, initial_state=state, mask=mask), theirs(x, initial_state=state, mask=mask)
    )


@pytest.mark.parametrize("cell", list(CELLS))
def test_embedding_mask_zero_matches_keras(cell):
    ids = np.array([[3, 1, 4, 0, 0, 0], [2, 7, 1, 8, 2, 8], [0, 0, 0, 0, 0, 0]])
    ours_cls, keras_cls, extra = CELLS[cell]

    def model(cls):
        inputs = keras.Input((None,), dtype="int32")
        h = keras.layers.Embedding(10, FEATURES, mask_zero=True)(inputs)
        h = cls(UNITS, return_sequences=True, **extra)(h)
        h = cls(UNITS, go_backwards=True, **extra)(h)  # mask propagated
        return keras.Model(inputs, h)

    theirs, ours = model(keras_cls), model(ours_cls)
    theirs.set_weights([np.random.default_rng(2).normal(size=w.shape) for w in theirs.weights])
    ours.set_weights(theirs.get_weights())
    assert_same_outputs(ours(ids), theirs(ids))


@pytest.mark.parametrize("cell", list(CELLS))
def test_stateful_across_calls_matches_keras(cell):
    batch = 3
    ours_cls, keras_cls, extra = CELLS[cell]
    theirs = keras_cls(UNITS, stateful=True, return_sequences=True, **extra)
    ours = ours_cls(UNITS, stateful=True, return_sequences=True, **extra)
    sync(ours, theirs, batch=batch)
    chunks = [random_inputs(batch=batch, steps=4, seed=s) for s in range(3)]
    for chunk in chunks:
        assert_same_outputs(ours(chunk), theirs(chunk))
    first = np.asarray(ours(chunks[0]))
    ours.reset_state()
    theirs.reset_state()
    assert_same_outputs(ours(chunks[0]), theirs(chunks[0]))
    assert not np.allclose(first, np.asarray(theirs(chunks[0])))  # the state mattered


@pytest.mark.parametrize("cell", list(CELLS))
def test_dropout_is_inactive_at_inference(cell):
    ours, theirs = make_pair(cell, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)
    x = random_inputs()
    mask = masks()["right"]
    assert_same_outputs(ours(x, mask=mask, training=False), theirs(x, mask=mask, training=False))
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))
    # ... and active in training: outputs change.
    assert not np.allclose(np.asarray(ours(x, training=True)), np.asarray(ours(x)))


@pytest.mark.parametrize(
    "cell, kwargs",
    [
        ("simple_rnn", {"use_bias": False}),
        ("lstm", {"use_bias": False}),
        ("gru", {"use_bias": False}),
        ("gru_reset_before", {"use_bias": False}),
        ("simple_rnn", {"activation": "relu"}),
        ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
        ("gru", {"activation": "softsign", "recurrent_activation": "hard_sigmoid"}),
    ],
)
def test_options_match_keras(cell, kwargs):
    ours, theirs = make_pair(cell, return_sequences=True, **kwargs)
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["holes"]), theirs(x, mask=masks()["holes"]))


@pytest.mark.parametrize("unit_forget_bias", [False, True])
def test_unit_forget_bias_initializes_like_keras(unit_forget_bias):
    ours = zl.LSTM(UNITS, unit_forget_bias=unit_forget_bias, bias_initializer="zeros")
    theirs = keras.layers.LSTM(UNITS, unit_forget_bias=unit_forget_bias)
    ours.build((None, None, FEATURES))
    theirs.build((None, None, FEATURES))
    np.testing.assert_array_equal(ours.cell.bias.numpy(), theirs.cell.bias.numpy())
    assert ours.cell.bias.numpy()[UNITS : 2 * UNITS].mean() == float(unit_forget_bias)


def test_weight_layout_matches_keras():
    for cell in CELLS:
        ours, theirs = make_pair(cell)
        assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
        assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


# ---- Bidirectional --------------------------------------------------------------------


def bidirectional_pair(cell="lstm", merge_mode="concat", backward=None, **kwargs):
    ours_cls, keras_cls, extra = CELLS[cell]
    kwargs = {**extra, **kwargs}
    theirs_back = ours_back = None
    if backward is not None:
        b_cls_ours, b_cls_keras, b_extra = CELLS[backward]
        theirs_back = b_cls_keras(UNITS + 1, go_backwards=True, **{**kwargs, **b_extra})
        ours_back = b_cls_ours(UNITS + 1, go_backwards=True, **{**kwargs, **b_extra})
    theirs = keras.layers.Bidirectional(
        keras_cls(UNITS, **kwargs), merge_mode=merge_mode, backward_layer=theirs_back
    )
    ours = zl.Bidirectional(
        ours_cls(UNITS, **kwargs), merge_mode=merge_mode, backward_layer=ours_back
    )
    return sync(ours, theirs)


@pytest.mark.parametrize("mask_name", [None, "left", "empty_row"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_keras(merge_mode, return_sequences, mask_name):
    ours, theirs = bidirectional_pair(
        "lstm", merge_mode, return_sequences=return_sequences, return_state=True
    )
    x = random_inputs()
    mask = None if mask_name is None else masks()[mask_name]
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_without_return_state_matches_keras(merge_mode):
    ours, theirs = bidirectional_pair("gru", merge_mode, return_sequences=True)
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["right"]), theirs(x, mask=masks()["right"]))


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "gru_reset_before"])
def test_bidirectional_other_cells_match_keras(cell):
    ours, theirs = bidirectional_pair(cell, "concat", return_sequences=True)
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["right"]), theirs(x, mask=masks()["right"]))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_backward_layer_matches_keras(return_sequences):
    # A GRU of other width runs backwards under an LSTM forwards.
    ours, theirs = bidirectional_pair(
        "lstm", "concat", backward="gru", return_sequences=return_sequences, return_state=True
    )
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["left"]), theirs(x, mask=masks()["left"]))


def test_bidirectional_initial_state_matches_keras():
    ours, theirs = bidirectional_pair("lstm", "concat", return_sequences=True)
    x = random_inputs()
    rng = np.random.default_rng(3)
    state = [rng.normal(size=(x.shape[0], UNITS)).astype("float32") for _ in range(4)]
    assert_same_outputs(
        ours(x, initial_state=state, mask=masks()["right"]),
        theirs(x, initial_state=state, mask=masks()["right"]),
    )


def test_bidirectional_stateful_matches_keras():
    batch = 3
    theirs = keras.layers.Bidirectional(
        keras.layers.GRU(UNITS, stateful=True, return_sequences=True)
    )
    ours = zl.Bidirectional(zl.GRU(UNITS, stateful=True, return_sequences=True))
    sync(ours, theirs, batch=batch)
    for seed in range(2):
        x = random_inputs(batch=batch, seed=seed)
        assert_same_outputs(ours(x), theirs(x))
    ours.reset_state()
    theirs.reset_state()
    assert_same_outputs(ours(x), theirs(x))


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_in_embedding_model_matches_keras(cell):
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2], [0, 0, 0, 0, 0]])
    ours_cls, keras_cls, extra = CELLS[cell]

    def model(cls, wrapper):
        inputs = keras.Input((None,), dtype="int32")
        h = keras.layers.Embedding(10, FEATURES, mask_zero=True)(inputs)
        h = wrapper(cls(UNITS, return_sequences=True, **extra))(h)
        h = wrapper(cls(UNITS, **extra), merge_mode="sum")(h)
        return keras.Model(inputs, h)

    theirs = model(keras_cls, keras.layers.Bidirectional)
    ours = model(ours_cls, zl.Bidirectional)
    theirs.set_weights([np.random.default_rng(2).normal(size=w.shape) for w in theirs.weights])
    ours.set_weights(theirs.get_weights())
    assert_same_outputs(ours(ids), theirs(ids))


@pytest.mark.parametrize("layout", ["per_gate", "wide"])
@pytest.mark.parametrize("units", [4, 256])
def test_bidirectional_lstm_both_step_layouts_match_keras_in_value_and_gradient(
    units, layout, monkeypatch
):
    # Bidirectional LSTMs run the wide or the per-gate step (`zoo.layers.autotune`
    # picks the faster one on the machine); both must equal Keras, forwards and in
    # training gradients.
    from zoo.layers import autotune

    monkeypatch.setattr(autotune, "LSTM_STEP", layout)
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))
    ours = zl.Bidirectional(zl.LSTM(units, return_sequences=True))
    ours, theirs = sync(ours, theirs)
    x = random_inputs()
    mask = masks()["right"]
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))
    assert ours.forward_layer.cell.wide is (layout == "wide")
    assert ours.backward_layer.cell.wide is (layout == "wide")
    assert ours.forward_layer.cell.fused_step is (layout == "per_gate")
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x, mask=mask, training=True)))
        grads.append(tape.gradient(loss, layer.trainable_weights))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4, rtol=1e-4)

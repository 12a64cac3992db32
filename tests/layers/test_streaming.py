"""`layer.step`: advancing one time step at a time gives Keras's full-sequence outputs
and final states (the reference is Keras's layer with the same weights)."""

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


def stream(layer, x, states=None, mask=None):
    """Outputs ``(batch, time, units)`` and final states of `layer.step` over x."""
    outputs = []
    for t in range(x.shape[1]):
        m = None if mask is None else mask[:, t]
        output, states = layer.step(x[:, t], states, mask=m)
        outputs.append(output)
    return [np.stack([np.asarray(o) for o in outputs], axis=1), *states]


@pytest.mark.parametrize("mask_name", [None, "holes", "right"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_steps_equal_the_keras_sequence_call(cell, mask_name):
    ours, theirs = make_pair(cell, return_sequences=True, return_state=True)
    x = random_inputs()
    mask = None if mask_name is None else masks()[mask_name]
    assert_same_outputs(stream(ours, x, mask=mask), theirs(x, mask=mask))


@pytest.mark.parametrize("cell", list(CELLS))
def test_steps_from_given_states_equal_keras(cell):
    ours, theirs = make_pair(cell, return_sequences=True, return_state=True)
    x = random_inputs()
    rng = np.random.default_rng(4)
    states = [rng.normal(size=(x.shape[0], UNITS)).astype("float32") for _ in ours.state_size]
    assert_same_outputs(stream(ours, x, states), theirs(x, initial_state=states))
    # Split in two: the second half continues from the first half's states.
    first = stream(ours, x[:, :2], states)
    second = stream(ours, x[:, 2:], first[1:])
    full = theirs(x, initial_state=states)
    np.testing.assert_allclose(second[0], np.asarray(full[0])[:, 2:], atol=1e-5)


def test_go_backwards_layer_streams_the_reversed_sequence():
    ours, theirs = make_pair("lstm", go_backwards=True, return_state=True)
    x = random_inputs()
    outputs = stream(ours, x[:, ::-1])
    assert_same_outputs([outputs[0][:, -1], *outputs[1:]], theirs(x))


def test_stateful_layer_carries_its_state_across_steps():
    x = random_inputs()
    ours, theirs = sync(
        zl.GRU(UNITS, stateful=True, return_sequences=True),
        keras.layers.GRU(UNITS, stateful=True, return_sequences=True),
        batch=x.shape[0],
    )
    theirs_out = np.asarray(theirs(x))
    got = [np.asarray(ours.step(x[:, t])[0]) for t in range(x.shape[1])]
    np.testing.assert_allclose(np.stack(got, axis=1), theirs_out, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.states[0]), theirs_out[:, -1], atol=1e-5)
    ours.reset_state()
    np.testing.assert_allclose(np.asarray(ours.step(x[:, 0])[0]), theirs_out[:, 0], atol=1e-5)


def test_trainable_initial_state_is_the_default_start():
    layer = zl.LSTM(UNITS, trainable_initial_state=True, return_sequences=True)
    x = random_inputs()
    layer.build(x.shape)
    for w in layer.initial_state_weights:
        w.assign(np.random.default_rng(1).normal(size=w.shape))
    np.testing.assert_allclose(stream(layer, x)[0], np.asarray(layer(x)), atol=1e-5)


def test_step_compiles_in_a_tf_function():
    layer = zl.GRU(UNITS)
    layer.build((None, None, FEATURES))
    step = tf.function(layer.step)
    x = random_inputs()
    state = [np.zeros((x.shape[0], UNITS), "float32")]
    output, state = step(x[:, 0], state)
    eager, _ = layer.step(x[:, 0], [np.zeros((x.shape[0], UNITS), "float32")])
    np.testing.assert_allclose(np.asarray(output), np.asarray(eager), atol=1e-6)


def test_step_under_mixed_precision_gives_float16():
    layer = zl.LSTM(UNITS, dtype="mixed_float16")
    output, states = layer.step(random_inputs()[:, 0])
    assert output.dtype == "float16" and {s.dtype for s in states} == {tf.float16}
    assert keras.backend.standardize_dtype(layer.cell.kernel.dtype) == "float32"


def test_bidirectional_cannot_stream_and_says_why():
    with pytest.raises(NotImplementedError, match="backward direction"):
        zl.Bidirectional(zl.LSTM(UNITS)).step(random_inputs()[:, 0])


def test_step_rejects_bad_inputs_and_states():
    layer = zl.LSTM(UNITS)
    with pytest.raises(ValueError, match=r"'inputs'.*\(batch, features\).*\(4, 6, 3\)"):
        layer.step(random_inputs())
    with pytest.raises(ValueError, match=r"'states'.*2 tensor\(s\).*got 1"):
        layer.step(random_inputs()[:, 0], [np.zeros((4, UNITS), "float32")])

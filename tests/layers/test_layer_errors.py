"""Bad arguments raise ValueErrors naming the argument, the value and what is allowed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo.layers as zl


@pytest.mark.parametrize("cls", [zl.SimpleRNN, zl.LSTM, zl.GRU, zl.LSTMCell])
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", None])
def test_invalid_units(cls, units):
    with pytest.raises(ValueError) as info:
        cls(units)
    message = str(info.value)
    assert "'units'" in message
    assert "positive integer" in message
    assert repr(units) in message


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation(argument):
    with pytest.raises(ValueError) as info:
        zl.LSTM(4, **{argument: "tanhh"})
    message = str(info.value)
    assert f"'{argument}'" in message and "'tanhh'" in message and "'tanh'" in message


@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
def test_invalid_dropout(argument):
    with pytest.raises(ValueError, match=rf"'{argument}'.*\[0, 1\).*1\.5"):
        zl.GRU(4, **{argument: 1.5})


@pytest.mark.parametrize(
    "layer", [keras.layers.Dense(3), keras.layers.RNN(keras.layers.LSTMCell(3)), "lstm"]
)
def test_bidirectional_rejects_non_recurrent_layer(layer):
    with pytest.raises(ValueError) as info:
        zl.Bidirectional(layer)
    message = str(info.value)
    assert "'layer'" in message and "zoo recurrent layer" in message
    assert type(layer).__name__ in message


def test_bidirectional_rejects_bad_merge_mode():
    with pytest.raises(ValueError) as info:
        zl.Bidirectional(zl.LSTM(3), merge_mode="max")
    message = str(info.value)
    assert "'merge_mode'" in message and "'max'" in message and "'concat'" in message


def test_bidirectional_rejects_backward_layer_going_forwards():
    with pytest.raises(
        ValueError, match=r"'backward_layer'.*go_backwards=True.*got go_backwards=False"
    ):
        zl.Bidirectional(zl.LSTM(3), backward_layer=zl.LSTM(3))


def test_bidirectional_rejects_mismatched_backward_layer():
    with pytest.raises(ValueError, match=r"'backward_layer'.*return_sequences=False"):
        zl.Bidirectional(
            zl.LSTM(3), backward_layer=zl.LSTM(3, go_backwards=True, return_sequences=True)
        )


@pytest.mark.parametrize(
    "layer", [zl.SimpleRNN(3), zl.LSTM(3), zl.GRU(3), zl.Bidirectional(zl.LSTM(3))]
)
def test_two_dimensional_input(layer):
    with pytest.raises(ValueError) as info:
        layer(np.zeros((2, 5), "float32"))
    message = str(info.value)
    assert "'inputs'" in message and "3-D" in message and "(2, 5)" in message


def test_wrong_number_of_initial_states():
    with pytest.raises(ValueError, match=r"'initial_state'.*2 tensor\(s\).*got 1"):
        zl.LSTM(3)(np.zeros((2, 4, 3), "float32"), initial_state=[np.zeros((2, 3), "float32")])


def test_stateful_needs_static_batch():
    with pytest.raises(ValueError, match=r"'inputs'.*static batch size"):
        zl.GRU(3, stateful=True)(keras.Input((4, 3)))


def test_stateful_and_trainable_initial_state_exclude_each_other():
    with pytest.raises(ValueError, match=r"'stateful=True'.*'trainable_initial_state=True'"):
        zl.LSTM(3, stateful=True, trainable_initial_state=True)


def test_make_recurrent_unknown_cell():
    with pytest.raises(ValueError) as info:
        zl.make_recurrent("lstn", 8)
    message = str(info.value)
    assert "'cell'" in message and "'lstn'" in message
    assert all(name in message for name in ("'simple_rnn'", "'lstm'", "'gru'"))
    assert "Did you mean 'lstm'?" in message

"""Each cell against an independent NumPy implementation of its docstring's equations."""

from __future__ import annotations

import numpy as np
import pytest
from layer_helpers import randomize_weights

import zoo.layers as zl


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def simple_rnn_step(x, state, kernel, recurrent_kernel, bias):
    (h,) = state
    h = np.tanh(x @ kernel + bias + h @ recurrent_kernel)
    return h, [h]


def lstm_step(x, state, kernel, recurrent_kernel, bias):
    h, c = state
    z = x @ kernel + h @ recurrent_kernel + bias
    zi, zf, zc, zo = np.split(z, 4, axis=-1)
    c = sigmoid(zf) * c + sigmoid(zi) * np.tanh(zc)
    h = sigmoid(zo) * np.tanh(c)
    return h, [h, c]


def gru_step(x, state, kernel, recurrent_kernel, bias):  # reset_after=True
    (h,) = state
    (wz, wr, wh), (uz, ur, uh) = np.split(kernel, 3, 1), np.split(recurrent_kernel, 3, 1)
    (bz, br, bh), (rbz, rbr, rbh) = np.split(bias[0], 3), np.split(bias[1], 3)
    z = sigmoid(x @ wz + bz + h @ uz + rbz)
    r = sigmoid(x @ wr + br + h @ ur + rbr)
    hh = np.tanh(x @ wh + bh + r * (h @ uh + rbh))
    h = z * h + (1 - z) * hh
    return h, [h]


def gru_reset_before_step(x, state, kernel, recurrent_kernel, bias):
    (h,) = state
    (wz, wr, wh), (uz, ur, uh) = np.split(kernel, 3, 1), np.split(recurrent_kernel, 3, 1)
    bz, br, bh = np.split(bias, 3)
    z = sigmoid(x @ wz + bz + h @ uz)
    r = sigmoid(x @ wr + br + h @ ur)
    hh = np.tanh(x @ wh + bh + (r * h) @ uh)
    h = z * h + (1 - z) * hh
    return h, [h]


CASES = {
    "simple_rnn": (lambda: zl.SimpleRNN(5, return_sequences=True, return_state=True), 1),
    "lstm": (lambda: zl.LSTM(5, return_sequences=True, return_state=True), 2),
    "gru": (lambda: zl.GRU(5, return_sequences=True, return_state=True), 1),
    "gru_reset_before": (
        lambda: zl.GRU(5, reset_after=False, return_sequences=True, return_state=True),
        1,
    ),
}
STEPS = {
    "simple_rnn": simple_rnn_step,
    "lstm": lstm_step,
    "gru": gru_step,
    "gru_reset_before": gru_reset_before_step,
}


def numpy_rnn(step, x, weights, n_states, mask=None, go_backwards=False):
    """Reference loop: masked steps keep the state; outputs zero until the first
    valid step, then the last valid output (Keras's semantics)."""
    batch, steps, _ = x.shape
    units = weights[1].shape[0]
    state = [np.zeros((batch, units)) for _ in range(n_states)]
    output = np.zeros((batch, units))
    outputs = []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        h, new_state = step(x[:, t], state, *weights)
        m = np.ones((batch, 1), bool) if mask is None else mask[:, t, None]
        state = [np.where(m, n, s) for n, s in zip(new_state, state, strict=True)]
        output = np.where(m, h, output)
        outputs.append(output)
    return np.stack(outputs, axis=1), state


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("cell", list(CASES))
def test_cell_matches_numpy_equations(cell, with_mask, go_backwards):
    make, n_states = CASES[cell]
    layer = make()
    layer.go_backwards = go_backwards
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer)
    mask = None
    if with_mask:
        mask = np.ones((3, 7), bool)
        mask[0, 5:] = False
        mask[1, :2] = False
        mask[2, 3] = False
    outputs, *states = layer(x, mask=mask)
    weights = [w.astype("float64") for w in layer.get_weights()]
    if not layer.cell.use_bias:
        weights.append(0.0)
    expected_outputs, expected_states = numpy_rnn(
        STEPS[cell], x.astype("float64"), weights, n_states, mask, go_backwards
    )
    np.testing.assert_allclose(np.asarray(outputs), expected_outputs, atol=1e-5)
    for got, want in zip(states, expected_states, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


@pytest.mark.parametrize("cell", list(CASES))
def test_single_step_call_matches_numpy(cell):
    make, n_states = CASES[cell]
    layer = make()
    layer.build((None, None, 4))
    randomize_weights(layer)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4)).astype("float32")
    state = [rng.normal(size=(2, 5)).astype("float32") for _ in range(n_states)]
    h, new_state = layer.cell(x, state)
    want_h, want_state = STEPS[cell](
        x.astype("float64"), [s.astype("float64") for s in state], *layer.get_weights()
    )
    np.testing.assert_allclose(np.asarray(h), want_h, atol=1e-5)
    for got, want in zip(new_state, want_state, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)

"""Back-propagation through time against central finite differences, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo.layers as zl

CASES = {
    "simple_rnn": lambda **kw: zl.SimpleRNN(3, dtype="float64", **kw),
    "lstm": lambda **kw: zl.LSTM(3, dtype="float64", **kw),
    "gru": lambda **kw: zl.GRU(3, dtype="float64", **kw),
    "gru_reset_before": lambda **kw: zl.GRU(3, reset_after=False, dtype="float64", **kw),
    "bidirectional_lstm": lambda **kw: zl.Bidirectional(
        zl.LSTM(2, dtype="float64", **kw), dtype="float64"
    ),
    "lstm_trainable_h0": lambda **kw: zl.LSTM(
        3, dtype="float64", trainable_initial_state=True, **kw
    ),
    # No hand-written derivative for softsign: TensorFlow differentiates the loop.
    "gru_softsign_autodiff": lambda **kw: zl.GRU(3, activation="softsign", dtype="float64", **kw),
}


def numeric_gradient(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    flat, gflat = value.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    "options",
    [
        {"return_sequences": True},
        {"return_sequences": False, "go_backwards": True, "masked": True},
    ],
    ids=["sequences", "backwards_masked"],
)
@pytest.mark.parametrize("training", [False, True], ids=["inference_loop", "training_loop"])
@pytest.mark.parametrize("cell", list(CASES))
def test_gradients_match_finite_differences(cell, options, training):
    # training=True runs the loop that stores what BPTT needs, training=False the
    # plain loop whose gradient recomputes it; both must be right.
    options = dict(options)
    masked = options.pop("masked", False)
    layer = CASES[cell](**options)
    rng = np.random.default_rng(0)
    # 5 steps: odd, so the loops' unrolled part and their remainder both run
    x = rng.normal(size=(2, 5, 3))
    mask = (
        np.array([[True, True, True, False, False], [False, True, True, True, True]])
        if masked
        else None
    )
    layer.build(x.shape)
    weights = [rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()]
    layer.set_weights(weights)
    # A loss that weights every output differently, so no gradient cancels out.
    probe = rng.normal(size=np.asarray(layer(x, mask=mask)).shape)
    variables = layer.trainable_weights

    @tf.function  # compiled once: the finite differences call it hundreds of times
    def loss_fn(x, weights):
        for variable, value in zip(variables, weights, strict=True):
            variable.assign(value)
        return tf.reduce_sum(layer(x, mask=mask, training=training) * probe)

    def loss_value():
        return float(loss_fn(x, weights))

    x_var = tf.Variable(x)
    layer.set_weights(weights)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x_var, mask=mask, training=training) * probe)
    grads = tape.gradient(loss, [x_var, *variables])
    assert len(grads) == len(weights) + 1
    np.testing.assert_allclose(grads[0].numpy(), numeric_gradient(loss_value, x), atol=1e-6)
    for grad, weight in zip(grads[1:], weights, strict=True):
        assert grad is not None
        np.testing.assert_allclose(
            np.asarray(grad), numeric_gradient(loss_value, weight), atol=1e-6
        )


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_simple_rnn_in_loop_weight_gradients_match_the_after_loop_product(steps):
    # SimpleRNN sums dU inside the backward loop; with recurrent dropout (which the
    # finite differences above cannot see) it must equal the generic
    # sum_t (mask * h_{t-1})^T d_t computed after the loop (same seed: same masks).
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, steps, 4)))
    layers = [
        zl.SimpleRNN(5, recurrent_dropout=0.4, seed=7, return_sequences=True, dtype="float64")
        for _ in range(2)
    ]
    layers[1].cell.accumulate_in_loop = False
    probe = rng.normal(size=(3, steps, 5))
    grads = []
    for layer in layers:
        layer.build(x.shape)
        layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
        if grads:
            layer.set_weights(layers[0].get_weights())
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) * probe)
        grads.append([g.numpy() for g in tape.gradient(loss, layer.trainable_weights)])
    assert layers[0].cell.accumulate_in_loop
    for ours, generic in zip(*grads, strict=True):
        np.testing.assert_allclose(ours, generic, atol=1e-10)

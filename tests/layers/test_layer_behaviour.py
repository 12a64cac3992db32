"""Masking semantics, trainable initial state, factory, masks, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_helpers import CELLS, FEATURES, UNITS, make_pair, random_inputs, randomize_weights

import zoo.layers as zl


def built(layer, features=FEATURES):
    layer.build((None, None, features))
    randomize_weights(layer)
    return layer


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_masked_steps_do_not_change_state(cell, training):
    ours_cls, _, extra = CELLS[cell]
    layer = built(ours_cls(UNITS, return_sequences=True, return_state=True, **extra))
    x = random_inputs(batch=2, steps=7)
    mask = np.array([[1, 0, 1, 1, 0, 0, 1], [1, 1, 1, 0, 1, 1, 0]], bool)
    sequence, *final = layer(x, mask=mask, training=training)
    # Running only the valid steps gives the same final state ...
    for row in range(2):
        kept = x[row : row + 1, mask[row]]
        _, *expected = layer(kept, training=training)
        for got, want in zip(final, expected, strict=True):
            np.testing.assert_allclose(np.asarray(got)[row], np.asarray(want)[0], atol=1e-5)
    # ... and a masked step repeats the previous output.
    sequence = np.asarray(sequence)
    np.testing.assert_array_equal(sequence[0, 1], sequence[0, 0])
    np.testing.assert_array_equal(sequence[0, 5], sequence[0, 3])
    np.testing.assert_array_equal(sequence[1, 6], sequence[1, 5])


def test_padding_does_not_change_predictions():
    layer = built(zl.LSTM(UNITS))
    x = random_inputs(batch=1, steps=4)
    padded = np.concatenate([x, np.full((1, 3, FEATURES), 9.0, "float32")], axis=1)
    mask = np.array([[True] * 4 + [False] * 3])
    np.testing.assert_allclose(layer(padded, mask=mask), layer(x), atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_reverses_with_masks(cell):
    ours_cls, _, extra = CELLS[cell]
    layer = zl.Bidirectional(ours_cls(UNITS, return_sequences=True, **extra), merge_mode=None)
    layer.build((None, None, FEATURES))
    randomize_weights(layer)
    x = random_inputs(batch=2, steps=6)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    forward, backward = (np.asarray(y) for y in layer(x, mask=mask))
    # The backward direction of the padded row equals the backward layer run on the
    # reversed valid part, read back in input order; padded positions output zeros.
    back = layer.backward_layer
    reference = type(back).from_config({**back.get_config(), "go_backwards": False, "name": "ref"})
    reference.build((None, None, FEATURES))
    reference.set_weights(back.get_weights())
    expected = np.asarray(reference(x[:1, :4][:, ::-1]))[0, ::-1]
    np.testing.assert_allclose(backward[0, :4], expected, atol=1e-5)
    np.testing.assert_array_equal(backward[0, 4:], 0)
    np.testing.assert_array_equal(forward[0, 4:], 0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_trainable_initial_state_is_a_weight_that_learns(cell):
    ours_cls, _, extra = CELLS[cell]
    inputs = keras.Input((5, FEATURES))
    layer = ours_cls(UNITS, trainable_initial_state=True, **extra)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    n_states = 2 if cell == "lstm" else 1
    initial = layer.initial_state_weights
    assert len(initial) == n_states
    assert all(w.trainable and any(w is t for t in layer.trainable_weights) for w in initial)
    before = [np.asarray(w).copy() for w in initial]
    np.testing.assert_array_equal(before[0], 0)  # starts at zeros, like Keras
    x = random_inputs(batch=8, steps=5)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, np.ones((8, 1)), epochs=3, verbose=0)
    for old, w in zip(before, initial, strict=True):
        assert np.abs(np.asarray(w) - old).max() > 1e-3
    # And the learned state is what the layer starts from: h0 is used.
    zero_start = ours_cls.from_config({**layer.get_config(), "trainable_initial_state": False})
    zero_start.build((None, None, FEATURES))
    zero_start.set_weights(layer.cell.get_weights())
    assert not np.allclose(np.asarray(layer(x)), np.asarray(zero_start(x)))


def test_explicit_initial_state_overrides_trainable_one():
    layer = built(zl.GRU(UNITS, trainable_initial_state=True))
    layer.initial_state_weights[0].assign(np.ones(UNITS))
    x = random_inputs()
    zeros = np.zeros((x.shape[0], UNITS), "float32")
    plain = zl.GRU(UNITS)
    plain.build((None, None, FEATURES))
    plain.set_weights(layer.cell.get_weights())
    np.testing.assert_allclose(layer(x, initial_state=[zeros]), plain(x), atol=1e-6)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_make_recurrent(cell):
    layer = zl.make_recurrent(cell, 7, return_sequences=True, name="rec")
    assert isinstance(layer, zl.make_recurrent.__globals__["LAYERS"][cell])
    assert layer.units == 7 and layer.return_sequences and layer.name == "rec"
    wrapped = zl.make_recurrent(cell, 7, bidirectional=True, merge_mode="sum", name="bi")
    assert isinstance(wrapped, zl.Bidirectional)
    assert wrapped.name == "bi" and wrapped.merge_mode == "sum"
    assert np.asarray(wrapped(random_inputs())).shape == (4, 7)
    concat = zl.make_recurrent(cell, 7, bidirectional=True, return_sequences=True)
    assert np.asarray(concat(random_inputs())).shape == (4, 6, 14)


def test_mask_propagates_like_keras():
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    seq = zl.LSTM(3, return_sequences=True)(h)
    last = zl.LSTM(3)(h)
    bi = zl.Bidirectional(zl.GRU(3, return_sequences=True))(h)
    ids = np.array([[1, 2, 0]])
    emb = keras.layers.Embedding(10, 4, mask_zero=True)
    mask = emb.compute_mask(ids)
    assert np.asarray(zl.LSTM(3, return_sequences=True).compute_mask(None, mask)).tolist() == [
        [True, True, False]
    ]
    assert zl.LSTM(3).compute_mask(None, mask) is None
    assert seq.shape == (None, None, 3) and last.shape == (None, 3) and bi.shape == (None, None, 6)


def test_training_dropout_masks_are_fixed_over_time():
    # With input dropout only and a zero recurrent kernel, each step sees x_t * m for
    # one mask m: a step whose input is repeated gives the same output.
    layer = zl.SimpleRNN(UNITS, dropout=0.5, return_sequences=True, seed=3)
    layer.build((None, None, FEATURES))
    layer.cell.recurrent_kernel.assign(np.zeros((UNITS, UNITS)))
    x = np.repeat(random_inputs(steps=1), 5, axis=1)
    out = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(out, np.repeat(out[:, :1], 5, axis=1), atol=1e-6)
    assert not np.allclose(out, np.asarray(layer(x)))


@pytest.mark.parametrize("cell", list(CELLS))
def test_bptt_matches_autodiff_with_recurrent_dropout(cell):
    import tensorflow as tf

    from zoo.layers.loop import _constants, _run_autodiff, run_plain, run_with_bptt

    ours_cls, _, extra = CELLS[cell]
    layer = built(ours_cls(UNITS, **extra))
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(5, 3, FEATURES)), tf.float32)  # time-major
    states = [tf.constant(rng.normal(size=(3, UNITS)), tf.float32) for _ in layer.state_size]
    recurrent_mask = tf.constant(rng.integers(0, 2, size=(3, UNITS)) * 2.0, tf.float32)
    mask = tf.constant(rng.integers(0, 2, size=(5, 3, 1)).astype(bool))
    results = []

    def autodiff(cell, projected, states, mask, recurrent_mask):
        return _run_autodiff(cell, projected, states, _constants(cell), mask, recurrent_mask)

    for run in (autodiff, run_plain, run_with_bptt):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            # the cell's own inputs to the loop: per-gate projections, or (fused
            # step) the inputs themselves
            projected = layer.cell.project_inputs(x)
            seq, final = run(layer.cell, projected, states, mask, recurrent_mask)
            loss = tf.reduce_sum(tf.sin(seq)) + sum(tf.reduce_sum(f * f) for f in final)
        results.append(tape.gradient(loss, [x, *states, *layer.trainable_weights]))
    # the recurrent kernel's gradient
    assert results[0][1 + len(states) + 1] is not None
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_mixed_precision(cell):
    ours_cls, _, extra = CELLS[cell]
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((6, FEATURES))
        h = zl.Bidirectional(ours_cls(UNITS, return_sequences=True, **extra))(inputs)
        h = ours_cls(UNITS, **extra)(h)
        outputs = keras.layers.Dense(1, dtype="float32")(h)
        model = keras.Model(inputs, outputs)
        x = random_inputs(batch=8)
        assert model.layers[2].compute_dtype == "float16"
        assert model.layers[2].cell.kernel.dtype == "float32"
        model.compile("adam", "mse")
        history = model.fit(x, np.ones((8, 1)), epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert np.isfinite(np.asarray(model(x, training=False))).all()
    finally:
        keras.mixed_precision.set_global_policy(policy)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_gradient_outside_portable_loops_matches_keras(cell, training):
    """A forward pass run inside `portable_loops` (hoisted inputs, one step per
    iteration) whose gradient is taken outside it (where the LSTM runs the fused-input
    step) still gets Keras's gradients: the gradient keeps its forward pass's layout."""
    import tensorflow as tf

    from zoo.layers.loop import portable_loops

    ours, theirs = make_pair(cell, return_sequences=True)
    x = tf.constant(random_inputs())
    grads = []
    for layer, context in ((ours, portable_loops), (theirs, None)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if context is None:
                y = layer(x, training=training)
            else:
                with context():
                    y = layer(x, training=training)
            loss = tf.reduce_sum(tf.sin(y))
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)

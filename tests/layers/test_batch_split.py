"""A batch run as two loops (`zoo.layers.loop.run_split`) gives Keras's values and
gradients; `zoo.layers.autotune.split_batch` decides by measurement (stubbed here, so the
choice is known), once per shape, never below the size threshold, never inside a
Bidirectional wrapper or for the converters' portable loops."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import CELLS, assert_same_outputs, make_pair, masks, random_inputs

import zoo.layers as zl
from zoo.layers import autotune, loop


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("batch", [5, 2])
@pytest.mark.parametrize("mask_name", [None, "left", "empty_row"])
def test_split_batch_equals_keras_in_values_and_gradients(cell, batch, mask_name):
    ours, theirs = make_pair(cell, return_sequences=True, return_state=True)
    ours.batch_parts = 2
    x = tf.constant(random_inputs(batch=batch, seed=3))
    mask = None if mask_name is None else tf.constant(masks(batch=5)[mask_name][:batch])
    assert_same_outputs(ours(x, mask=mask), theirs(x, mask=mask))

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out, *states = layer(x, mask=mask, training=True)
            loss = tf.reduce_sum(out * out) + sum(tf.reduce_sum(s) for s in states)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    for a, b in zip(gradients(ours), gradients(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell", ["simple_rnn", "gru"])
def test_split_batch_with_an_unknown_batch_initial_state_and_go_backwards(cell):
    ours, theirs = make_pair(cell, go_backwards=True)
    ours.batch_parts = 2
    x = tf.constant(random_inputs(batch=7, seed=4))
    h0 = tf.constant(np.random.default_rng(5).normal(size=(7, 5)).astype("float32"))
    spec = tf.TensorSpec((None, None, 3), tf.float32)
    traced = tf.function(lambda x, h0: ours(x, initial_state=[h0]))
    run = traced.get_concrete_function(spec, tf.TensorSpec((None, 5), tf.float32))
    assert_same_outputs(run(x, h0), theirs(x, initial_state=[h0]))


def test_run_split_keeps_per_gate_dropout_masks_row_by_row():
    # The loop level: a tuple of per-gate recurrent dropout masks is cut like the batch.
    layer = zl.GRU(5)
    layer.build((None, None, 3))
    x = tf.constant(random_inputs(batch=6, seed=6))
    projected, _ = layer._project(x, None, None)
    rng = np.random.default_rng(7)
    drop = tuple(tf.constant((rng.random((6, 5)) > 0.3).astype("float32")) for _ in range(3))
    init = [tf.zeros((6, 5))]

    def both(run):
        with tf.GradientTape() as tape:
            tape.watch(projected)
            seq, final = run(layer.cell, projected, init, None, drop)
            loss = tf.reduce_sum(seq * seq) + tf.reduce_sum(final[0])
        return [seq, *final, *tape.gradient(loss, list(projected))]

    whole = both(loop.run_with_bptt)
    split = both(lambda *a: loop.run_split(loop.run_with_bptt, *a, parts=2))
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


@pytest.fixture
def stub(monkeypatch):
    """Replace the timing with a table: ``calls`` records each measured shape."""
    calls, table = [], {}

    def measure_split(layer_class, batch, features, units, steps):
        calls.append((layer_class.__name__, batch, features, units, steps, tf.executing_eagerly()))
        return table[units]

    monkeypatch.setattr(autotune, "measure_split", measure_split)
    monkeypatch.setattr(autotune, "BATCH_SPLIT", "auto")
    monkeypatch.setattr(autotune, "_chosen", {})
    return calls, table


@pytest.mark.parametrize("faster", ["split", "whole"])
def test_the_layer_runs_what_was_measured_faster_once_per_shape(stub, faster, monkeypatch):
    calls, table = stub
    table[256] = {faster: 0.01, {"split": "whole", "whole": "split"}[faster]: 0.02}
    seen = []
    real = loop.run_split
    monkeypatch.setattr("zoo.layers.recurrent.run_split", lambda *a: seen.append(a[-1]) or real(*a))
    layer = zl.SimpleRNN(256, return_sequences=True)
    x = tf.zeros((64, 3, 5))
    tf.function(lambda x: layer(x))(x)  # traced: the timing still runs eagerly
    layer(x)
    assert calls == [("SimpleRNN", 64, 5, 256, 3, True)]  # once for this shape, eagerly
    assert set(seen) == ({2} if faster == "split" else set())  # one entry per trace


def test_no_split_below_the_threshold_in_bidirectional_or_portable_loops(stub):
    calls, table = stub
    table[256] = table[1024] = {"split": 0.01, "whole": 0.02}
    assert not autotune.split_batch(zl.GRU, 4, 5, 256)  # 4 x 256 < MIN_MEASURED_SIZE
    assert not autotune.split_batch(zl.GRU, 1, 5, 100_000)  # one example: nothing to split
    wrapper = zl.Bidirectional(zl.GRU(256, return_sequences=True))
    wrapper(tf.zeros((64, 3, 5)))
    assert wrapper.forward_layer._batch_parts(tf.zeros((64, 3, 5))) == 1
    layer = zl.GRU(256)
    layer.build((None, None, 5))
    with loop.portable_loops():
        assert layer._batch_parts(tf.zeros((64, 3, 5))) == 1
    assert calls == []
    assert layer._batch_parts(tf.zeros((64, 3, 5))) == 2  # and measured outside them
    assert autotune.split_batch(zl.GRU, None, 5, 1024)  # unknown batch: DEFAULT_BATCH
    assert calls[-1] == ("GRU", autotune.DEFAULT_BATCH, 5, 1024, autotune.DEFAULT_STEPS, True)
    autotune.split_batch(zl.GRU, 64, 5, 1024, steps=500)  # long: timed over at most 128
    assert calls[-1] == ("GRU", 64, 5, 1024, autotune.MAX_MEASURED_STEPS, True)


def test_fixed_setting_skips_the_measurement_and_a_bad_one_is_named(stub, monkeypatch):
    calls, _ = stub
    monkeypatch.setattr(autotune, "BATCH_SPLIT", "on")
    assert autotune.split_batch(zl.SimpleRNN, 8, 5, 4) and calls == []
    monkeypatch.setattr(autotune, "BATCH_SPLIT", "off")
    assert not autotune.split_batch(zl.SimpleRNN, 64, 5, 256) and calls == []
    monkeypatch.setattr(autotune, "BATCH_SPLIT", "yes")
    with pytest.raises(ValueError, match=r"ZOO_BATCH_SPLIT.*'auto', 'on', 'off'.*'yes'"):
        autotune.split_batch(zl.SimpleRNN, 64, 5, 256)


def test_measure_split_times_both_and_leaves_no_setting_behind():
    seconds = autotune.measure_split(zl.GRU, 8, 4, 16, steps=4, repeats=2)
    assert set(seconds) == {"split", "whole"} and min(seconds.values()) > 0
    assert zl.GRU(4).batch_parts is None  # the timed layers' settings are their own


def test_choices_name_what_was_measured(stub, monkeypatch):
    calls, table = stub
    table[256] = {"split": 0.01, "whole": 0.02}
    table[512] = {"split": 0.03, "whole": 0.02}
    autotune.split_batch(zl.GRU, 64, 5, 256, steps=100)
    autotune.split_batch(zl.SimpleRNN, 64, 5, 512)
    monkeypatch.setitem(autotune._chosen, ("lstm_step", 64, 5, 256), False)
    assert autotune.choices() == [
        "GRU 64x5x256 (batch x features x units), 100 steps: two half-batch loops",
        "SimpleRNN 64x5x512 (batch x features x units), 64 steps: one loop",
        "Bidirectional LSTM 64x5x256 (batch x features x units): per-gate step",
    ]

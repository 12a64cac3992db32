"""`zoo.layers.autotune`: the Bidirectional LSTM's step layout follows the measurement
(stubbed here, so the choice is known), is measured once per shape, is never measured
below the size threshold, and can be fixed; the real measurement times both layouts."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo.layers as zl
from zoo.layers import autotune


@pytest.fixture
def stub(monkeypatch):
    """Replace the timing with a table: ``calls`` records each measured shape."""
    calls, table = [], {}

    def measure(batch, features, units, layer_class=None):
        assert layer_class is zl.LSTM
        calls.append((batch, features, units, tf.executing_eagerly()))
        return table[units]

    monkeypatch.setattr(autotune, "measure", measure)
    monkeypatch.setattr(autotune, "LSTM_STEP", "auto")
    monkeypatch.setattr(autotune, "_chosen", {})
    return calls, table


@pytest.mark.parametrize("faster", ["wide", "per_gate"])
def test_bidirectional_lstm_runs_the_layout_measured_faster_once_per_shape(stub, faster):
    calls, table = stub
    slower = {"wide": "per_gate", "per_gate": "wide"}[faster]
    table[256] = {faster: 0.01, slower: 0.02}
    layer = zl.Bidirectional(zl.LSTM(256, return_sequences=True))
    x = tf.zeros((64, 3, 5))
    tf.function(lambda x: layer(x))(x)  # traced: the timing still runs eagerly
    layer(x)
    assert layer.forward_layer.cell.wide is (faster == "wide")
    assert layer.backward_layer.cell.wide is (faster == "wide")
    assert calls == [(64, 5, 256, True)]  # measured once for this shape, eagerly


def test_small_directions_run_per_gate_without_measuring(stub):
    calls, _ = stub
    layer = zl.Bidirectional(zl.LSTM(8, return_sequences=True))
    layer(tf.zeros((4, 3, 5)))
    assert calls == [] and not layer.forward_layer.cell.wide


def test_unknown_batch_is_measured_at_the_default_batch(stub):
    calls, table = stub
    table[512] = {"wide": 0.01, "per_gate": 0.02}
    assert autotune.wide_lstm_step(None, 7, 512, zl.LSTM)
    assert calls == [(autotune.DEFAULT_BATCH, 7, 512, True)]


def test_fixed_layout_skips_the_measurement_and_a_bad_one_is_named(stub, monkeypatch):
    calls, _ = stub
    monkeypatch.setattr(autotune, "LSTM_STEP", "wide")
    assert autotune.wide_lstm_step(64, 5, 256, zl.LSTM) and calls == []
    monkeypatch.setattr(autotune, "LSTM_STEP", "widest")
    with pytest.raises(ValueError, match=r"ZOO_LSTM_STEP.*'auto', 'wide', 'per_gate'.*'widest'"):
        autotune.wide_lstm_step(64, 5, 256, zl.LSTM)


def test_measure_times_both_layouts_and_the_choice_keeps_values():
    seconds = autotune.measure(8, 4, 16, steps=4, repeats=2, layer_class=zl.LSTM)
    assert set(seconds) == {"wide", "per_gate"} and min(seconds.values()) > 0
    # Inside a traced function the measurement runs eagerly and the layer still works.
    layer = zl.Bidirectional(zl.LSTM(16, return_sequences=True))
    x = tf.random.stateless_normal((8, 4, 4), seed=[1, 2])
    eager = layer(x)
    traced = tf.function(lambda x: layer(x))(x)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), atol=1e-6)


def test_measurement_works_inside_a_strategys_replica_function(monkeypatch):
    # A replica function of a strategy traces the layer: the measurement (which builds
    # layers of its own) runs there too, and the result equals the plain call.
    monkeypatch.setattr(autotune, "LSTM_STEP", "auto")
    monkeypatch.setattr(autotune, "_chosen", {})
    monkeypatch.setattr(autotune, "MIN_MEASURED_SIZE", 1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        layer = zl.Bidirectional(zl.LSTM(8, return_sequences=True))
        layer.build((4, 3, 5))
    x = tf.random.stateless_normal((4, 3, 5), seed=[3, 4])
    out = strategy.run(tf.function(lambda x: layer(x)), args=(x,))
    assert list(autotune._chosen) == [("lstm_step", 4, 5, 8)]
    np.testing.assert_allclose(np.asarray(out), np.asarray(layer(x)), atol=1e-6)

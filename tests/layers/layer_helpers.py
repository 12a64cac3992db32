"""Shared helpers of the layer tests: pairs of (ours, Keras's) layers with the same weights."""

from __future__ import annotations

import keras
import numpy as np

import zoo.layers as zl

# name -> (our class, Keras class, extra constructor kwargs)
CELLS = {
    "simple_rnn": (zl.SimpleRNN, keras.layers.SimpleRNN, {}),
    "lstm": (zl.LSTM, keras.layers.LSTM, {}),
    "gru": (zl.GRU, keras.layers.GRU, {}),
    "gru_reset_before": (zl.GRU, keras.layers.GRU, {"reset_after": False}),
}
BATCH, STEPS, FEATURES, UNITS = 4, 6, 3, 5
ATOL = 1e-5


def random_inputs(batch=BATCH, steps=STEPS, features=FEATURES, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype(dtype)


def masks(batch=BATCH, steps=STEPS):
    """Named (batch, steps) bool masks: right-padded, left-padded, one fully masked row,
    holes in the middle."""
    right = np.ones((batch, steps), bool)
    right[1, 4:] = False
    right[2, 2:] = False
    left = np.ones((batch, steps), bool)
    left[1, :3] = False
    left[3, :1] = False
    empty_row = right.copy()
    empty_row[0, :] = False
    holes = np.ones((batch, steps), bool)
    holes[0, [1, 3]] = False
    holes[2, [0, 5]] = False
    return {"right": right, "left": left, "empty_row": empty_row, "holes": holes}


def randomize_weights(layer, seed=1):
    """Give `layer` random (not initializer) weights, so biases are non-zero too."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])


def make_pair(cell, units=UNITS, features=FEATURES, **kwargs):
    """(ours, keras) built on ``(None, None, features)`` inputs with equal random weights."""
    ours_cls, keras_cls, extra = CELLS[cell]
    kwargs = {**extra, **kwargs}
    theirs = keras_cls(units, **kwargs)
    ours = ours_cls(units, **kwargs)
    return sync(ours, theirs, features)


def sync(ours, theirs, features=FEATURES, batch=None):
    shape = (batch, None, features)
    theirs.build(shape)
    ours.build(shape)
    randomize_weights(theirs)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def assert_same_outputs(ours, theirs, atol=ATOL):
    ours, theirs = as_list(ours), as_list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)

"""Keras's own test files for its recurrent layers, run against ours.

`keras/src/layers/rnn/{simple_rnn,lstm,gru,bidirectional}_test.py` ship in the
installed keras wheel; each does ``from keras.src import layers`` and builds
``layers.LSTM(...)`` etc. Here each module's ``layers`` is replaced by a namespace whose
`SimpleRNN`, `LSTM`, `GRU` and `Bidirectional` are `zoo.layers`' and everything else
Keras's, and its test classes are collected under new names. Nothing is copied into
the repository. Skipped: only tests of Keras-private methods, each with its reason.
"""

from __future__ import annotations

import importlib
import types
import unittest

from keras.src import layers as keras_layers

import zoo.layers as zl

OURS = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")

#: test method -> why it cannot run against another implementation
PRIVATE = {
    "test_fused_lstm_eligibility": (
        "calls Keras's private Bidirectional._can_attempt_fused_lstm (the cuDNN fast "
        "path's eligibility); zoo.layers.Bidirectional has no fused cuDNN path"
    ),
    "test_fused_gru_eligibility": (
        "calls Keras's private Bidirectional._can_attempt_fused_gru (as above)"
    ),
}


def _namespace():
    """`keras.src.layers` with our four recurrent layers in place of Keras's."""
    names = {name: getattr(keras_layers, name) for name in dir(keras_layers)}
    names.update({name: getattr(zl, name) for name in OURS})
    return types.SimpleNamespace(**names)


def _on_our_layers(module_name, class_name, name):
    """Keras's test class `class_name` of `module_name`, with ``layers`` pointing at
    ours, as a subclass whose private-method tests are skipped."""
    module = importlib.import_module(f"keras.src.layers.rnn.{module_name}")
    module.layers = _namespace()
    keras_class = getattr(module, class_name)
    skips = {
        name: unittest.skip(reason)(getattr(keras_class, name))
        for name, reason in PRIVATE.items()
        if hasattr(keras_class, name)
    }
    return type(name, (keras_class,), skips)


KerasSimpleRNNTest = _on_our_layers("simple_rnn_test", "SimpleRNNTest", "KerasSimpleRNNTest")
KerasLSTMTest = _on_our_layers("lstm_test", "LSTMTest", "KerasLSTMTest")
KerasGRUTest = _on_our_layers("gru_test", "GRUTest", "KerasGRUTest")
# (Keras names its Bidirectional test class SimpleRNNTest too)
KerasBidirectionalTest = _on_our_layers(
    "bidirectional_test", "SimpleRNNTest", "KerasBidirectionalTest"
)


def test_keras_test_modules_use_our_layers():
    # The substitution itself: otherwise the classes above would test Keras's layers.
    for module_name in ("simple_rnn_test", "lstm_test", "gru_test", "bidirectional_test"):
        module = importlib.import_module(f"keras.src.layers.rnn.{module_name}")
        for name in OURS:
            assert getattr(module.layers, name) is getattr(zl, name)
        assert module.layers.Dense is keras_layers.Dense

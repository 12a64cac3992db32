"""Every constructor argument of Keras's recurrent layers, with Keras's meaning: the
argument properties, Keras configs through `from_config`, ``unroll``,
``implementation``, ``use_cudnn``, mixed-precision dtypes, and `Bidirectional` over a
Keras layer. The reference is always the Keras layer itself."""

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
    randomize_weights,
    sync,
)

import zoo.layers as zl
from zoo.layers.cudnn import keras_rnn_module

KERAS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
OURS = {"simple_rnn": zl.SimpleRNN, "lstm": zl.LSTM, "gru": zl.GRU}

# Non-default values of every argument the three Keras layers share.
SHARED_ARGS = {
    "activation": "relu",
    "use_bias": False,
    "kernel_initializer": "he_normal",
    "recurrent_initializer": "glorot_normal",
    "bias_initializer": "ones",
    "kernel_regularizer": "l2",
    "recurrent_regularizer": "l1",
    "bias_regularizer": "l1",
    "activity_regularizer": "l2",
    "kernel_constraint": "non_neg",
    "recurrent_constraint": "unit_norm",
    "bias_constraint": "max_norm",
    "dropout": 0.25,
    "recurrent_dropout": 0.5,
    "seed": 3,
    "return_sequences": True,
    "return_state": True,
    "go_backwards": True,
    "stateful": True,
    "unroll": True,
}
EXTRA_ARGS = {
    "simple_rnn": {},
    "lstm": {"recurrent_activation": "hard_sigmoid", "unit_forget_bias": False},
    "gru": {"recurrent_activation": "hard_sigmoid", "reset_after": False},
}
PROPERTIES = [
    "units",
    "activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
]


def _comparable(value):
    """A property value as something == can compare across two layer instances."""
    if callable(value) and not isinstance(value, type):
        try:
            return keras.saving.serialize_keras_object(value)
        except (TypeError, ValueError):
            return value
    return value


@pytest.mark.parametrize("cell", list(KERAS))
def test_argument_properties_equal_keras(cell):
    kwargs = {**SHARED_ARGS, **EXTRA_ARGS[cell]}
    ours, theirs = OURS[cell](4, **kwargs), KERAS[cell](4, **kwargs)
    names = PROPERTIES + [n for n in EXTRA_ARGS[cell] if n != "recurrent_activation"]
    if cell != "simple_rnn":
        names += ["recurrent_activation", "use_cudnn"]
    for name in names:
        assert _comparable(getattr(ours, name)) == _comparable(getattr(theirs, name)), name
    assert ours.dropout == 0.25 and ours.units == 4


@pytest.mark.parametrize("cell", list(KERAS))
def test_from_config_of_a_keras_config(cell):
    kwargs = {**SHARED_ARGS, **EXTRA_ARGS[cell], "stateful": False, "dropout": 0.0}
    theirs = KERAS[cell](UNITS, **kwargs)
    config = theirs.get_config()
    ours = OURS[cell].from_config(config)
    for key, value in config.items():
        if key != "dtype":
            assert ours.get_config()[key] == value, key
    ours, theirs = sync(ours, theirs, batch=None)
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["left"]), theirs(x, mask=masks()["left"]))


@pytest.mark.parametrize("cell", list(CELLS))
def test_from_config_of_default_keras_layers(cell):
    ours_cls, keras_cls, extra = CELLS[cell]
    ours = ours_cls.from_config(keras_cls(8, **extra).get_config())
    assert ours.units == 8 and not ours.unroll


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("mask_name", [None, "left", "holes"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_unroll_matches_keras_in_value_and_gradient(cell, mask_name, training):
    ours, theirs = make_pair(cell, unroll=True, return_sequences=True, return_state=True)
    x = tf.constant(random_inputs())
    mask = None if mask_name is None else masks()[mask_name]
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, mask=mask, training=training)
            loss = sum(tf.reduce_sum(tf.sin(y)) for y in outputs)
        results.append((outputs, tape.gradient(loss, [x, *layer.trainable_weights])))
    assert_same_outputs(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_unroll_builds_one_step_per_time_step_without_a_while_loop():
    layer = zl.GRU(3, unroll=True)
    graph = tf.function(lambda x: layer(x)).get_concrete_function(tf.TensorSpec((2, 4, 3))).graph
    types = [op.type for op in graph.get_operations()]
    assert "While" not in types and "StatelessWhile" not in types
    assert types.count("Sigmoid") == 2 * 4  # z and r gates, 4 steps


def test_unroll_needs_a_static_number_of_steps():
    layer = zl.LSTM(3, unroll=True)
    fn = tf.function(lambda x: layer(x))
    with pytest.raises(ValueError, match=r"'unroll'.*static number of timesteps"):
        fn.get_concrete_function(tf.TensorSpec((None, None, 2)))


@pytest.mark.parametrize("implementation", [0, 1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_implementation_is_recorded_and_does_not_change_outputs(cell, implementation):
    ours, theirs = make_pair(cell, implementation=implementation, return_sequences=True)
    assert ours.implementation == implementation == ours.cell.implementation
    assert ours.get_config()["implementation"] == implementation
    x = random_inputs()
    assert_same_outputs(ours(x), theirs(x))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"implementation": 3}, "implementation"),
        ({"use_cudnn": "yes"}, "use_cudnn"),
        ({"use_cudnn": 1}, "use_cudnn"),
        ({"unroll": "no"}, "unroll"),
        ({"zero_output_for_mask": None}, "zero_output_for_mask"),
    ],
)
def test_bad_keras_arguments_are_named(kwargs, argument):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"'{argument}'.*{value!r}"):
        zl.LSTM(3, **kwargs)


def test_simple_rnn_has_no_use_cudnn_like_keras():
    for layer_cls in (keras.layers.SimpleRNN, zl.SimpleRNN):
        with pytest.raises(ValueError, match="use_cudnn"):
            layer_cls(3, use_cudnn=False)


@pytest.mark.parametrize("use_cudnn", ["auto", True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_use_cudnn_is_serialized_and_kept_by_bidirectional(cell, use_cudnn):
    layer = OURS[cell](3, use_cudnn=use_cudnn)
    assert type(layer).from_config(layer.get_config()).use_cudnn == use_cudnn
    wrapper = zl.Bidirectional(layer)
    assert wrapper.forward_layer.use_cudnn == wrapper.backward_layer.use_cudnn == use_cudnn


class _FakeKernel:
    """Stands in for Keras's cuDNN kernels: records calls, returns Keras's results."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, inputs, *states, **kwargs):
        self.calls.append(kwargs)
        layer = keras.layers.RNN(
            keras.layers.LSTMCell(states[0].shape[-1])
            if len(states) == 2
            else keras.layers.GRUCell(states[0].shape[-1], reset_after=kwargs["reset_after"]),
            return_sequences=True,
            return_state=True,
            go_backwards=kwargs["go_backwards"],
        )
        layer.build(inputs.shape)
        bias = kwargs["bias"]
        layer.set_weights([kwargs["kernel"], kwargs["recurrent_kernel"], bias])
        outputs, *final = layer(inputs, initial_state=list(states), mask=kwargs["mask"])
        return outputs[:, -1], outputs, final


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cudnn_kernel_runs_only_for_training_and_not_on_this_cpu(cell, monkeypatch):
    # On this CPU Keras's kernel refuses (NotImplementedError) and the portable loop
    # runs: no Cudnn op in any graph.
    ours, theirs = make_pair(cell, return_sequences=True)
    x = tf.constant(random_inputs())
    for training in (False, True):
        graph = tf.function(lambda x, t=training: ours(x, training=t))
        types = {op.type for op in graph.get_concrete_function(x).graph.get_operations()}
        assert not any("Cudnn" in t for t in types)
    # Where Keras's kernel runs (a GPU), it runs for training calls only.
    module = keras_rnn_module()
    fake = _FakeKernel(getattr(module, cell))
    monkeypatch.setattr(module, cell, fake)
    assert_same_outputs(ours(x, training=False), theirs(x))
    assert fake.calls == []
    assert_same_outputs(ours(x, training=True), theirs(x))
    assert len(fake.calls) == 1
    ours.use_cudnn = False
    ours(x, training=True)
    assert len(fake.calls) == 1


MERGE_MODES = ["concat", "sum", None]


@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("cell", list(CELLS))
def test_mixed_precision_dtypes_equal_keras(cell, merge_mode):
    ours_cls, keras_cls, extra = CELLS[cell]
    x = random_inputs()
    kwargs = {**extra, "return_state": True, "return_sequences": True}
    pairs = [
        (
            ours_cls(UNITS, dtype="mixed_float16", **kwargs),
            keras_cls(UNITS, dtype="mixed_float16", **kwargs),
        ),
        (
            zl.Bidirectional(
                ours_cls(UNITS, **kwargs), merge_mode=merge_mode, dtype="mixed_float16"
            ),
            keras.layers.Bidirectional(
                keras_cls(UNITS, **kwargs), merge_mode=merge_mode, dtype="mixed_float16"
            ),
        ),
    ]
    for ours, theirs in pairs:
        got = [t.dtype for t in keras.tree.flatten(ours(x))]
        want = [t.dtype for t in keras.tree.flatten(theirs(x))]
        assert got == want
        assert {w.dtype for w in ours.weights} == {"float32"}


@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_converts_a_keras_layer(cell):
    _, keras_cls, extra = CELLS[cell]
    wrapper = zl.Bidirectional(keras_cls(UNITS, return_sequences=True, **extra))
    assert isinstance(wrapper.forward_layer, zl.RNNLayerBase)
    assert isinstance(wrapper.backward_layer, zl.RNNLayerBase)
    theirs = keras.layers.Bidirectional(keras_cls(UNITS, return_sequences=True, **extra))
    ours, theirs = sync(wrapper, theirs)
    x = random_inputs()
    assert_same_outputs(ours(x, mask=masks()["right"]), theirs(x, mask=masks()["right"]))


def test_bidirectional_keeps_a_built_keras_backward_layers_weights():
    # As Keras: `layer` is recreated from its config, `backward_layer` is used as is.
    backward = keras.layers.GRU(UNITS, go_backwards=True)
    backward.build((None, None, FEATURES))
    randomize_weights(backward)
    wrapper = zl.Bidirectional(zl.GRU(UNITS), backward_layer=backward)
    for a, b in zip(wrapper.backward_layer.get_weights(), backward.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_weights_argument_sets_initial_weights():
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(UNITS))
    theirs.build((None, None, FEATURES))
    randomize_weights(theirs)
    ours = zl.Bidirectional(zl.LSTM(UNITS), weights=theirs.get_weights())
    x = random_inputs()
    assert_same_outputs(ours(x), theirs(x))


@pytest.mark.parametrize("merge_mode", ["concat", None])
@pytest.mark.parametrize("return_state", [False, True])
def test_output_structures_equal_keras(return_state, merge_mode):
    x = random_inputs()
    pairs = [
        (
            zl.LSTM(UNITS, return_state=return_state),
            keras.layers.LSTM(UNITS, return_state=return_state),
        ),
        (
            zl.Bidirectional(zl.GRU(UNITS, return_state=return_state), merge_mode=merge_mode),
            keras.layers.Bidirectional(
                keras.layers.GRU(UNITS, return_state=return_state), merge_mode=merge_mode
            ),
        ),
    ]
    for ours, theirs in pairs:
        assert type(ours(x)) is type(theirs(x))
        shape = (None, None, FEATURES)
        assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


DROPOUTS = [
    {"dropout": 0.3},
    {"recurrent_dropout": 0.4},
    {"dropout": 0.3, "recurrent_dropout": 0.4},
    # Keras's cuDNN-path check breaks on per-gate input masks without use_cudnn=False
    {"dropout": 0.3, "implementation": 1, "use_cudnn": False},
]


@pytest.mark.parametrize("kwargs", DROPOUTS, ids=lambda k: "-".join(sorted(k)))
@pytest.mark.parametrize("cell", list(CELLS))
def test_training_with_dropout_equals_keras_with_the_same_seed(cell, kwargs):
    # Same masks as Keras (one shared, or one per gate under implementation 1), so the
    # training outputs and gradients are Keras's, not just alike in distribution.
    if cell == "simple_rnn" and "implementation" in kwargs:
        pytest.skip("SimpleRNN has no implementation argument")
    ours, theirs = make_pair(cell, seed=5, return_sequences=True, return_state=True, **kwargs)
    x = tf.constant(random_inputs())
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            outputs = layer(x, mask=masks()["holes"], training=True)
            loss = sum(tf.reduce_sum(tf.sin(y)) for y in outputs)
        results.append((outputs, tape.gradient(loss, layer.trainable_weights)))
    assert_same_outputs(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        # float32 sums in another order: relative 1e-6 on gradients of size ~20
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    if cell != "simple_rnn":
        per_gate = "recurrent_dropout" in kwargs or "implementation" in kwargs
        assert ours.implementation == theirs.cell.implementation == (1 if per_gate else 2)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_our_cells_in_keras_rnn_apply_dropout_like_keras_cells(cell):
    ours_cls = {"simple_rnn": zl.SimpleRNNCell, "lstm": zl.LSTMCell, "gru": zl.GRUCell}[cell]
    keras_cls = {
        "simple_rnn": keras.layers.SimpleRNNCell,
        "lstm": keras.layers.LSTMCell,
        "gru": keras.layers.GRUCell,
    }[cell]
    kwargs = {"dropout": 0.3, "recurrent_dropout": 0.4, "seed": 3}
    ours = keras.layers.RNN(ours_cls(UNITS, **kwargs), return_sequences=True)
    theirs = keras.layers.RNN(keras_cls(UNITS, **kwargs), return_sequences=True)
    ours, theirs = sync(ours, theirs)
    x = random_inputs()
    assert_same_outputs(ours(x, training=True), theirs(x, training=True))
    assert_same_outputs(ours(x), theirs(x))


def test_wide_bidirectional_lstm_with_recurrent_dropout_equals_keras(monkeypatch):
    # Per-gate recurrent masks turn off the wide step of large Bidirectional LSTMs.
    from zoo.layers import autotune

    monkeypatch.setattr(autotune, "LSTM_STEP", "wide")
    kwargs = {
        "units": 256,
        "recurrent_dropout": 0.4,
        "seed": 2,
        "return_sequences": True,
    }
    ours = zl.Bidirectional(zl.LSTM(**kwargs))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(**kwargs))
    ours, theirs = sync(ours, theirs)
    x = tf.constant(random_inputs())
    ours(x)
    assert ours.forward_layer.cell.wide and not ours.forward_layer.cell.wide_step
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(y))
        grads.append((y, tape.gradient(loss, layer.trainable_weights)))
    assert_same_outputs(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        # sums over 256 units: float32 rounding differs by ~1e-5 between the two orders
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4, rtol=1e-4)

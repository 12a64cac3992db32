"""Our loops compile with XLA (Keras's `jit_compile="auto"` turns XLA on for models
on GPU machines) and give the same outputs and gradients as without it."""

import numpy as np
import pytest
import tensorflow as tf
from layer_helpers import ATOL, CELLS, UNITS, masks, random_inputs, randomize_weights

import zoo.layers as zl


@pytest.mark.parametrize(
    ("cell", "return_sequences"),
    [
        ("lstm", True),
        ("gru", False),
        pytest.param("gru_reset_before", True, marks=pytest.mark.slow),
        pytest.param("simple_rnn", False, marks=pytest.mark.slow),
    ],
)
def test_xla_compiled_forward_and_gradient_match_graph(cell, return_sequences):
    ours_cls, _, extra = CELLS[cell]
    layer = zl.Bidirectional(ours_cls(UNITS, return_sequences=return_sequences, **extra))
    x = tf.constant(random_inputs())
    mask = tf.constant(masks()["left"])
    layer(x)
    randomize_weights(layer)

    def forward(x):
        return layer(x, mask=mask, training=False)

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(layer(x, mask=mask, training=True)))
        return tape.gradient(loss, [x, *layer.trainable_weights])

    for fn in (forward, gradient):
        expected = tf.function(fn, jit_compile=False)(x)
        compiled = tf.function(fn, jit_compile=True)(x)
        for a, b in zip(tf.nest.flatten(compiled), tf.nest.flatten(expected), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL)

"""`SimpleRNN`: the fully connected recurrent layer, and its cell."""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.layers.cell import RecurrentCell, activation_grad
from zoo.layers.recurrent import RNNLayerBase


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNNCell(RecurrentCell):
    """One step of a fully connected RNN.

    Equation (``W`` = ``kernel``, ``U`` = ``recurrent_kernel``, ``b`` = ``bias``)::

        h_t = activation(x_t @ W + b + h_{t-1} @ U)

    Shapes: ``x_t`` ``(batch, input_dim)``, ``h_{t-1}``/``h_t`` ``(batch, units)``;
    ``W`` ``(input_dim, units)``, ``U`` ``(units, units)``, ``b`` ``(units,)``.
    The output is ``h_t``; the state is ``[h_t]``. Dropout (training only) multiplies
    ``x_t`` and ``h_{t-1}`` (in the product with ``U``) by masks drawn once per sequence.
    """

    accumulate_in_loop = True
    splits_batch = True  # may run its batch as two loops (`zoo.layers.autotune`)

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)  # SimpleRNN has no gates
        super().__init__(units, activation=activation, **kwargs)

    def step(self, projected, states, constants, recurrent_mask=None):
        h_prev = states[0]
        if recurrent_mask is not None:
            h_prev = h_prev * recurrent_mask
        h = self.activation(self.pre_activations(projected, [h_prev], constants)[0])
        return h, [h]

    def forward_step(self, projected, states, constants, recurrent_mask=None, save=True):
        _, new_states = self.step(projected, states, constants, recurrent_mask)
        return new_states, ()

    def backward_step(self, d_states, saved, prev_states, states, constants, recurrent_mask):
        d_pre = activation_grad(self.activation)(states[0], d_states[0])
        d_prev = tf.matmul(d_pre, constants["recurrent_kernel"], transpose_b=True)
        if recurrent_mask is not None:
            d_prev = d_prev * recurrent_mask
        return (d_pre,), [d_prev], ()


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNN(RNNLayerBase):
    """Fully connected RNN over a sequence; drop-in for `keras.layers.SimpleRNN`.

    Same constructor and weights (``kernel``, ``recurrent_kernel``, ``bias``) as Keras,
    plus ``trainable_initial_state`` (learn ``h0`` instead of zeros).

    Input ``(batch, timesteps, features)``; output ``(batch, timesteps, units)`` with
    ``return_sequences`` else ``(batch, units)``; ``return_state`` adds ``h_T``.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        trainable_initial_state=False,
        **kwargs,
    ):
        cell = SimpleRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="simple_rnn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            trainable_initial_state=trainable_initial_state,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

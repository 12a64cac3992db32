"""`GRU`: gated recurrent unit layer, and its cell."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers.recurrent import RecurrentCell, RNNLayerBase, check_bool


@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(RecurrentCell):
    """One GRU step (Cho et al. 2014), both of Keras's variants.

    Gate blocks in Keras's order z, r, h (``W`` = ``kernel``, ``U`` =
    ``recurrent_kernel``, σ = ``recurrent_activation``, tanh = ``activation``).
    With ``reset_after=True`` (Keras's default, cuDNN-compatible), ``bias`` is
    ``(2, 3*units)``: row 0 ``b`` is added to the input product, row 1 ``b'`` to the
    recurrent product::

        z  = σ(x_t @ W_z + b_z + h_{t-1} @ U_z + b'_z)
        r  = σ(x_t @ W_r + b_r + h_{t-1} @ U_r + b'_r)
        hh = tanh(x_t @ W_h + b_h + r * (h_{t-1} @ U_h + b'_h))
        h_t = z * h_{t-1} + (1 - z) * hh

    With ``reset_after=False``, ``bias`` is ``(3*units,)`` and the reset gate applies
    before the product: ``hh = tanh(x_t @ W_h + b_h + (r * h_{t-1}) @ U_h)``.

    Shapes: ``x_t`` ``(batch, input_dim)``; ``h`` ``(batch, units)``; ``W``
    ``(input_dim, 3*units)``, ``U`` ``(units, 3*units)``. Output ``h_t``, state
    ``[h_t]``. Dropout (training only): masks on ``x_t`` and on ``h_{t-1}`` inside
    the products with ``U``, drawn once per sequence and shared by the gates.
    """

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = check_bool(reset_after, "reset_after")

    def _bias_shape(self):
        if self.reset_after:
            return (2, 3 * self.units)
        return (3 * self.units,)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def recurrent_bias(self):
        if self.bias is None or not self.reset_after:
            return None
        return self.bias[1]

    def step_constants(self):
        constants = super().step_constants()
        bias = self.recurrent_bias()
        if bias is not None:
            constants["recurrent_bias"] = ops.convert_to_tensor(bias)
        return constants

    def step(self, projected, states, constants, recurrent_mask=None):
        h_prev = states[0]
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        kernel = constants["recurrent_kernel"]
        units = self.units
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        if self.reset_after:
            inner = ops.matmul(h_in, kernel)
            if "recurrent_bias" in constants:
                inner = inner + constants["recurrent_bias"]
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:
            inner = ops.matmul(h_in, kernel[:, : 2 * units])
            r_z, r_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + ops.matmul(r * h_in, kernel[:, 2 * units :]))
        h = z * h_prev + (1 - z) * hh
        return h, [h]

    def arg_config(self):
        return {**super().arg_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="zoo")
class GRU(RNNLayerBase):
    """GRU over a sequence; drop-in for `keras.layers.GRU` (same args and weights).

    Plus ``trainable_initial_state`` (learn ``h0`` instead of zeros).

    Input ``(batch, timesteps, features)``; output ``(batch, timesteps, units)`` with
    ``return_sequences`` else ``(batch, units)``; ``return_state`` adds ``h_T``.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
        trainable_initial_state=False,
        **kwargs,
    ):
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            trainable_initial_state=trainable_initial_state,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

"""`GRU`: gated recurrent unit layer, and its cell."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from zoo.layers.arguments import USE_CUDNN, check_bool, check_choice
from zoo.layers.cell import (
    RecurrentCell,
    activation_grad,
    gate_inputs,
    masked_sum,
    sum_outer,
    sum_steps,
)
from zoo.layers.recurrent import RNNLayerBase, cell_property


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
    the products with ``U``, drawn once per sequence as Keras draws them (shared by
    the gates, or one per gate with ``implementation=1``, implied by
    ``recurrent_dropout > 0``).
    """

    blocks = ("z", "r", "h")
    splits_batch = True  # may run its batch as two loops (`zoo.layers.autotune`)

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
        # Plus the recurrent bias (reset_after) per gate block, split outside the loop.
        constants = super().step_constants()
        bias = self.recurrent_bias()
        if bias is not None:
            bias = ops.convert_to_tensor(bias)
            for k, b in zip(self.blocks, tf.split(bias, 3), strict=True):
                constants[f"recurrent_bias_{k}"] = b
        return constants

    def step(self, projected, states, constants, recurrent_mask=None):
        new_states, _ = self.forward_step(projected, states, constants, recurrent_mask, False)
        return new_states[0], new_states

    @property
    def saved_count(self):
        # z, r, hh (and the recurrent candidate product r_h when reset_after), each its
        # own tensor.
        return 4 if self.reset_after else 3

    @property
    def accumulated_count(self):
        return 1 if self.reset_after else 0

    def _recurrent(self, h_in, constants, block):
        out = ops.matmul(h_in, constants[f"recurrent_kernel_{block}"])
        if f"recurrent_bias_{block}" in constants:
            out = out + constants[f"recurrent_bias_{block}"]
        return out

    def forward_step(self, projected, states, constants, recurrent_mask=None, save=True):
        h_prev = states[0]
        h_z, h_r, h_h = gate_inputs(h_prev, recurrent_mask, 3)
        x_z, x_r, x_h = projected
        # One (batch, units) product per gate block: small ops TensorFlow runs side by
        # side, no split.
        z = self.recurrent_activation(x_z + self._recurrent(h_z, constants, "z"))
        r = self.recurrent_activation(x_r + self._recurrent(h_r, constants, "r"))
        if self.reset_after:
            r_h = self._recurrent(h_h, constants, "h")
            hh = self.activation(x_h + r * r_h)
            saved = (z, r, hh, r_h) if save else ()
        else:
            hh = self.activation(x_h + ops.matmul(r * h_h, constants["recurrent_kernel_h"]))
            saved = (z, r, hh) if save else ()
        h = hh + z * (h_prev - hh)  # = z * h_prev + (1 - z) * hh, one op fewer
        return [h], saved

    def backward_step(self, d_states, saved, prev_states, states, constants, recurrent_mask):
        act, rec = activation_grad(self.activation), activation_grad(self.recurrent_activation)
        dh, h_prev = d_states[0], prev_states[0]
        k_z, k_r, k_h = (constants[f"recurrent_kernel_{k}"] for k in self.blocks)
        if self.reset_after:
            z, r, hh, r_h = saved
        else:
            z, r, hh = saved
        d_z = rec(z, dh * (h_prev - hh))
        d_hh = act(hh, dh * (1 - z))
        if self.reset_after:
            d_r = rec(r, d_hh * r_h)
            d_inner_h = d_hh * r
            parts = [
                tf.matmul(d_z, k_z, transpose_b=True),
                tf.matmul(d_r, k_r, transpose_b=True),
                tf.matmul(d_inner_h, k_h, transpose_b=True),
            ]
            accumulated = (d_inner_h,)
        else:
            h_h = gate_inputs(h_prev, recurrent_mask, 3)[2]
            d_rh = tf.matmul(d_hh, k_h, transpose_b=True)
            d_r = rec(r, d_rh * h_h)
            parts = [
                tf.matmul(d_z, k_z, transpose_b=True),
                tf.matmul(d_r, k_r, transpose_b=True),
                d_rh * r,
            ]
            accumulated = ()
        d_in = masked_sum(parts, recurrent_mask)
        return (d_z, d_r, d_hh), [dh * z + d_in], accumulated

    def weight_gradients(self, d_projected, accumulated, h_prev, saved_tas, constants, mask):
        h_z, h_r, h_h = gate_inputs(h_prev, mask, 3)
        d_z, d_r, d_h = d_projected
        grads = {
            "recurrent_kernel_z": sum_outer(h_z, d_z),
            "recurrent_kernel_r": sum_outer(h_r, d_r),
        }
        if self.reset_after:
            (d_inner_h,) = accumulated
            grads["recurrent_kernel_h"] = sum_outer(h_h, d_inner_h)
            for k, d in (("z", d_z), ("r", d_r), ("h", d_inner_h)):
                if f"recurrent_bias_{k}" in constants:
                    grads[f"recurrent_bias_{k}"] = sum_steps(d, constants[f"recurrent_bias_{k}"])
            return grads
        r = saved_tas[1].stack()
        grads["recurrent_kernel_h"] = sum_outer(r * h_h, d_h)
        return grads

    def arg_config(self):
        return {**super().arg_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="zoo")
class GRU(RNNLayerBase):
    """GRU over a sequence; drop-in for `keras.layers.GRU` (same args and weights).

    Plus ``trainable_initial_state`` (learn ``h0`` instead of zeros).
    ``implementation`` and ``use_cudnn`` as in `zoo.layers.LSTM`.

    Input ``(batch, timesteps, features)``; output ``(batch, timesteps, units)`` with
    ``return_sequences`` else ``(batch, units)``; ``return_state`` adds ``h_T``.
    """

    #: Which of Keras's cuDNN kernels fits (`zoo.layers.cudnn`).
    cudnn_kernel = "gru"

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
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
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
            implementation=kwargs.pop("implementation", 2),
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
            unroll=unroll,
            trainable_initial_state=trainable_initial_state,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.use_cudnn = check_choice(use_cudnn, "use_cudnn", USE_CUDNN)

    recurrent_activation = cell_property("recurrent_activation")
    reset_after = cell_property("reset_after")
    implementation = cell_property("implementation")

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}

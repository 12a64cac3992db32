"""`LSTM`: long short-term memory layer, and its cell."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import initializers, ops

from zoo.layers.arguments import USE_CUDNN, check_bool, check_choice
from zoo.layers.cell import RecurrentCell, activation_grad, gate_inputs, masked_sum
from zoo.layers.recurrent import RNNLayerBase, cell_property


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(RecurrentCell):
    """One LSTM step (Hochreiter & Schmidhuber 1997, forget gate as in Keras).

    Gate blocks in Keras's order i, f, c, o (``W`` = ``kernel``, ``U`` =
    ``recurrent_kernel``, ``b`` = ``bias``, σ = ``recurrent_activation``,
    tanh = ``activation``)::

        z   = x_t @ W + h_{t-1} @ U + b            (batch, 4*units)
        i   = σ(z_i)   f = σ(z_f)   o = σ(z_o)   g = tanh(z_c)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Shapes: ``x_t`` ``(batch, input_dim)``; ``h``, ``c`` ``(batch, units)``;
    ``W`` ``(input_dim, 4*units)``, ``U`` ``(units, 4*units)``, ``b`` ``(4*units,)``.
    The output is ``h_t``; the state is ``[h_t, c_t]``. ``unit_forget_bias`` starts
    ``b_f`` at 1. Dropout (training only): masks on ``x_t`` and on ``h_{t-1}`` (in the
    product with ``U``), drawn once per sequence, as Keras draws them: shared by the
    four gates, or one per gate with ``implementation=1`` (which ``recurrent_dropout >
    0`` implies, as in Keras), so that with the same ``seed`` the masks are Keras's.
    """

    blocks = ("i", "f", "c", "o")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias")

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def bias_initializer(_, *args, **kwargs):
            return ops.concatenate(
                [
                    base((units,), *args, **kwargs),
                    initializers.get("ones")((units,), *args, **kwargs),
                    base((units * 2,), *args, **kwargs),
                ]
            )

        return bias_initializer

    #: one (batch, 4*units) product and tensor per step instead of four per-gate
    #: blocks: fewer, larger ops per step, which pay when they are large enough to
    #: shard over the cores (`Bidirectional` sets it for wide directions,
    #: where `zoo.layers.autotune` measures it faster); not serialized
    wide = False

    @property
    def wide_step(self):
        """The wide layout is in use: `wide`, and one dropout mask shared by the gates."""
        return self.wide and self.dropout_mask_count is None

    def kernel_names(self):
        return ["recurrent_kernel"] if self.wide_step else super().kernel_names()

    @property
    def fuse_inputs(self):
        """Per-gate LSTMs take the input in the step's products; the wide step keeps
        the hoisted projection (measured in docs/performance.md)."""
        return not self.wide_step

    def step(self, projected, states, constants, recurrent_mask=None):
        new_states, _ = self.forward_step(projected, states, constants, recurrent_mask, False)
        return new_states[0], new_states

    # The four gate activations and tanh(c_t), each its own tensor.
    saved_count = 5

    def forward_step(self, projected, states, constants, recurrent_mask=None, save=True):
        h_prev, c_prev = states
        h_ins = gate_inputs(h_prev, recurrent_mask, 4)
        k = constants
        if self.wide_step:
            z = projected[0] + ops.matmul(h_ins[0], k["recurrent_kernel"])
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        else:
            # Four independent (batch, units) products: small ops that TensorFlow runs
            # side by side, no wide add and no split; the input enters the products
            # (`fused_step`).
            z_i, z_f, z_c, z_o = self.pre_activations(projected, h_ins, k)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        g = self.activation(z_c)
        o = self.recurrent_activation(z_o)
        c = f * c_prev + i * g
        tanh_c = self.activation(c)
        h = o * tanh_c
        return [h, c], (i, f, g, o, tanh_c) if save else ()

    def backward_step(self, d_states, saved, prev_states, states, constants, recurrent_mask):
        act, rec = activation_grad(self.activation), activation_grad(self.recurrent_activation)
        dh, dc = d_states
        i, f, g, o, tanh_c = saved
        dc = dc + act(tanh_c, dh * o)
        dz = (
            rec(i, dc * g),
            rec(f, dc * prev_states[1]),
            act(g, dc * i),
            rec(o, dh * tanh_c),
        )
        if self.wide_step:
            dz = (tf.concat(dz, axis=-1),)
            parts = [tf.matmul(dz[0], constants["recurrent_kernel"], transpose_b=True)]
        else:
            parts = [
                tf.matmul(d, constants[f"recurrent_kernel_{k}"], transpose_b=True)
                for k, d in zip(self.blocks, dz, strict=True)
            ]
        return dz, [masked_sum(parts, recurrent_mask), dc * f], ()

    def arg_config(self):
        return {**super().arg_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(RNNLayerBase):
    """LSTM over a sequence; drop-in for `keras.layers.LSTM` (same args and weights).

    Plus ``trainable_initial_state`` (learn ``h0`` and ``c0`` instead of zeros).
    ``implementation`` (1 or 2) is recorded; the loop is the same for both.
    ``use_cudnn`` (``"auto"``, True, False): on a GPU, training steps may run
    Keras's cuDNN kernel where Keras would; inference, export and CPUs always run
    our portable loop (Keras raises for ``use_cudnn=True`` without a GPU; we do
    not).

    Input ``(batch, timesteps, features)``; output ``(batch, timesteps, units)`` with
    ``return_sequences`` else ``(batch, units)``; ``return_state`` adds ``h_T, c_T``.
    """

    #: Which of Keras's cuDNN kernels fits (`zoo.layers.cudnn`).
    cudnn_kernel = "lstm"

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        use_cudnn="auto",
        trainable_initial_state=False,
        **kwargs,
    ):
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            implementation=kwargs.pop("implementation", 2),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
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
    unit_forget_bias = cell_property("unit_forget_bias")
    implementation = cell_property("implementation")

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}

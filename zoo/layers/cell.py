"""The cell contract: weights in Keras's layout and the arithmetic of one step.

A layer (`SimpleRNN`, `LSTM`, `GRU`) is a thin shell over a cell: the cell knows one
step and holds the weights, `zoo.layers.loop` runs it over time and
`zoo.layers.recurrent.RNNLayerBase` is the shell (arguments, masks, state, config).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import activations, constraints, initializers, ops, regularizers
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # what keras.layers.RNN resets

from zoo.layers.arguments import (
    IMPLEMENTATIONS,
    check_bool,
    check_choice,
    check_rate,
    check_units,
    get_activation,
)

#: cells whose class allows it run the fused-input step (`RecurrentCell.fused_step`);
#: `zoo.layers.loop.portable_loops` turns it off while export functions are traced
FUSED_INPUTS = True


def activation_grad(fn):
    """``(y, dy) -> dx`` for an activation whose derivative follows from its output
    ``y`` (tanh, sigmoid, relu, linear), else None (then TensorFlow differentiates)."""
    if fn is activations.tanh:
        return lambda y, dy: tf.raw_ops.TanhGrad(y=y, dy=dy)
    if fn is activations.sigmoid:
        return lambda y, dy: tf.raw_ops.SigmoidGrad(y=y, dy=dy)
    if fn is activations.relu:
        return lambda y, dy: tf.raw_ops.ReluGrad(gradients=dy, features=y)
    if fn is activations.linear:
        return lambda y, dy: dy
    return None


def gate_inputs(h, recurrent_mask, gates):
    """``h`` as the recurrent input of each of ``gates`` gate blocks.

    recurrent_mask: None, one ``(batch, units)`` dropout mask shared by the gates, or
    a tuple of one mask per gate (Keras's implementation 1). A shared mask is applied
    once and the same tensor returned for every gate.
    """
    if isinstance(recurrent_mask, (tuple, list)):
        return [h * m for m in recurrent_mask]
    if recurrent_mask is not None:
        h = h * recurrent_mask
    return [h] * gates


def masked_sum(parts, recurrent_mask):
    """Sum of the per-gate gradients ``parts`` flowing into ``h_{t-1}``, each through
    its gate's recurrent dropout mask (`gate_inputs` backwards)."""
    if isinstance(recurrent_mask, (tuple, list)):
        return tf.add_n([p * m for p, m in zip(parts, recurrent_mask, strict=True)])
    total = tf.add_n(parts) if len(parts) > 1 else parts[0]
    return total if recurrent_mask is None else total * recurrent_mask


def sum_outer(a, b):
    """Sum over time and batch of ``a_t^T b_t``: ``(T, B, m), (T, B, n) -> (m, n)``."""
    a = tf.reshape(a, [-1, tf.shape(a)[-1]])
    b = tf.reshape(b, [-1, tf.shape(b)[-1]])
    return tf.matmul(a, b, transpose_a=True)


def sum_steps(x, like):
    """Sum of ``x`` ``(T, B, n)`` over time and batch, shaped like the constant ``like``."""
    return tf.reshape(tf.reduce_sum(x, axis=[0, 1]), tf.shape(like))


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of the cells: weights in Keras's layout and the arithmetic of a step.

    A cell with ``gates`` gate blocks holds

    * ``kernel``: ``(input_dim, gates * units)``, the input weights ``W``;
    * ``recurrent_kernel``: ``(units, gates * units)``, the recurrent weights ``U``;
    * ``bias``: ``(gates * units,)`` (``(2, gates * units)`` for GRU with
      ``reset_after=True``), when ``use_bias``.

    The loop in `RNNLayerBase` calls `project_inputs` once on the whole sequence and
    `step` once per time step. `call(inputs, states)` does one step on its own, so
    the cell also runs inside `keras.layers.RNN`.
    """

    #: the gate blocks of the kernels' columns, in Keras's order; one name per gate
    blocks: tuple[str, ...] = ("h",)

    #: the cell's step can take the input inside its product: gate k computes
    #: ``[x_t, 1, h_{t-1}] @ [W_k; b_k; U_k]``, one matmul and no add, instead of a
    #: hoisted projection ``x_t @ W_k + b_k`` added to ``h_{t-1} @ U_k`` (see
    #: `fused_step`; measured in docs/performance.md)
    fuse_inputs = False

    @property
    def fused_step(self):
        """The step takes ``x_t`` in its products (`fuse_inputs`): unless the gates
        draw their own input dropout masks (then each gate has its own input)."""
        return FUSED_INPUTS and self.fuse_inputs and self.dropout_mask_count is None

    @property
    def gates(self):
        return len(self.blocks)

    def kernel_names(self):
        """Names of the per-block recurrent kernels in `step_constants`."""
        if self.gates == 1:
            return ["recurrent_kernel"]
        return [f"recurrent_kernel_{b}" for b in self.blocks]

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        implementation=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = get_activation(activation, "activation")
        self.recurrent_activation = get_activation(recurrent_activation, "recurrent_activation")
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        # Keras's choice between per-gate and fused products. The products are ours
        # either way; what it changes, as in Keras, is dropout: implementation 1 (which
        # Keras switches to whenever recurrent_dropout > 0) draws one mask per gate.
        self.implementation = check_choice(implementation, "implementation", IMPLEMENTATIONS)
        if self.recurrent_dropout and self.gates > 1:
            self.implementation = 1
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

    @property
    def dropout_mask_count(self):
        """Dropout masks per sequence and per input (Keras's `DropoutRNNCell`): one per
        gate block under implementation 1, else None (one mask shared by the gates)."""
        return self.gates if self.gates > 1 and self.implementation == 1 else None

    # -- sizes -------------------------------------------------------------------------
    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    # -- weights -----------------------------------------------------------------------
    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Received an invalid value for argument 'inputs', expected a known last "
                f"(feature) dimension, got shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            shape=(input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.gates * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def input_bias(self):
        """The bias added to the input projection (or None)."""
        return self.bias

    def recurrent_bias(self):
        """The bias added to the recurrent product (or None); only GRU reset_after."""
        return None

    # -- arithmetic ----------------------------------------------------------------------
    def project_inputs(self, inputs, masks=None):
        """``inputs @ kernel + input_bias``, one tensor per gate block, any leading shape.

        inputs: ``(..., input_dim)`` -> a tuple of one tensor per `kernel_names` entry,
        normally ``gates`` tensors ``(..., units)`` in Keras's block order (``x @ W_k +
        b_k`` for block k of the kernel's columns); one ``(..., gates * units)`` tensor
        for a cell with a single recurrent kernel block (`LSTMCell.wide`).
        The loop works on the blocks apart: a step then runs one small product and
        activation per gate, which TensorFlow runs side by side on the CPU's cores,
        instead of one wide product followed by a copying split.
        masks: None, or a tuple of one input dropout mask per gate block (Keras's
        implementation 1), each broadcast against ``inputs``.
        """
        if masks is not None:
            return self._project_per_gate(inputs, masks)
        if self.fused_step:
            # The step multiplies [x_t, 1, h] by [W; b; U]: the inputs with a column of
            # ones for the bias row (`step_constants`).
            inputs = ops.cast(inputs, self.compute_dtype)
            if self.input_bias() is None:
                return (inputs,)
            return (tf.concat([inputs, tf.ones_like(inputs[..., :1])], axis=-1),)
        kernel = ops.convert_to_tensor(self.kernel)
        bias = self.input_bias()
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (-1, shape[-1]))
        n_blocks = len(self.kernel_names())
        width = self.gates * self.units // n_blocks
        kernels = tf.split(kernel, n_blocks, axis=1)
        biases = [None] * n_blocks
        if bias is not None:
            bias = ops.cast(bias, flat.dtype)
            biases = tf.split(bias, n_blocks)
        blocks = []
        for k, b in zip(kernels, biases, strict=True):
            block = ops.matmul(flat, k)
            if b is not None:
                # BiasAdd right after MatMul is fused into one oneDNN kernel by TensorFlow.
                block = tf.nn.bias_add(block, b)
            blocks.append(ops.reshape(block, (*shape[:-1], width)))
        return tuple(blocks)

    def _project_per_gate(self, inputs, masks):
        """`project_inputs` with gate k's input multiplied by its own dropout mask."""
        kernels = tf.split(ops.convert_to_tensor(self.kernel), self.gates, axis=1)
        bias = self.input_bias()
        biases = [None] * self.gates
        if bias is not None:
            biases = tf.split(ops.cast(bias, inputs.dtype), self.gates)
        shape = ops.shape(inputs)
        blocks = []
        for m, k, b in zip(masks, kernels, biases, strict=True):
            block = ops.matmul(ops.reshape(inputs * m, (-1, shape[-1])), k)
            if b is not None:
                block = tf.nn.bias_add(block, b)
            blocks.append(ops.reshape(block, (*shape[:-1], self.units)))
        if len(self.kernel_names()) == 1 and self.gates > 1:
            return (tf.concat(blocks, axis=-1),)
        return tuple(blocks)

    def step_constants(self):
        """Tensors the step needs every time (read once, outside the loop): the
        recurrent kernel, one block per gate (`kernel_names`); with `fused_step`,
        each block is ``[W_k; b_k; U_k]`` (input kernel, bias row, recurrent kernel)."""
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        names = self.kernel_names()
        recurrent = tf.split(kernel, len(names), axis=1)
        if not self.fused_step:
            return dict(zip(names, recurrent, strict=True))
        dtype = self.compute_dtype
        parts = [tf.split(ops.cast(self.kernel, dtype), len(names), axis=1)]
        if self.input_bias() is not None:
            bias = ops.cast(self.input_bias(), dtype)
            parts.append([b[None] for b in tf.split(bias, len(names))])
        parts.append([ops.cast(u, dtype) for u in recurrent])
        return {n: tf.concat(blocks, axis=0) for n, *blocks in zip(names, *parts, strict=True)}

    def backward_constants(self, constants):
        """`step_constants` as `backward_step` reads them: the recurrent kernels ``U_k``
        (the last ``units`` rows of the fused blocks). Computed once, outside the loop."""
        if not self.fused_step:
            return constants
        return {n: constants[n][-self.units :] for n in self.kernel_names()}

    def pre_activations(self, projected, h_ins, constants):
        """``x_t @ W_k + b_k + h_k @ U_k`` for each gate block k (`kernel_names`).

        projected: one step of `project_inputs`; h_ins: the recurrent input of each
        block (`gate_inputs`). With `fused_step` one product per block on
        ``[x_t, 1, h_k]`` (the concatenation made once when the blocks share ``h``).
        """
        names = self.kernel_names()
        if not self.fused_step:
            return [
                p + ops.matmul(h, constants[n])
                for p, h, n in zip(projected, h_ins, names, strict=True)
            ]
        joined = {}
        for h in h_ins:
            if id(h) not in joined:
                joined[id(h)] = tf.concat([projected[0], h], axis=-1)
        return [ops.matmul(joined[id(h)], constants[n]) for h, n in zip(h_ins, names, strict=True)]

    def input_gradients(self, projected, constants, d_blocks, d_recurrent):
        """Gradients of the loop's inputs from those of the blocks' pre-activations.

        projected: `project_inputs` of the sequence (time-major); constants:
        `step_constants`; d_blocks: ``(time, batch, units)`` per block; d_recurrent:
        the recurrent kernels' gradients by name. Returns ``(d_projected,
        d_constants)``: without `fused_step` the same; with it, the input gradient
        ``sum_k d_k @ W_k^T`` and ``[x; 1]^T d_k`` stacked onto each block's ``dU_k``,
        as large matmuls over all steps.
        """
        if not self.fused_step:
            return d_blocks, d_recurrent
        x = projected[0]
        names = self.kernel_names()
        width = x.shape[-1]
        flat = [tf.reshape(d, [-1, self.units]) for d in d_blocks]
        d_x = tf.add_n(
            [
                tf.matmul(d, constants[n][:width], transpose_b=True)
                for d, n in zip(flat, names, strict=True)
            ]
        )
        d_x = tf.reshape(d_x, tf.shape(x))
        d_constants = {
            n: tf.concat([sum_outer(x, d), d_recurrent[n]], axis=0)
            for n, d in zip(names, d_blocks, strict=True)
        }
        return (d_x,), d_constants

    def step(self, projected, states, constants, recurrent_mask=None):
        """One time step from the projected input.

        projected: `project_inputs` of one step (a tuple of ``gates`` tensors
        ``(batch, units)``, or of the input with `fused_step`); states: list of ``(batch, units)``;
        recurrent_mask: ``(batch, units)`` dropout mask on ``h_{t-1}``, a tuple of one
        per gate (`dropout_mask_count`), or None.
        Returns ``(output, new_states)``.
        """
        raise NotImplementedError

    # -- hand-written back-propagation through time (used by `run_with_bptt`) --------
    #: sum the recurrent kernels' gradients inside the backward loop (one small
    #: product per step off the critical path) instead of one product after it; only
    #: for cells whose `weight_gradients` is the default ``h_{t-1}^T d_projected``
    accumulate_in_loop = False
    #: a layer of this cell may run its batch as two loops (`zoo.layers.autotune`)
    splits_batch = False
    saved_count = 0  # tensors `forward_step` saves per step
    accumulated_count = 0  # tensors `backward_step` returns per step for the weights

    def supports_bptt(self):
        """True if `forward_step`/`backward_step` cover this cell's activations."""
        grads = [activation_grad(self.activation)]
        if self.gates > 1:
            grads.append(activation_grad(self.recurrent_activation))
        return all(g is not None for g in grads)

    def forward_step(self, projected, states, constants, recurrent_mask=None, save=True):
        """`step` that also returns the tensors its backward step needs:
        ``(new_states, saved)`` with ``len(saved) == saved_count`` (empty unless
        ``save``)."""
        raise NotImplementedError

    def backward_step(self, d_states, saved, prev_states, states, constants, recurrent_mask):
        """Gradients of one step. d_states: gradients of the new states; saved: what
        `forward_step` saved; prev_states/states: the states before/after the step.
        Returns ``(d_projected, d_prev_states, accumulated)``, d_projected a tuple
        of ``gates`` tensors like ``projected``."""
        raise NotImplementedError

    def weight_gradients(self, d_projected, accumulated, h_prev, saved_tas, constants, mask):
        """Gradients of the step constants from the whole sequence, as large matmuls.

        d_projected: tuple of ``gates`` tensors ``(time, batch, units)``; accumulated: what `backward_step`
        returned per step, stacked over time; h_prev: ``(time, batch, units)`` the
        first state before each step; saved_tas: the TensorArrays of what
        `forward_step` saved (``.stack()`` one to get ``(time, ...)``); mask: the
        recurrent dropout mask(s) as in `step`."""
        names = self.kernel_names()
        h_ins = gate_inputs(h_prev, mask, len(names))
        return {
            name: sum_outer(h_in, d)
            for name, h_in, d in zip(names, h_ins, d_projected, strict=True)
        }

    def call(self, inputs, states, training=False):
        """One step: inputs ``(batch, input_dim)``, states list of ``(batch, units)``.

        With ``training``, dropout as Keras's cells: masks drawn at the first step and
        cached until `keras.layers.RNN` resets them (`DropoutRNNCell`)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        input_masks = recurrent_mask = None
        if training and self.dropout > 0:
            input_masks = self.get_dropout_mask(inputs)
            if not isinstance(input_masks, (list, tuple)):
                inputs, input_masks = inputs * input_masks, None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.get_recurrent_dropout_mask(states[0])
            if isinstance(recurrent_mask, list):
                recurrent_mask = tuple(recurrent_mask)
        projected = self.project_inputs(inputs, None if input_masks is None else tuple(input_masks))
        return self.step(projected, states, self.step_constants(), recurrent_mask)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    # -- config --------------------------------------------------------------------------
    def arg_config(self):
        """The constructor arguments shared with the layer, serialized."""
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        if self.gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
            config["implementation"] = self.implementation
        return config

    def get_config(self):
        return {**super().get_config(), **self.arg_config()}

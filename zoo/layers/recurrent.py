"""The one time loop every recurrent layer of the zoo shares.

A layer (`SimpleRNN`, `LSTM`, `GRU`) is a thin shell over a cell; the cell knows
one step and holds the weights in Keras's layout. `RNNLayerBase` runs the cell
over time:

* the input projection ``x_t @ W + b`` of ALL time steps is one matrix product
  before the loop (the cell's `project_inputs`), so the loop only does the
  recurrent product ``h_{t-1} @ U`` and the gate arithmetic;
* the loop is a `tf.while_loop` that reads step t of the time-major projection
  as a view (no copy) and writes the states to a `TensorArray` (nothing per step
  at inference when only the last output is returned);
* training runs a forward loop that also keeps what the hand-written
  back-propagation through time needs, and a backward loop (`tf.custom_gradient`)
  whose recurrent-weight gradients are one large matmul after the loop;
* masking (a masked step keeps the previous state; outputs follow Keras: the
  previous output, or zeros before the first valid step or when
  `zero_output_for_mask`), `initial_state`, `go_backwards`, `return_sequences`,
  `return_state`, `stateful`, dropout masks drawn once per sequence, and an
  optional trainable initial state.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import activations, constraints, initializers, ops, regularizers
from keras.src.utils import tracking  # Keras's own RNN uses it for the stateful variables

# --------------------------------------------------------------------------------------
# argument validation


def check_units(units):
    """Return `units` if it is a positive int, else raise a ValueError saying why."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument 'units', expected a positive "
            f"integer, got {units!r}."
        )
    return units


def get_activation(identifier, argument):
    """`keras.activations.get` with an error that names the argument."""
    try:
        fn = activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected the name of "
            "a Keras activation (e.g. 'tanh', 'sigmoid', 'relu', 'linear'), a callable "
            f"or None, got {identifier!r}."
        ) from error
    if fn is None:
        fn = activations.linear
    return fn


def check_rate(value, argument):
    """A dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected a float in "
            f"[0, 1), got {value!r}."
        )
    return float(value)


def check_bool(value, argument):
    if not isinstance(value, bool):
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected True or "
            f"False, got {value!r}."
        )
    return value


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


# --------------------------------------------------------------------------------------
# cells


class RecurrentCell(keras.layers.Layer):
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
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

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
    def project_inputs(self, inputs):
        """``inputs @ kernel + input_bias``, one tensor per gate block, any leading shape.

        inputs: ``(..., input_dim)`` -> a tuple of one tensor per `kernel_names` entry,
        normally ``gates`` tensors ``(..., units)`` in Keras's block order (``x @ W_k +
        b_k`` for block k of the kernel's columns); one ``(..., gates * units)`` tensor
        for a cell with a single recurrent kernel block (`LSTMCell.wide`).
        The loop works on the blocks apart: a step then runs one small product and
        activation per gate, which TensorFlow runs side by side on the CPU's cores,
        instead of one wide product followed by a copying split.
        """
        kernel = ops.convert_to_tensor(self.kernel)
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (-1, shape[-1]))
        n_blocks = len(self.kernel_names())
        width = self.gates * self.units // n_blocks
        kernels = tf.split(kernel, n_blocks, axis=1)
        bias = self.input_bias()
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

    def step_constants(self):
        """Tensors the step needs every time (read once, outside the loop): the
        recurrent kernel, one block per gate (`kernel_names`)."""
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        names = self.kernel_names()
        return dict(zip(names, tf.split(kernel, len(names), axis=1), strict=True))

    def step(self, projected, states, constants, recurrent_mask=None):
        """One time step from the projected input.

        projected: a tuple of ``gates`` tensors ``(batch, units)`` (`project_inputs`
        of one step); states: list of ``(batch, units)``;
        recurrent_mask: ``(batch, units)`` dropout mask on ``h_{t-1}`` or None.
        Returns ``(output, new_states)``.
        """
        raise NotImplementedError

    # -- hand-written back-propagation through time (used by `run_with_bptt`) --------
    #: sum the recurrent kernels' gradients inside the backward loop (one small
    #: product per step off the critical path) instead of one product after it; only
    #: for cells whose `weight_gradients` is the default ``h_{t-1}^T d_projected``
    accumulate_in_loop = False
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
        recurrent dropout mask ``(batch, units)`` or None."""
        h_in = h_prev if mask is None else h_prev * mask
        return {
            name: sum_outer(h_in, d)
            for name, d in zip(self.kernel_names(), d_projected, strict=True)
        }

    def call(self, inputs, states, training=False):
        """One step: inputs ``(batch, input_dim)``, states list of ``(batch, units)``."""
        if not isinstance(states, (list, tuple)):
            states = [states]
        output, new_states = self.step(
            self.project_inputs(inputs), list(states), self.step_constants()
        )
        return output, new_states

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
        return config

    def get_config(self):
        return {**super().get_config(), **self.arg_config()}


# --------------------------------------------------------------------------------------
# the loop


def sum_outer(a, b):
    """Sum over time and batch of ``a_t^T b_t``: ``(T, B, m), (T, B, n) -> (m, n)``;
    with a direction axis ``(T, 2, B, m), (T, 2, B, n) -> (2, m, n)``."""
    if a.shape.rank == 4:
        a = tf.transpose(a, [1, 0, 2, 3])
        b = tf.transpose(b, [1, 0, 2, 3])
        a = tf.reshape(a, [tf.shape(a)[0], -1, tf.shape(a)[-1]])
        b = tf.reshape(b, [tf.shape(b)[0], -1, tf.shape(b)[-1]])
    else:
        a = tf.reshape(a, [-1, tf.shape(a)[-1]])
        b = tf.reshape(b, [-1, tf.shape(b)[-1]])
    return tf.matmul(a, b, transpose_a=True)


def sum_steps(x, like):
    """Sum of ``x`` over time and batch, shaped like the constant ``like``."""
    axes = [0, 2] if x.shape.rank == 4 else [0, 1]
    return tf.reshape(tf.reduce_sum(x, axis=axes), tf.shape(like))


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


class RNNLayerBase(keras.layers.Layer):
    """Runs a `RecurrentCell` over a sequence; the base of `SimpleRNN`, `LSTM`, `GRU`.

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        initial_state: list of ``(batch, units)`` tensors (one per state) or None.
        mask: ``(batch, timesteps)`` bool, True where a step is valid, or None.
        training: Python bool; dropout is applied only when True.

    Returns ``(batch, timesteps, units)`` if ``return_sequences`` else
    ``(batch, units)``; with ``return_state`` a list ``[output, *final_states]``.
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        trainable_initial_state=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.return_state = check_bool(return_state, "return_state")
        self.go_backwards = check_bool(go_backwards, "go_backwards")
        self.stateful = check_bool(stateful, "stateful")
        self.trainable_initial_state = check_bool(
            trainable_initial_state, "trainable_initial_state"
        )
        if self.stateful and self.trainable_initial_state:
            raise ValueError(
                "Received an invalid combination of arguments 'stateful=True' and "
                "'trainable_initial_state=True': a stateful layer carries its state "
                "across batches, so it cannot also learn one; set one of them to False."
            )
        # Keras's `RNN` semantics: masked steps output the previous output; the
        # Bidirectional wrapper switches this to zeros when returning sequences.
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        self.states = None
        self.initial_state_weights = None

    # -- shapes and masks ----------------------------------------------------------------
    @property
    def units(self):
        return self.cell.units

    @property
    def state_size(self):
        return self.cell.state_size

    def _check_sequences_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(
                f"Received an invalid value for argument 'inputs' of layer '{self.name}', "
                "expected a 3-D tensor of shape (batch, timesteps, features), got a "
                f"{len(shape)}-D tensor of shape {tuple(shape)}."
            )

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        if self.return_sequences:
            output_shape = (batch, steps, self.units)
        else:
            output_shape = (batch, self.units)
        if self.return_state:
            return [output_shape] + [(batch, d) for d in self.state_size]
        return output_shape

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    # -- weights and state ---------------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        self._check_sequences_shape(sequences_shape)
        if not self.cell.built:
            self.cell.build(tuple(sequences_shape[:1]) + tuple(sequences_shape[2:]))
        if self.trainable_initial_state and self.initial_state_weights is None:
            names = ["initial_h", "initial_c"]
            self.initial_state_weights = [
                self.add_weight(shape=(size,), name=names[i], initializer="zeros")
                for i, size in enumerate(self.state_size)
            ]
        if self.stateful:
            if self.states is not None:
                self.reset_state()
            else:
                if sequences_shape[0] is None:
                    raise ValueError(
                        "Received an invalid value for argument 'inputs', a stateful "
                        "layer needs a static batch size (pass batch_size= or "
                        f"batch_shape= to keras.Input), got shape {tuple(sequences_shape)}."
                    )
                self._create_state_variables(sequences_shape[0])
        self.built = True

    @tracking.no_automatic_dependency_tracking
    def _create_state_variables(self, batch_size):
        # Not tracked as weights (as in Keras): `get_weights` stays the cell's weights.
        self.states = [
            keras.Variable(
                ops.zeros((batch_size, d)),
                trainable=False,
                dtype=self.variable_dtype,
                name="rnn_state",
            )
            for d in self.state_size
        ]

    def reset_state(self):
        """Zero the carried state of a stateful layer."""
        if self.states is not None:
            for v in self.states:
                v.assign(ops.zeros_like(v.value))

    def reset_states(self):
        """Alias of `reset_state` (Keras 2 name)."""
        self.reset_state()

    def get_initial_state(self, batch_size):
        if self.initial_state_weights is not None:
            return [
                ops.broadcast_to(
                    ops.expand_dims(ops.cast(w, self.compute_dtype), 0), (batch_size, w.shape[0])
                )
                for w in self.initial_state_weights
            ]
        return self.cell.get_initial_state(batch_size)

    # -- the loop ------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=False):
        initial_state, input_mask, recurrent_mask = self._prepare(
            sequences, initial_state, training
        )
        projected, mask_tm = self._project(sequences, input_mask, mask)
        # Training uses the loop that stores what the hand-written back-propagation
        # through time needs; inference the loop that stores nothing.
        if training and self.cell.supports_bptt():
            states_seq, final_states = run_with_bptt(
                self.cell, projected, initial_state, mask_tm, recurrent_mask
            )
        else:
            states_seq, final_states = run_plain(
                self.cell,
                projected,
                initial_state,
                mask_tm,
                recurrent_mask,
                sequence=self.return_sequences,
            )
        return self._finish(sequences, states_seq, final_states, mask_tm)

    def _prepare(self, sequences, initial_state, training):
        """Checks the input; returns (initial states, input and recurrent dropout masks)."""
        self._check_sequences_shape(sequences.shape)
        dtype = self.compute_dtype
        batch_size = sequences.shape[0] or ops.shape(sequences)[0]  # static if known
        cell = self.cell
        initial_state = _as_list(initial_state)
        if initial_state is None:
            if self.stateful:
                initial_state = [v.value for v in self.states]
            else:
                initial_state = self.get_initial_state(batch_size)
        if len(initial_state) != len(self.state_size):
            raise ValueError(
                f"Received an invalid value for argument 'initial_state' of layer "
                f"'{self.name}', expected a list of {len(self.state_size)} tensor(s) of "
                f"shape (batch, {self.units}), got {len(initial_state)} tensor(s)."
            )
        initial_state = [tf.cast(s, dtype) for s in initial_state]

        # Dropout masks are drawn once per sequence (as Keras does), shared by the gates.
        input_mask = recurrent_mask = None
        if training:
            if cell.dropout > 0:
                input_mask = keras.random.dropout(
                    ops.ones((batch_size, sequences.shape[-1]), dtype=dtype),
                    rate=cell.dropout,
                    seed=cell.seed_generator,
                )
            if cell.recurrent_dropout > 0:
                recurrent_mask = keras.random.dropout(
                    ops.ones((batch_size, self.units), dtype=dtype),
                    rate=cell.recurrent_dropout,
                    seed=cell.seed_generator,
                )
        return initial_state, input_mask, recurrent_mask

    def _project(self, sequences, input_mask, mask):
        """The hoisted input projection and the mask, time-major in processing order:
        ``(time, batch, gates*units)`` and ``(time, batch, 1)`` bool or None."""
        # Transposing/reversing the narrow input is cheaper than the projected one.
        x = tf.transpose(tf.cast(sequences, self.compute_dtype), [1, 0, 2])
        if input_mask is not None:
            x = x * input_mask[None]
        if self.go_backwards:
            x = tf.reverse(x, [0])
        projected = self.cell.project_inputs(x)  # all steps at once, one block per gate

        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        mask_tm = None
        if mask is not None:
            mask_tm = tf.transpose(tf.cast(mask, tf.bool), [1, 0])  # (time, batch)
            if self.go_backwards:
                mask_tm = tf.reverse(mask_tm, [0])
            mask_tm = mask_tm[:, :, None]
        return projected, mask_tm

    def _finish(self, sequences, states_seq, final_states, mask_tm):
        """Outputs from the loop's states (Keras's masking semantics); stores the
        state of a stateful layer; returns what `call` returns."""
        last_output = final_states[0]
        outputs = None
        if self.return_sequences:
            outputs = tf.transpose(states_seq, [1, 0, 2])
            outputs.set_shape([sequences.shape[0], sequences.shape[1], self.units])
        if mask_tm is not None:
            # Keras outputs the previous *output* at a masked step, which starts at
            # zeros: so the output is zero until the first valid step, the state after.
            if self.return_sequences:
                valid = tf.transpose(mask_tm[:, :, 0], [1, 0])  # (batch, time), loop order
                if not self.zero_output_for_mask:
                    valid = tf.cast(tf.math.cumsum(tf.cast(valid, tf.int32), axis=1), tf.bool)
                outputs = tf.where(valid[:, :, None], outputs, tf.zeros_like(outputs))
            seen = mask_tm[-1] if self.zero_output_for_mask else tf.reduce_any(mask_tm, axis=0)
            last_output = tf.where(seen, last_output, tf.zeros_like(last_output))

        if self.stateful:
            for variable, state in zip(self.states, final_states, strict=True):
                variable.assign(ops.cast(state, variable.dtype))

        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return [output, *final_states]
        return output

    # -- config --------------------------------------------------------------------------
    def get_config(self):
        config = {
            **self.cell.arg_config(),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "trainable_initial_state": self.trainable_initial_state,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# --------------------------------------------------------------------------------------
# the loops
#
# Speed notes (measured on this 2-core machine, see `zoo.bench`). Per step the loop
# costs one small matmul plus a dozen small ops, so copies and op counts matter:
#
# * Step t of a precomputed time-major tensor is read with `_at`, a Slice of dim 0
#   that TensorFlow returns as a view of the buffer (no copy when the step's size is
#   a multiple of 64 bytes). GatherV2 copied the step: 35-50 us per read of a
#   64x1024 step, against 1-8 us for the Slice (loop of 100 reads, 1 or 2 threads).
# * TensorFlow's own gradient of a slice inside a while loop is quadratic in the
#   number of steps, so every loop whose gradient we write ourselves slices; only
#   the fallback loop that TensorFlow differentiates (activations whose derivative
#   we do not write) reads from a TensorArray.
# * The training loop keeps what the backward loop needs in TensorArrays and the
#   backward loop reads them in place (a TensorArray read is a view too) instead
#   of stacking them and slicing again; the states' TensorArrays hold the initial
#   state at index 0, so "the state before step t" is index t, with no shifted copy.
# * Where the time goes (LSTM 64x100x64x256 forward, one thread): ~470 us per
#   step, of which the 64x256 @ 256x1024 matmul ~270 us (~125 GFLOP/s, near this
#   core's peak) and ~15 small ops the rest (a 64x1024 Sigmoid ~65 us, Tanh ~40 us,
#   Split ~20 us, Concat ~35 us, Mul ~14 us; the loop's own ops ~20 us).
# * One block per gate (session 3, the big win): the projection, the recurrent
#   kernels, the step and BPTT all work on per-gate (batch, units) tensors. A wide
#   64x1024 elementwise op is sharded across threads (a 64x1024 sigmoid costs ~5x a
#   64x256 one, not 4x) and must be split afterwards; four small products and
#   activations per step are independent, so TensorFlow runs them side by side on
#   the two cores. Idle `python -m zoo bench layers` (64x100x64x256), ours/Keras:
#   LSTM forward 0.69-0.70 (was 1.06-1.16), training 0.74-0.75 (was 1.13-1.22);
#   GRU training 0.69-0.74. Same experiment with the 4 blocks stacked on a leading
#   axis (one batched matmul): 0.71, about the same.
# * Also tried this session (idle, LSTM 64x100x64x256 forward vs Keras): projecting
#   inside the loop like Keras (parallel_iterations 10 or 32) 1.15 = hoisted 1.15;
#   step reads by TensorArray / Gather / strided slice 1.06-1.15, no winner; sigmoid
#   as 0.5 * tanh(x / 2) + 0.5 with one tanh over all four blocks 1.36-1.49 (the
#   wide-op sharding above).
# * Tried and dropped (no gain, or slower): XLA (`jit_compile=True`) of the whole
#   forward loop (~1.5x the CPU time of this loop, plus a compile per sequence
#   length) or of the gate arithmetic alone (same time); `tf.raw_ops.LSTMBlockCell`
#   and `BlockLSTM` (Eigen matmul, 1.3-2x slower than oneDNN's here); one sigmoid
#   over all four LSTM blocks (+30% CPU: the extra 64x256 sigmoid costs more than
#   the split it saves); MatMul+BiasAdd+Add fused by oneDNN (the bias moved into
#   the loop; same time); `parallel_iterations=1`, 2- and 4-step unrolling (within
#   the noise of a machine at load 10-15).
# * Session of 2026-12-02 (idle machine, 300 GFLOP/s matmul): 2-step unrolling of the
#   loops we differentiate ourselves (`UNROLL`) is worth ~5% at the long shape
#   (SimpleRNN 32x500x32x128 training 0.81 -> 0.71, BiLSTM 1.06 -> 0.93); SimpleRNN sums
#   dU inside the backward loop (`accumulate_in_loop`: its latency-bound chain leaves
#   a core idle), training 64x100x64x256 1.10 -> 0.87 (for LSTM it costs: 0.79 -> 1.00
#   at 32x500x32x128, so only SimpleRNN); Bidirectional LSTMs of <= 128 units use one
#   wide product per step (`LSTMCell.wide`). Reads from TensorArrays instead of slices:
#   SimpleRNN training 1.11 -> 1.17, so slices stay.


def _at(tensor, t):
    """Step ``t`` of a time-major tensor: ``(time, ...) -> (...)``, a view (no copy)."""
    rank = tensor.shape.rank
    begin = tf.stack([t] + [0] * (rank - 1))
    return tf.squeeze(tf.slice(tensor, begin, [1] + [-1] * (rank - 1)), axis=0)


def _at_blocks(blocks, t):
    """Step ``t`` of each time-major gate block."""
    return tuple(_at(b, t) for b in blocks)


def _unstack(tensor):
    size = tf.shape(tensor)[0]
    return tf.TensorArray(
        tensor.dtype, size=size, clear_after_read=False, element_shape=tensor.shape[1:]
    ).unstack(tensor)


#: loop iterations per `tf.while_loop` iteration in the loops whose gradient we write
#: (fewer control-flow ops per step); see the speed notes above
UNROLL = 2


def _loop(steps, body, loop_vars, unroll=UNROLL):
    """``body(t, *loop_vars) -> (t + 1, *loop_vars)`` for t in ``range(steps)``, with
    ``unroll`` steps per while-loop iteration and a second loop for the remainder."""
    if unroll <= 1:
        return tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), *loop_vars),
            maximum_iterations=steps,
        )[1:]

    def body_unrolled(*loop_vars):
        for _ in range(unroll):
            loop_vars = body(*loop_vars)
        return loop_vars

    loop_vars = tf.while_loop(
        lambda t, *_: t + unroll <= steps,
        body_unrolled,
        (tf.constant(0), *loop_vars),
        maximum_iterations=steps // unroll,
    )
    return tf.while_loop(
        lambda t, *_: t < steps,
        body,
        loop_vars,
        maximum_iterations=steps % unroll,
    )[1:]


def _forward(cell, projected, init, consts, mask_tm, recurrent_mask, save, sequence=True):
    """The forward loop over sliced steps.

    Without ``save`` (inference): returns ``(seq, final_states)``, the first state
    of every step stacked ``(time, batch, units)``, or None without ``sequence``
    (then the loop writes nothing per step).

    With ``save`` (training): returns ``(state_tas, saved_tas, final_states)``:
    a TensorArray of ``time + 1`` entries per state (entry 0 the initial state,
    entry t + 1 the state after step t) and one of ``time`` entries per tensor
    `cell.forward_step` saves; `_backward` reads them in place.
    """
    dtype = projected[0].dtype
    steps = tf.shape(projected[0])[0]
    # A static element shape (batch may stay None) lets converters such as TFLite
    # lower the TensorLists.
    if save:
        state_tas = [
            tf.TensorArray(
                dtype, size=steps + 1, element_shape=s.shape, clear_after_read=False
            ).write(0, s)
            for s in init
        ]
    elif sequence:
        state_tas = [tf.TensorArray(dtype, size=steps, element_shape=init[0].shape)]
    else:
        state_tas = []
    offset = 1 if save else 0
    saved_tas = [
        tf.TensorArray(dtype, size=steps, clear_after_read=False)
        for _ in range(cell.saved_count if save else 0)
    ]

    def body(t, state_tas, saved_tas, *states):
        states = list(states)
        if save:
            new_states, saved = cell.forward_step(
                _at_blocks(projected, t), states, consts, recurrent_mask
            )
        else:
            _, new_states = cell.step(_at_blocks(projected, t), states, consts, recurrent_mask)
            saved = ()
        if mask_tm is not None:
            m = _at(mask_tm, t)
            new_states = [tf.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
        state_tas = [ta.write(t + offset, s) for ta, s in zip(state_tas, new_states, strict=False)]
        saved_tas = [ta.write(t, s) for ta, s in zip(saved_tas, saved, strict=True)]
        return (t + 1, state_tas, saved_tas, *new_states)

    state_tas, saved_tas, *final_states = _loop(steps, body, (state_tas, saved_tas, *init))
    if save:
        return state_tas, saved_tas, final_states
    return (state_tas[0].stack() if sequence else None), final_states


def _backward(cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads):
    """Back-propagation through time from the forward loop's TensorArrays.

    forward: ``(state_tas, saved_tas, h_seq)`` from `_forward` with ``save``, and
    the stacked first state ``(time + 1, batch, units)`` (initial state first).
    The backward loop runs `cell.backward_step` from the last step to the first and
    stores the gradients of the pre-activations; `cell.weight_gradients` turns them
    into the recurrent weights' gradients with one large matmul each (instead of a
    small matmul and an accumulation per step). Returns the gradients of
    ``(*projected blocks, *constants in names order, *initial states)``.
    """
    state_tas, saved_tas, h_seq = forward
    d_seq, *d_final = grads  # d_seq is None when the output sequence is unused
    dtype = projected[0].dtype
    steps = tf.shape(projected[0])[0]
    d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, init, strict=True)]
    d_projected_tas = [
        tf.TensorArray(dtype, size=steps, element_shape=p.shape[1:]) for p in projected
    ]
    acc_tas = [tf.TensorArray(dtype, size=steps) for _ in range(cell.accumulated_count)]

    in_loop = cell.accumulate_in_loop
    n_states = len(init)
    if in_loop:
        # The recurrent weights' gradients summed inside the loop: the small products
        # are off the chain of d_state dependencies, so they run on the core the
        # latency-bound chain leaves idle.
        # (summed in float32 under mixed precision, cast back after the loop)
        sum_dtype = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
        d_final = [
            *d_final,
            *[tf.zeros(tf.shape(consts[n]), sum_dtype) for n in cell.kernel_names()],
        ]

    def back(i, d_projected_tas, acc_tas, *d_states):
        if in_loop:
            sums = list(d_states[n_states:])
            d_states = d_states[:n_states]
        t = steps - 1 - i
        d_states = list(d_states)
        if d_seq is not None:
            d_states[0] = d_states[0] + _at(d_seq, t)
        if mask_tm is not None:
            # A masked step passed its state through unchanged.
            m = _at(mask_tm, t)
            zeros = [tf.zeros_like(d) for d in d_states]
            passed = [tf.where(m, z, d) for z, d in zip(zeros, d_states, strict=True)]
            d_states = [tf.where(m, d, z) for z, d in zip(zeros, d_states, strict=True)]
        # Reads a cell does not use are pruned from the loop body by TensorFlow.
        prev_states = [ta.read(t) for ta in state_tas]
        d_proj, d_prev, accumulated = cell.backward_step(
            d_states,
            [ta.read(t) for ta in saved_tas],
            prev_states,
            [ta.read(t + 1) for ta in state_tas],
            consts,
            recurrent_mask,
        )
        if mask_tm is not None:
            d_prev = [a + b for a, b in zip(d_prev, passed, strict=True)]
        d_projected_tas = [ta.write(t, d) for ta, d in zip(d_projected_tas, d_proj, strict=True)]
        acc_tas = [ta.write(t, a) for ta, a in zip(acc_tas, accumulated, strict=True)]
        if in_loop:
            h_in = prev_states[0]
            if recurrent_mask is not None:
                h_in = h_in * recurrent_mask
            sums = [
                s + tf.cast(tf.matmul(h_in, d, transpose_a=True), sum_dtype)
                for s, d in zip(sums, d_proj, strict=True)
            ]
            d_prev = [*d_prev, *sums]
        return (i + 1, d_projected_tas, acc_tas, *d_prev)

    d_projected_tas, acc_tas, *d_init = _loop(steps, back, (d_projected_tas, acc_tas, *d_final))
    d_projected = tuple(ta.stack() for ta in d_projected_tas)
    if in_loop:
        d_consts = {
            n: tf.cast(s, consts[n].dtype)
            for n, s in zip(cell.kernel_names(), d_init[n_states:], strict=True)
        }
        d_init = d_init[:n_states]
    else:
        accumulated = [ta.stack() for ta in acc_tas]
        d_consts = cell.weight_gradients(
            d_projected, accumulated, h_seq[:-1], saved_tas, consts, recurrent_mask
        )
    return (*d_projected, *[d_consts[name] for name in names], *d_init)


def _constants(cell, constants=None):
    # Plain tensors: a variable read inside a custom gradient would need its own grad.
    constants = cell.step_constants() if constants is None else constants
    return {k: tf.convert_to_tensor(v) for k, v in constants.items()}


def run_plain(
    cell, projected, initial_state, mask_tm, recurrent_mask, constants=None, sequence=True
):
    """The forward loop for inference; it stores nothing for a backward pass.

    projected: a tuple of ``gates`` blocks ``(time, batch, units)`` (`project_inputs`),
    time-major, in processing order (a direction axis, ``(time, 2, batch, units)``,
    runs two directions at once).
    mask_tm: ``(time, batch, 1)`` bool or None; recurrent_mask: ``(batch, units)``.
    Returns ``(states_seq, final_states)``: the masked first state of every step
    ``(time, batch, units)`` (None if not ``sequence``: a layer that returns only
    its last output skips the per-step writes and the stacking, which Keras's loop
    does anyway) and the final states.

    If something differentiates it anyway (a gradient with ``training=False``), the
    gradient recomputes the forward loop storing what BPTT needs, then runs it.
    """
    constants = _constants(cell, constants)
    names = sorted(constants)
    n_states = len(initial_state)
    if not cell.supports_bptt():
        return _run_autodiff(cell, projected, initial_state, constants, mask_tm, recurrent_mask)

    projected = tuple(projected)
    n_blocks = len(projected)

    @tf.custom_gradient
    def recurrence(*args):
        projected = args[:n_blocks]
        consts = dict(zip(names, args[n_blocks : n_blocks + len(names)], strict=True))
        init = list(args[n_blocks + len(names) :])
        seq, final = _forward(
            cell, projected, init, consts, mask_tm, recurrent_mask, save=False, sequence=sequence
        )

        def grad(*grads):
            if not sequence:
                grads = (None, *grads)
            state_tas, saved_tas, _ = _forward(
                cell, projected, init, consts, mask_tm, recurrent_mask, save=True
            )
            forward = (state_tas, saved_tas, state_tas[0].stack())
            return _backward(
                cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads
            )

        return ((seq, *final) if sequence else tuple(final)), grad

    result = list(recurrence(*projected, *[constants[n] for n in names], *initial_state))
    if not sequence:
        result.insert(0, None)
    return result[0], result[1 : 1 + n_states]


def _run_autodiff(cell, projected, initial_state, constants, mask_tm, recurrent_mask):
    """Plain loop over a TensorArray, for TensorFlow to differentiate."""
    steps = tf.shape(projected[0])[0]
    inputs_tas = [_unstack(p) for p in projected]
    mask_ta = None if mask_tm is None else _unstack(mask_tm)
    outputs_ta = tf.TensorArray(
        projected[0].dtype, size=steps, element_shape=initial_state[0].shape
    )

    def body(t, outputs_ta, *states):
        states = list(states)
        inputs = tuple(ta.read(t) for ta in inputs_tas)
        _, new_states = cell.step(inputs, states, constants, recurrent_mask)
        if mask_ta is not None:
            m = mask_ta.read(t)
            new_states = [tf.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
        return (t + 1, outputs_ta.write(t, new_states[0]), *new_states)

    outputs_ta, *final_states = _loop(steps, body, (outputs_ta, *initial_state), unroll=1)
    return outputs_ta.stack(), final_states


def run_with_bptt(cell, projected, initial_state, mask_tm, recurrent_mask, constants=None):
    """The forward loop for training, with hand-written back-propagation through time.

    Same contract as `run_plain`; the forward loop also stores every state and what
    `cell.forward_step` saves, and the gradient is `_backward`.
    """
    constants = _constants(cell, constants)
    names = sorted(constants)
    n_states = len(initial_state)

    projected = tuple(projected)
    n_blocks = len(projected)

    @tf.custom_gradient
    def recurrence(*args):
        projected = args[:n_blocks]
        consts = dict(zip(names, args[n_blocks : n_blocks + len(names)], strict=True))
        init = list(args[n_blocks + len(names) :])
        state_tas, saved_tas, final = _forward(
            cell, projected, init, consts, mask_tm, recurrent_mask, save=True
        )
        h_seq = state_tas[0].stack()  # (time + 1, batch, units), initial state first

        def grad(*grads):
            forward = (state_tas, saved_tas, h_seq)
            return _backward(
                cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads
            )

        return (h_seq[1:], *final), grad

    result = recurrence(*projected, *[constants[n] for n in names], *initial_state)
    return result[0], list(result[1 : 1 + n_states])

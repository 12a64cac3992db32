"""The one time loop every recurrent layer of the zoo shares.

A layer (`SimpleRNN`, `LSTM`, `GRU`) is a thin shell over a cell; the cell knows
one step and holds the weights in Keras's layout. `RNNLayerBase` runs the cell
over time:

* the input projection ``x_t @ W + b`` of ALL time steps is one matrix product
  before the loop (the cell's `project_inputs`), so the loop only does the
  recurrent product ``h_{t-1} @ U`` and the gate arithmetic;
* the loop is a `tf.while_loop` over a time-major `TensorArray`, outputs are
  written to another `TensorArray`;
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

    gates = 1

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
        """``inputs @ kernel + input_bias`` for any leading shape.

        inputs: ``(..., input_dim)`` -> ``(..., gates * units)``.
        """
        kernel = ops.convert_to_tensor(self.kernel)
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (-1, shape[-1]))
        projected = ops.matmul(flat, kernel)
        bias = self.input_bias()
        if bias is not None:
            projected = ops.add(projected, bias)
        return ops.reshape(projected, (*shape[:-1], self.gates * self.units))

    def step_constants(self):
        """Tensors the step needs every time (read once, outside the loop)."""
        return {"recurrent_kernel": ops.convert_to_tensor(self.recurrent_kernel)}

    def step(self, projected, states, constants, recurrent_mask=None):
        """One time step from the projected input.

        projected: ``(batch, gates * units)``; states: list of ``(batch, units)``;
        recurrent_mask: ``(batch, units)`` dropout mask on ``h_{t-1}`` or None.
        Returns ``(output, new_states)``.
        """
        raise NotImplementedError

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
        self._check_sequences_shape(sequences.shape)
        dtype = self.compute_dtype
        sequences = ops.cast(sequences, dtype)
        batch_size = ops.shape(sequences)[0]
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
        initial_state = [ops.cast(s, dtype) for s in initial_state]

        if isinstance(mask, (list, tuple)):
            mask = mask[0]

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

        outputs, last_output, states = self._loop(
            sequences, initial_state, mask, input_mask, recurrent_mask
        )

        if self.stateful:
            for variable, state in zip(self.states, states, strict=True):
                variable.assign(ops.cast(state, variable.dtype))

        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return [output, *states]
        return output

    def _loop(self, sequences, initial_state, mask, input_mask, recurrent_mask):
        """Returns (outputs (batch, time, units) or None, last_output, final_states)."""
        cell = self.cell
        dtype = self.compute_dtype
        # Time-major; transposing/reversing the narrow input is cheaper than the
        # projected one.
        x = tf.transpose(sequences, [1, 0, 2])
        if input_mask is not None:
            x = x * input_mask[None]
        if self.go_backwards:
            x = tf.reverse(x, [0])
        projected = cell.project_inputs(x)  # (time, batch, gates*units), hoisted
        steps = tf.shape(projected)[0]
        constants = cell.step_constants()

        mask_tm = None
        if mask is not None:
            mask_tm = tf.transpose(tf.cast(mask, tf.bool), [1, 0])  # (time, batch)
            if self.go_backwards:
                mask_tm = tf.reverse(mask_tm, [0])
            mask_tm = mask_tm[:, :, None]

        inputs_ta = tf.TensorArray(dtype, size=steps, clear_after_read=True).unstack(projected)
        mask_ta = None
        if mask_tm is not None:
            mask_ta = tf.TensorArray(tf.bool, size=steps).unstack(mask_tm)
        outputs_ta = tf.TensorArray(dtype, size=steps if self.return_sequences else 0)

        n_states = len(initial_state)

        def body(t, outputs_ta, *states):
            states = list(states)
            output, new_states = cell.step(inputs_ta.read(t), states, constants, recurrent_mask)
            if mask_ta is not None:
                m = mask_ta.read(t)
                new_states = [tf.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
                output = new_states[0]
            if self.return_sequences:
                outputs_ta = outputs_ta.write(t, output)
            return (t + 1, outputs_ta, *new_states)

        result = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), outputs_ta, *initial_state),
            maximum_iterations=steps,
        )
        outputs_ta, final_states = result[1], list(result[2 : 2 + n_states])
        last_output = final_states[0]
        outputs = None
        if self.return_sequences:
            outputs = tf.transpose(outputs_ta.stack(), [1, 0, 2])
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
        return outputs, last_output, final_states

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

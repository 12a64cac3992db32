"""The layer shell every recurrent layer shares: `RNNLayerBase`.

A layer (`SimpleRNN`, `LSTM`, `GRU`) is a thin shell over a cell
(`zoo.layers.cell`); the time loop is `zoo.layers.loop`. The shell holds Keras's
`RNN` arguments and semantics: masking (a masked step keeps the previous state;
outputs follow Keras: the previous output, or zeros before the first valid step or
when ``zero_output_for_mask``), ``initial_state``, ``go_backwards``,
``return_sequences``, ``return_state``, ``stateful``, ``unroll``, dropout masks
drawn once per sequence, and an optional trainable initial state. It also exposes
the cell's arguments as properties (``layer.units``, ``layer.dropout``, ...) and
advances one step at a time for streaming (`RNNLayerBase.step`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops, regularizers
from keras.src.utils import tracking  # Keras's own RNN uses it for the stateful variables

from zoo.layers import autotune
from zoo.layers import loop as loop_module
from zoo.layers.arguments import check_bool
from zoo.layers.cudnn import cudnn_outputs
from zoo.layers.loop import run_plain, run_split, run_unrolled, run_with_bptt


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def cell_property(name):
    """A read-only layer property that returns the cell's argument ``name`` (as
    Keras's `LSTM.units` returns `LSTM.cell.units`)."""
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


class RNNLayerBase(keras.layers.Layer):
    """Runs a `RecurrentCell` over a sequence; the base of `SimpleRNN`, `LSTM`, `GRU`.

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        initial_state: list of ``(batch, units)`` tensors (one per state) or None.
        mask: ``(batch, timesteps)`` bool, True where a step is valid, or None.
        training: Python bool; dropout is applied only when True.

    Returns ``(batch, timesteps, units)`` if ``return_sequences`` else
    ``(batch, units)``; with ``return_state`` a tuple ``(output, *final_states)``.
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
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
        # A Python loop over the (static) time steps instead of a while loop.
        self.unroll = check_bool(unroll, "unroll")
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
        self.zero_output_for_mask = check_bool(zero_output_for_mask, "zero_output_for_mask")
        self.supports_masking = True
        self.states = None
        self.initial_state_weights = None

    # -- the cell's arguments, as Keras's layers expose them ----------------------------
    units = cell_property("units")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    seed = cell_property("seed")

    # -- shapes and masks ----------------------------------------------------------------
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
            return (output_shape, *[(batch, d) for d in self.state_size])
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
        if training:
            # On a GPU, Keras's cuDNN kernel where Keras would use it; None elsewhere.
            result = cudnn_outputs(self, sequences, initial_state, mask, input_mask)
            if result is not None:
                return self._finish_cudnn(*result)
        projected, mask_tm = self._project(sequences, input_mask, mask)
        args = (self.cell, projected, initial_state, mask_tm, recurrent_mask)
        if self.unroll:
            states_seq, final_states = run_unrolled(*args)
            return self._finish(sequences, states_seq, final_states, mask_tm)
        if training and self.cell.supports_bptt():
            # The loop that stores what the hand-written back-propagation through time
            # needs; inference runs the loop that stores nothing.
            run = run_with_bptt
        else:

            def run(*args):
                return run_plain(*args, sequence=self.return_sequences)

        parts = self._batch_parts(sequences)
        states_seq, final_states = run_split(run, *args, parts) if parts > 1 else run(*args)
        return self._finish(sequences, states_seq, final_states, mask_tm)

    #: 1: one loop over the batch; 2: two half-batch loops side by side
    #: (`zoo.layers.loop.run_split`); None: measured (`zoo.layers.autotune.split_batch`)
    #: for cells that allow it (`splits_batch`). Not serialized: speed, not values.
    batch_parts = None

    def _batch_parts(self, sequences):
        if self.batch_parts is not None:
            return self.batch_parts
        if not self.cell.splits_batch or not loop_module.SPLIT_ALLOWED:
            return 1
        shape = sequences.shape
        split = autotune.split_batch(type(self), shape[0], shape[-1], self.units, shape[1])
        return 2 if split else 1

    def _prepare(self, sequences, initial_state, training):
        """Checks the input; returns (initial states, input and recurrent dropout masks)."""
        self._check_sequences_shape(sequences.shape)
        if self.unroll and sequences.shape[1] is None:
            raise ValueError(
                f"Received an invalid value for argument 'unroll' of layer '{self.name}': "
                "unroll=True needs a static number of timesteps, got inputs of shape "
                f"{tuple(sequences.shape)}; pass unroll=False or a fixed-length input."
            )
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

        # Dropout masks are drawn once per sequence, as Keras's cells draw them: one
        # shared by the gates, or one per gate (`cell.dropout_mask_count`), input
        # masks first.
        input_mask = recurrent_mask = None
        if training:
            if cell.dropout > 0:
                shape = (batch_size, sequences.shape[-1])
                input_mask = self._dropout_masks(shape, cell.dropout)
            if cell.recurrent_dropout > 0:
                shape = (batch_size, self.units)
                recurrent_mask = self._dropout_masks(shape, cell.recurrent_dropout)
        return initial_state, input_mask, recurrent_mask

    def _dropout_masks(self, shape, rate):
        """One dropout mask of ``shape``, or a tuple of one per gate."""
        cell, count = self.cell, self.cell.dropout_mask_count
        ones = ops.ones(shape, dtype=self.compute_dtype)
        masks = tuple(
            keras.random.dropout(ones, rate=rate, seed=cell.seed_generator)
            for _ in range(count or 1)
        )
        return masks if count else masks[0]

    def _project(self, sequences, input_mask, mask):
        """The hoisted input projection and the mask, time-major in processing order:
        ``(time, batch, gates*units)`` and ``(time, batch, 1)`` bool or None."""
        # Transposing/reversing the narrow input is cheaper than the projected one.
        x = tf.transpose(tf.cast(sequences, self.compute_dtype), [1, 0, 2])
        per_gate = None
        if isinstance(input_mask, tuple):
            per_gate = tuple(m[None] for m in input_mask)
        elif input_mask is not None:
            x = x * input_mask[None]
        if self.go_backwards:
            x = tf.reverse(x, [0])
        # all steps at once, one block per gate
        projected = self.cell.project_inputs(x, per_gate)

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
            return (output, *final_states)
        return output

    def _finish_cudnn(self, last_output, outputs, final_states):
        """What `call` returns, from Keras's cuDNN kernel's results."""
        if self.stateful:
            for variable, state in zip(self.states, final_states, strict=True):
                variable.assign(ops.cast(state, variable.dtype))
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return (output, *final_states)
        return output

    # -- streaming -----------------------------------------------------------------------
    def step(self, inputs, states=None, mask=None):
        """Advance one time step, for streaming: the same step `call` runs.

        Args:
            inputs: ``(batch, features)``, the input at one time step.
            states: list of ``(batch, units)`` tensors (``[h]``; ``[h, c]`` for LSTM),
                e.g. the ``new_states`` of the previous step; None starts from the
                initial state (zeros, the trainable initial state, or the carried
                state of a stateful layer).
            mask: ``(batch,)`` bool or None; a masked row keeps its states and
                outputs its ``h``.

        Returns:
            ``(output, new_states)``: ``(batch, units)`` and the list of new states.
            Feeding a sequence step by step gives the outputs of `call` with
            ``return_sequences=True`` and its final states (a ``go_backwards``
            layer: feed the steps last to first). No dropout (inference). A
            stateful layer called without ``states`` also stores the new states.
        """
        inputs = ops.convert_to_tensor(inputs)
        if len(inputs.shape) != 2:
            raise ValueError(
                f"Received an invalid value for argument 'inputs' of {self.name}.step, "
                "expected a 2-D tensor of shape (batch, features), got shape "
                f"{tuple(inputs.shape)}."
            )
        if not self.built:
            self.build((inputs.shape[0], None, inputs.shape[-1]))
        carried = states is None and self.stateful
        if states is None:
            states = [v.value for v in self.states] if carried else None
            states = states or self.get_initial_state(ops.shape(inputs)[0])
        states = _as_list(states)
        if len(states) != len(self.state_size):
            raise ValueError(
                f"Received an invalid value for argument 'states' of {self.name}.step, "
                f"expected a list of {len(self.state_size)} tensor(s) of shape (batch, "
                f"{self.units}), got {len(states)}."
            )
        output, new_states = self.cell(inputs, states)
        if mask is not None:
            m = ops.reshape(ops.cast(mask, "bool"), (-1, 1))
            old = [ops.cast(s, new_states[0].dtype) for s in states]
            new_states = [ops.where(m, n, s) for n, s in zip(new_states, old, strict=True)]
            output = new_states[0]
        if carried:
            for variable, state in zip(self.states, new_states, strict=True):
                variable.assign(ops.cast(state, variable.dtype))
        return output, list(new_states)

    # -- config --------------------------------------------------------------------------
    def get_config(self):
        config = {
            **self.cell.arg_config(),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "trainable_initial_state": self.trainable_initial_state,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

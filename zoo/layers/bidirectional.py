"""`Bidirectional`: runs a recurrent layer forwards and a copy backwards, merges."""

from __future__ import annotations

import copy

import keras
import tensorflow as tf
from keras import ops

from zoo.layers.lstm import LSTMCell
from zoo.layers.recurrent import RNNLayerBase, run_plain, run_with_bptt

MERGE_MODES = ("concat", "sum", "mul", "ave", None)

#: LSTM directions of at most this many units use the wide step (`LSTMCell.wide`).
#: Measured with `python -m zoo bench layers` (idle, ours/Keras, forward / training):
#: 32x500x32x128 wide 0.98-1.02 / 0.98-1.06 against per-gate 1.05-1.08 / 1.06-1.24;
#: 64x100x64x128 wide 0.93 / 1.08 against 1.00 / 1.20; but 64x100x64x256 per-gate
#: 0.92 / 0.74 against wide 0.98 / 0.83.
WIDE_LSTM_UNITS = 128


def _check_recurrent(layer, argument):
    if not isinstance(layer, RNNLayerBase):
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected a zoo "
            "recurrent layer (zoo.layers.SimpleRNN, LSTM or GRU), got "
            f"{type(layer).__name__}: {layer!r}."
        )


@keras.saving.register_keras_serializable(package="zoo")
class Bidirectional(keras.layers.Layer):
    """Bidirectional wrapper; drop-in for `keras.layers.Bidirectional` over zoo layers.

    Args:
        layer: a zoo recurrent layer; a copy of it runs forwards.
        merge_mode: how the two outputs are combined: ``"concat"`` (default,
            ``(..., 2*units)``), ``"sum"``, ``"mul"``, ``"ave"`` or None (a list of
            both outputs).
        backward_layer: optional zoo recurrent layer run backwards (it must have
            ``go_backwards=True``); by default a copy of ``layer`` with
            ``go_backwards=True``.

    Call arguments as the wrapped layer; ``initial_state`` is the forward states
    followed by the backward states. With ``return_sequences`` the backward outputs
    are flipped back to input order, and masked steps output zeros (as Keras does).
    Weights: the forward layer's, then the backward layer's.
    """

    # Running both directions in one loop (batched matmul over a direction axis) is
    # implemented and exact, but measured slower on CPU than two loops that TensorFlow
    # runs concurrently (BLSTM 64x100x64x256: forward 1.3x, training 1.25x), so off.
    fuse_directions = False

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        _check_recurrent(layer, "layer")
        if backward_layer is not None:
            _check_recurrent(backward_layer, "backward_layer")
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                "Received an invalid value for argument 'merge_mode', expected one of "
                f"'concat', 'sum', 'mul', 'ave' or None, got {merge_mode!r}."
            )
        super().__init__(**kwargs)
        # Fresh copies so the wrapper never shares weights or state with `layer`.
        config = keras.saving.serialize_keras_object(layer)
        config["config"]["name"] = "forward_" + layer.name.removeprefix("forward_")
        self.forward_layer = keras.saving.deserialize_keras_object(config)
        if backward_layer is None:
            config = keras.saving.serialize_keras_object(layer)
            config["config"]["go_backwards"] = not layer.go_backwards
            config["config"]["name"] = "backward_" + layer.name.removeprefix("backward_")
            self.backward_layer = keras.saving.deserialize_keras_object(config)
        else:
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Received an invalid value for argument 'backward_layer', expected "
                f"go_backwards={not self.forward_layer.go_backwards} (the opposite of "
                f"'layer'), got go_backwards={self.backward_layer.go_backwards}."
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            forward = getattr(self.forward_layer, attribute)
            backward = getattr(self.backward_layer, attribute)
            if forward != backward:
                raise ValueError(
                    f"Received an invalid value for argument 'backward_layer', expected "
                    f"{attribute}={forward} (as 'layer'), got {attribute}={backward}."
                )
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
            # Two directions already keep both cores busy: a small LSTM then runs
            # faster with one wide product per step than with four per-gate ones.
            if isinstance(sub.cell, LSTMCell) and sub.cell.units <= WIDE_LSTM_UNITS:
                sub.cell.wide = True
        self.merge_mode = merge_mode
        self.stateful = self.forward_layer.stateful
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.supports_masking = True

    @property
    def states(self):
        if self.forward_layer.states and self.backward_layer.states:
            return tuple(self.forward_layer.states + self.backward_layer.states)
        return None

    def reset_state(self):
        """Zero the carried states of a stateful wrapper."""
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        self.reset_state()

    def build(self, sequences_shape, initial_state_shape=None):
        if not self.forward_layer.built:
            self.forward_layer.build(sequences_shape)
        if not self.backward_layer.built:
            self.backward_layer.build(sequences_shape)
        self.built = True

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        if self.merge_mode == "mul":
            return y * y_rev
        return [y, y_rev]

    def _can_fuse(self):
        """Both directions can run in one loop: same cell arithmetic, nothing that
        needs the inner layers' own `__call__` (activity regularizers, dtypes)."""
        forward, backward = self.forward_layer, self.backward_layer
        f, b = forward.cell, backward.cell
        return (
            type(f) is type(b)
            and f.units == b.units
            and f.activation is b.activation
            and f.recurrent_activation is b.recurrent_activation
            and f.use_bias == b.use_bias
            and getattr(f, "reset_after", None) == getattr(b, "reset_after", None)
            and forward.activity_regularizer is None
            and backward.activity_regularizer is None
            and forward.compute_dtype == backward.compute_dtype == self.compute_dtype
        )

    def _call_fused(self, sequences, forward_state, backward_state, mask, training):
        """Both directions in one loop: a direction axis in front of the batch, one
        batched matmul per step for the two recurrent kernels (half the steps' ops)."""
        layers = (self.forward_layer, self.backward_layer)
        prepared = [
            layer._prepare(sequences, state, training)
            for layer, state in zip(layers, (forward_state, backward_state), strict=True)
        ]
        projected, masks = zip(
            *[
                layer._project(sequences, input_mask, mask)
                for layer, (_, input_mask, _) in zip(layers, prepared, strict=True)
            ],
            strict=True,
        )
        cell = layers[0].cell
        # Per gate block: (time, 2, batch, units).
        stacked_projected = tuple(
            tf.stack(blocks, axis=1) for blocks in zip(*projected, strict=True)
        )
        stacked_mask = None if masks[0] is None else tf.stack(masks, axis=1)
        initial_state = [
            tf.stack(pair, axis=0) for pair in zip(*[p[0] for p in prepared], strict=True)
        ]
        recurrent_masks = [p[2] for p in prepared]
        recurrent_mask = None
        if any(m is not None for m in recurrent_masks):
            ones = tf.ones_like(initial_state[0][0])
            recurrent_mask = tf.stack([ones if m is None else m for m in recurrent_masks])
        constants = {}
        f_consts, b_consts = (layer.cell.step_constants() for layer in layers)
        for name, value in f_consts.items():
            both = tf.stack([tf.convert_to_tensor(v) for v in (value, b_consts[name])])
            constants[name] = both[:, None] if len(value.shape) == 1 else both  # biases
        args = (cell, stacked_projected, initial_state, stacked_mask, recurrent_mask, constants)
        if training and cell.supports_bptt():
            states_seq, final_states = run_with_bptt(*args)
        else:
            states_seq, final_states = run_plain(*args, sequence=self.return_sequences)
        return [
            layer._finish(
                sequences,
                None if states_seq is None else states_seq[:, d],
                [s[d] for s in final_states],
                masks[d],
            )
            for d, layer in enumerate(layers)
        ]

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = list(initial_state)
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        if self.fuse_directions and self._can_fuse():
            y, y_rev = self._call_fused(
                sequences, forward_state, backward_state, mask, bool(training)
            )
        else:
            y = self.forward_layer(
                sequences, initial_state=forward_state, mask=mask, training=training
            )
            y_rev = self.backward_layer(
                sequences, initial_state=backward_state, mask=mask, training=training
            )
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = self._merge(y, y_rev)
        if self.return_state:
            if self.merge_mode is None:
                return [*output, *states]
            return [output, *states]
        return output

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        output_shape = self.forward_layer.compute_output_shape(sequences_shape)
        state_shapes = []
        if self.return_state:
            output_shape, state_shapes = output_shape[0], list(output_shape[1:])
        if self.merge_mode == "concat":
            output_shape = (*output_shape[:-1], output_shape[-1] * 2)
        outputs = [output_shape, output_shape] if self.merge_mode is None else [output_shape]
        if self.return_state:
            return [*outputs, *state_shapes, *state_shapes]
        return outputs if self.merge_mode is None else output_shape

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = len(self.forward_layer.state_size)
            return masks + [None] * (2 * n_states)
        return masks if self.merge_mode is None else output_mask

    def get_config(self):
        config = {
            "merge_mode": self.merge_mode,
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        config["layer"] = keras.saving.deserialize_keras_object(
            config["layer"], custom_objects=custom_objects
        )
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = keras.saving.deserialize_keras_object(
                backward, custom_objects=custom_objects
            )
        return cls(**config)

"""`Bidirectional`: runs a recurrent layer forwards and a copy backwards, merges."""

from __future__ import annotations

import copy

import keras
from keras import ops

from zoo.layers.autotune import wide_lstm_step
from zoo.layers.keras_twins import KERAS_LAYERS, unidirectional_from_keras
from zoo.layers.lstm import LSTMCell
from zoo.layers.recurrent import RNNLayerBase

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _as_zoo_recurrent(layer, argument):
    """`layer` if it is ours, converted if it is a Keras recurrent layer, else an error."""
    if isinstance(layer, RNNLayerBase):
        return layer
    if type(layer) in KERAS_LAYERS:
        return unidirectional_from_keras(layer)
    raise ValueError(
        f"Received an invalid value for argument '{argument}', expected a zoo "
        "recurrent layer (zoo.layers.SimpleRNN, LSTM or GRU) or a keras.layers."
        f"SimpleRNN, LSTM or GRU, got {type(layer).__name__}: {layer!r}."
    )


@keras.saving.register_keras_serializable(package="zoo")
class Bidirectional(keras.layers.Layer):
    """Bidirectional wrapper; drop-in for `keras.layers.Bidirectional` over zoo layers.

    Args:
        layer: a zoo recurrent layer, or a `keras.layers.SimpleRNN`, `LSTM` or `GRU`
            (converted to ours, `zoo.layers.from_keras`); a copy of it runs forwards.
        merge_mode: how the two outputs are combined: ``"concat"`` (default,
            ``(..., 2*units)``), ``"sum"``, ``"mul"``, ``"ave"`` or None (a tuple of
            both outputs).
        backward_layer: optional recurrent layer (zoo or Keras, as ``layer``) run
            backwards (it must have ``go_backwards=True``); by default a copy of
            ``layer`` with ``go_backwards=True``.
        weights: optional list of initial weights (forward layer's, then backward
            layer's), set when the layer is built.

    Call arguments as the wrapped layer; ``initial_state`` is the forward states
    followed by the backward states. With ``return_sequences`` the backward outputs
    are flipped back to input order, and masked steps output zeros (as Keras does).
    Outputs are in the wrapper's compute dtype (float16 under ``mixed_float16``, as
    Keras's); states in the inner layers'. Weights: the forward layer's, then the
    backward layer's.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        layer = _as_zoo_recurrent(layer, "layer")
        if backward_layer is not None:
            backward_layer = _as_zoo_recurrent(backward_layer, "backward_layer")
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
            # the two directions already run side by side, one loop per core
            sub.batch_parts = 1
        self.merge_mode = merge_mode
        self.initial_weights = None if weights is None else list(weights)
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
        if self.initial_weights is not None:
            self.set_weights(self.initial_weights)
            self.initial_weights = None

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        if self.merge_mode == "mul":
            return y * y_rev
        return (y, y_rev)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = list(initial_state)
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        self._choose_lstm_step(sequences)
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(
            sequences, initial_state=backward_state, mask=mask, training=training
        )
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        y = ops.cast(y, self.compute_dtype)
        y_rev = ops.cast(y_rev, self.compute_dtype)
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = self._merge(y, y_rev)
        if self.return_state:
            if self.merge_mode is None:
                return (*output, *states)
            return (output, *states)
        return output

    def _choose_lstm_step(self, sequences):
        """Large LSTM directions run the wide step where it is the faster one on this
        machine (`zoo.layers.autotune`); the layout changes speed, not values."""
        for cell in (self.forward_layer.cell, self.backward_layer.cell):
            if isinstance(cell, LSTMCell):
                shape, layer_class = sequences.shape, type(self.forward_layer)
                cell.wide = wide_lstm_step(shape[0], shape[-1], cell.units, layer_class)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        output_shape = self.forward_layer.compute_output_shape(sequences_shape)
        state_shapes = []
        if self.return_state:
            output_shape, state_shapes = output_shape[0], list(output_shape[1:])
        if self.merge_mode == "concat":
            output_shape = (*output_shape[:-1], output_shape[-1] * 2)
        outputs = (output_shape, output_shape) if self.merge_mode is None else (output_shape,)
        if self.return_state:
            return (*outputs, *state_shapes, *state_shapes)
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

    def step(self, inputs, states=None, mask=None):
        """Not available: the backward direction at step t reads the steps after t, so a
        bidirectional layer cannot stream. Stream `forward_layer.step` alone, or run
        the wrapper on the whole sequence."""
        raise NotImplementedError(
            f"{self.name}.step: a Bidirectional layer cannot advance one step at a time "
            "(its backward direction needs the rest of the sequence); call it on the "
            "whole sequence, or stream a unidirectional layer."
        )

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

"""Keras's unidirectional recurrent layers and ours, one to one.

`KERAS_LAYERS` maps `keras.layers.SimpleRNN` / `LSTM` / `GRU` to our classes and
`unidirectional_from_keras` converts one such layer. Both `zoo.layers.bidirectional`
(which accepts a Keras layer as a direction) and `zoo.layers.convert` (whole models)
build on this module, so neither has to import the other's caller.
"""

from __future__ import annotations

import keras

from zoo.layers.gru import GRU
from zoo.layers.lstm import LSTM
from zoo.layers.simple_rnn import SimpleRNN

#: Keras's recurrent layers and ours (exact classes: a subclass may change the call)
KERAS_LAYERS = {
    keras.layers.SimpleRNN: SimpleRNN,
    keras.layers.LSTM: LSTM,
    keras.layers.GRU: GRU,
}


def build_like(ours, theirs) -> None:
    """Build `ours` on the input shape `theirs` was built on."""
    shapes = getattr(theirs, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None)
    if shape is None:
        cell = getattr(theirs, "cell", None) or theirs.forward_layer.cell
        batch = theirs.states[0].shape[0] if getattr(theirs, "states", None) else None
        shape = (batch, None, cell.kernel.shape[0])
    ours.build(tuple(shape))


def copy_carried_states(mine, keras_layer) -> None:
    """The current states of a stateful layer (not weights, so `set_weights` skips them)."""
    if mine.stateful and mine.states is not None and keras_layer.states is not None:
        for variable, value in zip(mine.states, keras_layer.states, strict=True):
            variable.assign(value.value)


def unidirectional_from_keras(layer, weights: bool = True) -> keras.layers.Layer:
    """Our `SimpleRNN` / `LSTM` / `GRU` equal to a Keras one (exact class, see `KERAS_LAYERS`).

    Same config (name included) and ``use_cudnn``; with `weights` and a built `layer`,
    ours is built on the same input shape and gets its weights and carried states.
    """
    ours = KERAS_LAYERS[type(layer)].from_config(layer.get_config())
    if hasattr(layer, "use_cudnn"):  # not in Keras's config
        ours.use_cudnn = layer.use_cudnn
    if weights and layer.built:
        build_like(ours, layer)
        ours.set_weights(layer.get_weights())
        copy_carried_states(ours, layer)
    return ours

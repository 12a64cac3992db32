"""From Keras's recurrent layers to ours: layers, whole models and weight files.

* `from_keras(layer)`: our layer equal to a `keras.layers.SimpleRNN`, `LSTM`, `GRU`
  or `Bidirectional` (same config; same weights if it is built).
* `convert(model, weights=None)`: a copy of a Functional or Sequential Keras model
  (or a saved ``.keras`` file) with every such layer replaced by ours and the same
  weights, so it gives the same outputs.
* `load_weights(model, path)`: weights from a Keras 3 ``.weights.h5`` / ``.keras``
  file, or from a Keras 2 (tf-keras) ``.h5`` file, including the layouts of
  cuDNN-trained layers (`keras.layers.CuDNNGRU` / `CuDNNLSTM` of Keras 2: per-gate
  transposed kernels, GRU biases ``(6*units,)``, LSTM biases ``(8*units,)``), which
  Keras 3 no longer reads.
"""

from __future__ import annotations

import os

import h5py
import keras
import numpy as np

from zoo.layers.bidirectional import Bidirectional
from zoo.layers.gru import GRU
from zoo.layers.keras_twins import (
    KERAS_LAYERS,
    build_like,
    copy_carried_states,
    unidirectional_from_keras,
)
from zoo.layers.lstm import LSTM
from zoo.layers.recurrent import RNNLayerBase


def is_keras_recurrent(layer) -> bool:
    """True for a `keras.layers.SimpleRNN`, `LSTM`, `GRU` or a `Bidirectional` of them."""
    if type(layer) is keras.layers.Bidirectional:
        return all(type(sub) in KERAS_LAYERS for sub in (layer.forward_layer, layer.backward_layer))
    return type(layer) in KERAS_LAYERS


def from_keras(layer, weights: bool = True) -> keras.layers.Layer:
    """Our layer equal to a Keras recurrent layer.

    Args:
        layer: a `keras.layers.SimpleRNN`, `LSTM`, `GRU` or `Bidirectional` of those
            (a zoo layer is returned unchanged).
        weights: copy the weights of a built layer (ours is then built on the same
            input shape).

    Returns:
        The zoo layer with the same config (name included) and ``use_cudnn``, and the
        current states of a stateful layer.
    """
    if isinstance(layer, (RNNLayerBase, Bidirectional)):
        return layer
    if not is_keras_recurrent(layer):
        raise ValueError(
            "Received an invalid value for argument 'layer', expected a "
            "keras.layers.SimpleRNN, LSTM, GRU, or a keras.layers.Bidirectional of "
            f"those, or a zoo recurrent layer, got {type(layer).__name__}: {layer!r}."
        )
    if not isinstance(layer, keras.layers.Bidirectional):
        return unidirectional_from_keras(layer, weights=weights)
    config = layer.get_config()
    ours = Bidirectional(
        from_keras(layer.forward_layer, weights=False),
        merge_mode=layer.merge_mode,
        backward_layer=from_keras(layer.backward_layer, weights=False),
        name=config["name"],
        trainable=config["trainable"],
        dtype=config["dtype"],
    )
    if weights and layer.built:
        build_like(ours, layer)
        ours.set_weights(layer.get_weights())
        copy_carried_states(ours.forward_layer, layer.forward_layer)
        copy_carried_states(ours.backward_layer, layer.backward_layer)
    return ours


def _clone_layer(layer):
    if is_keras_recurrent(layer):
        return from_keras(layer, weights=False)
    return layer.__class__.from_config(layer.get_config())


def convert(model, weights=None) -> keras.Model:
    """The same model on our recurrent layers.

    Args:
        model: a Functional or Sequential `keras.Model` (nested models included), or
            the path of a ``.keras`` file.
        weights: optional weight file to load into the converted model instead of
            copying the model's weights: Keras 3 ``.weights.h5``, or a Keras 2 ``.h5``
            (see `load_weights`).

    Returns:
        A new model whose `keras.layers.SimpleRNN`, `LSTM`, `GRU` and `Bidirectional`
        layers are `zoo.layers`' (same names, configs and weights); other layers are
        fresh copies with the same weights. The original model is unchanged.
    """
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model)
    if not isinstance(model, keras.Model) or not (
        isinstance(model, keras.Sequential) or model.__class__.__name__ == "Functional"
    ):
        raise ValueError(
            "Received an invalid value for argument 'model', expected a Functional or "
            "Sequential keras.Model or the path of a .keras file, got "
            f"{type(model).__name__}. A subclassed model cannot be cloned: build it "
            "with zoo.layers (or zoo.layers.from_keras(layer)) instead."
        )
    converted = keras.models.clone_model(model, clone_function=_clone_layer, recursive=True)
    if weights is not None:
        load_weights(converted, weights)
    else:
        converted.set_weights(model.get_weights())
    return converted


def load_weights(model, path) -> None:
    """Load a weight file into `model` (e.g. one made by `convert`).

    ``.keras`` and Keras 3 ``.weights.h5`` files go through `model.load_weights`
    (our layers keep Keras's weight names and order). A Keras 2 ``.h5`` file (the
    ``layer_names`` layout of tf-keras, whole model or weights only) is read here,
    layer by layer in order, converting cuDNN layouts as tf-keras did.
    """
    path = os.fspath(path)
    if path.endswith(".h5") and not path.endswith(".weights.h5"):
        with h5py.File(path, "r") as file:
            group = file["model_weights"] if "model_weights" in file else file
            if "layer_names" in group.attrs:
                _load_keras2_group(model, group)
                return
    model.load_weights(path)


def _names(group, name):
    values = group.attrs.get(name, [])
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _load_keras2_group(model, group):
    names = [n for n in _names(group, "layer_names") if _names(group[n], "weight_names")]
    layers = [layer for layer in model.layers if layer.weights]
    if len(names) != len(layers):
        raise ValueError(
            f"Received a Keras 2 weight file with {len(names)} layers with weights "
            f"({', '.join(names)}), but the model has {len(layers)} "
            f"({', '.join(layer.name for layer in layers)})."
        )
    for name, layer in zip(names, layers, strict=True):
        saved = group[name]
        values = [np.asarray(saved[w]) for w in _names(saved, "weight_names")]
        layer.set_weights(keras2_weights(layer, values))


def keras2_weights(layer, values):
    """Keras 2 weight values of one layer in the layout `layer` (ours) expects.

    Converts the layouts of Keras 2's cuDNN layers (as tf-keras's
    ``_convert_rnn_weights`` does): each gate block of the input kernel is stored as
    the transpose of the block read in Fortran order, each recurrent block
    transposed; `CuDNNLSTM` keeps an input and a recurrent bias ``(8*units,)``
    (summed), `CuDNNGRU` ``(6*units,)`` (the two rows of ``reset_after=True``).
    """
    if isinstance(layer, Bidirectional):
        half = len(values) // 2
        return keras2_weights(layer.forward_layer, values[:half]) + keras2_weights(
            layer.backward_layer, values[half:]
        )
    if not isinstance(layer, (LSTM, GRU)) or len(values) != 3:
        return values
    kernel, recurrent, bias = values
    units, gates = recurrent.shape[0], recurrent.shape[1] // recurrent.shape[0]
    if bias.shape != (2 * gates * units,):
        return values  # already Keras's layout
    if isinstance(layer, GRU) and not layer.reset_after:
        raise ValueError(
            f"Received cuDNN GRU weights (bias of shape {bias.shape}) for layer "
            f"'{layer.name}' with reset_after=False; cuDNN GRU weights need "
            "reset_after=True."
        )
    kernel = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, gates)])
    recurrent = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    if isinstance(layer, LSTM):
        bias = np.sum(np.split(bias, 2), axis=0)
    else:
        bias = bias.reshape(2, -1)
    return [kernel, recurrent, bias]

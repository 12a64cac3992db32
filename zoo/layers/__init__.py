"""Our recurrent layers: `SimpleRNN`, `LSTM`, `GRU`, `Bidirectional`, their cells, `CRF`.

Drop-in compatible with the Keras layers of the same names (constructor arguments,
configs, weight layout), with one time loop shared by all (`zoo.layers.loop`).
`make_recurrent` builds one from a cell name, for the task models; `convert` moves a
Keras model (or weight file) onto these layers; `layer.step` advances one time step.
"""

from __future__ import annotations

import difflib

import keras

from zoo.layers.bidirectional import MERGE_MODES, Bidirectional
from zoo.layers.cell import RecurrentCell
from zoo.layers.convert import convert, from_keras, load_weights
from zoo.layers.crf import CRF, CRFLoss, iob2_constraints
from zoo.layers.gru import GRU, GRUCell
from zoo.layers.lstm import LSTM, LSTMCell
from zoo.layers.recurrent import RNNLayerBase
from zoo.layers.simple_rnn import SimpleRNN, SimpleRNNCell

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def make_recurrent(
    cell: str,
    units: int,
    *,
    bidirectional: bool = False,
    merge_mode: str | None = "concat",
    **kwargs,
) -> keras.layers.Layer:
    """A recurrent layer by cell name.

    Args:
        cell: one of ``"simple_rnn"``, ``"lstm"``, ``"gru"``.
        units: size of the state (per direction).
        bidirectional: wrap the layer in `Bidirectional`.
        merge_mode: `Bidirectional` merge mode (``"concat"``, ``"sum"``, ``"mul"``,
            ``"ave"`` or None); ignored unless ``bidirectional``.
        **kwargs: constructor arguments of the layer (``return_sequences``,
            ``dropout``, ...). With ``bidirectional``, ``name`` names the wrapper.

    Returns:
        A layer taking ``(batch, timesteps, features)`` and returning
        ``(batch, [timesteps,] units)`` (``2*units`` for a concatenating
        bidirectional layer).
    """
    if not isinstance(cell, str) or cell not in LAYERS:
        close = difflib.get_close_matches(str(cell), LAYERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Received an invalid value for argument 'cell', expected one of "
            f"{', '.join(repr(k) for k in LAYERS)}, got {cell!r}.{hint}"
        )
    if not bidirectional:
        return LAYERS[cell](units, **kwargs)
    name = kwargs.pop("name", None)
    return Bidirectional(LAYERS[cell](units, **kwargs), merge_mode=merge_mode, name=name)


__all__ = [
    "CRF",
    "GRU",
    "LSTM",
    "MERGE_MODES",
    "Bidirectional",
    "CRFLoss",
    "GRUCell",
    "LSTMCell",
    "RNNLayerBase",
    "RecurrentCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "convert",
    "from_keras",
    "iob2_constraints",
    "load_weights",
    "make_recurrent",
]

"""Our recurrent layers: `SimpleRNN`, `LSTM`, `GRU`, `Bidirectional`, their cells, `CRF`.

Drop-in compatible with the Keras layers of the same names (constructor arguments,
configs, weight layout), with one time loop shared by all (`zoo.layers.loop`).
`make_recurrent` builds one from a cell name, for the task models; `convert` moves a
Keras model (or weight file) onto these layers; `layer.step` advances one time step.

Every constructor argument, property, config key and weight of Keras's layers is
accepted with Keras's meaning; Keras's own test files for the four layers pass against
these (`tests/layers/test_keras_own_tests.py`). The differences, all of them known:

* ``use_cudnn=True`` without a usable GPU runs the portable loop (Keras raises at call
  time); on a GPU only training calls may use cuDNN (Keras also uses it for inference).
* The configs also hold ``use_cudnn``, ``implementation`` (LSTM, GRU) and ``seed``
  (SimpleRNN), which Keras leaves out, and our extra ``trainable_initial_state``.
* Invalid values raise where Keras is lenient: a dropout rate outside [0, 1) (Keras
  clips it), a non-integer ``units``, a non-boolean flag.
* `Bidirectional` wraps SimpleRNN, LSTM and GRU (ours, or Keras's converted to ours),
  not any Keras layer (e.g. not ``keras.layers.RNN(cell)`` or ConvLSTM); it has no
  fused bidirectional cuDNN path; its ``weights`` argument is applied when it is built
  (Keras 3 stores and ignores it).
* The classes are not subclasses of Keras's (``isinstance(zoo.layers.LSTM(2),
  keras.layers.LSTM)`` is False), and Keras's internal hooks (``RNN.inner_loop``,
  ``single_state``, ``LSTMCell._compute_carry_and_output``) do not exist.
* float32 results equal Keras's to about 1e-6, not bit for bit (the input projection
  is hoisted out of the loop and the products are per gate).
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

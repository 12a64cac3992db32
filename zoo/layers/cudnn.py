"""``use_cudnn``: Keras's cuDNN kernels for training steps on a GPU, nowhere else.

Keras's `LSTM` and `GRU` run TensorFlow's fused cuDNN kernel when a GPU is visible
and the configuration allows it (tanh/sigmoid, bias, no recurrent dropout, no
unrolling, right-padded masks). Our layers do the same for training steps only:
inference and every export keep the portable loop, so a SavedModel never contains a
``CudnnRNN*`` op, which would fail on CPU-only servers. Without a GPU (or with
``use_cudnn=False``) Keras's kernel raises `NotImplementedError` before building any
op and the portable loop runs.
"""

from __future__ import annotations

import importlib


def keras_rnn_module():
    """Keras's TensorFlow RNN kernels (`lstm`, `gru`); a module whose name its package
    shadows with the function `rnn`, hence the import by path."""
    return importlib.import_module("keras.src.backend.tensorflow.rnn")


def cudnn_outputs(layer, sequences, initial_state, mask, input_mask):
    """Keras's cuDNN kernel's ``(last_output, outputs, final_states)`` for one
    training call of `layer`, or None where Keras would not use it (no GPU,
    ``use_cudnn=False``, a SimpleRNN, recurrent dropout, ``unroll``, an activation
    cuDNN lacks).

    sequences: ``(batch, timesteps, features)``; initial_state: list of ``(batch,
    units)``; mask: ``(batch, timesteps)`` bool or None; input_mask: the input
    dropout mask ``(batch, features)`` or None.
    """
    cell = layer.cell
    if (
        getattr(layer, "cudnn_kernel", None) is None
        or getattr(layer, "use_cudnn", False) is False
        or cell.recurrent_dropout
        or layer.unroll
    ):
        return None
    if isinstance(input_mask, tuple):  # per-gate input masks (implementation 1)
        return None
    keras_rnn = keras_rnn_module()

    x = sequences if input_mask is None else sequences * input_mask[:, None, :]
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    kwargs = {
        "mask": mask,
        "kernel": cell.kernel,
        "recurrent_kernel": cell.recurrent_kernel,
        "bias": cell.bias,
        "activation": cell.activation,
        "recurrent_activation": cell.recurrent_activation,
        "return_sequences": layer.return_sequences,
        "go_backwards": layer.go_backwards,
    }
    try:
        if layer.cudnn_kernel == "lstm":
            last, outputs, states = keras_rnn.lstm(x, *initial_state, **kwargs)
        else:
            last, outputs, states = keras_rnn.gru(
                x, initial_state[0], reset_after=cell.reset_after, **kwargs
            )
    except NotImplementedError:
        return None
    return last, outputs, list(states)

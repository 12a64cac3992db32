"""Translation for TFLite and ONNX: ``encode`` and ``decode_step`` (`zoo.tasks.portable`).

`TranslatorRuntime.portable_functions` and `TranslatorRuntime.calibration_inputs` are
these two functions; `zoo.tasks.translation.client.TranslationClient` drives the
exported pair (tokenizing, greedy and beam search, detokenizing) like the SavedModel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks import portable


def state_names(structure) -> list[str] | None:
    """Names of the flattened `Translator.decode_state` leaves: ``state0`` (, ``state1``
    for an LSTM), ``memory``, ``keys``, ``mask``; None (numbered names) for another
    structure."""
    if isinstance(structure, tuple) and len(structure) == 4:
        rnn_states = structure[0]
        if isinstance(rnn_states, (tuple, list)):
            return [f"state{i}" for i in range(len(rnn_states))] + ["memory", "keys", "mask"]
    return None


def portable_functions(runtime) -> dict[str, Any]:
    """``encode``: ``source_ids`` int32 ``[1, Ts]`` (Ts >= 1, ids from the source
    vocabulary, 0 = padding) -> ``state0`` float32 ``[1, units]`` (``state1`` too for an
    LSTM), ``memory [1, Ts, d_m]``, ``keys [1, Ts, d_k]`` (the attention's projected
    memory), ``mask [1, Ts]`` (1.0 = a real token); ``decode_step``: ``tokens`` int32
    ``[N]`` + those with N rows -> ``logits`` float32 ``[N, V]``, ``new_state*`` and
    ``attention`` float32 ``[N, Ts]`` (this step's attention over the source)."""
    model = runtime.model
    names = state_names(model.decode_state(tf.ones([1, 1], tf.int32)))
    return portable.encoder_decoder_functions(
        model.decode_state,
        tf.TensorSpec([1, None], tf.int32, name="source_ids"),
        model.decode_step if names is None else _step_with_attention(model),
        names,
    )


def _step_with_attention(model):
    """`Translator.decode_step` plus its attention weights ``float32[N, Ts]`` as the
    per-step output ``attention`` (what the unknown-word copy reads): the attention of
    the new decoder output over the memory, the same ops on the same tensors as inside
    the step (a cell's output is its first new state)."""

    def step(tokens, state):
        logits, new = model.decode_step(tokens, state)
        _, memory, keys, mask = state
        _, weights = model.attention(new[0][0], memory, mask > 0, keys=keys)
        return logits, new, {"attention": tf.cast(weights, tf.float32)}

    return step


def calibration_inputs(runtime, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
    """Up to `n` inputs per portable function: the first `n` validation sentences' source
    ids and the decoder steps of their greedy translations (offline: the local split)."""
    texts, _ = data_lib.split_texts("validation", limit=n)
    ids = runtime.source_ids(tf.constant(texts)).numpy()
    encode = [{"source_ids": row[: max(1, int((row != 0).sum()))][None]} for row in ids]
    run = portable.tf_runner(portable_functions(runtime))
    encoded = [run("encode", x) for x in encode]
    steps = portable.calibration_steps(
        run, encoded, data_lib.START_ID, data_lib.END_ID, n, runtime.max_output_length
    )
    return {"encode": encode, "decode_step": steps}

"""`TranslationClient`: Spanish strings -> English strings over ``encode`` / ``decode_step``.

The runtime-independent half of a TFLite or ONNX translation export: source
tokenization (`zoo.data.translation.standardize_source`, the TensorFlow string ops of
the SavedModel, then a lookup in the exported source vocabulary), the decoding loop
(`zoo.tasks.portable`: NumPy greedy and beam search equal to `zoo.tasks.decoding`, with
the config's GNMT length penalty) and detokenization. ``run(fn_name, inputs)`` calls one
exported function, whatever runs it.

Generated index -> word is `TranslationClient.words` (and the token fed back is the
generated index itself): the one place to change for an output layer whose indices are
not plain target-vocabulary ids. It copies an out-of-vocabulary source word for each
[UNK] (`zoo.tasks.translation.copy`) with the attention ``decode_step`` returns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks import portable
from zoo.tasks.translation.copy import cased_source_tokens, replace_unknowns_np
from zoo.tasks.translation.model import model_config


def from_serving(outputs: dict) -> list[str]:
    """The SavedModel ``serving_default`` outputs (``{"translation": bytes[B]}`` or a
    scalar) -> English strings."""
    return [t.decode("utf-8") for t in np.asarray(outputs["translation"]).reshape(-1)]


class TranslationClient:
    """`predict` like ``zoo.load(name).predict`` (greedy) and `translate` with any beam,
    from the exported ``encode`` and ``decode_step``; one sentence at a time.

    Args:
        run: ``(fn_name, {input name: array}) -> {output name: array}``.
        assets: the preset's assets (``source_vocabulary``, ``target_vocabulary``).
        config: the preset's config (``model.beam_size``, ``model.length_penalty``,
            ``model.max_output_length``, ``data.max_source_length``).
    """

    def __init__(self, run: Callable[[str, dict], dict], assets: dict, config: dict):
        self.run = run
        self.source_index = {w: i for i, w in enumerate(assets["source_vocabulary"])}
        self.target_words = list(assets["target_vocabulary"])
        model_cfg = model_config(config.get("model"))
        self.beam_size = int(model_cfg["beam_size"])
        self.length_penalty = float(model_cfg["length_penalty"])
        self.max_output_length = int(model_cfg["max_output_length"])
        self.max_source_length = data_lib.data_config(config.get("data"))["max_source_length"]
        # the string ops compiled once per client: eagerly they cost milliseconds a call
        spec = [tf.TensorSpec([None], tf.string)]
        self._tokenize = tf.function(self._tokens, input_signature=spec)
        self._detokenize = tf.function(data_lib.detokenize, input_signature=spec)

    def _tokens(self, texts):
        """``string[B]`` -> (standardized source tokens ``string[B, T]``, the cased tokens
        the copy writes ``string[B, T]``), both truncated, ``""`` after each sentence."""
        source = tf.strings.split(data_lib.standardize_source(texts))[:, : self.max_source_length]
        width = tf.maximum(source.bounding_shape(axis=1), 1)
        cased = cased_source_tokens(texts, tf.cast(width, tf.int32), self.max_source_length)
        return source.to_tensor(""), cased

    def source_ids(self, texts: list[str]) -> tuple[list[np.ndarray], list[list[str]]]:
        """Spanish strings -> per string int32 ``[1, Ts]`` as `TranslatorRuntime.source_ids`
        (the graph's standardization; unknown words -> [UNK]; truncated; Ts >= 1) and its
        cased source tokens."""
        if not texts:
            return [], []
        tokens, cased = (t.numpy() for t in self._tokenize(tf.constant(texts, tf.string)))
        ids, words = [], []
        for row, cased_row in zip(tokens, cased):
            row = [t.decode("utf-8") for t in row if t]
            ids.append(
                np.asarray(
                    [[self.source_index.get(t, data_lib.UNK_ID) for t in row] or [0]], np.int32
                )
            )
            words.append([w.decode("utf-8") for w in cased_row[: ids[-1].shape[1]]])
        return ids, words

    def words(
        self, ids: np.ndarray, source_ids: np.ndarray, cased: list[str], outputs: dict
    ) -> list[str]:
        """Generated ids ``[L]`` -> the English tokens written (up to [END]; padding and
        special tokens dropped; each [UNK] replaced by its most attended out-of-vocabulary
        source word, `zoo.tasks.translation.copy`), as `TranslatorRuntime.ids_to_text`.
        `source_ids`: int32 ``[1, Ts]``; `cased`: the cased source tokens; `outputs`:
        ``decode_step``'s per-step outputs along the chosen hypothesis (``attention``
        float32 ``[L, Ts]``)."""
        ids = np.asarray(ids)
        copied = np.zeros(ids.shape, bool)
        words = [self.target_words[i] for i in ids]
        if "attention" in outputs and len(ids):
            words, copied = replace_unknowns_np(
                ids, outputs["attention"], source_ids[0], cased, self.target_words
            )
        out = []
        for i, word, copy in zip(ids, words, copied):
            if i == data_lib.END_ID:
                break
            if i > data_lib.END_ID or copy:
                out.append(str(word))
        return out

    def translate(self, inputs: list[str], *, beam_size: int = 1) -> list[str]:
        """Spanish strings -> English strings (greedy when `beam_size` is 1)."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(
                "Received an invalid value for argument 'beam_size', expected a positive "
                f"integer, got {beam_size!r}."
            )
        step = portable.numpy_step(self.run)
        joined = []
        for source, cased in zip(*self.source_ids(_check_strings(inputs))):
            ids, outputs = portable.decode(
                step,
                np.array([data_lib.START_ID], np.int32),
                self.run("encode", {"source_ids": source}),
                beam_size=beam_size,
                max_length=self.max_output_length,
                end_token=data_lib.END_ID,
                length_penalty=self.length_penalty,
            )
            per_step = {k: v[0] for k, v in outputs.items()}
            joined.append(" ".join(self.words(ids[0], source, cased, per_step)))
        if not joined:
            return []
        return [t.decode("utf-8") for t in self._detokenize(tf.constant(joined)).numpy()]

    def predict(self, inputs: list[str]) -> list[str]:
        """Spanish strings -> English strings (greedy, like the preset's `predict`)."""
        return self.translate(inputs, beam_size=1)


def _check_strings(inputs) -> list[str]:
    if isinstance(inputs, str):
        raise TypeError(
            "Received an invalid value for argument 'inputs', expected a list of strings, got "
            "a single string; wrap it in a list."
        )
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, str):
            raise TypeError(
                f"Received an invalid value for argument 'inputs[{i}]', expected str, got "
                f"{type(x).__name__}."
            )
    return inputs

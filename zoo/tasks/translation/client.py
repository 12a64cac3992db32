"""`TranslationClient`: Spanish strings -> English strings over ``encode`` / ``decode_step``.

The runtime-independent half of a TFLite or ONNX translation export: source
tokenization (`zoo.data.translation.standardize_source`, the TensorFlow string ops of
the SavedModel, then a lookup in the exported source vocabulary), the decoding loop
(`zoo.tasks.portable`: NumPy greedy and beam search equal to `zoo.tasks.decoding`, with
the config's GNMT length penalty) and detokenization. ``run(fn_name, inputs)`` calls one
exported function, whatever runs it.

Generated index -> word is `TranslationClient.words` (and the token fed back is the
generated index itself): the one place to change for an output layer whose indices are
not plain target-vocabulary ids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks import portable
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

    def source_ids(self, text: str) -> np.ndarray:
        """One Spanish string -> int32 ``[1, Ts]`` as `TranslatorRuntime.source_ids` (the
        graph's standardization; unknown words -> [UNK]; truncated; Ts >= 1)."""
        tokens = tf.strings.split(data_lib.standardize_source(tf.constant(text))).numpy()
        ids = [self.source_index.get(t.decode("utf-8"), data_lib.UNK_ID) for t in tokens]
        ids = ids[: self.max_source_length] or [data_lib.PAD_ID]
        return np.asarray([ids], np.int32)

    def words(self, ids: np.ndarray, text: str, source_ids: np.ndarray, outputs: dict) -> list[str]:
        """Generated ids ``[L]`` of `text` -> the English tokens written (up to [END];
        padding and special tokens dropped), as `TranslatorRuntime.ids_to_text`.
        `source_ids`: int32 ``[1, Ts]``; `outputs`: ``decode_step``'s per-step outputs
        along the chosen hypothesis (``{name: [L, ...]}``; none today)."""
        out = []
        for i in ids:
            if i == data_lib.END_ID:
                break
            if i > data_lib.END_ID:
                out.append(self.target_words[i])
        return out

    def translate(self, inputs: list[str], *, beam_size: int = 1) -> list[str]:
        """Spanish strings -> English strings (greedy when `beam_size` is 1)."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(
                "Received an invalid value for argument 'beam_size', expected a positive "
                f"integer, got {beam_size!r}."
            )
        step = portable.numpy_step(self.run)
        out = []
        for text in _check_strings(inputs):
            source = self.source_ids(text)
            ids, outputs = portable.decode(
                step,
                np.array([data_lib.START_ID], np.int32),
                self.run("encode", {"source_ids": source}),
                beam_size=beam_size,
                max_length=self.max_output_length,
                end_token=data_lib.END_ID,
                length_penalty=self.length_penalty,
            )
            joined = " ".join(
                self.words(ids[0], text, source, {k: v[0] for k, v in outputs.items()})
            )
            out.append(data_lib.detokenize(tf.constant(joined)).numpy().decode("utf-8"))
        return out

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

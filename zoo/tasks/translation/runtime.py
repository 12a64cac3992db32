"""`TranslatorRuntime`: raw Spanish strings -> English strings, all TensorFlow ops.

Built by `TranslationTask.runtime(model, assets, config)` (``zoo.load(...).runtime``).
`predict`, `translate`, `TranslationTask.evaluate` and the exported signatures all run
`translate_tensor`, so they agree by construction. Decoding settings (beam size, length
penalty, output and source lengths) come from the config, not from the Keras model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import translation as data_lib
from zoo.tasks.base import Runtime
from zoo.tasks.decoding import beam_search, greedy_search
from zoo.tasks.translation import portable
from zoo.tasks.translation.copy import copy_unknowns
from zoo.tasks.translation.model import Translator, model_config


class TranslatorRuntime(Runtime):
    """A `Translator` with its vocabularies: in-graph text <-> ids and decoding.

    Attributes:
        source_vectorizer: Keras ``TextVectorization`` for Spanish (tracked: its table).
        target_words: ``string[V]`` the target vocabulary.
        beam_size, length_penalty, max_output_length, max_source_length: from the config.
    """

    def __init__(self, model: Translator, assets: dict, config: dict, name: str | None = None):
        super().__init__(model, assets, config, name=name)
        model_cfg = model_config(config.get("model"))
        self.source_vectorizer, _ = data_lib.make_vectorizers(assets)
        self.target_words = tf.constant(list(assets["target_vocabulary"]))
        self.max_source_length = data_lib.data_config(config.get("data"))["max_source_length"]
        self.max_output_length = int(model_cfg["max_output_length"])
        self.length_penalty = float(model_cfg["length_penalty"])
        self.beam_size = int(model_cfg["beam_size"])
        # plain dict outside TF's object tracking: compiled functions are a cache, not state
        object.__setattr__(self, "compiled", {})
        object.__setattr__(self, "_portable", {})

    # -- in-graph pieces --------------------------------------------------------------
    def source_ids(self, strings):
        """``string[B]`` -> ``int32[B, Ts]`` (truncated to ``max_source_length``, Ts >= 1)."""
        ids = self.source_vectorizer(strings)[:, : self.max_source_length]
        ids = tf.cast(ids.to_tensor(default_value=0), tf.int32)
        pad = tf.maximum(1 - tf.shape(ids)[1], 0)  # an all-empty batch still has one column
        return tf.pad(ids, [[0, 0], [0, pad]])

    def ids_to_text(self, tokens, copies=None):
        """``int32[B, L]`` generated ids -> ``string[B]`` detokenized English (stops at
        [END]; special tokens dropped). `copies`: ``(words string[B, L], copied bool[B, L])``
        from `copy_unknowns`: those words are written, and copied [UNK]s are kept."""
        ended = (
            tf.cumsum(tf.cast(tf.equal(tokens, data_lib.END_ID), tf.int32), axis=1, exclusive=True)
            > 0
        )
        words, copied = copies or (tf.gather(self.target_words, tokens), False)
        keep = tf.logical_and((tokens > data_lib.END_ID) | copied, tf.logical_not(ended))
        words = tf.ragged.boolean_mask(words, keep)
        return data_lib.detokenize(tf.strings.reduce_join(words, axis=1, separator=" "))

    def decode(self, source, beam_size: int = 1):
        """``int32[B, Ts]`` -> generated ``int32[B, L]`` (greedy when `beam_size` is 1)."""
        state = self.model.decode_state(source)
        start = tf.fill([tf.shape(source)[0]], data_lib.START_ID)
        if beam_size == 1:
            tokens, _ = greedy_search(
                self.model.decode_step,
                start,
                state,
                max_length=self.max_output_length,
                end_token=data_lib.END_ID,
            )
        else:
            tokens, _ = beam_search(
                self.model.decode_step,
                start,
                state,
                beam_size=beam_size,
                max_length=self.max_output_length,
                end_token=data_lib.END_ID,
                length_penalty=self.length_penalty,
            )
        return tokens

    def translate_tensor(self, strings, beam_size: int = 1):
        """``string[B]`` -> ``string[B]`` (TensorFlow ops only; [UNK]s replaced by the
        attended out-of-vocabulary source word, `zoo.tasks.translation.copy`)."""
        source = self.source_ids(strings)
        tokens = self.decode(source, beam_size)
        args = (self.target_words, self.max_source_length)
        return self.ids_to_text(tokens, copy_unknowns(self.model, strings, source, tokens, *args))

    # -- Python API -------------------------------------------------------------------
    def translate(
        self,
        inputs: list[str],
        *,
        beam_size: int = 1,
        batch_size: int = 64,
        return_attention: bool = False,
    ) -> list:
        """Translate raw Spanish strings.

        Returns a list of English strings, or with `return_attention` a list of dicts
        ``{"translation", "source_tokens", "target_tokens", "attention": float32[Tt, Ts]}``
        (row t = the attention while producing target token t; the last row is for [END]).
        """
        inputs = _check_strings(inputs)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(
                "Received an invalid value for argument 'beam_size', expected a positive "
                f"integer, got {beam_size!r}."
            )
        fn = self.compiled.get(beam_size)
        if fn is None:
            fn = self.compiled[beam_size] = tf.function(
                lambda s: self.translate_tensor(s, beam_size), reduce_retracing=True
            )
        out = []
        for i in range(0, len(inputs), batch_size):
            chunk = tf.constant(inputs[i : i + batch_size], tf.string)
            out.extend(t.decode("utf-8") for t in fn(chunk).numpy())
        if not return_attention:
            return out
        return [self._attention_for(s, t) for s, t in zip(inputs, out)]

    def _attention_for(self, source_text: str, translation: str) -> dict:
        src = self.source_ids(tf.constant([source_text]))
        gen = self.decode(src, 1)  # greedy ids, deterministic
        ids = [int(i) for i in gen[0].numpy()]
        if data_lib.END_ID in ids:
            ids = ids[: ids.index(data_lib.END_ID) + 1]
        tgt_in = tf.constant([[data_lib.START_ID] + ids[:-1]], tf.int32) if ids else None
        words = self.target_words.numpy()
        src_words = data_lib.standardize_source(tf.constant(source_text)).numpy().decode()
        weights = (
            self.model.attention_weights(src, tgt_in)[0].numpy()
            if tgt_in is not None
            else np.zeros((0, src.shape[1]), np.float32)
        )
        n_src = int(np.sum(src.numpy()[0] != 0))
        return {
            "translation": translation,
            "source_tokens": src_words.split()[: self.max_source_length],
            "target_tokens": [words[i].decode() for i in ids],
            "attention": weights[:, :n_src],
        }

    # -- the Runtime contract ---------------------------------------------------------
    def predict(self, inputs: list) -> list:
        """Raw Spanish strings -> English strings (greedy decoding, like "serving_default")."""
        return self.translate(inputs, beam_size=1)

    def serving_functions(self) -> dict[str, Any]:
        """``serving_default``: ``text`` string, one sentence (a scalar) or a batch
        ``[B]`` -> ``{"translation": string}`` of the same shape (greedy, at most
        ``max_output_length`` tokens, input truncated to ``max_source_length``);
        ``beam_search``: the same with the config's beam size."""
        beam = self.beam_size
        spec = tf.TensorSpec(None, tf.string, name="text")

        def translation(text, beam_size):
            out = self.translate_tensor(tf.reshape(text, [-1]), beam_size)
            return {"translation": tf.reshape(out, tf.shape(text))}

        @tf.function(input_signature=[spec])
        def serving_default(text):
            return translation(text, 1)

        @tf.function(input_signature=[spec])
        def beam_search_fn(text):
            return translation(text, beam)

        return {"serving_default": serving_default, "beam_search": beam_search_fn}

    def portable_functions(self) -> dict[str, Any]:
        """``encode`` / ``decode_step`` for TFLite and ONNX (`zoo.tasks.translation.portable`)."""
        if not self._portable:
            self._portable.update(portable.portable_functions(self))
        return self._portable

    def calibration_inputs(self, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
        """Up to `n` validation inputs per portable function (`zoo.tasks.translation.portable`)."""
        return portable.calibration_inputs(self, n)

    def stored(self) -> TranslatorRuntime:
        """This runtime on the model as its preset stores it (`Translator.stored_copy`):
        `self` when rounding to float16 changes nothing."""
        copy = self.model.stored_copy()
        if copy is self.model:
            return self
        return TranslatorRuntime(copy, self.assets, self.config)


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

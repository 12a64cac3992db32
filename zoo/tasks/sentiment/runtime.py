"""`SentimentRuntime`: raw sentences -> label and probability, all in TensorFlow ops.

``serving_default(texts: tf.string [batch])`` -> ``{"label": tf.string [batch],
"probability": float32 [batch] (of that label), "positive_probability": float32
[batch]}``, with `zoo.data.sentiment.standardize`, a `StringLookup` over the saved
vocabulary and truncation to ``max_length`` tokens inside the graph.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo.data import sentiment as data
from zoo.tasks.base import Runtime, with_layer_config
from zoo.tasks.sentiment.model import check_assets

__all__ = ["SentimentRuntime", "check_inputs"]


def check_inputs(inputs) -> None:
    """`TypeError` unless `inputs` is a list (or tuple) of str."""
    if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)):
        raise TypeError(
            "Received an invalid value for argument 'inputs', expected a list of str, got "
            f"{type(inputs).__name__}."
        )
    for i, text in enumerate(inputs):
        if not isinstance(text, str):
            raise TypeError(
                f"Received an invalid value for argument 'inputs': item {i} is "
                f"{type(text).__name__} ({text!r}), expected str."
            )


class SentimentRuntime(Runtime):
    """The sentiment classifier with its vocabulary lookup and label names.

    Attributes:
        lookup: `StringLookup` with "" -> 0 (padding), "[UNK]" -> 1, vocabulary[i] -> i
            (the ids of training).
        label_names: tf.string ``[2]`` (negative, positive).
        max_length: tokens kept per text.
    """

    def __init__(self, model: keras.Model, assets: dict, config: dict):
        super().__init__(model, assets, config, name="sentiment_runtime")
        vocab, labels, max_length = check_assets(assets)
        self.lookup = keras.layers.StringLookup(
            vocabulary=vocab[2:],
            mask_token="",
            oov_token="[UNK]",
            num_oov_indices=1,
            output_mode="int",
        )
        self.label_names = tf.constant(labels)
        self.max_length = int(max_length)
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")]
        )

    def _serve(self, text):
        """tf.string [batch] -> {"label", "probability", "positive_probability"} [batch]."""
        tokens = data.tokenize(text)[:, : self.max_length]
        ids = tf.cast(self.lookup(tokens), tf.int32).to_tensor(default_value=0)
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
        p = tf.reshape(tf.cast(self.model(ids, training=False), tf.float32), [-1])
        positive = p >= 0.5
        return {
            "label": tf.gather(self.label_names, tf.cast(positive, tf.int32)),
            "probability": tf.where(positive, p, 1.0 - p),
            "positive_probability": p,
        }

    def predict(self, inputs: list) -> list[dict[str, Any]]:
        """Raw sentences -> ``[{"label": "positive"|"negative", "probability": p}, ...]``
        with `p` the probability of that label (>= 0.5). Text longer than
        ``max_length`` tokens is truncated; empty text gets the model's prior."""
        check_inputs(inputs)
        if not inputs:
            return []
        out = self.serve(tf.constant(list(inputs), tf.string))
        labels = [b.decode("utf-8") for b in out["label"].numpy()]
        probs = out["probability"].numpy().tolist()
        return [{"label": lab, "probability": float(p)} for lab, p in zip(labels, probs)]

    def serving_functions(self) -> dict[str, Any]:
        """``{"serving_default": f(texts: tf.string [batch]) -> {"label", "probability",
        "positive_probability"}}``; this module tracks the lookup table, so `zoo.export`
        saves it."""
        return {"serving_default": self.serve}

    def tflite_function(self):
        """The numeric model for TFLite builtins: ``token_ids`` int32 ``[1, time]`` (a
        static batch of one lets the recurrent loop lower to builtins; time >= 1) ->
        ``{"positive_probability": float32 [1]}``. A float16 embedding base is widened to
        float32 (exactly; TFLite's Gather has no float16)."""
        model = with_layer_config(
            self.model,
            "ScaledFineTuneEmbedding",
            "base_dtype",
            "float32",
            lambda w: w.astype(np.float32),
        )

        @tf.function(
            input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")],
            autograph=False,
        )
        def tflite(token_ids):
            p = tf.cast(model(token_ids, training=False), tf.float32)
            return {"positive_probability": tf.reshape(p, [1])}

        return tflite

"""`SentimentRuntime`: raw sentences -> label and probability, all in TensorFlow ops.

``serving_default(texts: tf.string [batch])`` -> ``{"label": tf.string [batch],
"probability": float32 [batch] (of that label), "positive_probability": float32
[batch]}``, with `zoo.data.sentiment.standardize`, a `StringLookup` over the saved
vocabulary and truncation to ``max_length`` tokens inside the graph; ``text`` may also
be a scalar string (a batch of one comes back).

Unidirectional models also get a streaming pair of signatures, ``initial_state`` and
``step`` (see `SentimentRuntime.streaming_functions`). For TFLite and ONNX the numeric
core is `SentimentRuntime.portable_functions` (``classify``); the string side is
`zoo.tasks.sentiment.client.SentimentClient`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo.data import sentiment as data
from zoo.layers.loop import one_step_per_iteration
from zoo.tasks.base import Runtime, masked_fill_value, with_layer_config
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
            self._serve, input_signature=[tf.TensorSpec(None, tf.string, name="text")]
        )
        object.__setattr__(self, "_portable", None)  # cache, untracked (not serving state)

    def _serve(self, text):
        """tf.string [batch] (or a scalar) -> {"label", "probability",
        "positive_probability"} [batch]."""
        tokens = data.tokenize(tf.reshape(text, [-1]))[:, : self.max_length]
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
        """``{"serving_default": f(text: tf.string [batch] or scalar) -> {"label",
        "probability", "positive_probability"}}``, plus ``initial_state`` and ``step``
        for unidirectional models (`streaming_functions`); this module tracks the lookup
        table, so `zoo.export` saves it."""
        return {"serving_default": self.serve, **self.streaming_functions()}

    def _float32_model(self) -> keras.Model:
        """The model with a float16 embedding base widened to float32 (exactly; TFLite's
        Gather has no float16, and ONNX Runtime's CPU Gather neither)."""
        return with_layer_config(
            self.model,
            "ScaledFineTuneEmbedding",
            "base_dtype",
            "float32",
            lambda w: w.astype(np.float32),
        )

    def portable_functions(self) -> dict[str, Any]:
        """``{"classify": f(token_ids int32 [1, time]) -> {"positive_probability": float32
        [1]}}``: the numeric model, for TFLite builtins and ONNX. A static batch of one
        lets the recurrent loop lower to builtins (time >= 1; id 0 is padding). Traced
        with one step per loop iteration (`one_step_per_iteration`, what tf2onnx
        converts)."""
        if self._portable is None:
            model = self._float32_model()

            @tf.function(
                input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")],
                autograph=False,
            )
            def classify(token_ids):
                p = tf.cast(model(token_ids, training=False), tf.float32)
                return {"positive_probability": tf.reshape(p, [1])}

            with one_step_per_iteration():
                classify.get_concrete_function()
            object.__setattr__(self, "_portable", {"classify": classify})
        return self._portable

    def tflite_function(self):
        """Alias of ``portable_functions()["classify"]`` (the former TFLite entry point)."""
        return self.portable_functions()["classify"]

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Raw strings -> one int32 ``[1, time]`` array per string, as ``classify`` takes
        them (the serving graph's tokenization and truncation; an empty text is one
        padding id)."""
        tokens = data.tokenize(tf.constant(list(texts), tf.string))[:, : self.max_length]
        rows = tf.cast(self.lookup(tokens), tf.int32).to_list()
        return [np.asarray([row or [0]], np.int32) for row in rows]

    def calibration_inputs(self, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
        """Up to `n` validation sentences as ``classify`` inputs (offline, for int8)."""
        cfg = data.check_data_cfg(self.config["data"])
        raw = data.read_split(cfg["dataset"], "validation", data_dir=cfg["data_dir"]).take(n)
        texts = [t.numpy().decode("utf-8") for t, _ in raw]
        return {"classify": [{"token_ids": ids} for ids in self.token_ids(texts)]}

    # -- streaming ------------------------------------------------------------------------
    def _recurrent_layers(self) -> list:
        return [layer for layer in self.model.layers if layer.name.startswith("recurrent_")]

    def streaming_functions(self) -> dict[str, Any]:
        """For unidirectional models, ``initial_state(batch_size: int32 scalar) ->
        {"state": float32 [batch, S]}`` and ``step(text: tf.string [batch], state) ->
        {"state", "label", "probability", "positive_probability"}``: feed a text in pieces
        (split at whitespace; each piece is tokenized like ``serving_default`` does) and
        read the answer for everything fed so far; the tokens of all pieces fed equal to
        those of the whole text give the whole text's answer (float rounding apart).

        ``state`` packs, per example: each recurrent layer's states (``h`` [, ``c``]),
        the pooling accumulators (running max and sum of the last layer's outputs) and
        the number of tokens seen (tokens after ``max_length`` are ignored, as the full
        call truncates). Bidirectional models have none: their backward direction reads
        the sentence from its end, which a stream does not have yet. Returns ``{}`` then.
        """
        layers = self._recurrent_layers()
        if not layers or any(not hasattr(layer, "state_size") for layer in layers):
            return {}  # bidirectional: no step (read from the model, not the config)
        units = [[int(u) for u in layer.state_size] for layer in layers]
        features = units[-1][0]
        names = {layer.name for layer in self.model.layers}
        pooling = self.model.get_layer("pooling").mode if "pooling" in names else "final"
        embedding = self.model.get_layer("embedding")
        head = [
            self.model.get_layer(n)
            for n in ("dense", "probability")
            if n in {layer.name for layer in self.model.layers}
        ]
        size = sum(sum(u) for u in units) + 2 * features + 1
        fill = masked_fill_value(tf.float32)

        def unpack(state):
            parts, i = [], 0
            for u in units:
                layer_states = []
                for k in u:
                    layer_states.append(state[:, i : i + k])
                    i += k
                parts.append(layer_states)
            run_max = state[:, i : i + features]
            run_sum = state[:, i + features : i + 2 * features]
            count = state[:, -1]
            return parts, run_max, run_sum, count

        def outputs(states, run_max, run_sum, count):
            valid = tf.cast(count > 0, tf.float32)[:, None]
            last_h = states[-1][0]
            pooled = {
                "final": [last_h],
                "max": [run_max * valid],
                "mean": [run_sum / tf.maximum(count, 1.0)[:, None]],
            }
            pooled["max_mean"] = pooled["max"] + pooled["mean"]
            x = tf.concat(pooled[pooling], axis=-1)
            for layer in head:
                x = layer(x)
            p = tf.reshape(tf.cast(x, tf.float32), [-1])
            positive = p >= 0.5
            packed = tf.concat(
                [s for layer_states in states for s in layer_states]
                + [run_max, run_sum, count[:, None]],
                axis=-1,
            )
            return {
                "state": packed,
                "label": tf.gather(self.label_names, tf.cast(positive, tf.int32)),
                "probability": tf.where(positive, p, 1.0 - p),
                "positive_probability": p,
            }

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
        def initial_state(batch_size):
            states = [
                [tf.cast(s, tf.float32) for s in layer.get_initial_state(batch_size)]
                for layer in layers
            ]
            run_max = tf.fill([batch_size, features], fill)
            run_sum = tf.zeros([batch_size, features])
            return {
                "state": tf.concat(
                    [s for ls in states for s in ls]
                    + [run_max, run_sum, tf.zeros([batch_size, 1])],
                    axis=-1,
                )
            }

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([None, size], tf.float32, name="state"),
            ]
        )
        def step(text, state):
            tokens = data.tokenize(text).to_tensor("")
            ids = tf.cast(self.lookup(tokens), tf.int32)  # [batch, k], 0 = padding
            states, run_max, run_sum, count = unpack(state)
            for t in tf.range(tf.shape(ids)[1]):
                mask = tf.not_equal(ids[:, t], 0) & (count < self.max_length)
                x = tf.cast(embedding(ids[:, t]), tf.float32)
                new_states = []
                for layer, layer_states in zip(layers, states):
                    x, layer_states = layer.step(x, layer_states, mask=mask)
                    new_states.append([tf.cast(s, tf.float32) for s in layer_states])
                states = new_states
                x = tf.cast(x, tf.float32)
                m = mask[:, None]
                run_max = tf.where(m, tf.maximum(run_max, x), run_max)
                run_sum = tf.where(m, run_sum + x, run_sum)
                count = count + tf.cast(mask, tf.float32)
            return outputs(states, run_max, run_sum, count)

        return {"initial_state": initial_state, "step": step}

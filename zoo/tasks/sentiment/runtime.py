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
from zoo.layers.loop import portable_loops
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
        inside `portable_loops` (the loops the converters handle)."""
        if self._portable is None:
            model = self._float32_model()

            @tf.function(
                input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")],
                autograph=False,
            )
            def classify(token_ids):
                p = tf.cast(model(token_ids, training=False), tf.float32)
                return {"positive_probability": tf.reshape(p, [1])}

            with portable_loops():
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

    def _head(self) -> tuple[str, list]:
        """The pooling mode and the layers after it (``dense`` if any, ``probability``)."""
        names = {layer.name for layer in self.model.layers}
        pooling = self.model.get_layer("pooling").mode if "pooling" in names else "final"
        return pooling, [self.model.get_layer(n) for n in ("dense", "probability") if n in names]

    def streaming_functions(self) -> dict[str, Any]:
        """For unidirectional models, ``initial_state(batch_size: int32 scalar) ->
        {"state": float32 [batch, S]}`` and ``step(text: tf.string [batch], state) ->
        {"state", "label", "probability", "positive_probability"}``: feed a text in pieces
        (split at whitespace; each piece is tokenized like ``serving_default`` does) and
        read the answer for everything fed so far; the tokens of all pieces fed equal to
        those of the whole text give the whole text's answer (float rounding apart).

        ``state`` packs, per example, what `StreamState` lists (tokens after
        ``max_length`` are ignored, as the full call truncates). Bidirectional models
        have none: their backward direction reads the sentence from its end, which a
        stream does not have yet. Returns ``{}`` then.
        """
        layers = self._recurrent_layers()
        if not layers or any(not hasattr(layer, "state_size") for layer in layers):
            return {}  # bidirectional: no step (read from the model, not the config)
        layout = StreamState([[int(u) for u in layer.state_size] for layer in layers])
        pooling, head = self._head()
        embedding = self.model.get_layer("embedding")

        def answer(states, run_max, run_sum, count):
            x = tf.concat(pooled_features(pooling, states[-1][0], run_max, run_sum, count), axis=-1)
            for layer in head:
                x = layer(x)
            p = tf.reshape(tf.cast(x, tf.float32), [-1])
            positive = p >= 0.5
            return {
                "state": layout.pack(states, run_max, run_sum, count),
                "label": tf.gather(self.label_names, tf.cast(positive, tf.int32)),
                "probability": tf.where(positive, p, 1.0 - p),
                "positive_probability": p,
            }

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
        def initial_state(batch_size):
            return {"state": layout.initial(layers, batch_size)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
                tf.TensorSpec([None, layout.size], tf.float32, name="state"),
            ]
        )
        def step(text, state):
            tokens = data.tokenize(text).to_tensor("")
            ids = tf.cast(self.lookup(tokens), tf.int32)  # [batch, k], 0 = padding
            states, run_max, run_sum, count = layout.unpack(state)
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
            return answer(states, run_max, run_sum, count)

        return {"initial_state": initial_state, "step": step}


class StreamState:
    """The layout of the streaming ``state``, float32 ``[batch, size]``: per example,
    each recurrent layer's states (``h`` [, ``c``]) in layer order, the pooling
    accumulators (running max and running sum of the last layer's outputs, ``features``
    wide each) and the number of tokens seen (one column).

    Args:
        units: per recurrent layer, the width of each of its states
            (``layer.state_size``); the last layer's first state is its output.
    """

    def __init__(self, units: list[list[int]]):
        self.units = units
        self.features = units[-1][0]
        self.size = sum(sum(u) for u in units) + 2 * self.features + 1

    def pack(self, states, run_max, run_sum, count) -> tf.Tensor:
        """Per-layer state lists, ``run_max``/``run_sum`` [batch, features] and
        ``count`` [batch] -> float32 [batch, size]."""
        flat = [s for layer_states in states for s in layer_states]
        return tf.concat(flat + [run_max, run_sum, count[:, None]], axis=-1)

    def unpack(self, state):
        """float32 [batch, size] -> ``(states, run_max, run_sum, count)``, as `pack`
        takes them."""
        parts, i = [], 0
        for u in self.units:
            layer_states = []
            for k in u:
                layer_states.append(state[:, i : i + k])
                i += k
            parts.append(layer_states)
        run_max = state[:, i : i + self.features]
        run_sum = state[:, i + self.features : i + 2 * self.features]
        return parts, run_max, run_sum, state[:, -1]

    def initial(self, layers: list, batch_size) -> tf.Tensor:
        """The packed state before any token: each layer's initial state, the running max
        at the masked fill value (so any output beats it), zero sum and count."""
        states = [
            [tf.cast(s, tf.float32) for s in layer.get_initial_state(batch_size)]
            for layer in layers
        ]
        run_max = tf.fill([batch_size, self.features], masked_fill_value(tf.float32))
        run_sum = tf.zeros([batch_size, self.features])
        return self.pack(states, run_max, run_sum, tf.zeros([batch_size]))


def pooled_features(pooling: str, last_h, run_max, run_sum, count) -> list:
    """The pooled features the head reads, as the model's pooling layer gives them after
    ``count`` [batch] tokens: "final" the last output ``last_h``, "max" the running max
    (zero before any token), "mean" the running mean, "max_mean" both; each [batch,
    features]."""
    valid = tf.cast(count > 0, tf.float32)[:, None]
    out = {
        "final": [last_h],
        "max": [run_max * valid],
        "mean": [run_sum / tf.maximum(count, 1.0)[:, None]],
    }
    out["max_mean"] = out["max"] + out["mean"]
    return out[pooling]

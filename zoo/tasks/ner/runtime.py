"""`NERRuntime`: raw text -> tokens, IOB2 tags and entities, all in TensorFlow ops; plus
the decoding every path shares (`decode_tags`: Viterbi with a CRF, else argmax, then
`repair_iob2`).

For TFLite and ONNX the numeric core is `NERRuntime.portable_functions` (``tag``); the
string side is `zoo.tasks.ner.client.NERClient`. There is no streaming ``step``
signature: every NER model here is bidirectional (and CRF-decoded), so a token's tag
depends on the tokens after it (see `NERRuntime.streaming_functions`)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo.data import ner as ner_data
from zoo.layers.loop import portable_loops
from zoo.tasks.base import Runtime, with_layer_config
from zoo.tasks.ner.model import TAGS, crf_layer
from zoo.tasks.ner.text import check_inputs, entities_from_tags, spans_from_tags, vectorize_one

__all__ = [
    "NERRuntime",
    "decode_tags",
    "entities_from_tags",
    "pre_rounded",
    "repair_iob2",
    "serve",
    "spans_from_tags",
]


def repair_iob2(tag_ids):
    """Make IOB2 valid: an ``I-X`` whose previous tag is neither ``B-X`` nor ``I-X``
    becomes ``B-X``. Tag ids in `TAGS` order (O=0, B-X odd, I-X = B-X + 1).

    Args: int32 [B, T]. Returns: int32 [B, T].
    """
    tag_ids = tf.cast(tag_ids, tf.int32)
    prev = tf.pad(tag_ids[:, :-1], [[0, 0], [1, 0]])
    is_inside = (tag_ids > 0) & (tag_ids % 2 == 0)
    same_type = (prev > 0) & ((prev - 1) // 2 == (tag_ids - 1) // 2)
    return tf.where(is_inside & ~same_type, tag_ids - 1, tag_ids)


def decode_tags(model: keras.Model, inputs: dict) -> tf.Tensor:
    """Emissions -> tag ids int32 [B, T] (Viterbi with a CRF, else argmax), IOB2-valid,
    0 (= "O") at padding. Graph-compatible."""
    emissions = model(inputs, training=False)
    mask = tf.not_equal(inputs["words"], 0)
    crf = crf_layer(model)
    if crf is not None:
        tags = crf.decode(emissions, mask)
    else:
        tags = tf.argmax(emissions, axis=-1, output_type=tf.int32)
    tags = tf.where(mask, tags, 0)
    return repair_iob2(tags)


def pre_rounded(model: keras.Model) -> keras.Model:
    """For export: a copy of `model` whose float16-storage word table is rounded to
    float16 once, here, and then stored as float32 ("float32" storage). Outputs are the
    same bit for bit (rounding commutes with the row gather), and the exported graphs
    (SavedModel, TFLite) hold a plain float32 table with no float16 casts at all.
    Returns `model` itself when there is nothing to do."""
    return with_layer_config(
        model,
        "WordEmbedding",
        "storage",
        "float32",
        lambda w: w.astype(np.float16).astype(np.float32),
    )


class NERRuntime(Runtime):
    """The tagger with its vocabulary lookups (Keras `StringLookup`s built from the
    assets) and compiled decode / predict functions.

    Attributes:
        vectorize: `zoo.data.ner.make_vectorizer` over the assets (tokens -> ids).
        word_lookup, char_lookup: its lookup layers (tracked, so export saves them).
        tag_names: tf.string [9], `TAGS`.
    """

    def __init__(self, model: keras.Model, assets: dict, config: dict):
        super().__init__(model, assets, config, name="ner_runtime")
        self.vectorize = ner_data.make_vectorizer(assets)
        self.word_lookup = self.vectorize.word_lookup
        self.char_lookup = self.vectorize.char_lookup
        self.tag_names = tf.constant(list(TAGS))
        self.decode = tf.function(
            lambda inputs: decode_tags(model, inputs), reduce_retracing=True, autograph=False
        )
        self._predict = tf.function(
            lambda text: serve(model, self, text), reduce_retracing=True, autograph=False
        )
        object.__setattr__(self, "_portable", None)  # cache, untracked (not serving state)

    def collect(self, dataset: tf.data.Dataset) -> tuple[list[list[str]], list[list[str]]]:
        """(gold tag lists, predicted tag lists) over a dataset of (inputs, tags int32
        [B, T], -1 at padding)."""
        y_true, y_pred = [], []
        for batch in dataset:
            inputs, gold = batch[0], batch[1].numpy()
            pred = self.decode(inputs).numpy()
            for g, p in zip(gold, pred):
                n = int((g >= 0).sum())
                y_true.append([TAGS[i] for i in g[:n]])
                y_pred.append([TAGS[i] for i in p[:n]])
        return y_true, y_pred

    def predict(self, inputs: list) -> list[dict[str, Any]]:
        """Raw strings -> ``[{"tokens": [str], "tags": [str], "entities": [{"text",
        "type", "start", "end"}]}]`` (start/end: token indices, end exclusive; text: the
        entity's tokens joined by a space)."""
        check_inputs(inputs)
        if not inputs:
            return []
        out = self._predict(tf.constant(inputs, tf.string))
        results = []
        for b in range(len(inputs)):
            n = int(out["lengths"][b])
            tokens = [t.decode("utf-8") for t in out["tokens"][b, :n].numpy()]
            tags = [t.decode("utf-8") for t in out["tags"][b, :n].numpy()]
            results.append(
                {"tokens": tokens, "tags": tags, "entities": entities_from_tags(tokens, tags)}
            )
        return results

    def serving_functions(self) -> dict[str, Any]:
        """``serving_default``: tf.string [B] raw texts (or one scalar string: B = 1) ->
        ``{"tokens": string [B, T], "tags": string [B, T]`` (padding ""),
        ``"lengths": int32 [B]``, ``"entities": string [B, E]`` ("TYPE:text", padding ""),
        ``"entity_starts"`` / ``"entity_ends"``: int32 [B, E] token indices (end
        exclusive, padding -1)``}``. The word table is pre-rounded (`pre_rounded`)."""
        serving_model = pre_rounded(self.model)

        @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="text")])
        def serving_default(text):
            return serve(serving_model, self, text)

        return {"serving_default": serving_default}

    def streaming_functions(self) -> dict[str, Any]:
        """None offered (``{}``). A streaming ``step`` needs a unidirectional model: with a
        bidirectional layer a token's tag depends on every later token (and the CRF's
        Viterbi pass re-decides earlier tags), so no state carried forward gives the
        whole-sentence tags; re-run ``serving_default`` on the text so far instead."""
        if not self.config["model"].get("bidirectional", True):
            raise NotImplementedError(
                "Streaming NER (a 'step' signature) is not implemented for unidirectional "
                "models yet; every published NER preset is bidirectional."
            )
        return {}

    def portable_functions(self) -> dict[str, Any]:
        """``{"tag": f(words, chars, casing) -> {"emissions", "tags"}}``, the numeric model
        for TFLite builtins and ONNX, Viterbi included: ``words`` int32 ``[1, T]``,
        ``chars`` int32 ``[1, T, MAX_CHARS]``, ``casing`` int32 ``[1, T]`` -> ``emissions``
        float32 ``[1, T, 9]``, ``tags`` int32 ``[1, T]`` (ids in `TAGS` order, IOB2-valid,
        as `decode_tags`). Static batch (1) and character width (`MAX_CHARS`) let the
        converters lower the loops and slices; traced inside `portable_loops` (the
        loops the converters handle)."""
        if self._portable is not None:
            return self._portable
        specs = [
            tf.TensorSpec([1, None], tf.int32, name="words"),
            tf.TensorSpec([1, None, ner_data.MAX_CHARS], tf.int32, name="chars"),
            tf.TensorSpec([1, None], tf.int32, name="casing"),
        ]
        model = pre_rounded(self.model)
        crf = crf_layer(model)

        @tf.function(input_signature=specs, autograph=False)
        def tag(words, chars, casing):
            emissions = model({"words": words, "chars": chars, "casing": casing}, training=False)
            mask = tf.not_equal(words, 0)
            if crf is not None:
                tags = crf.decode(emissions, mask)
            else:
                tags = tf.argmax(emissions, axis=-1, output_type=tf.int32)
            tags = repair_iob2(tf.where(mask, tags, 0))
            return {"emissions": tf.cast(emissions, tf.float32), "tags": tags}

        with portable_loops():
            tag.get_concrete_function()
        object.__setattr__(self, "_portable", {"tag": tag})
        return self._portable

    def tflite_function(self):
        """Alias of ``portable_functions()["tag"]`` (the former TFLite entry point)."""
        return self.portable_functions()["tag"]

    def calibration_inputs(self, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
        """The first `n` validation sentences as ``tag`` inputs (offline, for int8)."""
        sents = ner_data.load_split("validation")[:n]
        return {"tag": [vectorize_one(self.vectorize, s["tokens"]) for s in sents]}


def serve(model: keras.Model, tables: NERRuntime, text: tf.Tensor) -> dict:
    """The graph behind `NERRuntime.predict` and ``serving_default`` (see
    `NERRuntime.serving_functions`): tf.string [B] -> tokens, tags and entities."""
    text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
    tokens = ner_data.tokenize(text).to_tensor("")  # [B, T]
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(tokens, ""), tf.int32), axis=1)
    # One padding column keeps T >= 1 for the layers; padding changes nothing.
    padded = tf.pad(tokens, [[0, 0], [0, 1]], constant_values="")
    inputs = tables.vectorize(padded)
    tag_ids = decode_tags(model, inputs)[:, :-1]
    tags = tf.where(tf.not_equal(tokens, ""), tf.gather(tables.tag_names, tag_ids), "")
    # Entities: consecutive B-X I-X... tokens; ids by a running count of B- tags.
    flat_ids = tf.reshape(tag_ids, [-1])
    flat_tokens = tf.reshape(tokens, [-1])
    t = tf.shape(tokens)[1]
    positions = tf.range(tf.size(flat_ids))
    is_begin = flat_ids % 2 == 1
    inside = flat_ids > 0
    entity_of = tf.cumsum(tf.cast(is_begin, tf.int32)) - 1
    num_entities = tf.reduce_sum(tf.cast(is_begin, tf.int32))
    segment = tf.where(inside, entity_of, num_entities)  # outside -> a dropped segment
    joined = tf.strings.unsorted_segment_join(flat_tokens, segment, num_entities + 1, " ")
    begins = tf.boolean_mask(positions, is_begin)
    types = tf.strings.substr(
        tf.gather(tables.tag_names, tf.boolean_mask(flat_ids, is_begin)), 2, -1
    )
    strings = tf.strings.join([types, joined[:-1]], separator=":")
    counts = tf.math.unsorted_segment_sum(tf.cast(inside, tf.int32), segment, num_entities + 1)
    rows = begins // t
    starts = begins % t
    ends = starts + counts[:-1]
    batch = tf.shape(tokens)[0]

    def ragged(values, pad):
        return tf.RaggedTensor.from_value_rowids(values, rows, nrows=batch).to_tensor(pad)

    return {
        "tokens": tokens,
        "tags": tags,
        "lengths": lengths,
        "entities": ragged(strings, ""),
        "entity_starts": ragged(starts, -1),
        "entity_ends": ragged(ends, -1),
    }

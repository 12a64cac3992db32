"""`NERClient`: raw text -> ``predict``'s tokens, tags and entities, around an exported
numeric ``tag`` function (TFLite, ONNX Runtime, or the `tf.function` itself).

Tokenization and the vocabulary lookups are the serving graph's own
(`zoo.data.ner.tokenize`, `zoo.data.ner.make_vectorizer` over the export's
``assets/*.json``); ``tag`` sees one sentence at a time (batch 1) and returns
Viterbi-decoded tag ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import ner as ner_data
from zoo.tasks.ner.model import TAGS
from zoo.tasks.ner.text import check_inputs, entities_from_tags, vectorize_one

__all__ = ["NERClient", "from_serving", "vectorize_one"]


class NERClient:
    """``predict(texts) -> [{"tokens", "tags", "entities"}]`` like ``zoo.load(name).predict``.

    Args:
        run: ``run("tag", {"words", "chars", "casing"}) -> {"tags": int32 [1, T], ...}``.
        assets: the preset's assets (``words``, ``chars``, ``tags``).
        config: the preset's config (unused; part of the client contract).
    """

    def __init__(self, run: Callable[[str, dict], dict], assets: dict, config: dict):
        self.run = run
        self.config = config
        self.tag_names = list(assets.get("tags", TAGS))
        self.vectorize = ner_data.make_vectorizer(assets)
        # One compiled call per batch of texts (eager string ops cost milliseconds each).
        self._prepare = tf.function(
            self._prepare_graph, input_signature=[tf.TensorSpec([None], tf.string)]
        )

    def _prepare_graph(self, text):
        tokens = ner_data.tokenize(text).to_tensor("")
        # One padding column keeps T >= 1 (an empty text is one padding token).
        inputs = self.vectorize(tf.pad(tokens, [[0, 0], [0, 1]], constant_values=""))
        width = ner_data.MAX_CHARS - tf.shape(inputs["chars"])[2]
        inputs["chars"] = tf.pad(inputs["chars"], [[0, 0], [0, 0], [0, width]])
        return tokens, {k: tf.cast(v, tf.int32) for k, v in inputs.items()}

    def prepare(self, texts: list[str]) -> list[tuple[list[str], dict[str, np.ndarray]]]:
        """Per text: its tokens and ``tag``'s inputs (batch 1; at least one token)."""
        tokens, inputs = self._prepare(tf.constant(list(texts), tf.string))
        tokens, inputs = tokens.numpy(), {k: v.numpy() for k, v in inputs.items()}
        out = []
        for b, row in enumerate(tokens):
            words = [t.decode("utf-8") for t in row if t]
            n = max(1, len(words))
            out.append((words, {k: v[b : b + 1, :n] for k, v in inputs.items()}))
        return out

    def predict(self, inputs: list) -> list[dict[str, Any]]:
        """Raw strings -> ``[{"tokens", "tags", "entities"}]`` (see `NERRuntime.predict`)."""
        check_inputs(inputs)
        results = []
        for tokens, x in self.prepare(list(inputs)) if inputs else []:
            out = self.run("tag", x)
            ids = np.reshape(out["tags"], [-1])[: len(tokens)]
            tags = [self.tag_names[int(i)] for i in ids]
            results.append(
                {"tokens": tokens, "tags": tags, "entities": entities_from_tags(tokens, tags)}
            )
        return results


def from_serving(outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The SavedModel ``serving_default`` outputs -> ``predict``'s list."""

    def text(v):
        return v.decode("utf-8") if isinstance(v, bytes) else str(v)

    results = []
    for b, n in enumerate(np.reshape(outputs["lengths"], [-1]).tolist()):
        tokens = [text(t) for t in outputs["tokens"][b][:n]]
        tags = [text(t) for t in outputs["tags"][b][:n]]
        results.append(
            {"tokens": tokens, "tags": tags, "entities": entities_from_tags(tokens, tags)}
        )
    return results

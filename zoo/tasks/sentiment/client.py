"""`SentimentClient`: raw sentences -> ``predict``'s answers, around an exported numeric
``classify`` function (TFLite, ONNX Runtime, or the `tf.function` itself).

The text side is the serving graph's own: `zoo.data.sentiment.tokenize` (TensorFlow
string ops, so tokens are exactly those of the SavedModel) and the vocabulary from the
export's ``assets/vocabulary.json``; ``classify`` sees one sentence at a time (batch 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import sentiment as data
from zoo.tasks.sentiment.model import check_assets
from zoo.tasks.sentiment.runtime import check_inputs

__all__ = ["SentimentClient", "from_serving"]


class SentimentClient:
    """``predict(texts) -> [{"label", "probability"}]`` like ``zoo.load(name).predict``.

    Args:
        run: ``run("classify", {"token_ids": int32 [1, time]}) ->
            {"positive_probability": float32 [1]}``.
        assets: the preset's assets (``vocabulary``, ``labels``, ``preprocessing``).
        config: the preset's config (unused; part of the client contract).
    """

    def __init__(self, run: Callable[[str, dict], dict], assets: dict, config: dict):
        vocab, labels, max_length = check_assets(assets)
        self.run = run
        self.labels = list(labels)
        self.max_length = int(max_length)
        self.config = config
        # "" -> 0 (padding), "[UNK]" -> 1, vocab[i] -> i: the training ids.
        self.ids = {token.encode("utf-8"): i for i, token in enumerate(vocab) if i >= 2}
        # One compiled call per batch of texts (eager string ops cost milliseconds each).
        self._tokenize = tf.function(
            lambda text: data.tokenize(text)[:, : self.max_length].to_tensor(""),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """One int32 ``[1, time]`` array per text (empty text: the single id 0)."""
        rows = self._tokenize(tf.constant(list(texts), tf.string)).numpy()
        return [
            np.asarray([[self.ids.get(t, 1) for t in row if t] or [0]], np.int32) for row in rows
        ]

    def positive_probabilities(self, texts: list[str]) -> np.ndarray:
        """P(positive) per text, float32 ``[len(texts)]``."""
        out = [self.run("classify", {"token_ids": ids}) for ids in self.token_ids(texts)]
        return np.asarray([np.reshape(o["positive_probability"], [-1])[0] for o in out], np.float32)

    def predict(self, inputs: list) -> list[dict[str, Any]]:
        """Raw sentences -> ``[{"label", "probability"}]`` (probability of that label)."""
        check_inputs(inputs)
        if not inputs:
            return []
        return [_answer(self.labels, p) for p in self.positive_probabilities(list(inputs))]


def _answer(labels: list[str], p: float) -> dict[str, Any]:
    p = float(p)
    return {"label": labels[int(p >= 0.5)], "probability": p if p >= 0.5 else 1.0 - p}


def from_serving(outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The SavedModel ``serving_default`` outputs -> ``predict``'s list."""
    labels = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in outputs["label"]]
    probs = np.reshape(outputs["probability"], [-1]).tolist()
    return [{"label": lab, "probability": float(p)} for lab, p in zip(labels, probs)]

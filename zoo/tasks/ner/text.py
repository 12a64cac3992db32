"""The plain side of NER that the runtime and the export client share: the check on raw
inputs, one sentence's tokens -> the numeric ``tag`` function's inputs, and IOB2 tags ->
entities. No model here, so both can import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import ner as ner_data

__all__ = ["check_inputs", "entities_from_tags", "spans_from_tags", "vectorize_one"]


def spans_from_tags(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity in a valid IOB2 sequence; end exclusive."""
    spans = []
    start = None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == spans[-1][0]):
            spans[-1] = (spans[-1][0], start, i)
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            spans.append((tag[2:], i, i))
            start = i
    return spans


def entities_from_tags(tokens: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """``[{"text", "type", "start", "end"}]`` of the IOB2 `tags` over `tokens`."""
    return [
        {"text": " ".join(tokens[s:e]), "type": typ, "start": s, "end": e}
        for typ, s, e in spans_from_tags(tags)
    ]


def check_inputs(inputs) -> None:
    """`TypeError` unless `inputs` is a list (or tuple) of str."""
    if isinstance(inputs, str):
        raise TypeError("Received a str for argument 'inputs'; expected a list of str.")
    for i, x in enumerate(inputs):
        if not isinstance(x, str):
            raise TypeError(
                f"Received an invalid value for argument 'inputs': item {i} is "
                f"{type(x).__name__}, expected str."
            )


def vectorize_one(vectorize, tokens: list) -> dict[str, np.ndarray]:
    """One sentence's tokens -> ``tag``'s inputs (``words``, ``chars`` padded to
    `MAX_CHARS`, ``casing``; batch 1); no tokens -> one padding token."""
    row = [t.encode("utf-8") if isinstance(t, str) else t for t in tokens] or [b""]
    x = {k: np.asarray(v) for k, v in vectorize(tf.constant([row])).items()}
    width = ner_data.MAX_CHARS - x["chars"].shape[2]
    x["chars"] = np.pad(x["chars"], [(0, 0), (0, 0), (0, width)])
    return {k: v.astype(np.int32) for k, v in x.items()}

"""`CaptioningClient`: raw images -> captions over an export's ``encode`` / ``decode_step``.

The runtime-independent half of a TFLite or ONNX captioning export: image decoding and
resizing (`zoo.tasks.captioning.runtime.one_image`, the same TensorFlow ops as the
preset), the decoding loop (`zoo.tasks.portable`: NumPy greedy and beam search, equal to
the in-graph `zoo.tasks.decoding`) and detokenization. ``run(fn_name, inputs)`` calls one
exported function, whatever runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from zoo.data import captioning as cdata
from zoo.tasks import portable
from zoo.tasks.captioning.runtime import one_image, settings


def caption_text(ids, vocabulary: list[str]) -> str:
    """Generated ids (one caption) -> its text, cut at ``<end>``; as
    `zoo.tasks.captioning.runtime.ids_to_strings` does in-graph."""
    ids = [int(i) for i in ids]
    if cdata.END_ID in ids:
        ids = ids[: ids.index(cdata.END_ID)]
    text = " ".join(vocabulary[i] for i in ids)
    text = re.sub(r"\s+([).,!:])", r"\1", text, flags=re.ASCII)
    return re.sub(r"\(\s+", "(", text, flags=re.ASCII)


def from_serving(outputs: dict) -> list[str]:
    """The SavedModel ``serving_default`` outputs (``{"captions": bytes[B]}``) -> captions."""
    return [c.decode("utf-8") for c in np.asarray(outputs["captions"]).reshape(-1)]


class CaptioningClient:
    """`predict` like ``zoo.load(name).predict`` (beam search with the config's
    ``eval_beam_size``) from the exported ``encode`` and ``decode_step``.

    Args:
        run: ``(fn_name, {input name: array}) -> {output name: array}``.
        assets: the preset's assets (``vocabulary``).
        config: the preset's config (``model.max_length``, ``model.eval_beam_size``,
            ``data.image_size``).
    """

    def __init__(self, run: Callable[[str, dict], dict], assets: dict, config: dict):
        self.run = run
        self.vocabulary = list(assets["vocabulary"])
        s = settings(config)
        self.max_length, self.beam_size, self.image_size = (
            s["max_length"],
            s["beam_size"],
            s["image_size"],
        )

    def decode_arrays(self, images: np.ndarray, *, beam_size: int | None = None) -> list[str]:
        """float32 ``[B, S, S, 3]`` in [0, 1] -> B captions (decoded together: the batch
        of ``decode_step`` is B x beam)."""
        beam_size = self.beam_size if beam_size is None else beam_size
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(
                f"Received an invalid value for argument 'beam_size', expected a positive "
                f"integer, got {beam_size!r}."
            )
        if len(images) == 0:
            return []
        states = portable.concat_states(
            [self.run("encode", {"image": np.asarray(x[None], np.float32)}) for x in images]
        )
        ids, _ = portable.decode(
            portable.numpy_step(self.run),
            np.full([len(images)], cdata.START_ID, np.int32),
            states,
            beam_size=beam_size,
            max_length=self.max_length,
            end_token=cdata.END_ID,
        )
        return [caption_text(row, self.vocabulary) for row in ids]

    def predict(self, inputs: list, *, beam_size: int | None = None) -> list[str]:
        """Images (paths, encoded bytes, PIL images or arrays, as the preset's `predict`
        takes them) -> captions (beam search with ``eval_beam_size`` unless `beam_size`)."""
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        images = [one_image(x, self.image_size).numpy() for x in inputs]
        out = []
        for i in range(0, len(images), 32):  # a bounded decode_step batch
            out += self.decode_arrays(np.stack(images[i : i + 32]), beam_size=beam_size)
        return out

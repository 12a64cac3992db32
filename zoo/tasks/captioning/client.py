"""`CaptioningClient`: raw images -> captions over an export's ``encode`` / ``decode_step``.

The runtime-independent half of a TFLite or ONNX captioning export: image decoding and
resizing (`zoo.tasks.captioning.runtime.one_image`, the same TensorFlow ops as the
preset), the decoding loop (`zoo.tasks.portable`: NumPy greedy and beam search, equal to
the in-graph `zoo.tasks.decoding`), detokenization and, for a calibrated preset (the
export's ``assets/calibration.json``), the caption's confidence and the "no confident
caption" answer (`zoo.tasks.captioning.confidence`; the caption's log-probabilities by
teacher forcing through ``decode_step``, ``pooled`` from ``encode``). ``run(fn_name,
inputs)`` calls one exported function, whatever runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.data import captioning as cdata
from zoo.tasks import portable
from zoo.tasks.captioning import confidence as conf
from zoo.tasks.captioning.runtime import one_image, settings

#: Images per ``decode_step`` batch (times the beam size while searching).
CHUNK = 32


def caption_text(ids, vocabulary: list[str]) -> str:
    """Generated ids (one caption) -> its text, cut at ``<end>``; as
    `zoo.tasks.captioning.runtime.ids_to_strings` does in-graph."""
    ids = [int(i) for i in ids]
    if cdata.END_ID in ids:
        ids = ids[: ids.index(cdata.END_ID)]
    text = " ".join(vocabulary[i] for i in ids)
    text = re.sub(r"\s+([).,!:])", r"\1", text, flags=re.ASCII)
    return re.sub(r"\(\s+", "(", text, flags=re.ASCII)


def from_serving(outputs: dict, with_confidence: bool = False) -> list:
    """The SavedModel ``serving_default`` outputs (``{"captions": bytes[B]}``, and for a
    calibrated preset ``confidence`` float32 ``[B]`` and ``confident`` bool ``[B]``) ->
    captions, or with `with_confidence` the dicts of
    `zoo.tasks.captioning.runtime.CaptioningRuntime.describe`."""
    captions = [c.decode("utf-8") for c in np.asarray(outputs["captions"]).reshape(-1)]
    if not with_confidence:
        return captions
    if "confidence" not in outputs or "confident" not in outputs:
        raise ValueError(
            "This captioning SavedModel returns no 'confidence' (its outputs are "
            f"{sorted(outputs)}): its preset had no calibration. Write one with "
            "`python -m zoo calibrate NAME --write` and export the preset again."
        )
    return conf.answers(
        captions,
        np.asarray(outputs["confidence"]).reshape(-1),
        np.asarray(outputs["confident"]).reshape(-1),
    )


def caption_log_probs(
    step: portable.NumpyStep, states: dict, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`zoo.tasks.captioning.confidence.caption_log_probs` over a `NumpyStep`: the
    captions' token log-probabilities by teacher forcing (``<start>``, then the ids).

    Args:
        step: the exported ``decode_step`` (`zoo.tasks.portable.numpy_step`).
        states: the ``encode`` outputs of the B images ``{name: [B, ...]}``.
        ids: int ``[B, L]`` generated tokens (``<end>`` then padding 0; a caption
            without ``<end>`` uses all L tokens).

    Returns:
        mean and min token log-probability float32 ``[B]`` over the caption's tokens,
        ``<end>`` included (the min taken with 0 at masked positions, as in-graph).
    """
    ids = np.asarray(ids, np.int32)
    batch, length = ids.shape
    is_end = ids == cdata.END_ID
    n = np.where(is_end.any(axis=1), is_end.argmax(axis=1) + 1, length)
    token = np.zeros([batch, length], np.float32)
    tokens = np.full([batch], cdata.START_ID, np.int32)
    for t in range(int(n.max(initial=0))):  # no step needed after the last <end>
        logits, states, _ = step(tokens, states)
        token[:, t] = portable.log_softmax(logits)[np.arange(batch), ids[:, t]]
        tokens = ids[:, t]
    masked = np.where(np.arange(length)[None] < n[:, None], token, np.float32(0))
    mean = masked.sum(axis=1, dtype=np.float32) / n.astype(np.float32)
    return mean, masked.min(axis=1, initial=np.float32(0))


class CaptioningClient:
    """`predict` like ``zoo.load(name).predict`` (beam search with the config's
    ``eval_beam_size``; `describe` and ``predict(..., with_confidence=True)`` add the
    calibrated confidence) from the exported ``encode`` and ``decode_step``.

    Args:
        run: ``(fn_name, {input name: array}) -> {output name: array}``.
        assets: the preset's assets (``vocabulary``; ``calibration`` when calibrated).
        config: the preset's config (``model.max_length``, ``model.eval_beam_size``,
            ``data.image_size``).

    Attributes:
        calibration: ``assets["calibration"]`` or None (then `describe` raises).
        no_caption_below: the calibration's threshold; set it to answer more or less.
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
        self.calibration = assets.get("calibration")
        self.no_caption_below = self.calibration["no_caption_below"] if self.calibration else None

    def _search(self, images: np.ndarray, beam_size: int) -> tuple[dict, np.ndarray]:
        """float32 ``[B, S, S, 3]`` -> the ``encode`` outputs ``{name: [B, ...]}`` and
        the generated ids int32 ``[B, L]``."""
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
        return states, ids

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
        _, ids = self._search(images, beam_size)
        return [caption_text(row, self.vocabulary) for row in ids]

    def scored_arrays(self, images: np.ndarray) -> dict[str, Any]:
        """float32 ``[N, S, S, 3]`` in [0, 1] -> the beam captions (``eval_beam_size``)
        and their confidence features, as the runtime's ``scored_arrays`` (in batches of
        `CHUNK`): ``{"captions": list[str], "mean_log_prob", "min_log_prob": float32
        [N], "pooled": float32 [N, F]}``."""
        step = portable.numpy_step(self.run)
        out = {"captions": [], "mean_log_prob": [], "min_log_prob": [], "pooled": []}
        for i in range(0, len(images), CHUNK):
            states, ids = self._search(images[i : i + CHUNK], self.beam_size)
            mean, low = caption_log_probs(step, states, ids)
            out["captions"] += [caption_text(row, self.vocabulary) for row in ids]
            out["mean_log_prob"].append(mean)
            out["min_log_prob"].append(low)
            out["pooled"].append(np.asarray(states["pooled"], np.float32))
        return {k: v if k == "captions" else np.concatenate(v) for k, v in out.items()}

    def _images(self, inputs) -> list[np.ndarray]:
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        return [one_image(x, self.image_size).numpy() for x in inputs]

    def describe(self, inputs: list, no_caption_below: float | None = None) -> list[dict]:
        """Images (as `predict` takes them) -> one dict each, as
        `zoo.tasks.captioning.runtime.CaptioningRuntime.describe`: ``caption`` (the beam
        caption, or `NO_CAPTION` = "no confident caption" when ``confidence`` is below
        `no_caption_below`, default the calibration's), ``confidence`` (float in [0, 1])
        and ``guess`` (the beam caption, always)."""
        if not self.calibration:
            raise ValueError(
                "This captioning export has no calibration (assets/calibration.json, "
                "assets['calibration']), so it has no confidence. Write one into the preset "
                "with `python -m zoo calibrate NAME --write` and export it again, or call "
                "predict without with_confidence."
            )
        images = self._images(inputs)
        if not images:
            return []
        threshold = self.no_caption_below if no_caption_below is None else no_caption_below
        scored = self.scored_arrays(np.stack(images))
        confidence = conf.confidence_of(self.calibration, scored)
        return conf.answers(scored["captions"], confidence, confidence >= threshold)

    def predict(
        self, inputs: list, *, beam_size: int | None = None, with_confidence: bool = False
    ) -> list:
        """Images (paths, encoded bytes, PIL images or arrays, as the preset's `predict`
        takes them) -> captions (beam search with ``eval_beam_size`` unless `beam_size`);
        with `with_confidence`, `describe`'s dicts (``caption``, ``confidence``,
        ``guess``) instead (the calibration holds for ``eval_beam_size`` captions)."""
        if with_confidence and beam_size not in (None, self.beam_size):
            raise ValueError(
                f"Received an invalid value for argument 'beam_size', expected None or "
                f"{self.beam_size} (the config's eval_beam_size, which the calibration was "
                f"fitted on) with with_confidence=True, got {beam_size!r}."
            )
        if isinstance(inputs, (list, tuple)) and not inputs:
            return []  # as the runtime: nothing to caption, nothing to check
        if with_confidence:
            return self.describe(inputs)
        images = self._images(inputs)
        out = []
        for i in range(0, len(images), CHUNK):  # a bounded decode_step batch
            out += self.decode_arrays(np.stack(images[i : i + CHUNK]), beam_size=beam_size)
        return out

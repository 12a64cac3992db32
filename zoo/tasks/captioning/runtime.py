"""`CaptioningRuntime`: raw images -> caption strings (decoding, vocabulary, serving).

Built by `CaptioningTask.runtime(model, assets, config)` (``zoo.load(...).runtime``).
Decoding settings come from the config: ``model.max_length`` (caption tokens,
default 16), ``model.eval_beam_size`` (default 3) and ``data.image_size`` (default 64).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import captioning as cdata
from zoo.tasks import portable
from zoo.tasks.base import Runtime
from zoo.tasks.captioning import confidence as conf
from zoo.tasks.captioning.model import CaptioningModel, _step_fn, beam_search, greedy_decode


def ids_to_strings(ids: tf.Tensor, vocabulary: list[str]) -> tf.Tensor:
    """ids int ``[B, L]`` -> detokenized captions tf.string ``[B]`` (cut at ``<end>``)."""
    ids = tf.cast(ids, tf.int32)
    is_end = tf.equal(ids, cdata.END_ID)
    length = tf.where(
        tf.reduce_any(is_end, axis=1),
        tf.argmax(tf.cast(is_end, tf.int32), axis=1, output_type=tf.int32),
        tf.shape(ids)[1],
    )
    ragged = tf.RaggedTensor.from_tensor(ids, lengths=length)
    words = tf.gather(tf.constant(vocabulary), ragged)
    text = tf.strings.reduce_join(words, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, r"\s+([).,!:])", r"\1")
    return tf.strings.regex_replace(text, r"\(\s+", "(")


def one_image(x, image_size: int) -> tf.Tensor:
    """One raw image (path, encoded bytes, PIL image or array [H, W] / [H, W, C]) ->
    float32 ``[image_size, image_size, 3]`` in [0, 1]; clear errors on anything else."""
    what = None
    if isinstance(x, (str, os.PathLike)):
        path = Path(x)
        if not path.is_file():
            raise ValueError(f"Received an invalid image path {str(x)!r}: no such file.")
        what = f"image file {str(x)!r}"
        x = path.read_bytes()
    if isinstance(x, (bytes, bytearray)):
        try:
            return cdata.preprocess_image(tf.constant(bytes(x)), image_size)
        except tf.errors.InvalidArgumentError as e:
            # The same error type, but one readable line instead of TensorFlow's dump.
            if "captioning:" in e.message:
                problem = "not a PNG, JPEG, GIF or BMP image"
            else:
                first = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", e.message.splitlines()[0])
                problem = f"a corrupt or truncated image ({first})"
            raise tf.errors.InvalidArgumentError(
                None,
                None,
                f"Received an undecodable {what or 'image'} (first bytes {bytes(x[:8])!r}): "
                f"{problem}; expected PNG, JPEG, GIF or BMP bytes.",
            ) from None
    try:
        from PIL import Image

        if isinstance(x, Image.Image):
            x = np.asarray(x)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, (np.ndarray, tf.Tensor)):
        arr = tf.convert_to_tensor(x)
        if arr.shape.rank not in (2, 3) or (
            arr.shape.rank == 3 and arr.shape[-1] not in (1, 2, 3, 4)
        ):
            raise ValueError(
                "Received an invalid image array of shape "
                f"{tuple(arr.shape)}; expected [H, W] or [H, W, C] with C in 1..4."
            )
        return cdata.preprocess_array(arr, image_size)
    raise TypeError(
        "Received an invalid image of type "
        f"{type(x).__name__}; expected a file path, encoded bytes (PNG/JPEG/GIF/BMP), a "
        "PIL image or an array [H, W] / [H, W, C]."
    )


def to_batch(images, image_size: int) -> tf.Tensor:
    """A raw image or a list of them -> float32 ``[N, image_size, image_size, 3]``."""
    if not isinstance(images, (list, tuple)):
        images = [images]
    if not images:
        return tf.zeros([0, image_size, image_size, 3])
    return tf.stack([one_image(x, image_size) for x in images])


def settings(config: dict) -> dict:
    """Decoding settings from a preset config: ``{"max_length", "beam_size",
    "image_size"}`` (shared by the runtime and `zoo.tasks.captioning.client`)."""
    model_cfg, data_cfg = config.get("model") or {}, config.get("data") or {}
    return {
        "max_length": int(model_cfg.get("max_length", cdata.MAX_CAPTION_TOKENS)),
        "beam_size": max(1, int(model_cfg.get("eval_beam_size", 3))),
        "image_size": int(data_cfg.get("image_size", cdata.DEFAULT_IMAGE_SIZE)),
    }


class CaptioningRuntime(Runtime):
    """A `CaptioningModel` with its vocabulary: compiled decoders, predict and serving.

    Attributes:
        vocabulary: the caption words (``assets["vocabulary"]``).
        max_length, beam_size, image_size: from the config (see the module docstring).
        calibration: ``assets["calibration"]`` (see `zoo.tasks.captioning.confidence`)
            or None when the preset has none (then `describe` raises).
        no_caption_below: the calibration's threshold; set it to answer more or less.
    """

    def __init__(self, model: CaptioningModel, assets: dict, config: dict, name: str | None = None):
        super().__init__(model, assets, config, name=name)
        # Untracked: plain Python values and a cache of compiled functions.
        object.__setattr__(self, "vocabulary", list(assets["vocabulary"]))
        object.__setattr__(self, "compiled", {})
        object.__setattr__(self, "_portable", {})
        s = settings(config)
        self.max_length, self.beam_size, self.image_size = (
            s["max_length"],
            s["beam_size"],
            s["image_size"],
        )
        calibration = assets.get("calibration")
        object.__setattr__(self, "calibration", calibration)
        object.__setattr__(
            self, "no_caption_below", calibration["no_caption_below"] if calibration else None
        )

    def _decoder_fn(self, beam_size: int, max_length: int):
        key = (beam_size, max_length)
        if key not in self.compiled:

            def run(images):
                return beam_search(self.model, images, beam_size, max_length)[0]

            self.compiled[key] = tf.function(run, reduce_retracing=True)
        return self.compiled[key]

    def decode_arrays(
        self,
        images: np.ndarray,
        *,
        beam_size: int = 1,
        max_length: int | None = None,
        batch: int = 128,
    ) -> list[str]:
        """float32 ``[N, S, S, 3]`` in [0, 1] -> N captions (compiled decoder, in batches)."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(
                f"Received an invalid value for argument 'beam_size', expected a positive "
                f"integer, got {beam_size!r}."
            )
        fn = self._decoder_fn(beam_size, max_length or self.max_length)
        out = []
        for i in range(0, len(images), batch):
            ids = fn(tf.constant(images[i : i + batch], tf.float32))
            out += [s.decode("utf-8") for s in ids_to_strings(ids, self.vocabulary).numpy()]
        return out

    def scored_arrays(self, images: np.ndarray, *, batch: int = 128) -> dict[str, Any]:
        """float32 ``[N, S, S, 3]`` -> the beam captions (``eval_beam_size``) and their
        confidence features: ``{"captions": list[str], "mean_log_prob", "min_log_prob":
        float32 [N], "pooled": float32 [N, F]}``."""
        key = ("scored", self.beam_size, self.max_length)
        if key not in self.compiled:

            def run(x):
                ids, _ = beam_search(self.model, x, self.beam_size, self.max_length)
                mean, low = conf.caption_log_probs(self.model, x, ids)
                return ids, mean, low, self.model.encode(x)[1]

            self.compiled[key] = tf.function(run, reduce_retracing=True)
        out = {"captions": [], "mean_log_prob": [], "min_log_prob": [], "pooled": []}
        for i in range(0, len(images), batch):
            ids, mean, low, pooled = self.compiled[key](tf.constant(images[i : i + batch]))
            out["captions"] += [
                c.decode("utf-8") for c in ids_to_strings(ids, self.vocabulary).numpy()
            ]
            out["mean_log_prob"].append(mean.numpy())
            out["min_log_prob"].append(low.numpy())
            out["pooled"].append(pooled.numpy())
        for k in ("mean_log_prob", "min_log_prob"):
            out[k] = np.concatenate(out[k]) if out[k] else np.zeros([0], np.float32)
        out["pooled"] = (
            np.concatenate(out["pooled"])
            if out["pooled"]
            else np.zeros([0, self.model.feature_dim], np.float32)
        )
        return out

    def describe(self, inputs: list, *, no_caption_below: float | None = None) -> list[dict]:
        """Images (as `predict` takes them) -> one dict each: ``caption`` (the beam caption,
        or `NO_CAPTION` = "no confident caption" when ``confidence`` is below
        `no_caption_below`, default the calibration's), ``confidence`` (float in [0, 1]:
        the calibrated probability that the caption is right, see
        `zoo.tasks.captioning.confidence`) and ``guess`` (the beam caption, always)."""
        if not self.calibration:
            raise ValueError(
                "This captioning preset has no calibration (assets/calibration.json); "
                "write one with `python -m zoo calibrate NAME --write`."
            )
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if not inputs:
            return []
        threshold = self.no_caption_below if no_caption_below is None else no_caption_below
        scored = self.scored_arrays(to_batch(list(inputs), self.image_size).numpy())
        confidence = conf.confidence_of(self.calibration, scored)
        return conf.answers(scored["captions"], confidence, confidence >= threshold)

    def decode(
        self,
        images,
        *,
        beam_size: int = 1,
        max_length: int | None = None,
        return_attention: bool = False,
    ):
        """Raw images (as `predict` takes them) -> captions, and with `return_attention`
        (greedy only) the attention maps float32 ``[N, L, grid_h, grid_w]`` per
        generated token (L = `max_length`; rows after ``<end>`` are meaningless)."""
        batch = to_batch(images, self.image_size)
        max_length = max_length or self.max_length
        if not return_attention:
            return self.decode_arrays(batch.numpy(), beam_size=beam_size, max_length=max_length)
        ids, attn = greedy_decode(self.model, batch, max_length)
        g = int(round(np.sqrt(attn.shape[-1])))
        captions = [s.decode("utf-8") for s in ids_to_strings(ids, self.vocabulary).numpy()]
        return captions, attn.numpy().reshape(attn.shape[0], attn.shape[1], g, -1)

    def predict(self, inputs: list, *, with_confidence: bool = False) -> list:
        """Images (paths, encoded bytes, PIL images or arrays; any size; gray, RGB or
        RGBA) -> caption strings (beam search with the config's ``eval_beam_size``);
        with `with_confidence`, `describe`'s dicts (``caption``, ``confidence``,
        ``guess``) instead."""
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if not inputs:
            return []
        if with_confidence:
            return self.describe(list(inputs))
        return self.decode(list(inputs), beam_size=self.beam_size)

    def serving_functions(self) -> dict[str, Any]:
        """``serving_default``: ``images`` tf.string, one encoded image (PNG/JPEG/GIF/BMP
        bytes, a scalar) or a batch ``[B]`` -> ``{"captions": tf.string}`` of the same
        shape, decoded as `predict` decodes (beam search with ``eval_beam_size``), and
        for a calibrated preset ``confidence`` float32 and ``confident`` bool (confidence
        at least ``no_caption_below``) of the same shape, as `describe` gives them;
        ``beam_search``: the same function; ``greedy``: greedy decoding (captions only).
        Undecodable bytes raise InvalidArgumentError with a message naming the problem."""
        model, vocabulary = self.model, self.vocabulary
        size, max_length, beam = self.image_size, self.max_length, self.beam_size
        calibration, threshold = self.calibration, self.no_caption_below
        spec = [tf.TensorSpec(None, tf.string, name="images")]

        def captions(images, beam_size):
            flat = tf.reshape(images, [-1])
            batch = tf.map_fn(
                lambda e: cdata.preprocess_image(e, size),
                flat,
                fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
            )
            ids, _ = beam_search(model, batch, beam_size, max_length)
            out = {"captions": tf.reshape(ids_to_strings(ids, vocabulary), tf.shape(images))}
            if calibration and beam_size == beam:
                mean, low = conf.caption_log_probs(model, batch, ids)
                c = conf.confidence_graph(calibration, mean, low, model.encode(batch)[1])
                out["confidence"] = tf.reshape(c, tf.shape(images))
                out["confident"] = out["confidence"] >= threshold
            return out

        @tf.function(input_signature=spec)
        def serving_default(images):
            return captions(images, beam)

        @tf.function(input_signature=spec)
        def greedy(images):
            return captions(images, 1)

        return {
            "serving_default": serving_default,
            "beam_search": serving_default,
            "greedy": greedy,
        }

    # -- TFLite / ONNX ----------------------------------------------------------------
    def portable_functions(self) -> dict[str, Any]:
        """``encode``: ``image`` float32 ``[1, S, S, 3]`` in [0, 1] -> ``features [1, G,
        F]``, ``pooled [1, F]``, ``state0`` (, ``state1`` for an LSTM) ``[1, units]``;
        ``decode_step``: ``tokens`` int32 ``[N]`` + those (N rows) -> ``logits`` float32
        ``[N, V]`` and the new ``state*`` (see `zoo.tasks.portable`)."""
        if self._portable:
            return self._portable
        model = self.model

        def init(image):
            features, pooled, states = model.encode(image)
            return (features, pooled, *states)

        size = self.image_size
        names = ["features", "pooled"] + [f"state{i}" for i in range(model.n_states)]
        self._portable.update(
            portable.encoder_decoder_functions(
                init,
                tf.TensorSpec([1, size, size, 3], tf.float32, name="image"),
                _step_fn(model),
                names,
            )
        )
        return self._portable

    def calibration_inputs(self, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
        """Up to `n` inputs per portable function: the first `n` validation images and
        the decoder steps of their greedy captions (read offline from the local dataset)."""
        dataset = (self.config.get("data") or {}).get("dataset", "zoo_emoji_captions")
        images = cdata.load_split_arrays(
            "validation", image_size=self.image_size, limit=n, dataset=dataset
        )["images"]
        encode = [{"image": image[None]} for image in images]
        run = portable.tf_runner(self.portable_functions())
        encoded = [run("encode", x) for x in encode]
        steps = portable.calibration_steps(
            run, encoded, cdata.START_ID, cdata.END_ID, n, self.max_length
        )
        return {"encode": encode, "decode_step": steps}

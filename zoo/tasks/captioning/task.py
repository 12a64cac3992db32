"""`CaptioningTask`: data glue, compile, the val-BLEU callback, runtime and evaluation.

Metrics (`evaluate`): BLEU-1..4 (`zoo.metrics.bleu_n`, sacrebleu) of the decoded
caption against the CLDR name, and ``exact_match`` (% of images whose caption is the
name token for token), for the model (beam search with ``eval_beam_size``, default 3;
greedy scores are reported too as ``greedy_*``) and for a **nearest-neighbour
baseline**: the caption of the training image closest in pixel space (L2 on the
64x64x3 model input), reported as ``nn_*``. Primary metric: ``bleu4`` (graded, so it
rewards getting most of a compositional name right; ``exact_match`` is reported beside
it). Validation ``val_bleu4`` (greedy, on the validation split) selects the best epoch.

Results on the held-out test emoji (599 images of 395 emoji never seen in training;
48x48 inputs), with the nearest-neighbour baseline on the same images:
caption_lstm_emoji (beam 5, chosen on the validation split) BLEU-1/2/3/4
57.8/55.5/52.8/49.0, exact 12.4% (30 epochs; over seeds 0/1/2 58.9/56.8/54.4/51.0 with
stds 1.1/1.4/1.7/2.1); caption_gru_emoji (beam 3) 49.7/45.7/41.6/36.4, exact 5.3% (12
epochs); caption_rnn_emoji (beam 3) 48.3/43.0/37.2/30.5, exact 4.3% (12 epochs); NN
baseline 55.4/48.2/38.1/30.5, exact 0.0% (test names are unseen, so copying a training
caption is never exact). The baseline's BLEU-1 is its strongest score: it copies a
sibling's full name (another skin tone), sharing most unigrams.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from zoo import config
from zoo.data import captioning as cdata
from zoo.metrics import bleu_n
from zoo.tasks.base import Task, TaskData
from zoo.tasks.captioning.model import DATA_KEYS, CaptioningModel, check_model
from zoo.tasks.captioning.runtime import CaptioningRuntime


class _ValBleu(keras.callbacks.Callback):
    """Writes ``val_bleu4`` / ``val_exact_match`` (greedy, validation split) into the logs,
    decoding with its own `CaptioningRuntime` (built once, on the model being trained)."""

    def __init__(self, runtime: CaptioningRuntime, arrays: dict):
        super().__init__()
        self.runtime, self.arrays = runtime, arrays

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        hyps = self.runtime.decode_arrays(self.arrays["images"], beam_size=1)
        m = caption_metrics(hyps, self.arrays["captions"])
        logs["val_bleu4"] = m["bleu4"]
        logs["val_exact_match"] = m["exact_match"]


def caption_metrics(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """BLEU-1..4 and exact-match accuracy (in %) on the tokenized captions."""
    hyp = [" ".join(cdata.tokenize(h)) for h in hypotheses]
    ref = [" ".join(cdata.tokenize(r)) for r in references]
    if not hyp:
        return {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0, "exact_match": 0.0}
    out = bleu_n(hyp, [[r] for r in ref])
    out["exact_match"] = float(100.0 * np.mean([h == r for h, r in zip(hyp, ref)]))
    return out


def nearest_neighbour_captions(
    train_images: np.ndarray, train_captions: list[str], images: np.ndarray, chunk: int = 256
) -> list[str]:
    """The caption of the closest training image (L2 in pixel space) for each image.

    Args:
        train_images: float32 ``[N, S, S, 3]``; images: float32 ``[M, S, S, 3]``.
    """
    a = train_images.reshape(len(train_images), -1).astype(np.float32)
    a_sq = (a * a).sum(1)
    out = []
    for i in range(0, len(images), chunk):
        q = images[i : i + chunk].reshape(-1, a.shape[1]).astype(np.float32)
        d = a_sq[None, :] - 2.0 * q @ a.T  # + |q|^2, constant per row
        out += [train_captions[j] for j in d.argmin(1)]
    return out


@functools.lru_cache(maxsize=8)
def _split_arrays(
    dataset: str, split: str, image_size: int, limit: int | None, sources: tuple | None = None
):
    return cdata.load_split_arrays(
        split, image_size=image_size, limit=limit, dataset=dataset, sources=sources
    )


def split_arrays(data_cfg: dict, split: str, limit: int | None = None) -> dict:
    """A split of a ``data`` config's dataset in memory (its ``image_size`` and
    ``sources``), cached: see `zoo.data.captioning.load_split_arrays`."""
    return _split_arrays(
        data_cfg.get("dataset", "zoo_emoji_captions"),
        split,
        int(data_cfg.get("image_size", cdata.DEFAULT_IMAGE_SIZE)),
        limit,
        cdata.check_sources(data_cfg.get("sources")),
    )


class CaptioningTask(Task):
    """Image captioning on the emoji set (``zoo_emoji_captions``); see the module doc."""

    name = "captioning"
    primary_metric = "bleu4"
    monitor = "val_bleu4"
    monitor_mode = "max"
    eval_subset_size = 200

    def check_config(self, cfg: dict) -> None:
        config.check_keys("data", cfg["data"], DATA_KEYS)
        try:
            cdata.check_sources(cfg["data"].get("sources"))
        except ValueError as e:
            raise config.ConfigError(f"invalid value for 'data.sources': {e}") from None
        check_model(cfg["model"])

    # -- data -------------------------------------------------------------------------
    def load_data(
        self, data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
    ) -> TaskData:
        config.check_keys("data", data_cfg, DATA_KEYS)
        d = cdata.load_data(data_cfg, batch_size=batch_size, seed=seed, smoke=smoke)
        return TaskData(
            train=d["train"],
            validation=d["validation"],
            test=d["test"],
            assets=d["assets"],
            info={**d["info"], "smoke": smoke},
        )

    # -- model ------------------------------------------------------------------------
    def build_model(
        self,
        model_cfg: dict,
        assets: dict,
        *,
        data_cfg: dict | None = None,
        for_training: bool = False,
    ) -> keras.Model:
        check_model(model_cfg)
        if "vocabulary" not in assets:
            raise ValueError(
                "The captioning model needs the 'vocabulary' asset "
                "(fit by load_data on the train captions)."
            )
        image_size = int((data_cfg or {}).get("image_size", cdata.DEFAULT_IMAGE_SIZE))
        kwargs = {
            k: model_cfg[k]
            for k in (
                "units",
                "embedding_dim",
                "feature_dim",
                "conv_filters",
                "backbone",
                "backbone_weights",
                "attention",
                "image_every_step",
                "dropout",
            )
            if k in model_cfg
        }
        if not for_training:
            kwargs["backbone_weights"] = None  # a preset's weights come from its own file
        model = CaptioningModel(
            len(assets["vocabulary"]),
            cell=model_cfg["cell"],
            image_size=image_size,
            name="captioner",
            **kwargs,
        )
        model((tf.zeros([1, image_size, image_size, 3]), tf.zeros([1, 2], tf.int32)))
        return model

    def compile_model(self, model: keras.Model, optimizer, train_cfg: dict) -> None:
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        )

    def callbacks(self, model: keras.Model, data: TaskData, config: dict) -> list:
        """``val_bleu4`` in the epoch logs (greedy), decoded with the config's
        ``max_length`` and ``image_size`` on the validation split of its dataset."""
        data_cfg = {**(config.get("data") or {})}
        limit = 64 if data.info.get("smoke") else None
        runtime = self.runtime(model, data.assets, config)
        data_cfg["image_size"] = runtime.image_size
        arrays = split_arrays(data_cfg, "validation", limit)
        return [_ValBleu(runtime, arrays)]

    # -- inference and evaluation ----------------------------------------------------
    def runtime(self, model: CaptioningModel, assets: dict, config: dict) -> CaptioningRuntime:
        return CaptioningRuntime(model, assets, config)

    def decode(
        self,
        model: CaptioningModel,
        images,
        assets: dict,
        *,
        beam_size: int = 1,
        max_length: int | None = None,
        return_attention: bool = False,
    ):
        """Kept for the notebooks: `CaptioningRuntime.decode` on a runtime built for
        `model` (its image size; default ``max_length``). Prefer ``zoo.load(...).runtime``."""
        runtime = self.runtime(model, assets, {"data": {"image_size": model.image_size}})
        return runtime.decode(
            images, beam_size=beam_size, max_length=max_length, return_attention=return_attention
        )

    def evaluate(
        self,
        runtime: CaptioningRuntime,
        data_cfg: dict,
        *,
        split: str = "test",
        limit: int | None = None,
    ) -> dict[str, float]:
        ev = split_arrays(data_cfg, split, limit)
        beam = runtime.beam_size
        hyps = runtime.decode_arrays(ev["images"], beam_size=beam)
        out = caption_metrics(hyps, ev["captions"])
        if beam != 1:
            greedy = runtime.decode_arrays(ev["images"], beam_size=1)
            out.update(
                {f"greedy_{k}": v for k, v in caption_metrics(greedy, ev["captions"]).items()}
            )
        tr = split_arrays(data_cfg, "train")
        nn = nearest_neighbour_captions(tr["images"], tr["captions"], ev["images"])
        out.update({f"nn_{k}": v for k, v in caption_metrics(nn, ev["captions"]).items()})
        out["examples"] = len(hyps)
        out["beam_size"] = beam
        return out

    def eval_examples(self, data_cfg: dict, *, split: str = "test", limit: int | None = None):
        """``(images, captions)``: the first `limit` images of a split as encoded bytes (what
        `predict` takes; the same pixels `evaluate` decodes) and their reference captions."""
        dataset = data_cfg.get("dataset", "zoo_emoji_captions")
        raw = cdata.load_raw(split, dataset=dataset)
        if limit is not None:
            raw = raw.take(limit)
        pairs = [
            (bytes(ex["image"]), ex["caption"].decode("utf-8")) for ex in raw.as_numpy_iterator()
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def score(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        """`caption_metrics` (BLEU-1..4 and exact match, in %) of `predict`'s captions (beam
        search with ``eval_beam_size``, as `evaluate`'s ``bleu4``)."""
        return {
            **caption_metrics(list(predictions), list(references)),
            "examples": len(predictions),
        }

    def example_inputs(self) -> list:
        """Three held-out test images (PNG bytes)."""
        return cdata.sample_images({}, n=3)

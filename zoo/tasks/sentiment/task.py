"""`SentimentTask`: data glue, compile, evaluation and the scoring of raw predictions."""

from __future__ import annotations

from typing import ClassVar

import keras
import numpy as np
from keras import ops

from zoo.data import sentiment as data
from zoo.tasks.base import Task, TaskData
from zoo.tasks.sentiment.model import build_model, check_assets, check_model_config
from zoo.tasks.sentiment.runtime import SentimentRuntime

__all__ = ["SentimentTask"]


def _hard_accuracy(y_true, y_pred):
    """Per-example 0/1 correctness with both sides thresholded at 0.5, so that soft
    training targets (``data.soft_labels``) are scored like hard labels."""
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    return ops.cast(ops.equal(y_true >= 0.5, y_pred >= 0.5), "float32")


class SentimentTask(Task):
    """Binary sentence sentiment; see `zoo.tasks.sentiment` for the config keys."""

    name: ClassVar[str] = "sentiment"
    primary_metric: ClassVar[str] = "accuracy"
    monitor: ClassVar[str] = "val_accuracy"
    monitor_mode: ClassVar[str] = "max"
    eval_subset_size: ClassVar[int] = 500

    # -- data -------------------------------------------------------------------------
    def load_data(
        self, data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
    ) -> TaskData:
        """`zoo.data.sentiment.load_data` as a `TaskData`: batches of
        ``(ids int32 [batch, time], label float32 [batch])``."""
        out = data.load_data(data_cfg, batch_size=batch_size, seed=seed, smoke=smoke)
        try:
            from zoo.data.glove import coverage

            out["info"]["glove_coverage"] = round(coverage(out["assets"]["vocabulary"]), 4)
        except Exception:  # noqa: BLE001 - a fact for the model card, never fatal
            pass
        return TaskData(out["train"], out["validation"], out["test"], out["assets"], out["info"])

    def check_config(self, cfg: dict) -> None:
        check_model_config(cfg["model"])
        data.check_data_cfg(cfg["data"])

    # -- model ------------------------------------------------------------------------
    def build_model(
        self,
        model_cfg: dict,
        assets: dict,
        *,
        data_cfg: dict | None = None,
        for_training: bool = False,
    ) -> keras.Model:
        """The classifier: ids int32 ``[batch, time]`` -> P(positive) float32 ``[batch, 1]``.

        With ``for_training=True`` and ``embedding_init: glove`` the embedding rows are
        GloVe's (`zoo.data.glove.embedding_matrix`, OOV rows N(0, 0.1) seeded).
        """
        return build_model(model_cfg, assets, for_training=for_training)

    def compile_model(
        self, model: keras.Model, optimizer: keras.optimizers.Optimizer, train_cfg: dict
    ) -> None:
        """Binary cross-entropy (``train.label_smoothing``, default 0) and accuracy."""
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(
                label_smoothing=float(train_cfg.get("label_smoothing") or 0.0)
            ),
            metrics=[keras.metrics.MeanMetricWrapper(_hard_accuracy, name="accuracy")],
        )

    # -- evaluation and inference ----------------------------------------------------
    def runtime(self, model: keras.Model, assets: dict, config: dict) -> SentimentRuntime:
        """A `SentimentRuntime` (vocabulary lookup, compiled serving function)."""
        return SentimentRuntime(model, assets, config)

    def evaluate(
        self,
        runtime: SentimentRuntime,
        data_cfg: dict,
        *,
        split: str = "test",
        limit: int | None = None,
    ) -> dict[str, float]:
        """``{"accuracy": percent, "loss": mean BCE, "examples": n}`` on a split (first
        `limit` examples in the split's fixed order when given)."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(
                f"Received an invalid value for argument 'limit', expected None or a positive int, got {limit!r}."
            )
        cfg = data.check_data_cfg(data_cfg)
        vocab, _, max_length = check_assets(runtime.assets)
        raw = data.read_split(cfg["dataset"], split, data_dir=cfg["data_dir"])
        if limit is not None:
            raw = raw.take(limit)
        ds = data.make_dataset(raw, vocab, batch_size=256, max_length=max_length, cache=False)
        probs, labels = [], []
        for ids, y in ds:
            probs.append(np.asarray(runtime.model(ids, training=False), np.float64).reshape(-1))
            labels.append(y.numpy().reshape(-1))
        p, y = np.concatenate(probs), np.concatenate(labels)
        eps = 1e-7
        pc = np.clip(p, eps, 1 - eps)
        loss = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
        return {
            "accuracy": float(100.0 * np.mean((p >= 0.5) == (y >= 0.5))),
            "loss": loss,
            "examples": int(len(y)),
        }

    # -- scoring raw predictions (`zoo.export` measures int8 against float) -----------
    def eval_examples(self, data_cfg, *, split="test", limit=None):
        """``(texts, labels)``: the first `limit` sentences of a split (the order
        `evaluate` reads) and their label index (0 negative, 1 positive)."""
        cfg = data.check_data_cfg(data_cfg)
        raw = data.read_split(cfg["dataset"], split, data_dir=cfg["data_dir"])
        if limit is not None:
            raw = raw.take(limit)
        pairs = [(t.numpy().decode("utf-8"), int(float(y) >= 0.5)) for t, y in raw]
        return [t for t, _ in pairs], [y for _, y in pairs]

    def score(self, predictions, references):
        """``{"accuracy": percent, "examples": n}`` of ``predict``'s answers (label
        names: ``labels[1]`` is positive, the assets' order) against label indices."""
        hits = [(p["label"] == "positive") == bool(y) for p, y in zip(predictions, references)]
        return {"accuracy": 100.0 * float(np.mean(hits)) if hits else 0.0, "examples": len(hits)}

    def example_inputs(self) -> list[str]:
        return [
            "There is nothing to like in this movie.",
            "A gorgeous, witty and deeply moving film.",
            "The plot is thin and the acting is worse.",
            "Not bad at all: I'd happily watch it again.",
        ]

"""Sentence sentiment (many-to-one): GloVe-initialised embedding -> recurrent stack -> classifier.

Architecture (`build_model`)::

    token ids int32 [batch, time]  (0 = padding; mask = ids != 0, passed explicitly)
      -> Embedding [batch, time, 50]   (GloVe 6B 50d rows for the train vocabulary)
      -> SpatialDropout1D(embedding_dropout)
      -> num_layers x make_recurrent(cell, units, bidirectional, dropout, recurrent_dropout)
      -> pooling: "final" state | masked "max" | masked "mean" | "max_mean" (concat)
      -> Dropout(dropout) [-> Dense(dense_units, relu) -> Dropout(dropout)]
      -> Dense(1, sigmoid)  = P(positive)  float32 [batch, 1]

``model`` section of the config (defaults in `MODEL_DEFAULTS`):

* ``cell``: ``simple_rnn`` | ``lstm`` | ``gru``; ``bidirectional``: bool;
  ``units`` (per direction); ``num_layers``; ``merge_mode`` (bidirectional).
* ``dropout`` / ``recurrent_dropout``: rates inside the recurrent layers;
  ``embedding_dropout``: SpatialDropout1D on the embeddings (drops whole dimensions);
  ``head_dropout``: before the classifier.
* ``pooling``: see above. ``dense_units``: optional hidden layer of the head (0 = none).
* ``embedding``: how the GloVe vectors are trained: ``"frozen"``, ``"full"`` (ordinary
  fine-tuning), or ``"scaled"``: ``E = E_glove + embedding_lr_scale * D`` with ``E_glove``
  frozen and ``D`` trainable (starts at 0); under Adam this fine-tunes the embedding
  with a learning rate ``embedding_lr_scale`` times the model's.
  ``embedding_base_dtype`` (``"float32"``/``"float16"``) is the storage of the frozen
  base in ``"scaled"`` mode; only the train-vocabulary rows get an offset ``D``.
* ``embedding_init``: ``"glove"`` or ``"random"``.

The task reads ``train.label_smoothing`` in `compile_model`. Metrics: `evaluate` reports
``accuracy`` in percent (0-100) and the mean binary cross-entropy ``loss``.

Serving (`serving_functions`): ``serving_default(texts: tf.string [batch])`` ->
``{"label": tf.string [batch], "probability": float32 [batch] (of that label),
"positive_probability": float32 [batch]}``, with `zoo.data.sentiment.standardize`, a
`StringLookup` over the saved vocabulary and truncation to ``max_length`` tokens inside
the graph.
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import config
from zoo.data import sentiment as data
from zoo.layers import make_recurrent
from zoo.tasks.base import Task, TaskData, masked_fill_value, with_layer_config

__all__ = ["MODEL_DEFAULTS", "MaskedPooling", "ScaledFineTuneEmbedding", "SentimentTask"]

MODEL_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "bidirectional": False,
    "units": 64,
    "num_layers": 1,
    "merge_mode": "concat",
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "embedding_dropout": 0.0,
    "head_dropout": 0.0,
    "pooling": "final",
    "dense_units": 0,
    "embedding": "full",
    "embedding_lr_scale": 0.1,
    "embedding_init": "glove",
    "embedding_dim": 50,
    "embedding_base_dtype": "float32",
}
POOLINGS = ("final", "max", "mean", "max_mean")
EMBEDDING_MODES = ("frozen", "full", "scaled")


@keras.saving.register_keras_serializable(package="zoo")
class MaskedPooling(keras.layers.Layer):
    """Max and/or mean over the valid time steps.

    Call: ``(sequences float [batch, time, features], mask bool [batch, time])`` ->
    float ``[batch, features]`` (``2 * features`` for ``"max_mean"``, max first).
    A sequence with no valid step pools to zeros.
    """

    def __init__(self, mode: str = "max_mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean", "max_mean"):
            raise ValueError(
                "Received an invalid value for argument 'mode', expected 'max', 'mean' or "
                f"'max_mean', got {mode!r}."
            )
        self.mode = mode
        self.supports_masking = True  # the mask comes in as an argument; none goes out

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, sequences, mask):
        m = ops.expand_dims(ops.cast(mask, sequences.dtype), -1)
        outputs = []
        if self.mode in ("max", "max_mean"):
            any_valid = ops.cast(ops.any(mask, axis=1, keepdims=True), sequences.dtype)
            masked = ops.where(
                m > 0, sequences, ops.full_like(sequences, masked_fill_value(sequences.dtype))
            )
            outputs.append(ops.max(masked, axis=1) * any_valid)
        if self.mode in ("mean", "max_mean"):
            total = ops.sum(sequences * m, axis=1)
            outputs.append(total / ops.maximum(ops.sum(m, axis=1), 1.0))
        return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "max_mean" and features is not None:
            features *= 2
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="zoo")
class ScaledFineTuneEmbedding(keras.layers.Layer):
    """``E = E0 + scale * D``: frozen base vectors ``E0`` plus a trainable offset ``D``
    (initialised to zeros), i.e. fine-tuning at ``scale`` times the optimizer's step
    size under Adam.

    Only the first `trainable_rows` ids (the train vocabulary) have an offset; later
    rows (words added from GloVe, never seen in training) keep their base vector. The
    base is stored in `base_dtype` (float16 halves the preset; GloVe's values have 3-5
    significant digits).

    Call: int ids ``[batch, time]`` -> ``[batch, time, output_dim]`` in the layer's compute
    dtype (float32; float16 under mixed precision).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        scale: float = 0.1,
        trainable_rows: int | None = None,
        base_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.scale = int(input_dim), int(output_dim), float(scale)
        rows = self.input_dim if trainable_rows is None else int(trainable_rows)
        if not 1 <= rows <= self.input_dim:
            raise ValueError(
                "Received an invalid value for argument 'trainable_rows', expected an int in "
                f"[1, input_dim={self.input_dim}], got {trainable_rows!r}."
            )
        self.trainable_rows = rows
        self.base_dtype = str(base_dtype)

    def build(self, input_shape=None):
        self.base = self.add_weight(
            name="base",
            shape=(self.input_dim, self.output_dim),
            initializer="zeros",
            trainable=False,
            dtype=self.base_dtype,
        )
        self.delta = self.add_weight(
            name="delta", shape=(self.trainable_rows, self.output_dim), initializer="zeros"
        )

    @property
    def embeddings(self):
        """The base vectors (what `SentimentTask` initialises from GloVe)."""
        return self.base

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        dtype = self.compute_dtype  # float32, or float16 under mixed precision
        base = ops.cast(ops.take(self.base, ids, axis=0), dtype)
        in_rows = ops.less(ids, self.trainable_rows)
        delta = ops.cast(ops.take(self.delta, ops.where(in_rows, ids, 0), axis=0), dtype)
        delta = delta * ops.expand_dims(ops.cast(in_rows, dtype), -1)
        return base + self.scale * delta

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "scale": self.scale,
            "trainable_rows": self.trainable_rows,
            "base_dtype": self.base_dtype,
        }


def _check_model_cfg(model_cfg: dict) -> dict:
    config.check_keys("model", model_cfg, MODEL_DEFAULTS, required={"cell"})
    cfg = {**MODEL_DEFAULTS, **model_cfg}
    config.cell(cfg["cell"])
    config.one_of(cfg["pooling"], POOLINGS, "pooling", "model")
    config.one_of(cfg["embedding"], EMBEDDING_MODES, "embedding", "model")
    config.one_of(
        cfg["embedding_base_dtype"], ("float32", "float16"), "embedding_base_dtype", "model"
    )
    config.one_of(cfg["embedding_init"], ("glove", "random"), "embedding_init", "model")
    for key in ("units", "num_layers", "embedding_dim"):
        config.positive_int(cfg[key], key, "model")
    if cfg["embedding_init"] == "glove":  # GloVe 6B vectors here are 50-dimensional
        config.one_of(cfg["embedding_dim"], (50,), "embedding_dim", "model")
    return cfg


def _check_assets(assets: dict) -> tuple[list[str], list[str], int]:
    for key in ("vocabulary", "labels"):
        if key not in (assets or {}):
            raise ValueError(
                f"The sentiment assets need a {key!r} entry (got keys {sorted(assets or {})}); "
                "they come from SentimentTask.load_data or a preset's assets/ directory."
            )
    vocab = list(assets["vocabulary"])
    if vocab[:2] != ["", "[UNK]"]:
        raise ValueError(
            f"The vocabulary asset must start with '' (padding) and '[UNK]', got {vocab[:2]!r}."
        )
    max_length = int((assets.get("preprocessing") or {}).get("max_length", data.DEFAULT_MAX_LENGTH))
    return vocab, list(assets["labels"]), max_length


def _hard_accuracy(y_true, y_pred):
    """Per-example 0/1 correctness with both sides thresholded at 0.5, so that soft
    training targets (``data.soft_labels``) are scored like hard labels."""
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    return ops.cast(ops.equal(y_true >= 0.5, y_pred >= 0.5), "float32")


class _Serving(tf.Module):
    """Raw strings -> label names and probabilities, all in TensorFlow ops."""

    def __init__(
        self, model: keras.Model, vocabulary: list[str], labels: list[str], max_length: int
    ):
        super().__init__(name="sentiment_serving")
        self.model = model
        # "" -> 0 (mask token), "[UNK]" -> 1, vocabulary[i] -> i: the same ids as training.
        self.lookup = keras.layers.StringLookup(
            vocabulary=vocabulary[2:],
            mask_token="",
            oov_token="[UNK]",
            num_oov_indices=1,
            output_mode="int",
        )
        self.label_names = tf.constant(labels)
        self.max_length = int(max_length)

        lookup, names, max_length = self.lookup, self.label_names, self.max_length

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(text):
            tokens = data.tokenize(text)[:, :max_length]
            ids = tf.cast(lookup(tokens), tf.int32).to_tensor(default_value=0)
            ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
            p = tf.reshape(tf.cast(model(ids, training=False), tf.float32), [-1])
            positive = p >= 0.5
            return {
                "label": tf.gather(names, tf.cast(positive, tf.int32)),
                "probability": tf.where(positive, p, 1.0 - p),
                "positive_probability": p,
            }

        self.serve = serve


class SentimentTask(Task):
    """Binary sentence sentiment; see the module docstring."""

    name: ClassVar[str] = "sentiment"
    primary_metric: ClassVar[str] = "accuracy"
    monitor: ClassVar[str] = "val_accuracy"
    monitor_mode: ClassVar[str] = "max"
    eval_subset_size: ClassVar[int] = 500

    def __init__(self):
        self._serving: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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
        _check_model_cfg(cfg["model"])
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
        cfg = _check_model_cfg(model_cfg)
        vocab, _, _ = _check_assets(assets)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        mask = ops.not_equal(ids, 0)
        dim = cfg["embedding_dim"]
        if cfg["embedding"] == "scaled":
            prep = assets.get("preprocessing") or {}
            embedding = ScaledFineTuneEmbedding(
                len(vocab),
                dim,
                scale=cfg["embedding_lr_scale"],
                trainable_rows=int(prep.get("train_vocabulary_size", len(vocab))),
                base_dtype=cfg["embedding_base_dtype"],
                name="embedding",
            )
        else:
            embedding = keras.layers.Embedding(
                len(vocab), dim, trainable=cfg["embedding"] == "full", name="embedding"
            )
        x = embedding(ids)
        if cfg["embedding_dropout"]:
            x = keras.layers.SpatialDropout1D(cfg["embedding_dropout"], name="embedding_dropout")(x)
        pooling = cfg["pooling"]
        for i in range(cfg["num_layers"]):
            last = i == cfg["num_layers"] - 1
            rnn = make_recurrent(
                cfg["cell"],
                cfg["units"],
                bidirectional=cfg["bidirectional"],
                merge_mode=cfg["merge_mode"],
                return_sequences=not (last and pooling == "final"),
                dropout=cfg["dropout"],
                recurrent_dropout=cfg["recurrent_dropout"],
                name=f"recurrent_{i}",
            )
            # The mask goes in explicitly (Keras may drop implicit masks, see STYLE.md).
            x = rnn(x, mask=mask)
        if pooling != "final":
            x = MaskedPooling(pooling, name="pooling")(x, mask)
        if cfg["head_dropout"]:
            x = keras.layers.Dropout(cfg["head_dropout"], name="head_dropout")(x)
        if cfg["dense_units"]:
            x = keras.layers.Dense(cfg["dense_units"], activation="relu", name="dense")(x)
            if cfg["head_dropout"]:
                x = keras.layers.Dropout(cfg["head_dropout"], name="dense_dropout")(x)
        out = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
        model = keras.Model(
            ids, out, name=f"sentiment_{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}"
        )
        if for_training and cfg["embedding_init"] == "glove":
            from zoo.data.glove import embedding_matrix

            matrix = embedding_matrix(vocab, seed=0)
            embedding.embeddings.assign(matrix.astype(embedding.embeddings.dtype))
        return model

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
    def evaluate(
        self,
        model: keras.Model,
        assets: dict,
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
        vocab, _, max_length = _check_assets(assets)
        raw = data.read_split(cfg["dataset"], split, data_dir=cfg["data_dir"])
        if limit is not None:
            raw = raw.take(limit)
        ds = data.make_dataset(raw, vocab, batch_size=256, max_length=max_length, cache=False)
        probs, labels = [], []
        for ids, y in ds:
            probs.append(np.asarray(model(ids, training=False), np.float64).reshape(-1))
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

    def _server(self, model: keras.Model, assets: dict) -> _Serving:
        vocab, labels, max_length = _check_assets(assets)
        key = (id(assets.get("vocabulary")), len(vocab), max_length)
        cached = self._serving.get(model)
        if cached is None or cached[0] != key:
            cached = (key, _Serving(model, vocab, labels, max_length))
            self._serving[model] = cached
        return cached[1]

    def predict(self, model: keras.Model, assets: dict, inputs: list) -> list[dict[str, Any]]:
        """Raw sentences -> ``[{"label": "positive"|"negative", "probability": p}, ...]``
        with `p` the probability of that label (>= 0.5). Text longer than
        ``max_length`` tokens is truncated; empty text gets the model's prior."""
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
        if not inputs:
            return []
        out = self._server(model, assets).serve(tf.constant(list(inputs), tf.string))
        labels = [b.decode("utf-8") for b in out["label"].numpy()]
        probs = out["probability"].numpy().tolist()
        return [{"label": lab, "probability": float(p)} for lab, p in zip(labels, probs)]

    def serving_functions(self, model: keras.Model, assets: dict) -> dict[str, Any]:
        """``{"serving_default": f(texts: tf.string [batch]) -> {"label", "probability",
        "positive_probability"}}``; the lookup table is tracked through the function's
        owner (a `tf.Module` holding the model), so `tf.saved_model.save` exports it."""
        server = _Serving(model, *_check_assets(assets))
        # The lookup table must be reachable from the exported object graph: hang it on
        # the model (a tf.Module attribute; Keras's weight files ignore it).
        model._zoo_sentiment_serving = server
        return {"serving_default": server.serve}

    # -- TFLite (`zoo.export(..., format="tflite")`, `zoo.export.TFLiteModel`) -----------
    def tflite_function(self, model: keras.Model, assets: dict):
        """The numeric model for TFLite builtins: ``token_ids`` int32 ``[1, time]`` (a
        static batch of one lets the recurrent loop lower to builtins; time >= 1) ->
        ``{"positive_probability": float32 [1]}``. A float16 embedding base is widened to
        float32 (exactly; TFLite's Gather has no float16)."""
        model = with_layer_config(
            model,
            "ScaledFineTuneEmbedding",
            "base_dtype",
            "float32",
            lambda w: w.astype(np.float32),
        )

        @tf.function(
            input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")],
            autograph=False,
        )
        def tflite(token_ids):
            p = tf.cast(model(token_ids, training=False), tf.float32)
            return {"positive_probability": tf.reshape(p, [1])}

        return tflite

    def tflite_preprocess(self, assets: dict, texts: list[str]) -> list[tuple[dict, None]]:
        """Raw strings -> one ``({"token_ids": int32 [1, time]}, None)`` per string: the
        SavedModel's preprocessing (`zoo.data.sentiment.tokenize`, truncation to
        ``max_length``) with the vocabulary asset; an empty text is one padding id."""
        vocab, _, max_length = _check_assets(assets)
        lookup = keras.layers.StringLookup(
            vocabulary=vocab[2:], mask_token="", oov_token="[UNK]", num_oov_indices=1
        )
        tokens = data.tokenize(tf.constant(list(texts), tf.string))[:, :max_length]
        rows = tf.cast(lookup(tokens), tf.int32).to_list()
        return [({"token_ids": np.asarray([row or [0]], np.int32)}, None) for row in rows]

    def tflite_postprocess(self, assets: dict, outputs: dict, context=None) -> dict[str, Any]:
        """The interpreter's outputs for one string -> ``{"label", "probability"}`` as
        `predict` gives them."""
        _, labels, _ = _check_assets(assets)
        p = float(np.reshape(outputs["positive_probability"], [-1])[0])
        return {"label": labels[int(p >= 0.5)], "probability": p if p >= 0.5 else 1.0 - p}

    def tflite_signature(self, assets: dict) -> dict[str, Any]:
        """What an on-device app needs to feed and read ``model.tflite`` (JSON-able)."""
        _, labels, max_length = _check_assets(assets)
        return {
            "inputs": {"token_ids": {"dtype": "int32", "shape": [1, "time >= 1"]}},
            "outputs": {"positive_probability": {"dtype": "float32", "shape": [1]}},
            "preprocessing": {
                "steps": [
                    "replace Unicode separators and control characters "
                    "(RE2 [\\p{Z}\\p{Cc}]) with a space",
                    "lower-case (Unicode)",
                    "apply `regex_rules` in order (RE2 syntax, replace all matches)",
                    "split on whitespace",
                    f"keep the first max_length={max_length} tokens",
                    "id = index of the token in assets/vocabulary.json "
                    "(0 = '' padding, 1 = '[UNK]' for unknown tokens)",
                    "an empty text is the single id 0",
                ],
                "regex_rules": [list(rule) for rule in data._RULES],
                "max_length": max_length,
                "vocabulary": "assets/vocabulary.json",
            },
            "postprocessing": (
                f"p = positive_probability; label = {labels}[p >= 0.5]; "
                "probability of that label = max(p, 1 - p)"
            ),
        }

    def example_inputs(self) -> list[str]:
        return [
            "There is nothing to like in this movie.",
            "A gorgeous, witty and deeply moving film.",
            "The plot is thin and the acting is worse.",
            "Not bad at all: I'd happily watch it again.",
        ]

"""The sentiment classifier: its layers, config checks and `build_model`.

Architecture (`build_model`)::

    token ids int32 [batch, time]  (0 = padding; mask = ids != 0, passed explicitly)
      -> Embedding [batch, time, 50]   (GloVe 6B 50d rows for the train vocabulary)
      -> SpatialDropout1D(embedding_dropout)
      -> num_layers x make_recurrent(cell, units, bidirectional, dropout, recurrent_dropout)
      -> pooling: "final" state | masked "max" | masked "mean" | "max_mean" (concat)
      -> Dropout(dropout) [-> Dense(dense_units, relu) -> Dropout(dropout)]
      -> Dense(1, sigmoid)  = P(positive)  float32 [batch, 1]

The ``model`` config keys are listed in the package docstring (`zoo.tasks.sentiment`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from zoo import config
from zoo.data import sentiment as data
from zoo.layers import make_recurrent
from zoo.tasks.base import masked_fill_value

__all__ = [
    "EMBEDDING_MODES",
    "MODEL_DEFAULTS",
    "POOLINGS",
    "MaskedPooling",
    "ScaledFineTuneEmbedding",
    "build_model",
    "check_assets",
    "check_model_config",
]

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
    "storage_dtype": "float32",
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


def check_model_config(model_cfg: dict) -> dict:
    """The ``model`` section with defaults filled in; `zoo.config.ConfigError` on a bad key
    or value."""
    config.check_keys("model", model_cfg, MODEL_DEFAULTS, required={"cell"})
    cfg = {**MODEL_DEFAULTS, **model_cfg}
    config.cell(cfg["cell"])
    config.one_of(cfg["pooling"], POOLINGS, "pooling", "model")
    config.one_of(cfg["embedding"], EMBEDDING_MODES, "embedding", "model")
    config.one_of(cfg["storage_dtype"], ("float32", "float16"), "storage_dtype", "model")
    config.one_of(cfg["embedding_init"], ("glove", "random"), "embedding_init", "model")
    for key in ("units", "num_layers", "embedding_dim"):
        config.positive_int(cfg[key], key, "model")
    if cfg["embedding_init"] == "glove":  # GloVe 6B vectors here are 50-dimensional
        config.one_of(cfg["embedding_dim"], (50,), "embedding_dim", "model")
    return cfg


def check_assets(assets: dict) -> tuple[list[str], list[str], int]:
    """``(vocabulary, label names, max_length)`` from the assets, checked."""
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


def _embedding(cfg: dict, assets: dict, vocab_size: int) -> keras.layers.Layer:
    """The embedding layer for ``cfg["embedding"]`` (weights set later or loaded)."""
    if cfg["embedding"] == "scaled":
        prep = assets.get("preprocessing") or {}
        return ScaledFineTuneEmbedding(
            vocab_size,
            cfg["embedding_dim"],
            scale=cfg["embedding_lr_scale"],
            trainable_rows=int(prep.get("train_vocabulary_size", vocab_size)),
            base_dtype=cfg["storage_dtype"],
            name="embedding",
        )
    return keras.layers.Embedding(
        vocab_size, cfg["embedding_dim"], trainable=cfg["embedding"] == "full", name="embedding"
    )


def _head(cfg: dict, x):
    """Dropout [-> Dense(relu) -> Dropout] -> Dense(1, sigmoid), float32 ``[batch, 1]``."""
    if cfg["head_dropout"]:
        x = keras.layers.Dropout(cfg["head_dropout"], name="head_dropout")(x)
    if cfg["dense_units"]:
        x = keras.layers.Dense(cfg["dense_units"], activation="relu", name="dense")(x)
        if cfg["head_dropout"]:
            x = keras.layers.Dropout(cfg["head_dropout"], name="dense_dropout")(x)
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)


def build_model(model_cfg: dict, assets: dict, *, for_training: bool = False) -> keras.Model:
    """The classifier: ids int32 ``[batch, time]`` -> P(positive) float32 ``[batch, 1]``.

    With ``for_training=True`` and ``embedding_init: glove`` the embedding rows are
    GloVe's (`zoo.data.glove.embedding_matrix`, OOV rows N(0, 0.1) seeded).
    """
    cfg = check_model_config(model_cfg)
    vocab, _, _ = check_assets(assets)
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = ops.not_equal(ids, 0)
    embedding = _embedding(cfg, assets, len(vocab))
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
    out = _head(cfg, x)
    model = keras.Model(
        ids, out, name=f"sentiment_{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}"
    )
    if for_training and cfg["embedding_init"] == "glove":
        from zoo.data.glove import embedding_matrix

        matrix = embedding_matrix(vocab, seed=0)
        embedding.embeddings.assign(matrix.astype(embedding.embeddings.dtype))
    return model

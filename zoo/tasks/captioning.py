"""Image captioning (one-to-many): a conv image encoder -> a recurrent decoder.

Architecture (`CaptioningModel`):

* **Encoder.** A small conv net trained from scratch (``conv_filters``, default
  ``[32, 64, 128, 256]``: one 3x3 conv + batch norm + ReLU per stage, a 2x2 max-pool
  between stages, so a 64x64 image gives an 8x8 grid), or a ``keras.applications``
  backbone (``backbone: MobileNetV3Small`` etc.; ``backbone_weights: null`` by default:
  nothing is downloaded). The grid is projected to ``feature_dim``: ``features``
  ``[B, G, feature_dim]`` with ``G = grid cells``.
* **Decoder.** ``Embedding`` -> one of our recurrent layers (`zoo.layers.make_recurrent`,
  any cell) whose initial state is computed from the mean-pooled image features
  (``tanh(Dense(pooled))``, one per state tensor); optionally the pooled features are
  also fed at every step (``image_every_step``). Then Luong (dot, "general") attention
  of each decoder output over the feature grid (``attention: true``), ``[output;
  context] -> Dense(tanh) -> Dropout -> Dense(vocab)`` logits.
* **Training**: teacher forcing (input ``<start> w1 .. wn``, target ``w1 .. wn <end>``),
  cross-entropy weighted by the padding mask (the mask is also passed explicitly to
  the recurrent layer).
* **Decoding**: greedy (`greedy_search`) and beam search (`beam_search`) from
  `zoo.tasks.decoding` (shared with translation; in-graph ``tf.while_loop``) on the
  model's one-step function ``(tokens [N], (features, pooled, *states)) -> (logits
  [N, V], ...)``, so they run eagerly, in a `tf.function` and in the exported
  SavedModel. Attention maps per generated token come from `greedy_decode` through
  `CaptioningTask.decode(..., return_attention=True)` (``[B, L, grid_h, grid_w]``).

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

``model`` config keys: cell (simple_rnn|lstm|gru), units (256), embedding_dim (128),
feature_dim (256), conv_filters ([32, 64, 128, 256]), backbone (null),
backbone_weights (null), attention (true), image_every_step (true), dropout (0.3),
max_length (16), eval_beam_size (3), bidirectional (false; must stay false: a
decoder generates left to right).
``data`` keys: see `zoo.data.captioning.load_datasets`.
No task-specific ``train`` keys (``label_smoothing`` is not used by this task).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import config
from zoo.data import captioning as cdata
from zoo.layers import make_recurrent
from zoo.metrics import bleu_n
from zoo.tasks import decoding
from zoo.tasks.base import Task, TaskData

MODEL_KEYS = {
    "cell",
    "bidirectional",
    "units",
    "embedding_dim",
    "feature_dim",
    "conv_filters",
    "backbone",
    "backbone_weights",
    "attention",
    "image_every_step",
    "dropout",
    "max_length",
    "eval_beam_size",
}
DATA_KEYS = {"dataset", "image_size", "augment", "max_vocab", "min_count"}
CELLS = ("simple_rnn", "lstm", "gru")


@keras.saving.register_keras_serializable(package="zoo")
class CaptioningModel(keras.Model):
    """Image -> caption tokens. See the module docstring for the architecture.

    Call: ``model((images, caption_in))`` with images float32 ``[B, S, S, 3]`` in [0, 1]
    and caption_in int ``[B, T]`` (0 = padding) -> logits float32 ``[B, T, V]``.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        cell: str = "lstm",
        units: int = 256,
        embedding_dim: int = 128,
        feature_dim: int = 256,
        conv_filters=(32, 64, 128, 256),
        image_size: int = 64,
        backbone: str | None = None,
        backbone_weights: str | None = None,
        attention: bool = True,
        image_every_step: bool = True,
        dropout: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(
                f"Received an invalid value for argument 'cell', expected one of {CELLS}, "
                f"got {cell!r}."
            )
        for arg, value in (
            ("vocab_size", vocab_size),
            ("units", units),
            ("embedding_dim", embedding_dim),
            ("feature_dim", feature_dim),
            ("image_size", image_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Received an invalid value for argument '{arg}', expected a positive "
                    f"integer, got {value!r}."
                )
        if not 0 <= dropout < 1:
            raise ValueError(
                f"Received an invalid value for argument 'dropout', expected a float in "
                f"[0, 1), got {dropout!r}."
            )
        self.vocab_size, self.cell, self.units = vocab_size, cell, units
        self.embedding_dim, self.feature_dim = embedding_dim, feature_dim
        self.conv_filters = [int(f) for f in conv_filters]
        self.image_size, self.backbone_name = image_size, backbone
        self.backbone_weights = backbone_weights
        self.use_attention, self.image_every_step = bool(attention), bool(image_every_step)
        self.dropout_rate = float(dropout)
        self.n_states = 2 if cell == "lstm" else 1

        if backbone:
            app = getattr(keras.applications, backbone, None)
            if app is None:
                raise ValueError(
                    f"Received an invalid value for argument 'backbone', expected the name "
                    f"of a keras.applications model (e.g. 'MobileNetV3Small'), got {backbone!r}."
                )
            self.backbone = app(
                include_top=False, weights=backbone_weights, input_shape=(image_size, image_size, 3)
            )
            self.conv_blocks = []
        else:
            self.backbone = None
            self.conv_blocks = []
            for i, f in enumerate(self.conv_filters):
                self.conv_blocks.append(
                    [
                        keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i}"),
                        keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}"),
                        keras.layers.ReLU(),
                    ]
                )
            self.pool = keras.layers.MaxPooling2D(2)
        self.feature_proj = keras.layers.Dense(feature_dim, activation="relu", name="feature_proj")
        self.init_states = [
            keras.layers.Dense(units, activation="tanh", name=f"init_state{i}")
            for i in range(self.n_states)
        ]
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.rnn = make_recurrent(
            cell, units, return_sequences=True, return_state=True, name="decoder_rnn"
        )
        self.query_proj = keras.layers.Dense(feature_dim, use_bias=False, name="attention_query")
        self.attention = keras.layers.Attention(name="attention")
        self.combine = keras.layers.Dense(units, activation="tanh", name="combine")
        self.drop = keras.layers.Dropout(dropout)
        self.out = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    # -- pieces -----------------------------------------------------------------------
    def encode(self, images, training=False):
        """images float32 [B, S, S, 3] -> (features [B, G, feature_dim], pooled
        [B, feature_dim], initial states: list of [B, units])."""
        x = images
        if self.backbone is not None:
            x = self.backbone(x * 255.0, training=training)
        else:
            for i, (conv, bn, act) in enumerate(self.conv_blocks):
                x = act(bn(conv(x), training=training))
                if i < len(self.conv_blocks) - 1:
                    x = self.pool(x)
        b = ops.shape(x)[0]
        grid = ops.reshape(x, (b, -1, ops.shape(x)[-1]))
        features = self.feature_proj(grid)
        pooled = ops.mean(features, axis=1)
        states = [dense(pooled) for dense in self.init_states]
        return features, pooled, states

    def decode_steps(self, tokens, features, pooled, states, mask=None, training=False):
        """tokens int [B, T] -> (logits [B, T, V], attention [B, T, G] or None, new states)."""
        x = self.embedding(tokens)
        if self.image_every_step:
            t = ops.shape(tokens)[1]
            x = ops.concatenate([x, ops.repeat(pooled[:, None, :], t, axis=1)], axis=-1)
        x = self.drop(x, training=training)
        outputs = self.rnn(x, initial_state=list(states), mask=mask, training=training)
        seq, new_states = outputs[0], list(outputs[1:])
        attn = None
        if self.use_attention:
            query = self.query_proj(seq)
            context, attn = self.attention(
                [query, features], return_attention_scores=True, training=training
            )
            seq = ops.concatenate([seq, context], axis=-1)
        h = self.drop(self.combine(seq), training=training)
        return self.out(h), attn, new_states

    def call(self, inputs, training=False):
        images, caption_in = inputs
        features, pooled, states = self.encode(images, training=training)
        mask = ops.not_equal(caption_in, 0)
        logits, _, _ = self.decode_steps(
            caption_in, features, pooled, states, mask=mask, training=training
        )
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            cell=self.cell,
            units=self.units,
            embedding_dim=self.embedding_dim,
            feature_dim=self.feature_dim,
            conv_filters=self.conv_filters,
            image_size=self.image_size,
            backbone=self.backbone_name,
            backbone_weights=self.backbone_weights,
            attention=self.use_attention,
            image_every_step=self.image_every_step,
            dropout=self.dropout_rate,
        )
        return config


# --------------------------------------------------------------------------------------
# decoding (plain TF ops: eager, tf.function and SavedModel)


def _step_fn(model: CaptioningModel):
    """The model's one-step function for `zoo.tasks.decoding`: ``(tokens int32[N],
    (features, pooled, *rnn_states)) -> (logits [N, V], same nest)``; the image
    features ride along in the state so beam search tiles and reorders them."""

    def step(tokens, states):
        features, pooled, *rnn_states = states
        logits, _, new = model.decode_steps(tokens[:, None], features, pooled, rnn_states)
        return logits[:, 0], (features, pooled, *new)

    return step


def _decode(model: CaptioningModel, images: tf.Tensor, beam_size: int, max_length: int):
    features, pooled, states = model.encode(images)
    start = tf.fill([tf.shape(images)[0]], cdata.START_ID)
    nest = (features, pooled, *states)
    if beam_size == 1:
        return decoding.greedy_search(
            _step_fn(model), start, nest, max_length=max_length, end_token=cdata.END_ID
        )
    return decoding.beam_search(
        _step_fn(model),
        start,
        nest,
        beam_size=beam_size,
        max_length=max_length,
        end_token=cdata.END_ID,
    )


def greedy_search(
    model: CaptioningModel, images: tf.Tensor, max_length: int = 16
) -> tuple[tf.Tensor, tf.Tensor]:
    """Greedy decoding with `zoo.tasks.decoding.greedy_search` (stops early when every
    caption has ended).

    Args:
        images: float32 ``[B, S, S, 3]`` in [0, 1].

    Returns:
        ids int32 ``[B, L]`` (``L <= max_length``; ``<end>`` then padding 0) and the summed
        log-probabilities float32 ``[B]``.
    """
    return _decode(model, images, 1, max_length)


def beam_search(
    model: CaptioningModel, images: tf.Tensor, beam_size: int = 3, max_length: int = 16
) -> tuple[tf.Tensor, tf.Tensor]:
    """Beam search with `zoo.tasks.decoding.beam_search` (ranked by summed
    log-probability). ``beam_size=1`` is greedy decoding.

    Returns:
        ids int32 ``[B, L]`` (as `greedy_search`) and scores float32 ``[B]``.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(
            f"Received an invalid value for argument 'beam_size', expected a positive "
            f"integer, got {beam_size!r}."
        )
    return _decode(model, images, beam_size, max_length)


def greedy_decode(
    model: CaptioningModel, images: tf.Tensor, max_length: int = 16
) -> tuple[tf.Tensor, tf.Tensor]:
    """Greedy decoding that also returns the attention maps (a fixed `max_length` loop).

    Returns:
        ids int32 ``[B, max_length]`` (same tokens as `greedy_search`, padded to
        `max_length`) and attention float32 ``[B, max_length, G]`` over the G grid cells
        (zeros without attention).
    """
    features, pooled, states = model.encode(images)
    b = tf.shape(images)[0]
    tokens = tf.fill([b], cdata.START_ID)
    done = tf.zeros([b], tf.bool)
    out_ids, out_attn = [], []
    for _ in range(max_length):
        logits, attn, states = model.decode_steps(tokens[:, None], features, pooled, states)
        nxt = tf.cast(tf.argmax(logits[:, 0], axis=-1), tf.int32)
        nxt = tf.where(done, tf.zeros_like(nxt), nxt)
        out_ids.append(nxt)
        out_attn.append(attn[:, 0] if attn is not None else tf.zeros([b, tf.shape(features)[1]]))
        done = done | tf.equal(nxt, cdata.END_ID)
        tokens = nxt
    return tf.stack(out_ids, 1), tf.stack(out_attn, 1)


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


# --------------------------------------------------------------------------------------
# the task


class _ValBleu(keras.callbacks.Callback):
    """Writes ``val_bleu4`` / ``val_exact_match`` (greedy, validation split) into the logs."""

    def __init__(self, task, arrays, vocabulary, max_length):
        super().__init__()
        self.task, self.arrays = task, arrays
        self.vocabulary, self.max_length = vocabulary, max_length

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        hyps = self.task._decode_arrays(
            self.model,
            self.arrays["images"],
            self.vocabulary,
            beam_size=1,
            max_length=self.max_length,
        )
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
def _split_arrays(dataset: str, split: str, image_size: int, limit: int | None):
    return cdata.load_split_arrays(split, image_size=image_size, limit=limit, dataset=dataset)


class CaptioningTask(Task):
    """Image captioning on the emoji set (``zoo_emoji_captions``); see the module doc."""

    name = "captioning"
    primary_metric = "bleu4"
    monitor = "val_bleu4"
    monitor_mode = "max"
    eval_subset_size = 200

    def check_config(self, cfg: dict) -> None:
        config.check_keys("data", cfg["data"], DATA_KEYS)
        self._check_model(cfg["model"])

    @staticmethod
    def _check_model(model_cfg: dict) -> None:
        config.check_keys("model", model_cfg, MODEL_KEYS, {"cell"})
        config.cell(model_cfg["cell"])
        if model_cfg.get("bidirectional"):
            raise config.ConfigError(
                "invalid value for 'model.bidirectional': True; the caption decoder "
                "generates left to right, so it cannot be bidirectional (expected false)."
            )

    # -- data -------------------------------------------------------------------------
    def load_data(
        self, data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
    ) -> TaskData:
        config.check_keys("data", data_cfg, DATA_KEYS)
        d = cdata.load_datasets(data_cfg, batch_size=batch_size, seed=seed, smoke=smoke)
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
        self._check_model(model_cfg)
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
        model.zoo_max_length = int(model_cfg.get("max_length", cdata.MAX_CAPTION_TOKENS))
        model.zoo_beam_size = int(model_cfg.get("eval_beam_size", 3))
        model.zoo_image_size = image_size
        return model

    def compile_model(self, model: keras.Model, optimizer, train_cfg: dict) -> None:
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        )

    def callbacks(self, model: keras.Model, data: TaskData, train_cfg: dict) -> list:
        dataset = "zoo_emoji_captions"
        limit = 64 if data.info.get("smoke") else None
        arrays = _split_arrays(dataset, "validation", int(data.info.get("image_size", 64)), limit)
        return [
            _ValBleu(
                self,
                arrays,
                data.assets["vocabulary"],
                getattr(model, "zoo_max_length", cdata.MAX_CAPTION_TOKENS),
            )
        ]

    # -- decoding ---------------------------------------------------------------------
    def _decoder_fn(self, model, beam_size: int, max_length: int):
        cache = model.__dict__.setdefault("_zoo_decoders", {})
        key = (beam_size, max_length)
        if key not in cache:

            def run(images):
                return _decode(model, images, beam_size, max_length)[0]

            cache[key] = tf.function(run, reduce_retracing=True)
        return cache[key]

    def _decode_arrays(
        self,
        model,
        images: np.ndarray,
        vocabulary: list[str],
        *,
        beam_size: int = 1,
        max_length: int = 16,
        batch: int = 128,
    ) -> list[str]:
        fn = self._decoder_fn(model, beam_size, max_length)
        out = []
        for i in range(0, len(images), batch):
            ids = fn(tf.constant(images[i : i + batch], tf.float32))
            out += [s.decode("utf-8") for s in ids_to_strings(ids, vocabulary).numpy()]
        return out

    def decode(
        self,
        model,
        images,
        assets: dict,
        *,
        beam_size: int = 1,
        max_length: int | None = None,
        return_attention: bool = False,
    ):
        """Images (as `predict` takes them) -> captions, and with `return_attention`
        (greedy only) the attention maps float32 ``[N, L, grid_h, grid_w]`` per
        generated token (L = `max_length`; rows after ``<end>`` are meaningless)."""
        batch = self._to_batch(images, getattr(model, "zoo_image_size", 64))
        max_length = max_length or getattr(model, "zoo_max_length", cdata.MAX_CAPTION_TOKENS)
        if not return_attention:
            return self._decode_arrays(
                model,
                batch.numpy(),
                assets["vocabulary"],
                beam_size=beam_size,
                max_length=max_length,
            )
        ids, attn = greedy_decode(model, batch, max_length)
        g = int(round(np.sqrt(attn.shape[-1])))
        captions = [s.decode("utf-8") for s in ids_to_strings(ids, assets["vocabulary"]).numpy()]
        return captions, attn.numpy().reshape(attn.shape[0], attn.shape[1], g, -1)

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
        dataset = data_cfg.get("dataset", "zoo_emoji_captions")
        size = int(data_cfg.get("image_size", cdata.DEFAULT_IMAGE_SIZE))
        ev = _split_arrays(dataset, split, size, limit)
        max_length = getattr(model, "zoo_max_length", cdata.MAX_CAPTION_TOKENS)
        beam = getattr(model, "zoo_beam_size", 3)
        hyps = self._decode_arrays(
            model, ev["images"], assets["vocabulary"], beam_size=beam, max_length=max_length
        )
        out = caption_metrics(hyps, ev["captions"])
        if beam != 1:
            greedy = self._decode_arrays(
                model, ev["images"], assets["vocabulary"], beam_size=1, max_length=max_length
            )
            out.update(
                {f"greedy_{k}": v for k, v in caption_metrics(greedy, ev["captions"]).items()}
            )
        tr = _split_arrays(dataset, "train", size, None)
        nn = nearest_neighbour_captions(tr["images"], tr["captions"], ev["images"])
        out.update({f"nn_{k}": v for k, v in caption_metrics(nn, ev["captions"]).items()})
        out["examples"] = len(hyps)
        out["beam_size"] = beam
        return out

    @staticmethod
    def _one_image(x, image_size: int) -> tf.Tensor:
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

    def _to_batch(self, images, image_size: int) -> tf.Tensor:
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            return tf.zeros([0, image_size, image_size, 3])
        return tf.stack([self._one_image(x, image_size) for x in images])

    def predict(self, model: keras.Model, assets: dict, inputs: list) -> list:
        """Images (paths, encoded bytes, PIL images or arrays; any size; gray, RGB or
        RGBA) -> caption strings (beam search with the model's ``eval_beam_size``)."""
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if not inputs:
            return []
        return self.decode(
            model, list(inputs), assets, beam_size=getattr(model, "zoo_beam_size", 3)
        )

    def serving_functions(self, model: keras.Model, assets: dict) -> dict[str, Any]:
        """``serving_default``: images tf.string ``[B]`` (PNG/JPEG/GIF/BMP bytes) ->
        ``{"captions": tf.string [B]}`` (greedy). ``beam_search``: the same with beam
        search (``eval_beam_size``). Undecodable bytes raise InvalidArgumentError with a
        message naming the problem."""
        vocabulary = list(assets["vocabulary"])
        size = getattr(model, "zoo_image_size", 64)
        max_length = getattr(model, "zoo_max_length", cdata.MAX_CAPTION_TOKENS)
        beam = max(1, getattr(model, "zoo_beam_size", 3))
        spec = [tf.TensorSpec([None], tf.string, name="images")]

        def images_of(encoded):
            return tf.map_fn(
                lambda e: cdata.preprocess_image(e, size),
                encoded,
                fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
            )

        @tf.function(input_signature=spec)
        def serving_default(images):
            ids, _ = greedy_search(model, images_of(images), max_length)
            return {"captions": ids_to_strings(ids, vocabulary)}

        @tf.function(input_signature=spec)
        def serving_beam(images):
            ids, _ = beam_search(model, images_of(images), beam, max_length)
            return {"captions": ids_to_strings(ids, vocabulary)}

        return {"serving_default": serving_default, "beam_search": serving_beam}

    def example_inputs(self) -> list:
        """Three held-out test images (PNG bytes)."""
        return cdata.sample_images({}, n=3)


__all__ = [
    "CaptioningModel",
    "CaptioningTask",
    "beam_search",
    "caption_metrics",
    "greedy_decode",
    "greedy_search",
    "ids_to_strings",
    "nearest_neighbour_captions",
]

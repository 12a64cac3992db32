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
  also fed at every step (``image_every_step``). Then Luong "general" attention
  (`zoo.tasks.attention.Attention`, dot score on a projected query) of each decoder
  output over the feature grid (``attention: true``), ``[output;
  context] -> Dense(tanh) -> Dropout -> Dense(vocab)`` logits.
* **Training**: teacher forcing (input ``<start> w1 .. wn``, target ``w1 .. wn <end>``),
  cross-entropy weighted by the padding mask (the mask is also passed explicitly to
  the recurrent layer).
* **Decoding**: greedy (`greedy_search`) and beam search (`beam_search`) from
  `zoo.tasks.decoding` (shared with translation; in-graph ``tf.while_loop``) on the
  model's one-step function ``(tokens [N], (features, pooled, *states)) -> (logits
  [N, V], ...)``, so they run eagerly, in a `tf.function` and in the exported
  SavedModel. Attention maps per generated token come from `greedy_decode` through
  `CaptioningRuntime.decode(..., return_attention=True)` (``[B, L, grid_h, grid_w]``).

``model`` config keys: cell (simple_rnn|lstm|gru), units (256), embedding_dim (128),
feature_dim (256), conv_filters ([32, 64, 128, 256]), backbone (null),
backbone_weights (null), attention (true), image_every_step (true), dropout (0.3),
max_length (16), eval_beam_size (3), bidirectional (false; must stay false: a
decoder generates left to right).
``data`` keys: see `zoo.data.captioning.load_data`.
No task-specific ``train`` keys (``label_smoothing`` is not used by this task).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from zoo import config
from zoo.data import captioning as cdata
from zoo.layers import make_recurrent
from zoo.tasks import decoding
from zoo.tasks.attention import Attention

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
DATA_KEYS = {"dataset", "image_size", "augment", "max_vocab", "min_count", "sources"}
CELLS = config.CELLS


def check_model(model_cfg: dict) -> None:
    """Check the ``model`` section (keys, cell, no bidirectional decoder); raises
    `zoo.config.ConfigError`."""
    config.check_keys("model", model_cfg, MODEL_KEYS, {"cell"})
    config.cell(model_cfg["cell"])
    if model_cfg.get("bidirectional"):
        raise config.ConfigError(
            "invalid value for 'model.bidirectional': True; the caption decoder "
            "generates left to right, so it cannot be bidirectional (expected false)."
        )


def _check_args(cell: str, dropout: float, **positive_ints) -> None:
    """`CaptioningModel` arguments: a known cell, dropout in [0, 1), positive integers."""
    if cell not in CELLS:
        raise ValueError(
            f"Received an invalid value for argument 'cell', expected one of {CELLS}, got {cell!r}."
        )
    for arg, value in positive_ints.items():
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
        _check_args(
            cell,
            dropout,
            vocab_size=vocab_size,
            units=units,
            embedding_dim=embedding_dim,
            feature_dim=feature_dim,
            image_size=image_size,
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
        # Luong "general" = this query projection + the shared dot score (no weights of its own)
        self.attention = Attention("dot", name="attention")
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
            context, attn = self.attention(query, features)
            seq = ops.concatenate([seq, context], axis=-1)
        h = self.drop(self.combine(seq), training=training)
        return self.out(h), attn, new_states

    def decode_step(self, tokens, features, pooled, states):
        """One generation step, no time loop (so it converts to TFLite builtins with a
        dynamic batch): tokens int [N] -> (logits [N, V], new states). The same numbers
        as `decode_steps` on ``tokens[:, None]`` (the layer's `step` is its loop body)."""
        x = self.embedding(tokens)
        if self.image_every_step:
            x = ops.concatenate([x, pooled], axis=-1)
        h, new_states = self.rnn.step(x, list(states))
        seq = h[:, None]
        if self.use_attention:
            context, _ = self.attention(self.query_proj(seq), features)
            seq = ops.concatenate([seq, context], axis=-1)
        return self.out(self.combine(seq))[:, 0], new_states

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
        logits, new = model.decode_step(tokens, features, pooled, rnn_states)
        return logits, (features, pooled, *new)

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

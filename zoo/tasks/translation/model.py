"""Translation Spanish -> English: recurrent encoder-decoder with attention (many-to-many).

Architecture (`Translator`)::

    source ids  int32[B, Ts] --Embedding(src_vocab, embedding_dim)--> dropout
        --> encoder: make_recurrent(cell, encoder_units, bidirectional) over time, with the
            padding mask passed explicitly                    -> memory [B, Ts, d_m]
        --> bridge: Dense(tanh) of the final encoder state(s)  -> decoder initial state(s)
    target_in int32[B, Tt] ([START] + target) --Embedding(tgt_vocab, target_embedding_dim)
        --> decoder: make_recurrent(cell, decoder_units) (teacher forcing)  -> h [B, Tt, d]
        --> Attention(score) of h over the memory (Luong "general" by default, or
            "dot" / "additive" = Bahdanau)                     -> context, weights
        --> Dense(attention_units, tanh)([h; context]) --> dropout
        --> Dense(target_embedding_dim) --> x @ E_tgt^T + b   (output tied to the target
            embedding, Press & Wolf 2017)                      -> logits [B, Tt, tgt_vocab]

The decoder attends after its recurrent step (Luong et al. 2015), so teacher-forced
training runs the decoder RNN over the whole target in one call and attention is one
batched matmul. Decoding (`TranslatorRuntime`, in ``runtime.py``) runs `decode_step`
inside `zoo.tasks.decoding` (greedy or beam search, `tf.while_loop`), so it runs in a
SavedModel.

The target vocabulary is CASED and punctuation is tokenized separately, so the model
writes cased English and `zoo.data.translation.detokenize` re-attaches punctuation:
the output is scored with sacrebleu against the original cased references.

Config sections:

* ``model``: ``cell`` (simple_rnn|lstm|gru), ``bidirectional`` (encoder), ``embedding_dim``
  (source, 128), ``target_embedding_dim`` (128), ``encoder_units`` (256 per direction),
  ``decoder_units`` (256), ``attention`` (general|dot|additive), ``attention_units`` (256),
  ``dropout`` (0.3; embeddings and the attentional layer), ``recurrent_dropout`` (0.0),
  ``beam_size`` (5, used by `evaluate`'s ``bleu``), ``length_penalty`` (GNMT alpha, 0.6),
  ``max_output_length`` (64 tokens), ``storage_dtype`` ("float16": how the preset stores
  the weights; see `Translator.save_weights`).
* ``data``: see `zoo.data.translation.DEFAULTS`.
* ``train``: `zoo.train` keys; ``label_smoothing`` (read here) smooths the masked token
  cross-entropy.
"""

from __future__ import annotations

from typing import Any

import h5py
import keras
import numpy as np
from keras import ops

from zoo import config
from zoo.layers import make_recurrent
from zoo.tasks.attention import SCORES, Attention

CELLS = config.CELLS
MODEL_DEFAULTS: dict[str, Any] = {
    "cell": "gru",
    "bidirectional": True,
    "embedding_dim": 128,
    "target_embedding_dim": 128,
    "encoder_units": 256,
    "decoder_units": 256,
    "attention": "general",
    "attention_units": 256,
    "dropout": 0.3,
    "recurrent_dropout": 0.0,
    "beam_size": 5,
    "length_penalty": 0.6,
    "max_output_length": 64,
    "storage_dtype": "float16",
}
MODEL_KEYS = set(MODEL_DEFAULTS)


def model_config(model_cfg: dict | None) -> dict:
    """`MODEL_DEFAULTS` updated with `model_cfg`; unknown keys / bad values raise ValueError."""
    model_cfg = dict(model_cfg or {})
    config.check_keys("model", model_cfg, MODEL_KEYS)
    cfg = {**MODEL_DEFAULTS, **model_cfg}
    config.cell(cfg["cell"])
    config.one_of(cfg["attention"], SCORES, "attention", "model")
    config.one_of(cfg["storage_dtype"], ("float16", "float32"), "storage_dtype", "model")
    for key in (
        "embedding_dim",
        "target_embedding_dim",
        "encoder_units",
        "decoder_units",
        "attention_units",
        "beam_size",
        "max_output_length",
    ):
        config.positive_int(cfg[key], key, "model")
    return cfg


# --------------------------------------------------------------------------------------
# the model


@keras.saving.register_keras_serializable(package="zoo")
class Translator(keras.Model):
    """Encoder-decoder with attention; see the module docstring.

    Call: ``(source int32[B, Ts], target_in int32[B, Tt])`` -> logits ``float32[B, Tt, V]``
    (0 = padding in both inputs). `attention_weights` gives ``float32[B, Tt, Ts]``.
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        cell="gru",
        bidirectional=True,
        embedding_dim=256,
        target_embedding_dim=192,
        encoder_units=256,
        decoder_units=384,
        attention="general",
        attention_units=384,
        dropout=0.3,
        recurrent_dropout=0.0,
        weights_dtype="float16",
        beam_size=5,
        length_penalty=0.6,
        max_output_length=64,
        max_source_length=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_vocab_size = int(source_vocab_size)
        self.target_vocab_size = int(target_vocab_size)
        self.cell_name = cell
        self.bidirectional = bool(bidirectional)
        self.embedding_dim = embedding_dim
        self.target_embedding_dim = target_embedding_dim
        self.encoder_units = encoder_units
        self.decoder_units = decoder_units
        self.attention_score = attention
        self.attention_units = attention_units
        self.dropout_rate = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.weights_dtype = weights_dtype
        # decoding settings (no weights; TranslatorRuntime reads them from the config)
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)
        self.max_output_length = int(max_output_length)
        self.max_source_length = int(max_source_length)

        self.source_embedding = keras.layers.Embedding(
            self.source_vocab_size, embedding_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            self.target_vocab_size, target_embedding_dim, name="target_embedding"
        )
        self.encoder = make_recurrent(
            cell,
            encoder_units,
            bidirectional=self.bidirectional,
            merge_mode="concat",
            return_sequences=True,
            return_state=True,
            recurrent_dropout=recurrent_dropout,
            name="encoder",
        )
        self.n_states = 2 if cell == "lstm" else 1
        self.bridges = [
            keras.layers.Dense(decoder_units, activation="tanh", name=f"bridge_{i}")
            for i in range(self.n_states)
        ]
        self.decoder = make_recurrent(
            cell,
            decoder_units,
            return_sequences=True,
            return_state=True,
            recurrent_dropout=recurrent_dropout,
            name="decoder",
        )
        self.attention = Attention(attention, units=attention_units, name="attention")
        self.combine = keras.layers.Dense(attention_units, activation="tanh", name="combine")
        self.output_projection = keras.layers.Dense(target_embedding_dim, name="output_projection")
        self.dropout = keras.layers.Dropout(dropout)
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.target_vocab_size,), initializer="zeros"
        )

    # -- pieces -----------------------------------------------------------------------
    def encode(self, source, training=False):
        """``int32[B, Ts]`` -> ``(memory float32[B, Ts, d_m], mask bool[B, Ts], states)``
        where ``states`` is the list of decoder initial states ``float32[B, decoder_units]``."""
        mask = ops.not_equal(source, 0)
        x = self.dropout(self.source_embedding(source), training=training)
        out = self.encoder(x, mask=mask, training=training)
        memory, finals = out[0], list(out[1:])
        if self.bidirectional:
            n = len(finals) // 2
            finals = [ops.concatenate([f, b], axis=-1) for f, b in zip(finals[:n], finals[n:])]
        states = [bridge(s) for bridge, s in zip(self.bridges, finals)]
        return memory, mask, states

    def _logits(self, h, context, training=False):
        x = self.combine(ops.concatenate([h, context], axis=-1))
        x = self.output_projection(self.dropout(x, training=training))
        # float32 logits under mixed precision too (a no-op in float32)
        x = ops.cast(x, "float32")
        table = ops.cast(self.target_embedding.embeddings, "float32")
        return ops.matmul(x, ops.transpose(table)) + ops.cast(self.output_bias, "float32")

    def call(self, inputs, training=False, return_attention=False):
        source, target_in = inputs
        memory, mask, states = self.encode(source, training=training)
        y = self.dropout(self.target_embedding(target_in), training=training)
        out = self.decoder(
            y, initial_state=states, mask=ops.not_equal(target_in, 0), training=training
        )
        context, weights = self.attention(out[0], memory, mask)
        logits = self._logits(out[0], context, training=training)
        if return_attention:
            return logits, weights
        return logits

    def attention_weights(self, source, target_in):
        """Teacher-forced attention ``float32[B, Tt, Ts]`` (row t: while predicting token t+1)."""
        return self((source, target_in), return_attention=True)[1]

    def decode_state(self, source):
        """Initial decoding state for `decode_step`: ``(rnn_states, memory, keys, mask)``."""
        memory, mask, states = self.encode(source)
        return (
            tuple(states),
            memory,
            self.attention.memory_keys(memory),
            ops.cast(mask, "float32"),
        )

    def decode_step(self, tokens, state):
        """One decoder step: ``tokens int32[N]``, state from `decode_state` ->
        ``(logits float32[N, V], new_state)``; the step function of `zoo.tasks.decoding`."""
        rnn_states, memory, keys, mask = state
        x = self.target_embedding(tokens)
        h, new_states = self.decoder_cell(x, list(rnn_states))
        context, _ = self.attention(h, memory, mask > 0, keys=keys)
        return self._logits(h, context), (tuple(new_states), memory, keys, mask)

    @property
    def decoder_cell(self):
        return self.decoder.cell

    def build_for_inputs(self):
        """Create all weights (call once on a dummy batch)."""
        dummy = ops.ones((1, 2), dtype="int32")
        self((dummy, dummy))
        return self

    # -- float16 storage ------------------------------------------------------------------
    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Write the weights; with ``weights_dtype="float16"`` they are stored as float16
        (half the preset size) in a plain HDF5 file (one dataset per variable, in the
        order of ``self.weights``, checked by shape on load). Float32 otherwise (Keras's
        own format)."""
        if self.weights_dtype != "float16":
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        filepath = str(filepath)
        with h5py.File(filepath, "w") as f:
            f.attrs["format"] = "zoo.translator.float16"
            for i, v in enumerate(self.weights):
                ds = f.create_dataset(f"w{i:04d}", data=np.asarray(v.numpy(), np.float16))
                ds.attrs["path"] = v.path
        return None

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        filepath = str(filepath)
        with h5py.File(filepath, "r") as f:
            fmt = f.attrs.get("format")
            if fmt != "zoo.translator.float16":
                return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
            keys = sorted(f.keys())
            if len(keys) != len(self.weights):
                raise ValueError(
                    f"{filepath}: {len(keys)} stored weights, the model has {len(self.weights)}."
                )
            for key, v in zip(keys, self.weights):
                value = f[key][()]
                if tuple(value.shape) != tuple(v.shape):
                    raise ValueError(
                        f"{filepath}: weight {key} ({f[key].attrs.get('path')}) has shape "
                        f"{value.shape}, the model's {v.path} has {tuple(v.shape)}."
                    )
                v.assign(value.astype(np.float32))
        return None

    def round_to_storage(self):
        """Round every weight to what `save_weights` stores (float16), in place. Evaluation
        never calls this (it uses `stored_copy`); kept for callers that want it."""
        if self.weights_dtype == "float16":
            for v in self.weights:
                v.assign(_stored(v.numpy()))

    def stored_copy(self) -> Translator:
        """The model as its preset will hold it: `self` when every weight is already what
        `save_weights` stores (float32 storage, or a loaded float16 preset), otherwise a
        new `Translator` whose weights are rounded to float16. `self` is never changed."""
        if self.weights_dtype != "float16":
            return self
        values = [v.numpy() for v in self.weights]
        rounded = [_stored(w) for w in values]
        if all(np.array_equal(a, b) for a, b in zip(values, rounded)):
            return self
        copy = Translator.from_config(self.get_config()).build_for_inputs()
        for v, w in zip(copy.weights, rounded):
            v.assign(w)
        return copy

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "cell": self.cell_name,
            "bidirectional": self.bidirectional,
            "embedding_dim": self.embedding_dim,
            "target_embedding_dim": self.target_embedding_dim,
            "encoder_units": self.encoder_units,
            "decoder_units": self.decoder_units,
            "attention": self.attention_score,
            "attention_units": self.attention_units,
            "dropout": self.dropout_rate,
            "recurrent_dropout": self.recurrent_dropout,
            "weights_dtype": self.weights_dtype,
            "beam_size": self.beam_size,
            "length_penalty": self.length_penalty,
            "max_output_length": self.max_output_length,
            "max_source_length": self.max_source_length,
        }


def _stored(array) -> np.ndarray:
    """`array` rounded to float16 and widened back (what a float16 preset holds)."""
    return np.asarray(array, np.float16).astype(np.float32)


# --------------------------------------------------------------------------------------
# loss and metric


@keras.saving.register_keras_serializable(package="zoo")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Token-level cross-entropy from logits, averaged over non-padding targets (id 0 is
    padding), with optional label smoothing (mass ``label_smoothing`` spread uniformly).

    y_true: ``int32[B, T]``; y_pred: logits ``float32[B, T, V]`` -> scalar.
    """

    def __init__(self, label_smoothing=0.0, name="masked_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.take_along_axis(logp, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        if self.label_smoothing:
            eps = self.label_smoothing
            nll = (1 - eps) * nll - eps * ops.mean(logp, axis=-1)
        mask = ops.cast(ops.not_equal(y_true, 0), "float32")
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_accuracy(y_true, y_pred):
    """Token accuracy over non-padding targets. ``int[B, T]``, ``float[B, T, V]`` -> scalar."""
    y_true = ops.cast(y_true, "int32")
    pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    mask = ops.cast(ops.not_equal(y_true, 0), "float32")
    hit = ops.cast(ops.equal(pred, y_true), "float32") * mask
    return ops.sum(hit) / ops.maximum(ops.sum(mask), 1.0)

"""Named-entity recognition (many-to-many, aligned): CoNLL-2003 English, IOB2 tags.

Architecture (`NERTask.build_model`), any of our cells::

    words  int32 [B, T] --> WordEmbedding (GloVe 6B 50d init, trainable)      [B, T, 50]
    chars  int32 [B, T, C] --> CharCNN (embedding, Conv1D, masked max; case kept)[B, T, F]
    casing int32 [B, T] --> Embedding (8 casing classes)                       [B, T, c]
      -> concat -> dropout -> `layers` x make_recurrent(cell, units, bidirectional)
         (mask = words != 0 passed EXPLICITLY: Keras 3.15 Concatenate drops masks)
      -> dropout -> Dense(9) emissions -> optional CRF (IOB2-constrained transitions)

Outputs: emission scores float32 [B, T, 9] (tag order `zoo.data.ner.TAGS`). Decoding
(`decode_tags`): Viterbi with the CRF, else per-token argmax followed by IOB2 repair
(an ``I-X`` not preceded by ``B-X``/``I-X`` becomes ``B-X``), so spans are always valid
IOB2. Both are graph code, used alike by `evaluate`, `predict` and the exported
``serving_default``.

Config keys.
``model``: cell ("simple_rnn" | "lstm" | "gru"), bidirectional (bool), units (per
direction), layers (1), dropout (0.5, on the embeddings and the recurrent output),
recurrent_dropout (0.0), crf (bool), crf_constraints (True: IOB2 constraints in the
CRF), char_dim (30), char_filters (50), char_kernel (3), casing_dim (8),
embedding_storage ("float16": the word embedding is rounded to float16 in the forward
pass and stored as float16, halving the preset; or "float32").
``data``: dataset ("conll2003"), glove_vocab (GloVe words added to the train
vocabulary, most frequent first; 0 = none), glove_splits (splits whose words are added
when GloVe has a vector for them, e.g. ["validation", "test"]: only their *text* is
read, never their tags. This is Lample et al. 2016's practice and measures the model
as if it shipped all 400,000 GloVe vectors - words never seen in training keep their
GloVe vector, which training does not move - while the preset stores only the rows
the evaluation reaches, under 10 MB. Default: none), min_count (1), max_train
(optional: cap on train sentences, for quick experiments).
``train``: only the keys of `zoo.train` (no task-specific ones).

Raw-text tokenization (`predict`, serving): `zoo.data.ner.tokenize` - whitespace plus
CoNLL-style punctuation splitting; inputs longer than `MAX_TOKENS` (256) tokens are
truncated, tokens longer than `MAX_CHARS` (25) characters keep their first 25 for the
character features.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import config
from zoo.data import ner as ner_data
from zoo.layers import make_recurrent
from zoo.metrics import entity_f1
from zoo.tasks.base import Task, TaskData, with_layer_config
from zoo.tasks.crf import CRF, CRFLoss, iob2_constraints

__all__ = ["CharCNN", "NERTask", "WordEmbedding", "decode_tags", "repair_iob2"]

TAGS = ner_data.TAGS
NUM_TAGS = len(TAGS)

MODEL_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "bidirectional": True,
    "units": 100,
    "layers": 1,
    "dropout": 0.5,
    "recurrent_dropout": 0.0,
    "crf": True,
    "crf_constraints": True,
    "word_dim": 50,
    "char_dim": 30,
    "char_filters": 50,
    "char_kernel": 3,
    "casing_dim": 8,
    "embedding_storage": "float16",
}
DATA_DEFAULTS: dict[str, Any] = {
    "dataset": "conll2003",
    "glove_vocab": 0,
    "glove_splits": [],
    "min_count": 1,
    "max_train": None,
}
SMOKE_SIZES = {"train": 256, "validation": 128, "test": 128}


# --------------------------------------------------------------------------------------
# layers


@keras.saving.register_keras_serializable(package="zoo")
class WordEmbedding(keras.layers.Layer):
    """Token ids int [B, T] -> float32 [B, T, dim]; id 0 (padding) is not special here
    (the model masks it). With ``storage="float16"`` the table is rounded to float16 in
    the forward pass and saved as float16, so what is evaluated is what is shipped.

    Args:
        input_dim: vocabulary size (incl. padding and unknown); output_dim: dim;
        storage: "float16" or "float32"; embeddings_initializer: as in Keras.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        storage="float16",
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if storage not in ("float16", "float32"):
            raise ValueError(
                "Received an invalid value for argument 'storage', expected 'float16' or "
                f"'float32', got {storage!r}."
            )
        self.input_dim, self.output_dim, self.storage = int(input_dim), int(output_dim), storage
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )

    def call(self, ids):
        # Look the rows up first, then round them: the same values as rounding the table,
        # without converting the whole (vocabulary x dim) table on every call.
        out = ops.take(self.embeddings, ops.cast(ids, "int32"), axis=0)
        if self.storage == "float16":
            out = ops.cast(ops.cast(out, "float16"), self.compute_dtype)
        return out

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def save_own_variables(self, store):
        value = keras.ops.convert_to_numpy(self.embeddings)
        store["0"] = value.astype(np.float16) if self.storage == "float16" else value

    def load_own_variables(self, store):
        self.embeddings.assign(np.asarray(store["0"], dtype=np.float32))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "storage": self.storage,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class CharCNN(keras.layers.Layer):
    """Character features per token: embedding -> Conv1D ("same") -> max over the
    token's real characters (Ma & Hovy 2016). Case-sensitive (ids from the cased
    character vocabulary).

    Input int [B, T, C] (0 = padding); output float32 [B, T, filters] (zeros for a
    token without characters). Padding characters are zeroed before the convolution,
    exactly what the convolution's own zero padding looks like, so extra padding does
    not change the result.
    """

    def __init__(self, num_chars, char_dim=30, filters=50, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.num_chars, self.char_dim = int(num_chars), int(char_dim)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.embedding = keras.layers.Embedding(
            self.num_chars, self.char_dim, name="char_embedding"
        )
        self.conv = keras.layers.Conv1D(
            self.filters, self.kernel_size, padding="same", activation="tanh", name="char_conv"
        )

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.conv.build((None, None, self.char_dim))

    def call(self, chars):
        chars = ops.cast(chars, "int32")
        shape = ops.shape(chars)
        flat = ops.reshape(chars, (shape[0] * shape[1], shape[2]))  # [B*T, C]
        valid = ops.cast(ops.not_equal(flat, 0), self.compute_dtype)[:, :, None]
        h = self.conv(self.embedding(flat) * valid)  # [B*T, C, F]
        h = ops.where(valid > 0, h, -2.0)  # tanh >= -1: -2 never wins the max
        pooled = ops.max(h, axis=1)
        pooled = ops.where(ops.max(valid, axis=1) > 0, pooled, 0.0)
        return ops.reshape(pooled, (shape[0], shape[1], self.filters))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_chars": self.num_chars,
                "char_dim": self.char_dim,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
            }
        )
        return config


# --------------------------------------------------------------------------------------
# decoding


def repair_iob2(tag_ids):
    """Make IOB2 valid: an ``I-X`` whose previous tag is neither ``B-X`` nor ``I-X``
    becomes ``B-X``. Tag ids in `TAGS` order (O=0, B-X odd, I-X = B-X + 1).

    Args: int32 [B, T]. Returns: int32 [B, T].
    """
    tag_ids = tf.cast(tag_ids, tf.int32)
    prev = tf.pad(tag_ids[:, :-1], [[0, 0], [1, 0]])
    is_inside = (tag_ids > 0) & (tag_ids % 2 == 0)
    same_type = (prev > 0) & ((prev - 1) // 2 == (tag_ids - 1) // 2)
    return tf.where(is_inside & ~same_type, tag_ids - 1, tag_ids)


def decode_tags(model: keras.Model, inputs: dict) -> tf.Tensor:
    """Emissions -> tag ids int32 [B, T] (Viterbi with a CRF, else argmax), IOB2-valid,
    0 (= "O") at padding. Graph-compatible."""
    emissions = model(inputs, training=False)
    mask = tf.not_equal(inputs["words"], 0)
    crf = _crf_layer(model)
    if crf is not None:
        tags = crf.decode(emissions, mask)
    else:
        tags = tf.argmax(emissions, axis=-1, output_type=tf.int32)
    tags = tf.where(mask, tags, 0)
    return repair_iob2(tags)


def _pre_rounded(model: keras.Model) -> keras.Model:
    """For export: a copy of `model` whose float16-storage word table is rounded to
    float16 once, here, and then stored as float32 ("float32" storage). Outputs are the
    same bit for bit (rounding commutes with the row gather), and the exported graphs
    (SavedModel, TFLite) hold a plain float32 table with no float16 casts at all.
    Returns `model` itself when there is nothing to do."""
    return with_layer_config(
        model,
        "WordEmbedding",
        "storage",
        "float32",
        lambda w: w.astype(np.float16).astype(np.float32),
    )


def _crf_layer(model: keras.Model) -> CRF | None:
    for layer in model.layers:
        if isinstance(layer, CRF):
            return layer
    return None


def spans_from_tags(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity in a valid IOB2 sequence; end exclusive."""
    spans = []
    start = None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == spans[-1][0]):
            spans[-1] = (spans[-1][0], start, i)
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            spans.append((tag[2:], i, i))
            start = i
    return spans


# --------------------------------------------------------------------------------------
# the task


class _ValF1(keras.callbacks.Callback):
    """Writes the validation entity F1 (%) into the epoch logs as ``val_f1``."""

    def __init__(self, task: NERTask, dataset: tf.data.Dataset):
        super().__init__()
        self.task, self.dataset = task, dataset

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        y_true, y_pred = self.task._collect(self.model, self.dataset)
        logs["val_f1"] = entity_f1(y_true, y_pred)["f1"]


class NERTask(Task):
    """CoNLL-2003 NER: word + character + casing features -> bidirectional RNN ->
    softmax or CRF. See the module docstring for shapes and config keys."""

    name = "ner"
    primary_metric = "f1"
    monitor = "val_f1"
    monitor_mode = "max"
    eval_subset_size = 500

    # -- configs ------------------------------------------------------------------------
    @staticmethod
    def model_config(model_cfg: dict) -> dict:
        config.check_keys("model", model_cfg, MODEL_DEFAULTS, {"cell"})
        cfg = {**MODEL_DEFAULTS, **model_cfg}
        config.cell(cfg["cell"])
        for key in ("units", "layers", "char_dim", "char_filters", "char_kernel", "casing_dim"):
            config.positive_int(cfg[key], key, "model")
        config.one_of(cfg["word_dim"], (50,), "word_dim", "model")  # GloVe 6B 50d
        return cfg

    @staticmethod
    def data_config(data_cfg: dict | None) -> dict:
        data_cfg = dict(data_cfg or {})
        config.check_keys("data", data_cfg, DATA_DEFAULTS)
        cfg = {**DATA_DEFAULTS, **data_cfg}
        splits = cfg["glove_splits"]
        if not isinstance(splits, (list, tuple)):
            raise config.ConfigError(
                f"invalid value for 'data.glove_splits': {splits!r}; expected a list of "
                f"split names from {list(ner_data.SPLITS)}."
            )
        for split in splits:
            config.one_of(split, ner_data.SPLITS, "glove_splits", "data")
        config.one_of(cfg["dataset"], ("conll2003",), "dataset", "data")
        return cfg

    def check_config(self, cfg: dict) -> None:
        self.model_config(cfg["model"])
        self.data_config(cfg["data"])

    # -- data ---------------------------------------------------------------------------
    def _sentences(self, split: str, cfg: dict, smoke: bool, limit: int | None = None):
        sents = ner_data.load_split(split)
        if smoke:
            sents = sents[: SMOKE_SIZES[split]]
        if split == "train" and cfg.get("max_train"):
            sents = sents[: int(cfg["max_train"])]
        if limit is not None:
            sents = sents[:limit]
        return sents

    def fit_assets(self, data_cfg: dict, *, smoke: bool = False) -> dict:
        """Vocabularies from the train split (plus GloVe's first ``glove_vocab`` words)."""
        cfg = self.data_config(data_cfg)
        glove_words = None
        if cfg["glove_vocab"] or cfg["glove_splits"]:
            from zoo.data.glove import load_glove

            glove_words, _ = load_glove()
        # Only the tokens of these splits are read (their tags never are).
        extra = [
            t
            for split in cfg["glove_splits"]
            for s in self._sentences(split, cfg, smoke)
            for t in s["tokens"]
        ]
        return ner_data.fit_vocabularies(
            self._sentences("train", cfg, smoke),
            min_count=cfg["min_count"],
            glove_words=glove_words,
            glove_vocab=cfg["glove_vocab"],
            glove_extra_tokens=extra,
        )

    def load_data(self, data_cfg, *, batch_size, seed=0, smoke=False):
        cfg = self.data_config(data_cfg)
        assets = self.fit_assets(cfg, smoke=smoke)
        splits = {s: self._sentences(s, cfg, smoke) for s in ner_data.SPLITS}
        train = ner_data.ner_pipeline(
            splits["train"], assets, batch_size=batch_size, shuffle=True, seed=seed
        )
        validation = ner_data.ner_pipeline(splits["validation"], assets, batch_size=64)
        test = ner_data.ner_pipeline(splits["test"], assets, batch_size=64, bucket=False)
        info = {
            "data_version": f"zoo_conll2003:{ner_data.Conll2003.VERSION} "
            f"({ner_data.CONLL2003_WHEEL.filename})",
            "sizes": {s: len(v) for s, v in splits.items()},
            "vocab_sizes": {"words": len(assets["words"]) + 2, "chars": len(assets["chars"]) + 2},
        }
        return TaskData(train, validation, test, assets, info)

    # -- model --------------------------------------------------------------------------
    def build_model(self, model_cfg, assets, *, data_cfg=None, for_training=False):
        cfg = self.model_config(model_cfg)
        vocab = ["", "[UNK]", *assets["words"]]
        if for_training:
            from zoo.data.glove import embedding_matrix

            init = keras.initializers.Constant(embedding_matrix(vocab, lowercase=True, seed=0))
        else:
            init = "zeros"  # weights come from the preset
        words = keras.Input((None,), dtype="int32", name="words")
        chars = keras.Input((None, None), dtype="int32", name="chars")
        casing = keras.Input((None,), dtype="int32", name="casing")
        mask = ops.not_equal(words, 0)

        w = WordEmbedding(
            len(vocab),
            cfg["word_dim"],
            storage=cfg["embedding_storage"],
            embeddings_initializer=init,
            name="word_embedding",
        )(words)
        c = CharCNN(
            len(assets["chars"]) + 2,
            cfg["char_dim"],
            cfg["char_filters"],
            cfg["char_kernel"],
            name="char_cnn",
        )(chars)
        k = keras.layers.Embedding(
            len(ner_data.CASING_CLASSES), cfg["casing_dim"], name="casing_embedding"
        )(casing)
        x = keras.layers.Concatenate(name="features")([w, c, k])
        x = keras.layers.Dropout(cfg["dropout"], name="input_dropout")(x)
        for i in range(cfg["layers"]):
            rnn = make_recurrent(
                cfg["cell"],
                cfg["units"],
                bidirectional=cfg["bidirectional"],
                return_sequences=True,
                recurrent_dropout=cfg["recurrent_dropout"],
                name=f"{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}_{i}",
            )
            x = rnn(x, mask=mask)  # explicit mask: Concatenate above dropped it
        x = keras.layers.Dropout(cfg["dropout"], name="output_dropout")(x)
        out = keras.layers.Dense(NUM_TAGS, dtype="float32", name="emissions")(x)
        if cfg["crf"]:
            allowed, start = iob2_constraints(TAGS) if cfg["crf_constraints"] else (None, None)
            out = CRF(NUM_TAGS, allowed=allowed, start_allowed=start, dtype="float32", name="crf")(
                out
            )
        name = (
            f"ner_{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}{'_crf' if cfg['crf'] else ''}"
        )
        return keras.Model({"words": words, "chars": chars, "casing": casing}, out, name=name)

    def compile_model(self, model, optimizer, train_cfg):
        crf = _crf_layer(model)
        if crf is not None:
            loss = CRFLoss(crf)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
        model.compile(optimizer=optimizer, loss=loss)

    def callbacks(self, model, data, train_cfg):
        return [_ValF1(self, data.validation)]

    # -- evaluation ---------------------------------------------------------------------
    def _decoder(self, model):
        fn = getattr(model, "_zoo_ner_decoder", None)
        if fn is None:
            fn = tf.function(
                lambda inputs: decode_tags(model, inputs), reduce_retracing=True, autograph=False
            )
            object.__setattr__(model, "_zoo_ner_decoder", fn)  # a cache, not a tracked layer
        return fn

    def _collect(self, model, dataset):
        """(gold tag lists, predicted tag lists) over a dataset of (inputs, tags)."""
        decode = self._decoder(model)
        y_true, y_pred = [], []
        for batch in dataset:
            inputs, gold = batch[0], batch[1].numpy()
            pred = decode(inputs).numpy()
            for g, p in zip(gold, pred):
                n = int((g >= 0).sum())
                y_true.append([TAGS[i] for i in g[:n]])
                y_pred.append([TAGS[i] for i in p[:n]])
        return y_true, y_pred

    def evaluate(self, model, assets, data_cfg, *, split="test", limit=None):
        """Entity precision/recall/F1 (%, seqeval, conlleval-compatible), per-type F1 and
        token accuracy on a split (first `limit` sentences)."""
        cfg = self.data_config(data_cfg)
        sents = self._sentences(split, cfg, smoke=False, limit=limit)
        ds = ner_data.ner_pipeline(sents, assets, batch_size=64, bucket=False, cache=False)
        y_true, y_pred = self._collect(model, ds)
        scores = entity_f1(y_true, y_pred)
        out = {k: scores[k] for k in ("f1", "precision", "recall")}
        for t in ("PER", "ORG", "LOC", "MISC"):
            out[f"f1_{t}"] = scores["per_type"].get(t, {}).get("f1", 0.0)
        correct = sum(a == b for t, p in zip(y_true, y_pred) for a, b in zip(t, p))
        out["token_accuracy"] = 100.0 * correct / max(1, sum(len(t) for t in y_true))
        out["sentences"] = len(sents)
        return out

    # -- inference ----------------------------------------------------------------------
    def serving_functions(self, model, assets):
        """``serving_default``: tf.string [B] raw texts ->
        ``{"tokens": string [B, T], "tags": string [B, T]`` (padding ""),
        ``"lengths": int32 [B]``, ``"entities": string [B, E]`` ("TYPE:text", padding ""),
        ``"entity_starts"`` / ``"entity_ends"``: int32 [B, E] token indices (end
        exclusive, padding -1)``}``."""
        tables = _NERTables(assets)
        # Tracked by the model, so `zoo.export` finds (and saves) them.
        model._zoo_ner_tables = tables
        serving_model = _pre_rounded(model)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_default(text):
            return _serve(serving_model, tables, text)

        return {"serving_default": serving_default}

    def predict(self, model, assets, inputs):
        """Raw strings -> ``[{"tokens": [str], "tags": [str], "entities": [{"text",
        "type", "start", "end"}]}]`` (start/end: token indices, end exclusive; text: the
        entity's tokens joined by a space)."""
        if isinstance(inputs, str):
            raise TypeError("Received a str for argument 'inputs'; expected a list of str.")
        for i, x in enumerate(inputs):
            if not isinstance(x, str):
                raise TypeError(
                    f"Received an invalid value for argument 'inputs': item {i} is "
                    f"{type(x).__name__}, expected str."
                )
        if not inputs:
            return []
        fn = getattr(model, "_zoo_ner_predict", None)
        if fn is None or fn[0] is not assets:
            tables = _NERTables(assets)
            fn = (
                assets,
                tf.function(
                    lambda t: _serve(model, tables, t), reduce_retracing=True, autograph=False
                ),
            )
            object.__setattr__(model, "_zoo_ner_predict", fn)
        out = fn[1](tf.constant(inputs, tf.string))
        results = []
        for b in range(len(inputs)):
            n = int(out["lengths"][b])
            tokens = [t.decode("utf-8") for t in out["tokens"][b, :n].numpy()]
            tags = [t.decode("utf-8") for t in out["tags"][b, :n].numpy()]
            entities = [
                {"text": " ".join(tokens[s:e]), "type": typ, "start": s, "end": e}
                for typ, s, e in spans_from_tags(tags)
            ]
            results.append({"tokens": tokens, "tags": tags, "entities": entities})
        return results

    # -- TFLite (`zoo.export(..., format="tflite")`, `zoo.export.TFLiteModel`) -----------
    def tflite_function(self, model, assets):
        """The numeric model for TFLite builtins, Viterbi included: ``words`` int32
        ``[1, T]``, ``chars`` int32 ``[1, T, MAX_CHARS]``, ``casing`` int32 ``[1, T]`` ->
        ``{"emissions": float32 [1, T, 9], "tags": int32 [1, T]}`` (tag ids in `TAGS`
        order, IOB2-valid, as `decode_tags`). Static batch (1) and character width
        (`MAX_CHARS`) let the converter lower the loops and slices to builtins."""
        specs = [
            tf.TensorSpec([1, None], tf.int32, name="words"),
            tf.TensorSpec([1, None, ner_data.MAX_CHARS], tf.int32, name="chars"),
            tf.TensorSpec([1, None], tf.int32, name="casing"),
        ]
        model = _pre_rounded(model)
        crf = _crf_layer(model)

        @tf.function(input_signature=specs, autograph=False)
        def tflite(words, chars, casing):
            emissions = model({"words": words, "chars": chars, "casing": casing}, training=False)
            mask = tf.not_equal(words, 0)
            if crf is not None:
                tags = crf.decode(emissions, mask)
            else:
                tags = tf.argmax(emissions, axis=-1, output_type=tf.int32)
            tags = repair_iob2(tf.where(mask, tags, 0))
            return {"emissions": tf.cast(emissions, tf.float32), "tags": tags}

        return tflite

    def tflite_preprocess(self, assets, texts):
        """Raw strings -> one ``(inputs, tokens)`` per string: ``inputs`` as
        `tflite_function` takes them (the SavedModel's tokenization, lookups and casing
        classes, characters padded to `MAX_CHARS`; an empty text is one padding token),
        ``tokens`` the list of token strings."""
        vectorize = ner_data.make_vectorizer(assets)
        out = []
        for row in ner_data.tokenize(tf.constant(list(texts), tf.string)).to_list():
            x = {k: v.numpy() for k, v in vectorize(tf.constant([row or [b""]])).items()}
            x["chars"] = np.pad(
                x["chars"], [(0, 0), (0, 0), (0, ner_data.MAX_CHARS - x["chars"].shape[2])]
            )
            out.append((x, [t.decode("utf-8") for t in row]))
        return out

    def tflite_postprocess(self, assets, outputs, context):
        """The interpreter's outputs for one string (and its tokens) -> ``{"tokens",
        "tags", "entities"}`` as `predict` gives them."""
        names = list(assets.get("tags", TAGS))
        tokens = context
        tags = [names[int(i)] for i in np.reshape(outputs["tags"], [-1])[: len(tokens)]]
        entities = [
            {"text": " ".join(tokens[s:e]), "type": typ, "start": s, "end": e}
            for typ, s, e in spans_from_tags(tags)
        ]
        return {"tokens": tokens, "tags": tags, "entities": entities}

    def tflite_signature(self, assets):
        """What an on-device app needs to feed and read ``model.tflite`` (JSON-able)."""
        return {
            "inputs": {
                "words": {"dtype": "int32", "shape": [1, "T >= 1"]},
                "chars": {"dtype": "int32", "shape": [1, "T", ner_data.MAX_CHARS]},
                "casing": {"dtype": "int32", "shape": [1, "T"]},
            },
            "outputs": {
                "tags": {
                    "dtype": "int32",
                    "shape": [1, "T"],
                    "values": "index into assets/tags.json",
                },
                "emissions": {"dtype": "float32", "shape": [1, "T", NUM_TAGS]},
            },
            "preprocessing": {
                "tokenization": (
                    "zoo.data.ner.tokenize: every character that is not a letter, digit, "
                    "mark, '_', space, '.', '-', ''' or '&' is its own token; a possessive "
                    "'s is split off; split on whitespace; a final '.' is split off a token "
                    "unless it has another '.' or is one character; at most "
                    f"{ner_data.MAX_TOKENS} tokens"
                ),
                "words": "id = 2 + index of the lower-cased token in assets/words.json; "
                "0 = padding, 1 = unknown",
                "chars": f"first {ner_data.MAX_CHARS} characters (Unicode code points) of the "
                "token (case kept), id = 2 + index in assets/chars.json, 1 = unknown; "
                f"padded with 0 to {ner_data.MAX_CHARS}",
                "casing": {
                    "classes": list(ner_data.CASING_CLASSES),
                    "rule": "zoo.data.ner.casing_ids: id = index in classes (0 = padding)",
                },
                "empty_text": "a single padding token (all ids 0)",
            },
            "postprocessing": (
                "tags[t] names the tag of token t (IOB2, already Viterbi-decoded with the "
                "CRF's constrained transitions); entities = maximal B-X I-X... runs"
            ),
        }

    def example_inputs(self):
        return [
            "Pankaj lives in Munich",
            "EU rejects German call to boycott British lamb.",
            "Angela Merkel met Emmanuel Macron in Paris on Tuesday, Reuters reported.",
        ]


class _NERTables(tf.Module):
    """Vocabulary lookups for serving (Keras `StringLookup`s built from the assets)."""

    def __init__(self, assets):
        super().__init__(name="ner_tables")
        self.vectorize = ner_data.make_vectorizer(assets)
        self.word_lookup = self.vectorize.word_lookup
        self.char_lookup = self.vectorize.char_lookup
        self.tag_names = tf.constant(list(TAGS))


def _serve(model, tables, text):
    """The graph behind predict and serving_default (see `serving_functions`)."""
    text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
    tokens = ner_data.tokenize(text).to_tensor("")  # [B, T]
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(tokens, ""), tf.int32), axis=1)
    # One padding column keeps T >= 1 for the layers; padding changes nothing.
    padded = tf.pad(tokens, [[0, 0], [0, 1]], constant_values="")
    inputs = tables.vectorize(padded)
    tag_ids = decode_tags(model, inputs)[:, :-1]
    tags = tf.where(tf.not_equal(tokens, ""), tf.gather(tables.tag_names, tag_ids), "")
    # Entities: consecutive B-X I-X... tokens; ids by a running count of B- tags.
    flat_ids = tf.reshape(tag_ids, [-1])
    flat_tokens = tf.reshape(tokens, [-1])
    t = tf.shape(tokens)[1]
    positions = tf.range(tf.size(flat_ids))
    is_begin = flat_ids % 2 == 1
    inside = flat_ids > 0
    entity_of = tf.cumsum(tf.cast(is_begin, tf.int32)) - 1
    num_entities = tf.reduce_sum(tf.cast(is_begin, tf.int32))
    segment = tf.where(inside, entity_of, num_entities)  # outside -> a dropped segment
    joined = tf.strings.unsorted_segment_join(flat_tokens, segment, num_entities + 1, " ")
    begins = tf.boolean_mask(positions, is_begin)
    types = tf.strings.substr(
        tf.gather(tables.tag_names, tf.boolean_mask(flat_ids, is_begin)), 2, -1
    )
    strings = tf.strings.join([types, joined[:-1]], separator=":")
    counts = tf.math.unsorted_segment_sum(tf.cast(inside, tf.int32), segment, num_entities + 1)
    rows = begins // t
    starts = begins % t
    ends = starts + counts[:-1]
    batch = tf.shape(tokens)[0]

    def ragged(values, pad):
        return tf.RaggedTensor.from_value_rowids(values, rows, nrows=batch).to_tensor(pad)

    return {
        "tokens": tokens,
        "tags": tags,
        "lengths": lengths,
        "entities": ragged(strings, ""),
        "entity_starts": ragged(starts, -1),
        "entity_ends": ragged(ends, -1),
    }

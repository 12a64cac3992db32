"""The NER tagger: its layers (`WordEmbedding`, `CharCNN`), config checks and
`build_model`; see `zoo.tasks.ner` for the architecture and the config keys."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from zoo import config
from zoo.data import ner as ner_data
from zoo.layers import make_recurrent
from zoo.layers.crf import CRF, iob2_constraints

__all__ = [
    "MODEL_DEFAULTS",
    "NUM_TAGS",
    "TAGS",
    "CASELESS_PREFIX",
    "CaseRegime",
    "CaseRouter",
    "CharCNN",
    "casing_regime",
    "WordEmbedding",
    "build_model",
    "check_model_config",
    "crf_layer",
]

TAGS = ner_data.TAGS
NUM_TAGS = len(TAGS)
#: name prefix of the caseless tagger's layers in a cased/caseless pair
CASELESS_PREFIX = "caseless_"

MODEL_DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "bidirectional": True,
    "units": 100,
    "num_layers": 1,
    "dropout": 0.5,
    "recurrent_dropout": 0.0,
    "crf": True,
    "crf_constraints": True,
    "word_dim": 50,
    "char_dim": 30,
    "char_filters": 50,
    "char_kernel": 3,
    "casing_dim": 8,
    "case_regime_dim": 0,
    "cased_tagger": None,
    "storage_dtype": "float16",
}


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


@keras.saving.register_keras_serializable(package="zoo")
class CaseRegime(keras.layers.Layer):
    """The casing regime of each sentence, from its tokens' casing ids, embedded and
    repeated on every token: 0 normal (capitals and lower case), 1 no capitals (what
    people type: ``angela merkel visited paris``), 2 no lower case (headlines). A
    tagger trained on re-cased sentences (``data.case_augmentation``) learns from it
    whether capitals can be trusted in this sentence.

    Input int [B, T] casing ids (`zoo.data.ner.CASING_CLASSES`, 0 = padding); output
    float32 [B, T, dim].
    """

    REGIMES = ("normal", "no_capitals", "no_lower_case")

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(len(self.REGIMES), self.dim), initializer="uniform", name="embeddings"
        )

    def regime(self, casing):
        """int32 [B]: the regime index of each sentence (`casing_regime`)."""
        return casing_regime(casing)

    def call(self, casing):
        rows = ops.take(self.embeddings, self.regime(casing), axis=0)  # [B, dim]
        ones = ops.ones_like(ops.cast(casing, self.compute_dtype))[:, :, None]  # [B, T, 1]
        return ones * rows[:, None, :]

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def casing_regime(casing):
    """The casing regime of each sentence from its casing ids (int [B, T],
    `zoo.data.ner.CASING_CLASSES`, 0 = padding): int32 [B], 0 normal (some capitals and
    some lower case), 1 no capitals (``angela merkel visited paris``, also a sentence of
    digits and punctuation only), 2 no lower case (``EU REJECTS GERMAN CALL``)."""
    casing = ops.cast(casing, "int32")
    classes = ner_data.CASING_CLASSES

    def has(name):
        return ops.any(ops.equal(casing, classes.index(name)), axis=1)

    lower, upper, title = has("lower"), has("upper"), has("title")
    no_capitals = ops.logical_not(ops.logical_or(upper, title))
    no_lower = ops.logical_and(upper, ops.logical_not(ops.logical_or(lower, title)))
    return ops.where(no_capitals, 1, ops.where(no_lower, 2, 0))


@keras.saving.register_keras_serializable(package="zoo")
class CaseRouter(keras.layers.Layer):
    """``[casing int [B, T], cased float [B, T, K], caseless float [B, T, K]]`` -> float
    [B, T, K]: each sentence's rows from ``cased`` where its casing regime is normal
    (`casing_regime` 0), from ``caseless`` where it has no capitals or no lower case."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the CRF after it reads no mask: none is passed on

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        casing, cased, caseless = inputs
        normal = ops.equal(casing_regime(casing), 0)[:, None, None]
        return ops.where(normal, cased, caseless)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


def check_model_config(model_cfg: dict) -> dict:
    """The ``model`` section with defaults filled in; `zoo.config.ConfigError` on a bad key
    or value."""
    config.check_keys("model", model_cfg, MODEL_DEFAULTS, {"cell"})
    cfg = {**MODEL_DEFAULTS, **model_cfg}
    config.cell(cfg["cell"])
    for key in ("units", "num_layers", "char_dim", "char_filters", "char_kernel", "casing_dim"):
        config.positive_int(cfg[key], key, "model")
    config.non_negative_int(cfg["case_regime_dim"], "case_regime_dim", "model")
    config.one_of(cfg["word_dim"], (50,), "word_dim", "model")  # GloVe 6B 50d
    tagger = cfg["cased_tagger"]
    if tagger is not None and (not isinstance(tagger, str) or not tagger):
        raise config.ConfigError(
            f"invalid value for 'model.cased_tagger': {tagger!r}; expected null or the name "
            "of a published NER preset (e.g. 'ner_bilstm_conll2003')."
        )
    return cfg


def build_model(model_cfg: dict, assets: dict, *, for_training: bool = False) -> keras.Model:
    """The tagger: ``{"words": int32 [B, T], "chars": int32 [B, T, C], "casing": int32
    [B, T]}`` -> emission scores float32 [B, T, 9]. With ``for_training=True`` the word
    embedding starts from GloVe (`zoo.data.glove.embedding_matrix`); otherwise zeros,
    for the preset's weights to replace.

    With ``cased_tagger`` set the model holds two taggers over one word embedding, the
    cased one and a ``caseless_`` one, and `CaseRouter` takes each
    sentence's emissions from the one its casing calls for; `NERTask.build_model` then
    copies that preset into it for training (`zoo.tasks.ner.routed.warm_start`)."""
    cfg = check_model_config(model_cfg)
    vocab = ["", "[UNK]", *assets["words"]]
    if for_training and not cfg["cased_tagger"]:
        from zoo.data.glove import embedding_matrix

        init = keras.initializers.Constant(embedding_matrix(vocab, lowercase=True, seed=0))
    else:
        init = "zeros"  # weights come from the preset
    words = keras.Input((None,), dtype="int32", name="words")
    chars = keras.Input((None, None), dtype="int32", name="chars")
    casing = keras.Input((None,), dtype="int32", name="casing")
    w = WordEmbedding(
        len(vocab),
        cfg["word_dim"],
        storage=cfg["storage_dtype"],
        embeddings_initializer=init,
        name="word_embedding",
    )(words)
    mask = ops.not_equal(words, 0)
    out = _tagger(cfg, assets, w, chars, casing, mask)
    if cfg["cased_tagger"]:
        caseless = _tagger(cfg, assets, w, chars, casing, mask, CASELESS_PREFIX)
        out = CaseRouter(name="case_router")([casing, out, caseless])
    if cfg["crf"]:
        allowed, start = iob2_constraints(TAGS) if cfg["crf_constraints"] else (None, None)
        out = CRF(NUM_TAGS, allowed=allowed, start_allowed=start, dtype="float32", name="crf")(out)
    name = f"ner_{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}{'_crf' if cfg['crf'] else ''}"
    return keras.Model({"words": words, "chars": chars, "casing": casing}, out, name=name)


def _tagger(cfg, assets, w, chars, casing, mask, prefix=""):
    """Character and casing features beside the word vectors `w` -> recurrent layers ->
    emissions [B, T, 9] (before the CRF); layer names start with `prefix`."""
    c = CharCNN(
        len(assets["chars"]) + 2,
        cfg["char_dim"],
        cfg["char_filters"],
        cfg["char_kernel"],
        name=f"{prefix}char_cnn",
    )(chars)
    k = keras.layers.Embedding(
        len(ner_data.CASING_CLASSES), cfg["casing_dim"], name=f"{prefix}casing_embedding"
    )(casing)
    features = [w, c, k]
    if cfg["case_regime_dim"]:
        features.append(CaseRegime(cfg["case_regime_dim"], name=f"{prefix}case_regime")(casing))
    x = keras.layers.Concatenate(name=f"{prefix}features")(features)
    x = keras.layers.Dropout(cfg["dropout"], name=f"{prefix}input_dropout")(x)
    for i in range(cfg["num_layers"]):
        rnn = make_recurrent(
            cfg["cell"],
            cfg["units"],
            bidirectional=cfg["bidirectional"],
            return_sequences=True,
            recurrent_dropout=cfg["recurrent_dropout"],
            name=f"{prefix}{'bi' if cfg['bidirectional'] else ''}{cfg['cell']}_{i}",
        )
        x = rnn(x, mask=mask)  # explicit mask: Concatenate above dropped it
    x = keras.layers.Dropout(cfg["dropout"], name=f"{prefix}output_dropout")(x)
    return keras.layers.Dense(NUM_TAGS, dtype="float32", name=f"{prefix}emissions")(x)


def crf_layer(model: keras.Model) -> CRF | None:
    """The model's `CRF` layer, or None for a softmax tagger."""
    for layer in model.layers:
        if isinstance(layer, CRF):
            return layer
    return None

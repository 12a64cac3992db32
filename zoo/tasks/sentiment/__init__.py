"""Sentence sentiment (many-to-one): GloVe-initialised embedding -> recurrent stack -> classifier.

Architecture (`zoo.tasks.sentiment.model.build_model`)::

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
  ``storage_dtype`` (``"float32"``/``"float16"``) is the storage of the frozen
  base in ``"scaled"`` mode; only the train-vocabulary rows get an offset ``D``.
* ``embedding_init``: ``"glove"`` or ``"random"``.

The task reads ``train.label_smoothing`` in `compile_model`. Metrics: `evaluate` reports
``accuracy`` in percent (0-100) and the mean binary cross-entropy ``loss``.

The package: `model` (layers, config checks, `build_model`), `runtime`
(`SentimentRuntime`: lookup table, predict, serving and TFLite functions), `task`
(`SentimentTask`: data glue, compile, evaluate).

Serving (`SentimentRuntime.serving_functions`): ``serving_default(texts: tf.string [batch])`` ->
``{"label": tf.string [batch], "probability": float32 [batch] (of that label),
"positive_probability": float32 [batch]}``, with `zoo.data.sentiment.standardize`, a
`StringLookup` over the saved vocabulary and truncation to ``max_length`` tokens inside
the graph.
"""

from zoo.tasks.sentiment.model import (
    EMBEDDING_MODES,
    MODEL_DEFAULTS,
    POOLINGS,
    MaskedPooling,
    ScaledFineTuneEmbedding,
    build_model,
)
from zoo.tasks.sentiment.runtime import SentimentRuntime
from zoo.tasks.sentiment.task import SentimentTask

__all__ = [
    "EMBEDDING_MODES",
    "MODEL_DEFAULTS",
    "POOLINGS",
    "MaskedPooling",
    "ScaledFineTuneEmbedding",
    "SentimentRuntime",
    "SentimentTask",
    "build_model",
]

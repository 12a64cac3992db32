"""Named-entity recognition (many-to-many, aligned): CoNLL-2003 English, IOB2 tags.

Architecture (`zoo.tasks.ner.model.build_model`), any of our cells::

    words  int32 [B, T] --> WordEmbedding (GloVe 6B 50d init, trainable)      [B, T, 50]
    chars  int32 [B, T, C] --> CharCNN (embedding, Conv1D, masked max; case kept)[B, T, F]
    casing int32 [B, T] --> Embedding (8 casing classes)                       [B, T, c]
      -> concat -> dropout -> `layers` x make_recurrent(cell, units, bidirectional)
         (mask = words != 0 passed EXPLICITLY: Keras 3.15 Concatenate drops masks)
      -> dropout -> Dense(9) emissions -> optional CRF (IOB2-constrained transitions)

Outputs: emission scores float32 [B, T, 9] (tag order `zoo.data.ner.TAGS`). Decoding
(`decode_tags`): Viterbi with the CRF, else per-token argmax followed by IOB2 repair
(an ``I-X`` not preceded by ``B-X``/``I-X`` becomes ``B-X``), so spans are always valid
IOB2. Both are graph code, used alike by `evaluate`, `NERRuntime.predict` and the
exported ``serving_default``.

The package: `model` (layers, config checks, `build_model`), `routed` (the warm start
of a cased/caseless pair), `runtime` (`NERRuntime`:
lookup tables, decoding, predict, serving and TFLite functions), `task` (`NERTask`:
data glue, compile, the ``val_f1`` callback, evaluate).

Config keys.
``model``: cell ("simple_rnn" | "lstm" | "gru"), bidirectional (bool), units (per
direction), num_layers (1), dropout (0.5, on the embeddings and the recurrent output),
recurrent_dropout (0.0), crf (bool), crf_constraints (True: IOB2 constraints in the
CRF), char_dim (30), char_filters (50), char_kernel (3), casing_dim (8),
case_regime_dim (0 = off; else the size of a per-sentence casing-regime embedding,
`CaseRegime`: normal, no capitals, no lower case), cased_tagger (None; or the name of a
published NER preset with the same model section: the model becomes a cased/caseless
pair, that tagger for sentences with normal casing and a twin fine-tuned from it for
sentences with no capitals or no lower case, `zoo.tasks.ner.routed`), storage_dtype ("float16": the word embedding is rounded to float16 in the forward
pass and stored as float16, halving the preset; or "float32").
``data``: dataset ("conll2003"), glove_vocabulary (GloVe words added to the train
vocabulary, most frequent first; 0 = none), glove_splits (splits whose words are added
when GloVe has a vector for them, e.g. ["validation", "test"]: only their *text* is
read, never their tags. This is Lample et al. 2016's practice and measures the model
as if it shipped all 400,000 GloVe vectors - words never seen in training keep their
GloVe vector, which training does not move - while the preset stores only the rows
the evaluation reaches, under 10 MB. Default: none), min_count (1), max_train
(optional: cap on train sentences, for quick experiments), case_augmentation (None, or
``{lower: p, upper: p, title: p}``: the probability that a train sentence is re-cased
in that mode, drawn per sentence and epoch from the seed; `zoo.data.ner_case`),
validation_case (None, or a mode of those: every validation sentence re-cased, so early
stopping watches F1 on re-cased text).
``train``: only the keys of `zoo.train` (no task-specific ones).

Raw-text tokenization (`predict`, serving): `zoo.data.ner.tokenize` - whitespace plus
CoNLL-style punctuation splitting; inputs longer than `MAX_TOKENS` (256) tokens are
truncated, tokens longer than `MAX_CHARS` (25) characters keep their first 25 for the
character features.
"""

from zoo.tasks.ner.model import (
    MODEL_DEFAULTS,
    NUM_TAGS,
    TAGS,
    CharCNN,
    WordEmbedding,
    build_model,
)
from zoo.tasks.ner.runtime import NERRuntime, decode_tags, repair_iob2, spans_from_tags
from zoo.tasks.ner.task import DATA_DEFAULTS, SMOKE_SIZES, NERTask

__all__ = [
    "DATA_DEFAULTS",
    "MODEL_DEFAULTS",
    "NUM_TAGS",
    "SMOKE_SIZES",
    "TAGS",
    "CharCNN",
    "NERRuntime",
    "NERTask",
    "WordEmbedding",
    "build_model",
    "decode_tags",
    "repair_iob2",
    "spans_from_tags",
]

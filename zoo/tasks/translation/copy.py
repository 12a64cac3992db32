"""Unknown-word replacement: copy the source word the decoder attended to for each [UNK].

Names, places and numbers outside the source vocabulary reach the encoder as [UNK]
(`zoo.data.translation.UNK_ID`), and a trained model answers with [UNK] where the word
belongs. After decoding, every generated [UNK] is replaced by the CASED source token at
the argmax of its attention row, restricted to the source positions whose id is [UNK]
(Luong et al. 2015, "Addressing the Rare Word Problem in NMT"; Jean et al. 2015): the
model knows *where* the name goes, and the attention says *which* word it is. An [UNK]
with no out-of-vocabulary source token to copy is dropped, as before.

    "Mi tía vive en Valparaíso."  ids [25, 1235, 297, 12, 1, 2]
    generated  My aunt lives in [UNK] .  ->  My aunt lives in Valparaíso .

The attention comes from one teacher-forced pass over the generated tokens
(`Translator.attention_weights`): the decoder is a causal RNN, so row t is exactly the
attention the decoder had while writing token t, for greedy and beam search alike.

Two equal implementations of the replacement itself:

* `replace_unknowns` (TensorFlow ops only): what `TranslatorRuntime` runs in-graph, so
  ``zoo.load(name).predict`` and the exported SavedModel both copy;
* `replace_unknowns_np` (NumPy): for the portable ONNX / TFLite client
  (``zoo/tasks/translation/client.py``), which decodes outside TensorFlow.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import tensorflow as tf

from zoo.data import translation as data_lib

#: OOV source words that are copied: with a capital letter or a digit (names, places,
#: numbers, "7:45", "ONU"); a lower-case OOV word is a Spanish word the model lacks, and
#: writing it into English cost BLEU (51.73 against 51.92 when every OOV word was copyable).
COPYABLE = r".*[\p{Lu}\p{Nd}].*"


def cased_source_tokens(strings, num_tokens, max_source_length: int):
    """The source tokens with their case kept, aligned one-to-one with the source ids.

    `standardize_source` is `standardize_target` plus lower-casing, which never adds or
    removes a blank, so both split into the same tokens.

    Args:
        strings: ``string[B]`` raw Spanish.
        num_tokens: ``Ts``, the width of the source ids (``int32[B, Ts]``).
        max_source_length: the same truncation as the source ids.

    Returns:
        ``string[B, Ts]`` (``""`` past each sentence's end).
    """
    tokens = tf.strings.split(data_lib.standardize_target(strings))[:, :max_source_length]
    return tokens.to_tensor(default_value="", shape=tf.stack([tf.shape(strings)[0], num_tokens]))


def replace_unknowns(tokens, attention, source_ids, source_words, target_words):
    """Generated ids -> words, each [UNK] replaced by its most attended OOV source word.

    Args:
        tokens: ``int32[B, L]`` generated ids.
        attention: ``float32[B, L, Ts]``, row t the attention while writing ``tokens[:, t]``.
        source_ids: ``int32[B, Ts]`` (0 = padding, `UNK_ID` = out of vocabulary).
        source_words: ``string[B, Ts]`` cased source tokens (`cased_source_tokens`).
        target_words: ``string[V]`` the target vocabulary.

    Returns:
        ``(words string[B, L], copied bool[B, L])``: the vocabulary's word at each position,
        or the copied source word where ``copied`` (an [UNK] whose sentence has at least one
        OOV source token). Uncopied [UNK]s stay "[UNK]".
    """
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    oov = tf.logical_and(
        tf.equal(tf.convert_to_tensor(source_ids, tf.int32), data_lib.UNK_ID),  # [B, Ts]
        tf.strings.regex_full_match(source_words, COPYABLE),
    )
    # attention is >= 0, so -1 rules out every in-vocabulary and padding position
    scores = tf.where(oov[:, None, :], tf.cast(attention, tf.float32), -1.0)
    position = tf.argmax(scores, axis=-1, output_type=tf.int32)  # [B, L]; ties: first
    copies = tf.gather(source_words, position, batch_dims=1)
    copied = tf.logical_and(
        tf.equal(tokens, data_lib.UNK_ID), tf.reduce_any(oov, axis=1, keepdims=True)
    )
    return tf.where(copied, copies, tf.gather(target_words, tokens)), copied


def replace_unknowns_np(tokens, attention, source_ids, source_words, target_words):
    """`replace_unknowns` in NumPy, for one sentence or a batch.

    Args:
        tokens: ``int[..., L]`` generated ids.
        attention: ``float[..., L, Ts]``.
        source_ids: ``int[..., Ts]``.
        source_words: ``str[..., Ts]`` (a list of cased source tokens is fine; shorter
            than ``Ts`` is padded with ``""``).
        target_words: ``str[V]`` (list or array).

    Returns:
        ``(words object[..., L] of str, copied bool[..., L])``, as `replace_unknowns`.
    """
    tokens = np.asarray(tokens, np.int64)
    attention = np.asarray(attention, np.float32)
    source_words = _padded_words(source_words, np.shape(source_ids))
    oov = (np.asarray(source_ids) == data_lib.UNK_ID) & _copyable(source_words)
    scores = np.where(oov[..., None, :], attention, np.float32(-1.0))
    position = np.argmax(scores, axis=-1)  # ties: the first, as tf.argmax
    copies = np.take_along_axis(source_words, position, axis=-1)
    copied = (tokens == data_lib.UNK_ID) & oov.any(axis=-1, keepdims=True)
    words = np.asarray(list(target_words), dtype=object)[tokens]
    return np.where(copied, copies, words), copied


def _copyable(words: np.ndarray) -> np.ndarray:
    """`COPYABLE` in Python: a capital letter (Lu) or a decimal digit (Nd) anywhere."""
    test = np.vectorize(
        lambda w: any(unicodedata.category(c) in ("Lu", "Nd") for c in w), otypes=[bool]
    )
    return test(words) if words.size else np.zeros(words.shape, bool)


def _padded_words(words, shape) -> np.ndarray:
    """Cased source tokens as ``object[shape]`` (rows padded with "" / truncated)."""
    rows = np.asarray(words, dtype=object)
    if rows.shape == tuple(shape):
        return rows
    if len(shape) == 1:
        rows = [list(words)]
    out = np.full((int(np.prod(shape[:-1])), shape[-1]), "", dtype=object)
    for i, row in enumerate(rows):
        row = list(row)[: shape[-1]]
        out[i, : len(row)] = row
    return out.reshape(shape)


def copy_unknowns(model, strings, source_ids, tokens, target_words, max_source_length: int):
    """`TranslatorRuntime`'s hook: generated ids -> ``(words string[B, L], copied bool[B, L])``.

    Args:
        model: the `Translator` (for `Translator.attention_weights`).
        strings: ``string[B]`` the raw inputs; ``source_ids``: ``int32[B, Ts]`` their ids.
        tokens: ``int32[B, L]`` generated ids (greedy or the best beam).
        target_words: ``string[V]``; ``max_source_length``: the source truncation.
    """
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    batch, length = tf.shape(tokens)[0], tf.shape(tokens)[1]
    # only up to the longest output (padding after [END]; beam search pads to the maximum)
    used = tf.reduce_max(tf.reduce_sum(tf.cast(tokens != data_lib.PAD_ID, tf.int32), axis=1))
    used = tf.maximum(used, 1)
    target_in = tf.concat([tf.fill([batch, 1], data_lib.START_ID), tokens[:, : used - 1]], axis=1)
    attention = model.attention_weights(source_ids, target_in)
    attention = tf.pad(attention, [[0, 0], [0, length - used], [0, 0]])
    words = cased_source_tokens(strings, tf.shape(source_ids)[1], max_source_length)
    return replace_unknowns(tokens, attention, source_ids, words, target_words)

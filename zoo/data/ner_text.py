"""NER text -> model inputs, in-graph: `tokenize` raw strings, the `casing_ids` feature,
the vocabularies (`fit_vocabularies`) and the lookups (`make_vectorizer`).

Shared by the tf.data pipeline (`zoo.data.ner.ner_pipeline`), ``predict`` and the
serving graphs; see `zoo.data.ner` for what the features are.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import tensorflow as tf

from zoo.data.ner_sources import TAGS

__all__ = [
    "CASING_CLASSES",
    "MAX_CHARS",
    "MAX_TOKENS",
    "casing_ids",
    "fit_vocabularies",
    "make_vectorizer",
    "tokenize",
]

#: casing feature classes (index = id; 0 is padding)
CASING_CLASSES = (
    "<pad>",
    "other",
    "numeric",
    "mostly_numeric",
    "lower",
    "upper",
    "title",
    "contains_digit",
)
#: characters kept per token (longer tokens are truncated for the character features)
MAX_CHARS = 25
#: tokens kept per raw input string at inference (longer inputs are truncated)
MAX_TOKENS = 256


def tokenize(texts: tf.Tensor, max_tokens: int = MAX_TOKENS) -> tf.RaggedTensor:
    """CoNLL-like tokenization of raw strings, in-graph (tf.strings only).

    Rules, in order: every character that is not a letter, digit, mark, ``_``, space,
    ``.``, ``-``, ``'`` or ``&`` becomes its own token (``,;:!?()[]{}"$%``...); a
    possessive ``'s`` / ``'S`` is split off (CoNLL: ``Pankaj 's``); split on
    whitespace; a final ``.`` is split off a token unless the token has another ``.``
    (``U.S.``) or is a single character (``J.``). Hyphenated words and numbers
    (``1996-08-22``, ``5.20``) stay whole. At most `max_tokens` tokens per string.

    Args:
        texts: tf.string [B].
    Returns:
        tf.RaggedTensor of tf.string, [B, (tokens)].
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    # Unicode separators (no-break space, em space, line separator) and control characters
    # (NUL, tabs) separate tokens; `tf.strings.split` alone knows ASCII whitespace only.
    x = tf.strings.regex_replace(texts, r"[\p{Z}\p{Cc}]", " ")
    # \w is ASCII-only in RE2: use Unicode classes so "Zürich" stays one token.
    x = tf.strings.regex_replace(x, r"([^\p{L}\p{N}\p{M}_\s.\-'&])", r" \1 ")
    x = tf.strings.regex_replace(x, r"([\p{L}\p{N}])('[sS])([^\p{L}\p{N}]|$)", r"\1 \2 \3")
    tokens = tf.strings.split(x)  # whitespace
    flat = tf.strings.regex_replace(tokens.flat_values, r"^([^.]{2,})\.$", r"\1 .")
    tokens = tf.strings.split(tokens.with_flat_values(flat)).merge_dims(1, 2)
    return tokens[:, :max_tokens]


def casing_ids(tokens: tf.Tensor) -> tf.Tensor:
    """Casing class of each token (see `CASING_CLASSES`), in-graph; "" -> 0 (padding).

    The first matching rule wins: numeric (``1996``, ``5.20``); mostly numeric (a digit
    and no letters: ``1996-08-22``); lower (no uppercase, a lowercase letter); upper (no
    lowercase, an uppercase letter: ``EU``, ``U.S.``, ``F16``); title (uppercase first,
    no other uppercase: ``Munich``); contains digit (``iPhone5``); other (``,``,
    ``McDonald``). ASCII letters only: non-ASCII letters count as symbols here (the
    character features still see them).

    Args:
        tokens: tf.string of any shape.
    Returns:
        int32, same shape.
    """
    classes = [
        (r"[0-9]+([.,][0-9]+)*", 2),  # numeric
        (r"[^a-zA-Z]*[0-9][^a-zA-Z]*", 3),  # mostly numeric (dates, scores: 1996-08-22)
        (r"[^A-Z]*[a-z][^A-Z]*", 4),  # lower
        (r"[^a-z]*[A-Z][^a-z]*", 5),  # upper (ACRONYM, U.S.)
        (r"[A-Z][^A-Z]*", 6),  # title (Munich)
        (r".*[0-9].*", 7),  # contains digit
    ]
    out = tf.ones_like(tokens, dtype=tf.int32)  # other
    for pattern, cid in reversed(classes):  # first matching class wins
        out = tf.where(tf.strings.regex_full_match(tokens, pattern), cid, out)
    return tf.where(tf.equal(tokens, ""), 0, out)


def fit_vocabularies(
    sentences: Sequence[dict],
    *,
    min_count: int = 1,
    glove_words: Sequence[str] | None = None,
    glove_vocabulary: int = 0,
    glove_extra_tokens: Sequence[str] = (),
) -> dict:
    """Word and character vocabularies from (train) sentences, as JSON-able assets.

    Args:
        sentences: dicts with "tokens" (list of str).
        min_count: minimum count of a lower-cased train word.
        glove_words: GloVe's words, most frequent first (optional).
        glove_vocabulary: how many of them to add (0: none).
        glove_extra_tokens: more tokens (e.g. the text of other splits) whose
            lower-cased form is added when it is one of `glove_words` (after the
            first `glove_vocabulary`, in order of first occurrence).

    Returns:
        ``{"words": [str], "chars": [str], "tags": list(TAGS)}``; the lists hold the
        real entries only (padding "" and the unknown token are added by the lookups:
        id 0 = padding, id 1 = unknown, entry i -> id i + 2).
    """
    words = collections.Counter()
    chars = collections.Counter()
    for s in sentences:
        for t in s["tokens"]:
            # Same lower-casing as the graph (tf.strings.lower, UTF-8).
            words[t.lower()] += 1
            chars.update(t[:MAX_CHARS])
    vocab = [w for w, c in sorted(words.items(), key=lambda x: (-x[1], x[0])) if c >= min_count]
    if glove_words is not None and glove_vocabulary:
        seen = set(vocab)
        for w in glove_words[:glove_vocabulary]:
            if w not in seen and w != "":
                vocab.append(w)
                seen.add(w)
    if glove_words is not None and glove_extra_tokens:
        seen, known = set(vocab), set(glove_words)
        for t in glove_extra_tokens:
            w = t.lower()
            if w not in seen and w in known:
                vocab.append(w)
                seen.add(w)
    char_list = [c for c, _ in sorted(chars.items(), key=lambda x: (-x[1], x[0]))]
    return {"words": vocab, "chars": char_list, "tags": list(TAGS)}


def make_vectorizer(assets: dict, *, max_chars: int = MAX_CHARS):
    """Return ``vectorize(tokens) -> (inputs dict)``, in-graph, for padded token batches.

    Args:
        assets: ``{"words": [str], "chars": [str], ...}`` from `fit_vocabularies`.

    The returned function takes tf.string [B, T] (padding = "") and returns
    ``{"words": int32 [B, T], "chars": int32 [B, T, max_chars'], "casing": int32 [B, T]}``
    where ``1 <= max_chars' <= max_chars`` is the longest token of the batch; padding is 0
    everywhere.
    """
    word_lookup = tf.keras.layers.StringLookup(
        vocabulary=list(assets["words"]), mask_token="", num_oov_indices=1, output_mode="int"
    )
    char_lookup = tf.keras.layers.StringLookup(
        vocabulary=list(assets["chars"]), mask_token="", num_oov_indices=1, output_mode="int"
    )

    def vectorize(tokens: tf.Tensor) -> dict:
        tokens = tf.convert_to_tensor(tokens, tf.string)
        words = tf.cast(word_lookup(tf.strings.lower(tokens, encoding="utf-8")), tf.int32)
        chars = tf.strings.unicode_split(tokens, "UTF-8")  # ragged [B, T, (C)]
        chars = chars[:, :, :max_chars]
        char_ids = tf.cast(char_lookup(chars), tf.int32)
        shape = tf.shape(tokens, out_type=tf.int64)
        char_ids = char_ids.to_tensor(0)
        # to_tensor gives [B, T', C]; pad to [B, T, max(C, 1)] (C = 0 when all tokens are "").
        pad_t = shape[1] - tf.shape(char_ids, out_type=tf.int64)[1]
        pad_c = tf.maximum(tf.constant(1, tf.int64) - tf.shape(char_ids, out_type=tf.int64)[2], 0)
        char_ids = tf.pad(char_ids, [[0, 0], [0, pad_t], [0, pad_c]])
        return {"words": words, "chars": char_ids, "casing": casing_ids(tokens)}

    vectorize.word_lookup = word_lookup
    vectorize.char_lookup = char_lookup
    return vectorize

"""Sentiment text -> token ids: `standardize`, `tokenize` and the vocabulary.

`standardize` is pure TensorFlow, so the same function runs in the tf.data pipeline
and inside exported SavedModels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import tensorflow as tf

_PLACEHOLDER = "\x1f"  # marks the apostrophe of a clitic while other quotes are split off
#: Unicode separators (no-break and em spaces, line separators) and control characters
#: (tabs, NUL, the placeholder) are word breaks; replaced before lower-casing, because
#: `tf.strings.lower(..., encoding="utf-8")` cuts a string at its first NUL.
_BREAKS = r"[\p{Z}\p{Cc}]"
_RULES = (
    (r"<br\s*/?>", " "),
    (r"''|``|[“”«»]", ' " '),
    (r"[‘’`´]", "'"),
    (r"n't\b", f" n{_PLACEHOLDER}t"),
    (r"'(s|re|ve|ll|d|m)\b", f" {_PLACEHOLDER}\\1"),
    # Combining marks (\pM) stay with their letter: decomposed "e\u0301" is one token.
    (rf"([^\pL\pN\pM\s{_PLACEHOLDER}])", r" \1 "),
    (_PLACEHOLDER, "'"),
)


@tf.function(input_signature=[tf.TensorSpec(None, tf.string)], autograph=False)
def standardize(texts: tf.Tensor) -> tf.Tensor:
    """Lower-case and tokenize like GloVe's corpus (pure TensorFlow, exportable).

    Punctuation becomes separate tokens, ``n't`` and ``'s``/``'re``/``'ve``/``'ll``/
    ``'d``/``'m`` are split off (``"don't"`` -> ``"do n't"``), ``''``/``````/curly
    quotes become ``"``, IMDB's ``<br />`` a space. Non-ASCII letters are kept.

    Args:
        texts: tf.string tensor of any shape.

    Returns:
        tf.string tensor of the same shape, tokens separated by spaces.
    """
    x = tf.strings.lower(tf.strings.regex_replace(texts, _BREAKS, " "), encoding="utf-8")
    for pattern, rewrite in _RULES:
        x = tf.strings.regex_replace(x, pattern, rewrite)
    return x


def tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    """``standardize`` then whitespace split: tf.string ``[batch]`` -> ragged ``[batch, None]``."""
    return tf.strings.split(standardize(texts))


def text_vectorizer(vocabulary: Sequence[str] | None = None, max_tokens: int | None = None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )


def fit_vocabulary(
    texts: tf.data.Dataset | Iterable[str], *, max_tokens: int | None = None
) -> list[str]:
    """Fit a Keras `TextVectorization` on `texts` (the train split only).

    Args:
        texts: a dataset of scalar tf.string, or an iterable of str.
        max_tokens: vocabulary size including ``""`` and ``"[UNK]"`` (None: every word).

    Returns:
        The vocabulary, most frequent first: ``["", "[UNK]", w2, w3, ...]``.
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 3
    ):
        raise ValueError(
            f"Received an invalid value for argument 'max_tokens', expected None or an int >= 3, got {max_tokens!r}."
        )
    layer = text_vectorizer(max_tokens=max_tokens)
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    layer.adapt(texts.batch(1024))
    return [str(w) for w in layer.get_vocabulary()]


def extend_vocabulary(vocabulary: Sequence[str], glove_words: int) -> list[str]:
    """Append the words among GloVe's `glove_words` most frequent that `vocabulary` lacks.

    The train-fitted entries keep their ids (they come first); the appended words are
    an external lexicon (GloVe's own frequency order), not anything read from the
    validation or test text. At inference, a word never seen in training but known to
    GloVe then maps to its GloVe vector instead of ``[UNK]``.

    Args:
        vocabulary: from `fit_vocabulary`.
        glove_words: how many of GloVe's top words to consider (0: no change).

    Returns:
        ``list(vocabulary) + [new words in GloVe order]``.
    """
    vocab = list(vocabulary)
    if not glove_words:
        return vocab
    from zoo.data.glove import load_glove

    words, _ = load_glove()
    known = set(vocab)
    # Only words our tokenizer can produce (letters/digits/apostrophes; no "e.g.").
    return vocab + [
        w for w in words[:glove_words] if w not in known and w.replace("'", "").isalnum()
    ]

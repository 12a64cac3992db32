"""Greedy and beam-search decoding for any autoregressive model, in-graph (`tf.while_loop`).

Both take a *step function* ``step_fn(tokens, states) -> (logits, states)``:

* ``tokens``: ``int32[N]``, the previous token of each running sequence;
* ``states``: any nest (tuple/list/dict) of tensors with leading dimension ``N``: the
  recurrent state AND whatever per-sequence constants the step needs (encoder outputs,
  source mask...). Beam search tiles and reorders every leaf, so constants can ride along;
* ``logits``: ``float[N, vocab]`` unnormalised scores of the next token.

The functions run eagerly, inside `tf.function` and in an exported SavedModel (they use
only TensorFlow ops). The decoders stop when every sequence has produced ``end_token``
or after ``max_length`` steps. Output sequences do not contain the start token; they
contain the end token (if produced) and ``pad_token`` after it.
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9  # "impossible" score: finite, so no inf - inf NaNs in the arithmetic


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Received an invalid value for argument '{name}', expected a positive integer, "
            f"got {value!r}."
        )


def greedy_search(
    step_fn, start_tokens, states, *, max_length: int, end_token: int, pad_token: int = 0
):
    """Pick the most likely token at every step.

    Args:
        step_fn: ``(int32[B], states) -> (float[B, V], states)``.
        start_tokens: ``int32[B]``.
        states: nest of ``[B, ...]`` tensors.
        max_length: maximum number of generated tokens (end token included).
        end_token, pad_token: ids.

    Returns:
        ``(tokens int32[B, L], scores float32[B])``, ``L <= max_length``; scores are the
        summed log-probabilities of the generated tokens up to and including the end token.
    """
    _check_positive(max_length, "max_length")
    start_tokens = tf.cast(start_tokens, tf.int32)
    batch = tf.shape(start_tokens)[0]
    out = tf.TensorArray(tf.int32, size=max_length, element_shape=tf.TensorShape([None]))

    def cond(t, tokens, states, finished, scores, out):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, states, finished, scores, out):
        logits, states = step_fn(tokens, states)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nxt = tf.argmax(logp, axis=-1, output_type=tf.int32)
        gain = tf.gather(logp, nxt, batch_dims=1)
        scores = scores + tf.where(finished, 0.0, gain)
        nxt = tf.where(finished, pad_token, nxt)
        out = out.write(t, nxt)
        finished = tf.logical_or(finished, tf.equal(nxt, end_token))
        return t + 1, nxt, states, finished, scores, out

    t, _, _, _, scores, out = tf.while_loop(
        cond,
        body,
        (
            tf.constant(0),
            start_tokens,
            states,
            tf.zeros([batch], tf.bool),
            tf.zeros([batch], tf.float32),
            out,
        ),
        shape_invariants=None,
    )
    tokens = tf.cond(
        t > 0,
        lambda: tf.transpose(out.stack()[:t]),
        lambda: tf.zeros([batch, 0], tf.int32),
    )
    return tokens, scores


def length_normalizer(lengths, alpha: float):
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (1 when ``alpha == 0``)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_search(
    step_fn,
    start_tokens,
    states,
    *,
    beam_size: int,
    max_length: int,
    end_token: int,
    pad_token: int = 0,
    length_penalty: float = 0.0,
    return_all: bool = False,
):
    """Beam search with a fixed beam; finished hypotheses stay in the beam (their score
    frozen) until the search ends, then the best by ``score / length_normalizer(length)``
    wins.

    With ``beam_size=1`` this is exactly `greedy_search`; with a beam at least as large as
    the number of possible prefixes it is exhaustive search.

    Args:
        step_fn, start_tokens, states, max_length, end_token, pad_token: as `greedy_search`.
        beam_size: number of hypotheses kept per input.
        length_penalty: GNMT ``alpha`` (0 = rank by summed log-probability).
        return_all: also return every beam.

    Returns:
        ``(tokens int32[B, L], scores float32[B])`` of the best hypothesis (scores are the
        summed log-probabilities, not normalised), or with `return_all`
        ``(tokens int32[B, K, L], scores float32[B, K], normalized float32[B, K])`` sorted
        best first.
    """
    _check_positive(max_length, "max_length")
    _check_positive(beam_size, "beam_size")
    k = beam_size
    start_tokens = tf.cast(start_tokens, tf.int32)
    batch = tf.shape(start_tokens)[0]

    def tile(x):
        return tf.repeat(x, k, axis=0)  # [B*K, ...], beams of one input adjacent

    states = tf.nest.map_structure(tile, states)
    tokens = tile(start_tokens)
    # only beam 0 is alive at the start, so the first step does not pick K copies
    scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], 0)[None], [batch, 1])
    finished = tf.zeros([batch, k], tf.bool)
    lengths = tf.zeros([batch, k], tf.int32)
    seqs = tf.fill([batch, k, max_length], tf.constant(pad_token, tf.int32))
    batch_offsets = tf.range(batch)[:, None] * k  # [B, 1]

    def cond(t, tokens, states, scores, finished, lengths, seqs):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, states, scores, finished, lengths, seqs):
        logits, states = step_fn(tokens, states)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocab = tf.shape(logp)[-1]
        logp = tf.reshape(logp, [batch, k, vocab])
        # a finished hypothesis can only be "continued" by the end token, at no cost
        frozen = tf.where(tf.range(vocab) == end_token, 0.0, NEG_INF)
        logp = tf.where(finished[:, :, None], frozen[None, None, :], logp)
        cand = tf.reshape(scores[:, :, None] + logp, [batch, k * vocab])
        scores, flat = tf.math.top_k(cand, k=k)  # [B, K], sorted
        beam = flat // vocab
        tok = flat % vocab
        was_finished = tf.gather(finished, beam, batch_dims=1)
        lengths = tf.gather(lengths, beam, batch_dims=1) + tf.cast(~was_finished, tf.int32)
        tok = tf.where(was_finished, pad_token, tok)
        seqs = tf.gather(seqs, beam, batch_dims=1)
        column = tf.one_hot(t, max_length, on_value=1, off_value=0, dtype=tf.int32)
        seqs = seqs * (1 - column) + tok[:, :, None] * column
        finished = tf.logical_or(was_finished, tf.equal(tok, end_token))
        rows = tf.reshape(batch_offsets + beam, [-1])
        states = tf.nest.map_structure(lambda s: tf.gather(s, rows), states)
        return t + 1, tf.reshape(tok, [-1]), states, scores, finished, lengths, seqs

    t, _, _, scores, finished, lengths, seqs = tf.while_loop(
        cond, body, (tf.constant(0), tokens, states, scores, finished, lengths, seqs)
    )
    seqs = seqs[:, :, :t]
    normalized = scores / length_normalizer(lengths, length_penalty)
    order = tf.argsort(normalized, axis=-1, direction="DESCENDING", stable=True)
    if return_all:
        return (
            tf.gather(seqs, order, batch_dims=1),
            tf.gather(scores, order, batch_dims=1),
            tf.gather(normalized, order, batch_dims=1),
        )
    best = order[:, 0]
    return tf.gather(seqs, best, batch_dims=1), tf.gather(scores, best, batch_dims=1)


__all__ = ["NEG_INF", "beam_search", "greedy_search", "length_normalizer"]

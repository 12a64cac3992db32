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


def _initial_beams(batch, *, beam_size: int, max_length: int, pad_token: int):
    """``(scores float32 [B, K], finished bool [B, K], lengths int32 [B, K], seqs int32
    [B, K, max_length])`` before the first step: only beam 0 is alive (the others score
    `NEG_INF`), so the first step does not pick K copies of one continuation."""
    k = beam_size
    scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], 0)[None], [batch, 1])
    finished = tf.zeros([batch, k], tf.bool)
    lengths = tf.zeros([batch, k], tf.int32)
    seqs = tf.fill([batch, k, max_length], tf.constant(pad_token, tf.int32))
    return scores, finished, lengths, seqs


def _expand_beams(t, logp, beams, *, beam_size: int, max_length: int, end_token, pad_token):
    """One step of beam search: extend each of the K hypotheses by every token, keep the
    K best continuations.

    Args:
        t: int32 scalar, the step (column of ``seqs`` written).
        logp: float32 ``[B, K, V]``, log-probabilities of the next token per hypothesis.
        beams: ``(scores, finished, lengths, seqs)`` as `_initial_beams` gives them:
            summed log-probabilities, done flags, tokens generated (end token included)
            and the tokens.
        beam_size, max_length, end_token, pad_token: as `beam_search`.

    Returns:
        ``(beam, tok, beams)``: ``beam`` int32 ``[B, K]``, the hypothesis each kept
        continuation extends (to reorder the states by), ``tok`` int32 ``[B, K]`` the
        token it adds (``pad_token`` after the end), and the updated `beams`, sorted best
        first.
    """
    scores, finished, lengths, seqs = beams
    k, batch, vocab = beam_size, tf.shape(logp)[0], tf.shape(logp)[-1]
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
    return beam, tok, (scores, finished, lengths, seqs)


def _ranked(seqs, scores, lengths, *, length_penalty: float, return_all: bool):
    """The beams ordered by ``scores / length_normalizer(lengths)``, best first (ties keep
    beam order): the best ``(tokens [B, L], scores [B])``, or with `return_all` every
    ``(tokens [B, K, L], scores [B, K], normalized [B, K])``."""
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
    sizes = {"beam_size": k, "max_length": max_length}

    def tile(x):
        return tf.repeat(x, k, axis=0)  # [B*K, ...], beams of one input adjacent

    beams = _initial_beams(batch, **sizes, pad_token=pad_token)
    batch_offsets = tf.range(batch)[:, None] * k  # [B, 1]

    def cond(t, tokens, states, beams):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(beams[1])))

    def body(t, tokens, states, beams):
        logits, states = step_fn(tokens, states)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        logp = tf.reshape(logp, [batch, k, tf.shape(logp)[-1]])
        beam, tok, beams = _expand_beams(
            t, logp, beams, **sizes, end_token=end_token, pad_token=pad_token
        )
        rows = tf.reshape(batch_offsets + beam, [-1])
        states = tf.nest.map_structure(lambda s: tf.gather(s, rows), states)
        return t + 1, tf.reshape(tok, [-1]), states, beams

    loop_vars = (tf.constant(0), tile(start_tokens), tf.nest.map_structure(tile, states), beams)
    t, _, _, (scores, _, lengths, seqs) = tf.while_loop(cond, body, loop_vars)
    return _ranked(
        seqs[:, :, :t], scores, lengths, length_penalty=length_penalty, return_all=return_all
    )


__all__ = ["NEG_INF", "beam_search", "greedy_search", "length_normalizer"]

"""Greedy and beam search (zoo.tasks.decoding) against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from zoo.tasks.decoding import beam_search, greedy_search, length_normalizer

END, PAD = 1, 0


def toy_step(table):
    """A step function whose logits depend on the time step, the previous token and a
    hash of the whole history kept in the STATE, so a beam search that reorders states
    wrongly scores sequences wrongly.

    table: float32[T, V, V] logits; the history hash adds ``HISTORY_BIAS[h]``.
    """
    table = tf.constant(table, tf.float32)
    bias = tf.constant(history_bias(table.shape[-1]), tf.float32)

    def step(tokens, states):
        t, h = states
        h = (h * 7 + tokens) % 5
        logits = tf.gather_nd(table, tf.stack([t, tokens], axis=1)) + tf.gather(bias, h)
        return logits, (t + 1, h)

    return step


def history_bias(vocab):
    return np.random.default_rng(123).normal(size=(5, vocab)) * 1.5


def log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def random_table(seed, steps, vocab):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, vocab, vocab)) * 2.0
    logits[..., PAD] = -30.0  # padding is never a sensible prediction
    return logits


def sequence_score(table, start, seq):
    """Summed log-probabilities of `seq` under `toy_step` (numpy re-implementation)."""
    bias = history_bias(table.shape[-1])
    prev, h, score = start, 0, 0.0
    for t, tok in enumerate(seq):
        h = (h * 7 + prev) % 5
        score += log_softmax(table[t, prev] + bias[h])[tok]
        prev = tok
    return score


def brute_force(table, start, max_length, alpha):
    """Best (tokens, score, normalized) over every sequence ending in END or reaching
    max_length."""
    vocab = table.shape[-1]
    best = (None, -np.inf, -np.inf)
    for length in range(1, max_length + 1):
        for seq in itertools.product(range(vocab), repeat=length):
            if END in seq[:-1]:
                continue
            if length < max_length and seq[-1] != END:
                continue
            score = sequence_score(table, start, seq)
            norm = score / ((5.0 + length) / 6.0) ** alpha
            if norm > best[2]:
                best = (list(seq), score, norm)
    return best


def run(fn, table, start_tokens, **kwargs):
    start = tf.constant(start_tokens, tf.int32)
    states = (tf.zeros_like(start), tf.zeros_like(start))
    tokens, scores = fn(toy_step(table), start, states, end_token=END, pad_token=PAD, **kwargs)
    return tokens.numpy(), scores.numpy()


def strip(seq):
    seq = list(seq)
    return seq[: seq.index(END) + 1] if END in seq else [t for t in seq if t != PAD]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exhaustive_beam_finds_the_brute_force_best_sequence(seed, alpha):
    vocab, max_length = 4, 4
    table = random_table(seed, max_length, vocab)
    # a beam as wide as the number of possible prefixes never prunes the optimum
    tokens, scores = run(
        beam_search,
        table,
        [2, 3],
        beam_size=vocab**max_length,
        max_length=max_length,
        length_penalty=alpha,
    )
    for b, start in enumerate([2, 3]):
        want_seq, want_score, _ = brute_force(table, start, max_length, alpha)
        assert strip(tokens[b]) == want_seq
        assert scores[b] == pytest.approx(want_score, abs=1e-4)


def test_beam_finds_a_sequence_greedy_misses():
    # Search random tables for a case where greedy is suboptimal; beam 3 must then do at
    # least as well as greedy, and the exhaustive beam must reach the brute-force optimum.
    found = 0
    for seed in range(40):
        table = random_table(seed, 3, 4)
        g_tokens, g_scores = run(greedy_search, table, [2], max_length=3)
        best_seq, best_score, _ = brute_force(table, 2, 3, 0.0)
        if strip(g_tokens[0]) == best_seq:
            continue
        found += 1
        b_tokens, b_scores = run(beam_search, table, [2], beam_size=3, max_length=3)
        assert b_scores[0] >= g_scores[0] - 1e-5
        assert b_scores[0] == pytest.approx(sequence_score(table, 2, strip(b_tokens[0])), abs=1e-4)
        assert best_score > g_scores[0]
    assert found >= 3  # the toy tables do make greedy fail


@pytest.mark.parametrize("seed", range(4))
def test_beam_of_one_equals_greedy(seed):
    table = random_table(seed, 6, 7)
    g_tokens, g_scores = run(greedy_search, table, [0, 2, 5], max_length=6)
    b_tokens, b_scores = run(beam_search, table, [0, 2, 5], beam_size=1, max_length=6)
    np.testing.assert_array_equal(g_tokens, b_tokens)
    np.testing.assert_allclose(g_scores, b_scores, atol=1e-5)


def test_greedy_picks_the_argmax_at_every_step_and_pads_after_end():
    table = random_table(3, 5, 5)
    tokens, scores = run(greedy_search, table, [4], max_length=5)
    bias = history_bias(5)
    prev, h, total = 4, 0, 0.0
    want = []
    for t in range(5):
        h = (h * 7 + prev) % 5
        logp = log_softmax(table[t, prev] + bias[h])
        tok = int(np.argmax(logp))
        want.append(tok)
        total += logp[tok]
        prev = tok
        if tok == END:
            break
    assert strip(tokens[0]) == want
    assert scores[0] == pytest.approx(total, abs=1e-4)
    if END in want:  # everything after the end token is padding
        assert all(t == PAD for t in tokens[0][len(want) :])


def test_decoders_run_inside_tf_function_with_dynamic_batch():
    table = random_table(5, 4, 5)
    step = toy_step(table)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def both(start):
        states = (tf.zeros_like(start), tf.zeros_like(start))
        g, _ = greedy_search(step, start, states, max_length=4, end_token=END)
        b, _ = beam_search(step, start, states, beam_size=3, max_length=4, end_token=END)
        return g, b

    g, b = both(tf.constant([2, 3, 4]))
    eager_g, _ = run(greedy_search, table, [2, 3, 4], max_length=4)
    np.testing.assert_array_equal(g.numpy(), eager_g)
    assert b.shape[0] == 3


def test_return_all_beams_are_sorted_by_normalized_score():
    table = random_table(7, 5, 5)
    start = tf.constant([2], tf.int32)
    seqs, scores, normalized = beam_search(
        toy_step(table),
        start,
        (tf.zeros_like(start), start),
        beam_size=4,
        max_length=5,
        end_token=END,
        length_penalty=0.6,
        return_all=True,
    )
    n = normalized.numpy()[0]
    assert list(n) == sorted(n, reverse=True)
    lengths = [len(strip(s)) for s in seqs.numpy()[0]]
    np.testing.assert_allclose(
        n, scores.numpy()[0] / length_normalizer(tf.constant(lengths), 0.6).numpy(), rtol=1e-5
    )


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_invalid_beam_size_is_rejected_with_its_name(bad):
    start = tf.constant([0])
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(
            toy_step(random_table(0, 2, 3)),
            start,
            (start, start),
            beam_size=bad,
            max_length=2,
            end_token=END,
        )

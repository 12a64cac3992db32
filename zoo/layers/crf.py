"""`CRF`: a linear-chain conditional random field layer, its loss and Viterbi decoding.

Keras 3 has no CRF layer (tensorflow-addons' `CRF` does not run on it); this one is
Keras 3 serializable, graph-only (exportable) and tested against brute-force
enumeration of all tag paths.

For emission scores ``e[t, k]`` (one sequence of length ``L``, ``K`` tags) the score of
a tag path ``y`` is::

    s(y) = start[y_0] + sum_{t<L} e[t, y_t] + sum_{0<t<L} A[y_{t-1}, y_t] + end[y_{L-1}]

and ``log p(y) = s(y) - log Z`` with ``log Z = logsumexp_y s(y)`` computed by the
forward algorithm; `viterbi_decode` returns ``argmax_y s(y)`` by dynamic programming.
Everything is TensorFlow graph code (`tf.scan`), so decoding is exportable in a
SavedModel.

Masks: ``mask[b, t]`` is True on real tokens and must be a prefix (padding at the end,
as the zoo's pipelines produce); masked steps leave the forward/Viterbi state
unchanged, so extra padding changes nothing. Sequences of length 0 have log Z = 0 and
score 0.

Constraints: `CRF` takes an optional ``allowed`` matrix (``[K, K]`` of 0/1, allowed
``i -> j`` transitions) and ``start_allowed`` (``[K]``); forbidden moves get a fixed
``-1e4`` added to the learned scores, in the loss and in decoding alike. For IOB2
(`iob2_constraints`) this makes every decoded path valid IOB2.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "CRF",
    "CRFLoss",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_sequence_score",
    "iob2_constraints",
    "viterbi_decode",
]

#: score added to forbidden transitions
FORBIDDEN = -1e4


def _prepare(emissions, mask):
    emissions = tf.convert_to_tensor(emissions)
    if mask is None:
        mask = tf.ones(tf.shape(emissions)[:2], tf.bool)
    mask = tf.cast(mask, tf.bool)
    # One trailing masked step: makes T >= 1 always (empty inputs) and is a no-op.
    emissions = tf.pad(emissions, [[0, 0], [0, 1], [0, 0]])
    mask = tf.pad(mask, [[0, 0], [0, 1]], constant_values=False)
    return emissions, mask


def crf_log_norm(emissions, mask, transitions, start, end):
    """log Z per sequence by the forward algorithm.

    Args:
        emissions: float [B, T, K].
        mask: bool [B, T] (prefix masks) or None (all valid).
        transitions: float [K, K], ``transitions[i, j]`` scores ``i -> j``.
        start, end: float [K].
    Returns:
        float [B]; 0 for empty sequences.
    """
    emissions, mask = _prepare(emissions, mask)
    em = tf.transpose(emissions, [1, 0, 2])  # [T, B, K]
    m = tf.transpose(mask, [1, 0])  # [T, B]
    alpha0 = start[None, :] + em[0]

    def step(alpha, inputs):
        e, valid = inputs
        nxt = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + e
        return tf.where(valid[:, None], nxt, alpha)

    alpha = tf.scan(step, (em[1:], m[1:]), initializer=alpha0)
    last = tf.concat([alpha0[None], alpha], axis=0)[-1]
    log_z = tf.reduce_logsumexp(last + end[None, :], axis=1)
    return tf.where(m[0], log_z, tf.zeros_like(log_z))


def crf_sequence_score(emissions, tags, mask, transitions, start, end):
    """Unnormalised score ``s(y)`` of given tag paths.

    Args:
        emissions: float [B, T, K]; tags: int [B, T] (values at masked positions are
            ignored, must still be in [0, K)); mask: bool [B, T] or None.
    Returns:
        float [B].
    """
    emissions = tf.convert_to_tensor(emissions)
    tags = tf.cast(tags, tf.int32)
    if mask is None:
        mask = tf.ones(tf.shape(tags), tf.bool)
    maskf = tf.cast(mask, emissions.dtype)
    unary = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2) * maskf, axis=1)
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
    binary = tf.reduce_sum(tf.gather_nd(transitions, pairs) * maskf[:, 1:], axis=1)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    nonempty = lengths > 0
    first = tf.gather(start, tags[:, 0])
    last_tag = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
    boundary = tf.gather(end, last_tag) + first
    boundary = tf.where(nonempty, boundary, tf.zeros_like(boundary))
    return unary + binary + boundary


def crf_log_likelihood(emissions, tags, mask, transitions, start, end):
    """``log p(tags | emissions)`` per sequence, float [B] (shapes as in
    `crf_sequence_score`)."""
    return crf_sequence_score(emissions, tags, mask, transitions, start, end) - crf_log_norm(
        emissions, mask, transitions, start, end
    )


def viterbi_decode(emissions, mask, transitions, start, end):
    """Best tag path per sequence (in-graph dynamic programming).

    Args:
        emissions: float [B, T, K]; mask: bool [B, T] or None; transitions [K, K];
            start, end [K].
    Returns:
        ``(tags, scores)``: int32 [B, T] (0 at masked positions) and float [B] (the
        best path's score, 0 for empty sequences).
    """
    t_in = tf.shape(emissions)[1]
    emissions, mask = _prepare(emissions, mask)
    num_tags = tf.shape(emissions)[2]
    em = tf.transpose(emissions, [1, 0, 2])
    m = tf.transpose(mask, [1, 0])
    alpha0 = start[None, :] + em[0]
    batch = tf.shape(alpha0)[0]
    identity = tf.tile(tf.range(num_tags, dtype=tf.int32)[None], [batch, 1])

    def step(carry, inputs):
        alpha, _ = carry
        e, valid = inputs
        scores = alpha[:, :, None] + transitions[None]  # [B, K_prev, K]
        backpointer = tf.argmax(scores, axis=1, output_type=tf.int32)
        nxt = tf.reduce_max(scores, axis=1) + e
        alpha = tf.where(valid[:, None], nxt, alpha)
        backpointer = tf.where(valid[:, None], backpointer, identity)
        return alpha, backpointer

    alphas, backpointers = tf.scan(step, (em[1:], m[1:]), initializer=(alpha0, identity))
    last = tf.concat([alpha0[None], alphas], axis=0)[-1] + end[None, :]
    best_last = tf.argmax(last, axis=1, output_type=tf.int32)
    best_score = tf.reduce_max(last, axis=1)
    # Backtracking from the last step: a forward scan over the reversed backpointers,
    # reversed back (tf.scan(reverse=True) computes the same, but tf2onnx converts its
    # reversed writes as forward ones, which reverses the path in ONNX).
    earlier = tf.reverse(
        tf.scan(
            lambda tag, bp: tf.gather(bp, tag, batch_dims=1),
            tf.reverse(backpointers, [0]),
            initializer=best_last,
        ),
        [0],
    )  # [T-1, B]: the tag at t = 0 .. T-2
    tags = tf.transpose(tf.concat([earlier, best_last[None]], axis=0), [1, 0])
    tags = tf.where(mask, tags, tf.zeros_like(tags))[:, :t_in]
    best_score = tf.where(m[0], best_score, tf.zeros_like(best_score))
    return tags, best_score


def iob2_constraints(tags: Sequence[str]) -> tuple[list[list[int]], list[int]]:
    """Allowed transitions for IOB2 tag names.

    ``I-X`` may only follow ``B-X`` or ``I-X`` and may not start a sentence; every
    other move is allowed.

    Returns:
        ``(allowed [K][K], start_allowed [K])`` as 0/1 lists.
    """
    k = len(tags)
    allowed = [[1] * k for _ in range(k)]
    start = [1] * k
    for j, tj in enumerate(tags):
        if tj.startswith("I-"):
            start[j] = 0
            for i, ti in enumerate(tags):
                if ti[2:] != tj[2:] or ti == "O":
                    allowed[i][j] = 0
    return allowed, start


@keras.saving.register_keras_serializable(package="zoo")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over per-token emission scores (e.g. a `Dense(num_tags)` on top
    of a bidirectional LSTM, as in NER taggers).

    Weights: ``transitions`` ``[K, K]`` (score of tag ``i`` followed by tag ``j``),
    ``start`` ``[K]`` and ``end`` ``[K]`` (scores of the first and last tag), all
    starting at zero. The layer's call is the identity on the emissions (float
    ``[B, T, K]`` -> ``[B, T, K]``) and drops any Keras mask, so that `CRFLoss`
    receives whole sequences; training uses `CRFLoss` (the negative log-likelihood),
    decoding `decode` (Viterbi)::

        crf = zoo.layers.CRF(num_tags)
        emissions = crf(keras.layers.Dense(num_tags)(features))
        model = keras.Model(inputs, emissions)
        model.compile("adam", loss=zoo.layers.CRFLoss(crf))   # y: int [B, T], -1 = pad
        tags = crf.decode(model(x), mask)                     # int32 [B, T]

    Args:
        num_tags: K, a positive int.
        allowed: optional ``[K][K]`` 0/1 matrix of allowed transitions ``i -> j``
            (e.g. from `iob2_constraints`); forbidden moves score ``-1e4``, in the loss
            and in decoding alike.
        start_allowed: optional ``[K]`` 0/1 list of allowed first tags.
    """

    def __init__(self, num_tags, allowed=None, start_allowed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags <= 0:
            raise ValueError(
                "Received an invalid value for argument 'num_tags', expected a positive "
                f"integer, got {num_tags!r}."
            )
        if allowed is not None and np.asarray(allowed).shape != (num_tags, num_tags):
            raise ValueError(
                f"Received an invalid value for argument 'allowed', expected a "
                f"[{num_tags}, {num_tags}] 0/1 matrix, got shape {np.asarray(allowed).shape}."
            )
        if start_allowed is not None and np.asarray(start_allowed).shape != (num_tags,):
            raise ValueError(
                f"Received an invalid value for argument 'start_allowed', expected "
                f"{num_tags} 0/1 values, got shape {np.asarray(start_allowed).shape}."
            )
        self.num_tags = num_tags
        self.allowed = None if allowed is None else [list(map(int, r)) for r in allowed]
        self.start_allowed = None if start_allowed is None else list(map(int, start_allowed))
        self.supports_masking = True

    def build(self, input_shape):
        k = self.num_tags
        if input_shape[-1] is not None and input_shape[-1] != k:
            raise ValueError(
                f"Received an invalid value for argument 'inputs' of layer '{self.name}', "
                f"expected emissions of shape (batch, timesteps, {k}) (num_tags={k}), "
                f"got shape {tuple(input_shape)}."
            )
        self.transitions = self.add_weight(shape=(k, k), initializer="zeros", name="transitions")
        self.start = self.add_weight(shape=(k,), initializer="zeros", name="start")
        self.end = self.add_weight(shape=(k,), initializer="zeros", name="end")

    def call(self, emissions, mask=None):
        return tf.identity(emissions)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def potentials(self):
        """``(transitions [K, K], start [K], end [K])`` with the constraints applied."""
        trans = tf.convert_to_tensor(self.transitions)
        start = tf.convert_to_tensor(self.start)
        if self.allowed is not None:
            trans = trans + FORBIDDEN * (1.0 - tf.constant(self.allowed, trans.dtype))
        if self.start_allowed is not None:
            start = start + FORBIDDEN * (1.0 - tf.constant(self.start_allowed, start.dtype))
        return trans, start, tf.convert_to_tensor(self.end)

    def log_likelihood(self, emissions, tags, mask=None):
        """``log p(tags | emissions)``: float [B] for emissions float [B, T, K], tags
        int [B, T] (any value in [0, K) at masked positions) and mask bool [B, T]
        (a prefix of each row) or None."""
        trans, start, end = self.potentials()
        return crf_log_likelihood(tf.cast(emissions, trans.dtype), tags, mask, trans, start, end)

    def decode(self, emissions, mask=None):
        """Viterbi: the best tag path, int32 [B, T] (0 at masked positions), for
        emissions float [B, T, K] and mask bool [B, T] (a prefix of each row) or None."""
        trans, start, end = self.potentials()
        tags, _ = viterbi_decode(tf.cast(emissions, trans.dtype), mask, trans, start, end)
        return tags

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "allowed": self.allowed,
                "start_allowed": self.start_allowed,
            }
        )
        return config


class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of a `CRF`, averaged over the sentences of the batch.

    ``y_true``: int [B, T] tag ids with -1 at padding (the mask is ``y_true >= 0``);
    ``y_pred``: the CRF layer's output (emissions) [B, T, K]. Returns float [B].
    """

    def __init__(self, crf: CRF, name: str = "crf_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        mask = y_true >= 0
        return -self.crf.log_likelihood(y_pred, tf.maximum(y_true, 0), mask)

    def get_config(self):
        return {"name": self.name}

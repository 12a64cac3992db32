"""Attention of a decoder over an encoder's memory: Luong (multiplicative) and Bahdanau
(additive), with exact masking of padded source positions.

Scores (``q`` a decoder query ``(d_q,)``, ``m_j`` the memory at source position j)::

    "dot"      (Luong et al. 2015):    s_j = q . m_j                 (needs d_q == d_m)
    "general"  (Luong et al. 2015):    s_j = (q W) . m_j             W: (d_q, d_m)
    "additive" (Bahdanau et al. 2015): s_j = v . tanh(q W_q + m_j W_m)   W_q: (d_q, units),
                                                                     W_m: (d_m, units), v: (units,)

    a_j = softmax_j(s_j over unmasked j), exactly 0 at masked j; context = sum_j a_j m_j.

A source with no unmasked position (empty input) gets all-zero weights and a zero
context instead of NaNs.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.tasks.base import masked_fill_value

SCORES = ("dot", "general", "additive")


@keras.saving.register_keras_serializable(package="zoo")
class Attention(keras.layers.Layer):
    """Single-head attention of queries over a masked memory.

    Args:
        score: ``"general"`` (Luong, default), ``"dot"`` (Luong) or ``"additive"`` (Bahdanau).
        units: hidden size of the additive score (ignored otherwise).

    Call arguments:
        query: ``float32[batch, Tq, d_q]`` (decoder outputs) or ``[batch, d_q]`` (one step).
        memory: ``float32[batch, Tv, d_m]`` (encoder outputs).
        memory_mask: ``bool[batch, Tv]`` (True = real token) or None (all real).
        keys: optional result of `memory_keys(memory)` (precomputed once per source
            when decoding step by step).

    Returns:
        ``(context float32[batch, Tq, d_m], weights float32[batch, Tq, Tv])`` (without the
        ``Tq`` axis for a rank-2 query).
    """

    def __init__(self, score: str = "general", units: int = 256, **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(
                f"Received an invalid value for argument 'score', expected one of {SCORES}, "
                f"got {score!r}."
            )
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument 'units', expected a positive "
                f"integer, got {units!r}."
            )
        self.score = score
        self.units = units
        self.supports_masking = True  # the mask is an explicit argument; none is returned

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, query_shape, memory_shape=None, memory_mask_shape=None, keys_shape=None):
        d_q, d_m = int(query_shape[-1]), int(memory_shape[-1])
        if self.score == "dot" and d_q != d_m:
            raise ValueError(
                f"Attention score 'dot' needs query and memory of equal size, got {d_q} "
                f"and {d_m}; use score='general'."
            )
        if self.score == "general":
            self.kernel = self.add_weight(
                name="kernel", shape=(d_q, d_m), initializer="glorot_uniform"
            )
        elif self.score == "additive":
            self.query_kernel = self.add_weight(
                name="query_kernel", shape=(d_q, self.units), initializer="glorot_uniform"
            )
            self.memory_kernel = self.add_weight(
                name="memory_kernel", shape=(d_m, self.units), initializer="glorot_uniform"
            )
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            self.v = self.add_weight(name="v", shape=(self.units,), initializer="glorot_uniform")

    def memory_keys(self, memory):
        """What the score needs from the memory alone: ``memory @ W_m`` for "additive"
        (``[batch, Tv, units]``), the memory itself otherwise."""
        if self.score == "additive":
            return ops.matmul(memory, self.memory_kernel)
        return memory

    def call(self, query, memory, memory_mask=None, keys=None):
        single = len(query.shape) == 2
        if single:
            query = ops.expand_dims(query, 1)
        if keys is None:
            keys = self.memory_keys(memory)
        if self.score == "additive":
            q = ops.matmul(query, self.query_kernel) + self.bias  # [B, Tq, U]
            hidden = ops.tanh(ops.expand_dims(q, 2) + ops.expand_dims(keys, 1))  # [B,Tq,Tv,U]
            scores = ops.einsum("bqvu,u->bqv", hidden, self.v)
        else:
            q = ops.matmul(query, self.kernel) if self.score == "general" else query
            scores = ops.matmul(q, ops.transpose(keys, (0, 2, 1)))  # [B, Tq, Tv]
        weights = masked_softmax(scores, memory_mask)
        context = ops.matmul(weights, memory)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights

    def compute_output_shape(
        self, query_shape, memory_shape, memory_mask_shape=None, keys_shape=None
    ):
        if len(query_shape) == 2:
            return (query_shape[0], memory_shape[-1]), (query_shape[0], memory_shape[1])
        return (
            (query_shape[0], query_shape[1], memory_shape[-1]),
            (query_shape[0], query_shape[1], memory_shape[1]),
        )

    def get_config(self):
        return {**super().get_config(), "score": self.score, "units": self.units}


def masked_softmax(scores, mask=None):
    """Softmax over the last axis restricted to ``mask``; exactly 0 at masked positions.

    scores: ``float[batch, Tq, Tv]``; mask: ``bool[batch, Tv]`` or None.
    A row with no unmasked position gives all zeros.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    m = ops.expand_dims(ops.cast(mask, scores.dtype), 1)  # [B, 1, Tv]
    scores = ops.where(m > 0, scores, ops.full_like(scores, masked_fill_value(scores.dtype)))
    scores = scores - ops.max(scores, axis=-1, keepdims=True)
    e = ops.exp(scores) * m
    # the sum is 0 (no valid position) or >= 1; 1e-6 stays above 0 in float16 too
    return e / ops.maximum(ops.sum(e, axis=-1, keepdims=True), 1e-6)


__all__ = ["SCORES", "Attention", "masked_softmax"]

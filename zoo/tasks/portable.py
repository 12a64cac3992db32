"""Encoder + one decoder step as numeric functions, and the NumPy decoders that drive them.

Translation and captioning export their models for runtimes without strings or while
loops over Python state (TFLite builtins, ONNX Runtime) as two functions:

* ``encode``: one input (source ids ``int32[1, Ts]`` / an image ``float32[1, S, S, 3]``)
  -> the decoder's initial state and per-sequence constants, a dict of ``[1, ...]``
  arrays (names from the task, e.g. ``state0``, ``memory``, ``mask``);
* ``decode_step``: ``tokens int32[N]`` and every encode output with ``N`` rows ->
  ``{"logits": float32[N, V], "new_<name>": [N, ...] for each state that changes}``
  (plus any per-step outputs the task's step returns, e.g. ``attention``); the
  constants (memory, image features...) go in but do not come out (the caller keeps
  them). Outputs never share an input's name (tf2onnx names both after the structure
  and cannot convert a graph whose output and input are both ``state0``).

`encoder_decoder_functions` builds both from a task's ``init(inputs) -> nest`` and
``step(tokens, nest) -> (logits, nest)`` (the step functions `zoo.tasks.decoding` runs
in-graph); `greedy_search` and `beam_search` here are NumPy copies of
`zoo.tasks.decoding`'s (same float32 arithmetic, same length penalty, same tie-breaking:
the lower index first), so a client over the exported functions decodes what the
SavedModel decodes. N is dynamic (greedy N = inputs, beam N = inputs x beam): the step
has no time loop, so both TFLite and ONNX take any N; ``encode`` has a batch of one
(the recurrent loop over a static batch lowers to TFLite builtins).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from zoo.layers.loop import portable_loops
from zoo.tasks.decoding import NEG_INF

#: A decoder step over arrays: ``(tokens int32[N], states {name: [N, ...]}) ->
#: (logits float32[N, V], states, per-step outputs {name: [N, ...]})`` (the returned
#: states hold every name; per-step outputs, e.g. attention weights, are collected
#: along each hypothesis by the decoders).
NumpyStep = Callable[[np.ndarray, dict], tuple[np.ndarray, dict, dict]]
#: Prefix of ``decode_step``'s state outputs (``new_state0`` updates input ``state0``).
NEW = "new_"


def encoder_decoder_functions(
    init: Callable,
    input_spec: tf.TensorSpec,
    step: Callable,
    names: list[str] | None = None,
) -> dict[str, tf.types.experimental.GenericFunction]:
    """``{"encode", "decode_step"}`` `tf.function`s with full input signatures.

    Args:
        init: ``(inputs [1, ...]) -> nest`` of state tensors with leading dimension 1.
        input_spec: the spec of `init`'s input (named: the name is the input's key).
        step: ``(tokens int32[N], nest) -> (logits float[N, V], nest)``, or ``(logits,
            nest, {name: [N, ...]})`` with per-step outputs; a leaf returned unchanged
            (the same tensor) is a constant and is not an output; a changed leaf
            ``name`` is output as ``new_<name>``.
        names: one name per leaf of the nest (flattened); ``state0``, ``state1``... when
            None or when the count differs (a model whose state grew).
    """
    traced = tf.function(init, autograph=False).get_concrete_function(input_spec)
    structure = traced.structured_outputs
    leaves = tf.nest.flatten(structure)
    if names is None or len(names) != len(leaves):
        names = [f"state{i}" for i in range(len(leaves))]
    state_specs = [
        tf.TensorSpec([None, *leaf.shape[1:]], leaf.dtype, name=name)
        for name, leaf in zip(names, leaves)
    ]

    def encode(inputs):
        return dict(zip(names, tf.nest.flatten(init(inputs))))

    encode.__signature__ = _signature([input_spec.name])
    encode = tf.function(encode, input_signature=[input_spec], autograph=False)

    tokens_spec = tf.TensorSpec([None], tf.int32, name="tokens")

    def decode_step(tokens, *flat):
        logits, new, *extras = step(tokens, tf.nest.pack_sequence_as(structure, list(flat)))
        out = {**(extras[0] if extras else {}), "logits": tf.cast(logits, tf.float32)}
        for name, old, leaf in zip(names, flat, tf.nest.flatten(new)):
            if leaf is not old:
                out[NEW + name] = leaf
        return out

    # Named parameters (``decode_step(tokens=..., state0=...)``, as the exported
    # signatures are called) for a state whose size is known only now.
    decode_step.__signature__ = _signature(["tokens", *names])
    decode_step = tf.function(
        decode_step, input_signature=[tokens_spec, *state_specs], autograph=False
    )

    # Traced now, with the loops converters handle (`portable_loops`).
    with portable_loops():
        encode.get_concrete_function()
        decode_step.get_concrete_function()
    return {"encode": encode, "decode_step": decode_step}


def _signature(names: list[str]) -> inspect.Signature:
    """Keyword-callable parameters named after the input specs (`tf.function` binds
    arguments through the Python signature)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(n, kind) for n in names])


def tf_runner(functions: dict) -> Callable[[str, dict], dict]:
    """``run(fn_name, inputs) -> outputs`` over the `tf.function`s themselves (no
    conversion): the reference a converted export is compared with."""

    def run(name: str, inputs: dict) -> dict:
        return {k: v.numpy() for k, v in functions[name](**inputs).items()}

    return run


def numpy_step(run: Callable[[str, dict], dict]) -> NumpyStep:
    """The exported ``decode_step`` as a `NumpyStep` (constants pass through)."""

    def step(tokens, states):
        out = run("decode_step", {"tokens": np.asarray(tokens, np.int32), **states})
        logits = out.pop("logits")
        new = {k[len(NEW) :]: v for k, v in out.items() if k.startswith(NEW)}
        extras = {k: v for k, v in out.items() if not k.startswith(NEW)}
        return logits, {**states, **new}, extras

    return step


def concat_states(states: list[dict]) -> dict:
    """Per-input encode outputs ``[1, ...]`` -> one batch ``[B, ...]`` (same shapes)."""
    return {k: np.concatenate([s[k] for s in states], axis=0) for k in states[0]}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float32 ``[N, V]`` -> log-probabilities, as `tf.nn.log_softmax` computes them."""
    x = np.asarray(logits, np.float32)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True, dtype=np.float32))


def greedy_search(
    step: NumpyStep,
    start_tokens: np.ndarray,
    states: dict,
    *,
    max_length: int,
    end_token: int,
    pad_token: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """`zoo.tasks.decoding.greedy_search` in NumPy: ``(tokens int32[B, L], scores
    float32[B], per-step outputs {name: [B, L, ...]})``, ``L <= max_length``."""
    tokens = np.asarray(start_tokens, np.int32)
    batch = len(tokens)
    finished = np.zeros([batch], bool)
    scores = np.zeros([batch], np.float32)
    out, extras = [], []
    while len(out) < max_length and not finished.all():
        logits, states, extra = step(tokens, states)
        extras.append(extra)
        logp = log_softmax(logits)
        nxt = logp.argmax(axis=-1).astype(np.int32)
        gain = logp[np.arange(batch), nxt]
        scores = scores + np.where(finished, np.float32(0), gain)
        nxt = np.where(finished, np.int32(pad_token), nxt)
        out.append(nxt)
        finished = finished | (nxt == end_token)
        tokens = nxt
    ids = np.stack(out, axis=1) if out else np.zeros([batch, 0], np.int32)
    collected = {k: np.stack([e[k] for e in extras], axis=1) for k in (extras or [{}])[0]}
    return ids, scores, collected


def length_normalizer(lengths: np.ndarray, alpha: float) -> np.ndarray:
    """GNMT ``((5 + length) / 6) ** alpha`` in float32, as `zoo.tasks.decoding`."""
    base = (np.float32(5.0) + lengths.astype(np.float32)) / np.float32(6.0)
    return np.power(base, np.float32(alpha))


def beam_search(
    step: NumpyStep,
    start_tokens: np.ndarray,
    states: dict,
    *,
    beam_size: int,
    max_length: int,
    end_token: int,
    pad_token: int = 0,
    length_penalty: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """`zoo.tasks.decoding.beam_search` in NumPy (fixed beam, finished hypotheses frozen,
    best by ``score / length_normalizer(length)``): ``(tokens int32[B, L], scores
    float32[B], per-step outputs {name: [B, L, ...]} along the best hypothesis)``. Ties
    go to the lower index, as `tf.math.top_k` and the stable descending `tf.argsort`
    break them."""
    k = beam_size
    start_tokens = np.asarray(start_tokens, np.int32)
    batch = len(start_tokens)
    states = {name: np.repeat(v, k, axis=0) for name, v in states.items()}
    tokens = np.repeat(start_tokens, k)
    first = np.array([0.0] + [NEG_INF] * (k - 1), np.float32)
    scores = np.tile(first[None], [batch, 1])
    finished = np.zeros([batch, k], bool)
    lengths = np.zeros([batch, k], np.int32)
    seqs = np.full([batch, k, max_length], pad_token, np.int32)
    offsets = np.arange(batch)[:, None] * k
    history = None  # per-step outputs of each hypothesis, {name: [B*K, t, ...]}
    t = 0
    while t < max_length and not finished.all():
        logits, states, extra = step(tokens, states)
        if history is None:
            history = {name: v[:, None][:, :0] for name, v in extra.items()}
        history = {
            name: np.concatenate([h, extra[name][:, None]], 1) for name, h in history.items()
        }
        logp = log_softmax(logits)
        vocab = logp.shape[-1]
        logp = logp.reshape(batch, k, vocab)
        frozen = np.where(np.arange(vocab) == end_token, 0.0, NEG_INF).astype(np.float32)
        logp = np.where(finished[:, :, None], frozen[None, None, :], logp)
        cand = (scores[:, :, None] + logp).reshape(batch, k * vocab)
        flat = np.argsort(-cand, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(cand, flat, axis=1)
        beam, tok = flat // vocab, (flat % vocab).astype(np.int32)
        was_finished = np.take_along_axis(finished, beam, axis=1)
        lengths = np.take_along_axis(lengths, beam, axis=1) + (~was_finished).astype(np.int32)
        tok = np.where(was_finished, np.int32(pad_token), tok)
        seqs = np.take_along_axis(seqs, beam[:, :, None], axis=1)
        seqs[:, :, t] = tok
        finished = was_finished | (tok == end_token)
        rows = (offsets + beam).reshape(-1)
        states = {name: v[rows] for name, v in states.items()}
        history = {name: h[rows] for name, h in history.items()}
        tokens = tok.reshape(-1)
        t += 1
    normalized = scores / length_normalizer(lengths, length_penalty)
    best = np.argsort(-normalized, axis=1, kind="stable")[:, 0]
    rows = np.arange(batch)
    collected = {
        name: h.reshape(batch, k, *h.shape[1:])[rows, best] for name, h in (history or {}).items()
    }
    return seqs[rows, best, :t], scores[rows, best], collected


def decode(
    step: NumpyStep,
    start_tokens: np.ndarray,
    states: dict,
    *,
    beam_size: int,
    max_length: int,
    end_token: int,
    length_penalty: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """Greedy (`beam_size` 1) or beam search -> ``(ids int32[B, L], per-step outputs
    {name: [B, L, ...]})``."""
    if beam_size == 1:
        ids, _, collected = greedy_search(
            step, start_tokens, states, max_length=max_length, end_token=end_token
        )
        return ids, collected
    ids, _, collected = beam_search(
        step,
        start_tokens,
        states,
        beam_size=beam_size,
        max_length=max_length,
        end_token=end_token,
        length_penalty=length_penalty,
    )
    return ids, collected


def calibration_steps(
    run, encoded: list[dict], start_token: int, end_token: int, n: int, max_length: int
) -> list[dict]:
    """Inputs of ``decode_step`` seen while greedy-decoding each encoded input (one row
    each), at most `n`, spread over the inputs: int8 calibration data."""
    seen = []
    for states in encoded:
        tokens = np.array([start_token], np.int32)
        for _ in range(max_length):
            seen.append({"tokens": tokens, **states})
            out = run("decode_step", {"tokens": tokens, **states})
            logits = out.pop("logits")
            states = {**states, **{k[len(NEW) :]: v for k, v in out.items() if k.startswith(NEW)}}
            tokens = logits.argmax(-1).astype(np.int32)
            if tokens[0] == end_token:
                break
    if len(seen) <= n:
        return seen
    picks = np.linspace(0, len(seen) - 1, n).round().astype(int)
    return [seen[i] for i in picks]

"""The time loop every recurrent layer shares: a cell run over a time-major sequence.

The loop reads, step by step, what the cell's `project_inputs` made of the whole
sequence before it: the input projection ``x_t @ W + b`` of all steps (one large
matmul), so the loop does the recurrent product ``h_{t-1} @ U`` and the gate
arithmetic; or, for a cell with `fused_step`, the inputs themselves, which the step
multiplies with ``h_{t-1}`` in one product per gate:

* `run_plain` (inference) is a `tf.while_loop` that reads step t of the projection
  as a view (no copy) and writes the states to a `TensorArray` (nothing per step
  when only the last output is returned);
* `run_with_bptt` (training) also keeps what the hand-written back-propagation
  through time needs; its gradient is a backward loop (`tf.custom_gradient`) whose
  recurrent-weight gradients are one large matmul after the loop;
* `run_unrolled` (``unroll=True``) is a Python loop over a static number of steps
  that TensorFlow differentiates.

Why the loops look the way they do (views, not copies; per-gate blocks; two steps
per while-loop iteration) and what else was measured: ``docs/performance.md``.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

from zoo.layers import cell as cell_module
from zoo.layers.cell import gate_inputs


def _at(tensor, t):
    """Step ``t`` of a time-major tensor: ``(time, ...) -> (...)``, a view (no copy)."""
    rank = tensor.shape.rank
    begin = tf.stack([t] + [0] * (rank - 1))
    return tf.squeeze(tf.slice(tensor, begin, [1] + [-1] * (rank - 1)), axis=0)


def _at_blocks(blocks, t):
    """Step ``t`` of each time-major gate block."""
    return tuple(_at(b, t) for b in blocks)


def _unstack(tensor):
    size = tf.shape(tensor)[0]
    return tf.TensorArray(
        tensor.dtype, size=size, clear_after_read=False, element_shape=tensor.shape[1:]
    ).unstack(tensor)


#: loop iterations per `tf.while_loop` iteration in the loops whose gradient we write
#: (fewer control-flow ops per step; measured in docs/performance.md)
UNROLL = 2


#: whether a layer may run its batch as two loops (`run_split`); off inside
#: `portable_loops`, so converters see one loop
SPLIT_ALLOWED = True


@contextlib.contextmanager
def portable_loops():
    """Loops traced inside are the ones converters handle: one step per while-loop
    iteration (one TensorArray write per iteration at index t, the pattern tf2onnx
    converts to an ONNX ``Loop`` with scan outputs; two writes per iteration make it
    fail) and cells with the hoisted input projection instead of the fused-input step
    (`RecurrentCell.fused_step`: TFLite's int8 calibrator crashes on it). Used by the
    tasks' portable (TFLite / ONNX) functions."""
    global SPLIT_ALLOWED
    saved, SPLIT_ALLOWED = SPLIT_ALLOWED, False
    try:
        with _loop_settings(unroll=1, fused=False):
            yield
    finally:
        SPLIT_ALLOWED = saved


def _current_settings():
    return {"unroll": UNROLL, "fused": cell_module.FUSED_INPUTS}


@contextlib.contextmanager
def _loop_settings(unroll, fused):
    """Run with these loop settings. A gradient function is traced later than its
    forward pass (possibly outside `portable_loops`), so it re-enters the settings
    its forward pass was traced with: both must agree on the cell's layout."""
    global UNROLL
    saved = _current_settings()
    UNROLL, cell_module.FUSED_INPUTS = unroll, fused
    try:
        yield
    finally:
        UNROLL, cell_module.FUSED_INPUTS = saved["unroll"], saved["fused"]


def _loop(steps, body, loop_vars, unroll=None):
    """``body(t, *loop_vars) -> (t + 1, *loop_vars)`` for t in ``range(steps)``, with
    ``unroll`` (default `UNROLL`) steps per while-loop iteration and a second loop for
    the remainder."""
    unroll = UNROLL if unroll is None else unroll
    if unroll <= 1:
        return tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), *loop_vars),
            maximum_iterations=steps,
        )[1:]

    def body_unrolled(*loop_vars):
        for _ in range(unroll):
            loop_vars = body(*loop_vars)
        return loop_vars

    loop_vars = tf.while_loop(
        lambda t, *_: t + unroll <= steps,
        body_unrolled,
        (tf.constant(0), *loop_vars),
        maximum_iterations=steps // unroll,
    )
    return tf.while_loop(
        lambda t, *_: t < steps,
        body,
        loop_vars,
        maximum_iterations=steps % unroll,
    )[1:]


def _forward(cell, projected, init, consts, mask_tm, recurrent_mask, save, sequence=True):
    """The forward loop over sliced steps.

    Without ``save`` (inference): returns ``(seq, final_states)``, the first state
    of every step stacked ``(time, batch, units)``, or None without ``sequence``
    (then the loop writes nothing per step).

    With ``save`` (training): returns ``(state_tas, saved_tas, final_states)``:
    a TensorArray of ``time + 1`` entries per state (entry 0 the initial state,
    entry t + 1 the state after step t) and one of ``time`` entries per tensor
    `cell.forward_step` saves; `_backward` reads them in place.
    """
    dtype = projected[0].dtype
    steps = tf.shape(projected[0])[0]
    # A static element shape (batch may stay None) lets converters such as TFLite
    # lower the TensorLists.
    if save:
        state_tas = [
            tf.TensorArray(
                dtype, size=steps + 1, element_shape=s.shape, clear_after_read=False
            ).write(0, s)
            for s in init
        ]
    elif sequence:
        state_tas = [tf.TensorArray(dtype, size=steps, element_shape=init[0].shape)]
    else:
        state_tas = []
    offset = 1 if save else 0
    saved_tas = [
        tf.TensorArray(dtype, size=steps, clear_after_read=False)
        for _ in range(cell.saved_count if save else 0)
    ]

    def body(t, state_tas, saved_tas, *states):
        states = list(states)
        if save:
            new_states, saved = cell.forward_step(
                _at_blocks(projected, t), states, consts, recurrent_mask
            )
        else:
            _, new_states = cell.step(_at_blocks(projected, t), states, consts, recurrent_mask)
            saved = ()
        if mask_tm is not None:
            m = _at(mask_tm, t)
            new_states = [tf.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
        state_tas = [ta.write(t + offset, s) for ta, s in zip(state_tas, new_states, strict=False)]
        saved_tas = [ta.write(t, s) for ta, s in zip(saved_tas, saved, strict=True)]
        return (t + 1, state_tas, saved_tas, *new_states)

    state_tas, saved_tas, *final_states = _loop(steps, body, (state_tas, saved_tas, *init))
    if save:
        return state_tas, saved_tas, final_states
    return (state_tas[0].stack() if sequence else None), final_states


def _backward(cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads):
    """Back-propagation through time from the forward loop's TensorArrays.

    forward: ``(state_tas, saved_tas, h_seq)`` from `_forward` with ``save``, and
    the stacked first state ``(time + 1, batch, units)`` (initial state first).
    The backward loop runs `cell.backward_step` from the last step to the first and
    stores the gradients of the pre-activations; `cell.weight_gradients` turns them
    into the recurrent weights' gradients with one large matmul each (instead of a
    small matmul and an accumulation per step), `cell.input_gradients` into those
    of the loop's inputs (the fused step's input kernels). Returns the gradients of
    ``(*projected blocks, *constants in names order, *initial states)``.
    """
    state_tas, saved_tas, h_seq = forward
    d_seq, *d_final = grads  # d_seq is None when the output sequence is unused
    dtype = projected[0].dtype
    steps = tf.shape(projected[0])[0]
    d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, init, strict=True)]
    n_blocks = len(cell.kernel_names())
    block_shape = [init[0].shape[0], cell.gates * cell.units // n_blocks]
    d_blocks_tas = [
        tf.TensorArray(dtype, size=steps, element_shape=block_shape) for _ in range(n_blocks)
    ]
    acc_tas = [tf.TensorArray(dtype, size=steps) for _ in range(cell.accumulated_count)]
    n_states = len(init)
    recurrent = cell.backward_constants(consts)
    sum_dtype = None
    if cell.accumulate_in_loop:
        # The recurrent weights' gradients summed inside the loop: the small products
        # are off the chain of d_state dependencies, so they run on the core the
        # latency-bound chain leaves idle (summed in float32 under mixed precision).
        sum_dtype = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
        d_final = [
            *d_final,
            *[tf.zeros(tf.shape(recurrent[n]), sum_dtype) for n in cell.kernel_names()],
        ]
    back = _backward_body(
        cell, steps, (state_tas, saved_tas), recurrent, d_seq, mask_tm, recurrent_mask, sum_dtype
    )
    d_blocks_tas, acc_tas, *d_init = _loop(steps, back, (d_blocks_tas, acc_tas, *d_final))
    d_blocks = tuple(ta.stack() for ta in d_blocks_tas)
    if sum_dtype is not None:
        d_recurrent = {
            n: tf.cast(s, recurrent[n].dtype)
            for n, s in zip(cell.kernel_names(), d_init[n_states:], strict=True)
        }
        d_init = d_init[:n_states]
    else:
        accumulated = [ta.stack() for ta in acc_tas]
        d_recurrent = cell.weight_gradients(
            d_blocks, accumulated, h_seq[:-1], saved_tas, recurrent, recurrent_mask
        )
    d_projected, d_consts = cell.input_gradients(projected, consts, d_blocks, d_recurrent)
    return (*d_projected, *[d_consts[name] for name in names], *d_init)


def _backward_body(cell, steps, tas, consts, d_seq, mask_tm, recurrent_mask, sum_dtype):
    """The body of the backward loop: step ``i`` back-propagates through step
    ``steps - 1 - i``. Loop variables: the TensorArrays of the projection's and the
    accumulated gradients, the states' gradients and (``sum_dtype`` not None) the
    running sums of the recurrent kernels' gradients."""
    state_tas, saved_tas = tas
    n_states = len(state_tas)

    def back(i, d_projected_tas, acc_tas, *d_states):
        sums = list(d_states[n_states:])
        d_states = list(d_states[:n_states])
        t = steps - 1 - i
        if d_seq is not None:
            d_states[0] = d_states[0] + _at(d_seq, t)
        if mask_tm is not None:
            # A masked step passed its state through unchanged.
            m = _at(mask_tm, t)
            zeros = [tf.zeros_like(d) for d in d_states]
            passed = [tf.where(m, z, d) for z, d in zip(zeros, d_states, strict=True)]
            d_states = [tf.where(m, d, z) for z, d in zip(zeros, d_states, strict=True)]
        # Reads a cell does not use are pruned from the loop body by TensorFlow.
        prev_states = [ta.read(t) for ta in state_tas]
        d_proj, d_prev, accumulated = cell.backward_step(
            d_states,
            [ta.read(t) for ta in saved_tas],
            prev_states,
            [ta.read(t + 1) for ta in state_tas],
            consts,
            recurrent_mask,
        )
        if mask_tm is not None:
            d_prev = [a + b for a, b in zip(d_prev, passed, strict=True)]
        d_projected_tas = [ta.write(t, d) for ta, d in zip(d_projected_tas, d_proj, strict=True)]
        acc_tas = [ta.write(t, a) for ta, a in zip(acc_tas, accumulated, strict=True)]
        if sum_dtype is not None:
            h_ins = gate_inputs(prev_states[0], recurrent_mask, len(d_proj))
            sums = [
                s + tf.cast(tf.matmul(h_in, d, transpose_a=True), sum_dtype)
                for s, h_in, d in zip(sums, h_ins, d_proj, strict=True)
            ]
        return (i + 1, d_projected_tas, acc_tas, *d_prev, *sums)

    return back


def _constants(cell, constants=None):
    # Plain tensors: a variable read inside a custom gradient would need its own grad.
    constants = cell.step_constants() if constants is None else constants
    return {k: tf.convert_to_tensor(v) for k, v in constants.items()}


def run_plain(
    cell, projected, initial_state, mask_tm, recurrent_mask, constants=None, sequence=True
):
    """The forward loop for inference; it stores nothing for a backward pass.

    projected: `project_inputs` of the sequence, time-major, in processing order (a
    tuple of gate blocks ``(time, batch, units)``, or of the inputs with `fused_step`).
    mask_tm: ``(time, batch, 1)`` bool or None; recurrent_mask: ``(batch, units)``.
    Returns ``(states_seq, final_states)``: the masked first state of every step
    ``(time, batch, units)`` (None if not ``sequence``: a layer that returns only
    its last output skips the per-step writes and the stacking, which Keras's loop
    does anyway) and the final states.

    If something differentiates it anyway (a gradient with ``training=False``), the
    gradient recomputes the forward loop storing what BPTT needs, then runs it.
    """
    constants = _constants(cell, constants)
    names = sorted(constants)
    n_states = len(initial_state)
    if not cell.supports_bptt():
        return _run_autodiff(cell, projected, initial_state, constants, mask_tm, recurrent_mask)

    projected = tuple(projected)
    n_blocks = len(projected)

    @tf.custom_gradient
    def recurrence(*args):
        projected = args[:n_blocks]
        consts = dict(zip(names, args[n_blocks : n_blocks + len(names)], strict=True))
        init = list(args[n_blocks + len(names) :])
        seq, final = _forward(
            cell, projected, init, consts, mask_tm, recurrent_mask, save=False, sequence=sequence
        )

        settings = _current_settings()

        def grad(*grads):
            if not sequence:
                grads = (None, *grads)
            with _loop_settings(**settings):
                state_tas, saved_tas, _ = _forward(
                    cell, projected, init, consts, mask_tm, recurrent_mask, save=True
                )
                forward = (state_tas, saved_tas, state_tas[0].stack())
                return _backward(
                    cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads
                )

        return ((seq, *final) if sequence else tuple(final)), grad

    result = list(recurrence(*projected, *[constants[n] for n in names], *initial_state))
    if not sequence:
        result.insert(0, None)
    return result[0], result[1 : 1 + n_states]


def _run_autodiff(cell, projected, initial_state, constants, mask_tm, recurrent_mask):
    """Plain loop over a TensorArray, for TensorFlow to differentiate."""
    steps = tf.shape(projected[0])[0]
    inputs_tas = [_unstack(p) for p in projected]
    mask_ta = None if mask_tm is None else _unstack(mask_tm)
    outputs_ta = tf.TensorArray(
        projected[0].dtype, size=steps, element_shape=initial_state[0].shape
    )

    def body(t, outputs_ta, *states):
        states = list(states)
        inputs = tuple(ta.read(t) for ta in inputs_tas)
        _, new_states = cell.step(inputs, states, constants, recurrent_mask)
        if mask_ta is not None:
            m = mask_ta.read(t)
            new_states = [tf.where(m, n, s) for n, s in zip(new_states, states, strict=True)]
        return (t + 1, outputs_ta.write(t, new_states[0]), *new_states)

    outputs_ta, *final_states = _loop(steps, body, (outputs_ta, *initial_state), unroll=1)
    return outputs_ta.stack(), final_states


def run_with_bptt(cell, projected, initial_state, mask_tm, recurrent_mask, constants=None):
    """The forward loop for training, with hand-written back-propagation through time.

    Same contract as `run_plain`; the forward loop also stores every state and what
    `cell.forward_step` saves, and the gradient is `_backward`.
    """
    constants = _constants(cell, constants)
    names = sorted(constants)
    n_states = len(initial_state)

    projected = tuple(projected)
    n_blocks = len(projected)

    @tf.custom_gradient
    def recurrence(*args):
        projected = args[:n_blocks]
        consts = dict(zip(names, args[n_blocks : n_blocks + len(names)], strict=True))
        init = list(args[n_blocks + len(names) :])
        state_tas, saved_tas, final = _forward(
            cell, projected, init, consts, mask_tm, recurrent_mask, save=True
        )
        h_seq = state_tas[0].stack()  # (time + 1, batch, units), initial state first

        settings = _current_settings()

        def grad(*grads):
            forward = (state_tas, saved_tas, h_seq)
            with _loop_settings(**settings):
                return _backward(
                    cell, projected, init, consts, names, mask_tm, recurrent_mask, forward, grads
                )

        return (h_seq[1:], *final), grad

    result = recurrence(*projected, *[constants[n] for n in names], *initial_state)
    return result[0], list(result[1 : 1 + n_states])


def run_unrolled(cell, projected, initial_state, mask_tm, recurrent_mask, constants=None):
    """The loop as straight-line code, one copy of the step per time step (Keras's
    ``unroll=True``): for short sequences of a static length. TensorFlow
    differentiates it. Same contract as `run_plain`; ``projected`` must have a
    static number of steps."""
    constants = _constants(cell, constants)
    states = list(initial_state)
    outputs = []
    for t in range(projected[0].shape[0]):
        _, new_states = cell.step(tuple(p[t] for p in projected), states, constants, recurrent_mask)
        if mask_tm is not None:
            new_states = [
                tf.where(mask_tm[t], n, s) for n, s in zip(new_states, states, strict=True)
            ]
        states = new_states
        outputs.append(states[0])
    if not outputs:
        return tf.zeros(tf.concat([[0], tf.shape(states[0])], 0), states[0].dtype), states
    return tf.stack(outputs), states


def run_split(run, cell, projected, initial_state, mask_tm, recurrent_mask, parts=2):
    """`run` (`run_plain` or `run_with_bptt`, same arguments and results) on ``parts``
    slices of the batch: independent loops, which TensorFlow runs side by side, one
    per core. Examples never interact in a recurrent layer, so the values are those
    of one loop over the whole batch; only the speed differs (measured by
    `zoo.layers.autotune.split_batch`). Each slice keeps its own gradient loop."""
    batch = initial_state[0].shape[0]
    if batch is None:
        batch = tf.shape(initial_state[0])[0]
    sizes = [batch // parts] * (parts - 1)
    sizes.append(batch - sum(sizes))
    if not isinstance(batch, int):
        sizes = tf.stack(sizes)

    def cut(x, axis):
        if x is None:
            return [None] * parts
        if isinstance(x, (tuple, list)):
            return list(zip(*[cut(v, axis) for v in x], strict=True))
        return tf.split(x, sizes, axis=axis)

    pieces = zip(
        cut(tuple(projected), 1),
        cut(list(initial_state), 0),
        cut(mask_tm, 1),
        cut(recurrent_mask, 0),
        strict=True,
    )
    results = [run(cell, p, list(s), m, r) for p, s, m, r in pieces]
    seqs = [seq for seq, _ in results]
    seq = None if seqs[0] is None else tf.concat(seqs, axis=1)
    finals = [tf.concat(list(states), axis=0) for states in zip(*[f for _, f in results])]
    return seq, finals

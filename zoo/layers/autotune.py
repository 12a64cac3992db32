"""The Bidirectional LSTM's step layout, chosen by measuring both on this machine.

An LSTM step can run as one wide ``(batch, 4*units)`` product (`LSTMCell.wide`), which
TensorFlow shards over the cores, or as four per-gate products, small ops that each stay
on one core while the other direction's loop runs on the other. Which is faster depends
on the machine more than on the shape: at 64x100x64x256 the wide step was 0.83 of Keras
against 1.05 per-gate on one 2-core machine and 0.96 against 0.76 on another
(docs/performance.md). So `Bidirectional` asks `wide_lstm_step` when it is traced: below
`MIN_MEASURED_SIZE` the per-gate step (it won or tied there on every machine measured),
above it the faster of the two on a short sequence of the same batch, features and
units, measured once per process and shape (about a second).

Both layouts compute the same values (tests compare each with Keras); only speed differs.
``ZOO_LSTM_STEP=wide`` or ``per_gate`` in the environment (or `LSTM_STEP`) fixes the
layout, for reproducible timings.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import tensorflow as tf

__all__ = ["LSTM_STEP", "MIN_MEASURED_SIZE", "STEP_LAYOUTS", "measure", "wide_lstm_step"]

STEP_LAYOUTS = ("auto", "wide", "per_gate")
#: "auto" (measured), "wide" or "per_gate"
LSTM_STEP = os.environ.get("ZOO_LSTM_STEP", "auto")
#: batch x units per direction below which the per-gate step is used unmeasured
MIN_MEASURED_SIZE = 16_384
#: the batch assumed when the traced batch dimension is unknown
DEFAULT_BATCH = 32

_chosen: dict[tuple[int, int, int], bool] = {}
_lock = threading.Lock()  # replicas of a strategy trace side by side: one measures


def wide_lstm_step(batch: int | None, features: int, units: int) -> bool:
    """Whether a bidirectional LSTM of these sizes runs the wide step.

    Args:
        batch: the traced batch size, or None (then `DEFAULT_BATCH`).
        features: input features per step.
        units: units per direction.
    Raises:
        ValueError: `LSTM_STEP` is not one of `STEP_LAYOUTS`.
    """
    if LSTM_STEP not in STEP_LAYOUTS:
        raise ValueError(
            f"Received an invalid value for 'ZOO_LSTM_STEP' (zoo.layers.autotune.LSTM_STEP), "
            f"expected one of {list(STEP_LAYOUTS)}, got {LSTM_STEP!r}."
        )
    if LSTM_STEP != "auto":
        return LSTM_STEP == "wide"
    batch = int(batch or DEFAULT_BATCH)
    if batch * units < MIN_MEASURED_SIZE:
        return False
    key = (batch, int(features), int(units))
    with _lock:
        if key not in _chosen:
            # eagerly, also while a graph (or a strategy's replica function) is traced
            with tf.init_scope():
                seconds = measure(*key)
            _chosen[key] = seconds["wide"] < seconds["per_gate"]
        return _chosen[key]


def measure(batch: int, features: int, units: int, steps: int = 32, repeats: int = 7) -> dict:
    """Median seconds of one forward pass of a forward and a backward LSTM (a
    bidirectional pair, both directions in one `tf.function`) over ``steps`` steps, in
    each layout: ``{"wide": s, "per_gate": s}``. Runs alternate between the layouts."""
    from zoo.layers.lstm import LSTM

    x = tf.random.stateless_normal((batch, steps, features), seed=[0, 0])
    functions = {}
    for layout in ("wide", "per_gate"):
        pair = [
            LSTM(units, return_sequences=True, go_backwards=back, name=f"zoo_autotune_{i}")
            for i, back in enumerate((False, True))
        ]
        for layer in pair:
            layer.build(x.shape)
            layer.cell.wide = layout == "wide"
        functions[layout] = tf.function(lambda x, pair=pair: [layer(x) for layer in pair])
        functions[layout](x)  # trace and warm up
    times: dict[str, list[float]] = {layout: [] for layout in functions}
    for _ in range(repeats):
        for layout, fn in functions.items():
            start = time.perf_counter()
            fn(x)
            times[layout].append(time.perf_counter() - start)
    return {layout: statistics.median(t) for layout, t in times.items()}

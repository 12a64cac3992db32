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

`split_batch` decides the same way whether a unidirectional SimpleRNN or GRU runs its
batch as two independent loops (`zoo.layers.loop.run_split`): a step of these cells is
one or two products and a few element-wise ops, and two half-batch loops side by side
keep both cores busier than one loop whose small ops TensorFlow shards (64x100x64x256,
forward / training, ours/Keras: SimpleRNN 0.90 / 0.94 -> 0.65 / 0.81, GRU 0.80 / 0.83 ->
0.68 / 0.71; at 32x500x32x128 SimpleRNN training got slower, 0.77 -> 0.89). Below
`MIN_MEASURED_SIZE` one loop, unmeasured; above it the faster of the two on a forward
pass over the traced number of steps (up to 128: at 32 steps the split's fixed cost
ate its gain, SimpleRNN 64x64x256 6.5-7.1 ms split against 7.0-7.4 whole; at 100 steps
10.9-12.9 against 15.9-16.0), once per process and shape. ``ZOO_BATCH_SPLIT=on|off``
(or `BATCH_SPLIT`) fixes it.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import tensorflow as tf

__all__ = [
    "BATCH_SPLIT",
    "LSTM_STEP",
    "MIN_MEASURED_SIZE",
    "STEP_LAYOUTS",
    "choices",
    "measure",
    "measure_split",
    "split_batch",
    "wide_lstm_step",
]

STEP_LAYOUTS = ("auto", "wide", "per_gate")
#: "auto" (measured), "wide" or "per_gate"
LSTM_STEP = os.environ.get("ZOO_LSTM_STEP", "auto")
SPLIT_SETTINGS = ("auto", "on", "off")
#: "auto" (measured), "on" or "off"
BATCH_SPLIT = os.environ.get("ZOO_BATCH_SPLIT", "auto")
#: batch x units per direction below which the per-gate step is used unmeasured
MIN_MEASURED_SIZE = 16_384
#: the batch assumed when the traced batch dimension is unknown
DEFAULT_BATCH = 32
#: time steps of the split measurement when the traced length is unknown, and at most
DEFAULT_STEPS, MAX_MEASURED_STEPS = 64, 128

_chosen: dict[tuple, bool] = {}
_lock = threading.Lock()  # replicas of a strategy trace side by side: one measures


def wide_lstm_step(batch: int | None, features: int, units: int, layer_class) -> bool:
    """Whether a bidirectional LSTM of these sizes runs the wide step.

    Args:
        batch: the traced batch size, or None (then `DEFAULT_BATCH`).
        features: input features per step.
        units: units per direction.
        layer_class: the LSTM layer class to time (`zoo.layers.LSTM`; passed in, so this
            module imports no layer).
    Raises:
        ValueError: `LSTM_STEP` is not one of `STEP_LAYOUTS`.
    """
    _check_setting(LSTM_STEP, STEP_LAYOUTS, "ZOO_LSTM_STEP", "LSTM_STEP")
    if LSTM_STEP != "auto":
        return LSTM_STEP == "wide"
    batch = int(batch or DEFAULT_BATCH)
    if batch * units < MIN_MEASURED_SIZE:
        return False
    key = (batch, int(features), int(units))
    return _measured(
        ("lstm_step", *key), lambda: measure(*key, layer_class=layer_class), "wide", "per_gate"
    )


def split_batch(
    layer_class, batch: int | None, features: int, units: int, steps: int | None = None
) -> bool:
    """Whether a unidirectional layer of these sizes runs its batch as two loops.

    Args:
        layer_class: the layer's class (`zoo.layers.SimpleRNN` or `GRU`), timed as is.
        batch: the traced batch size, or None (then `DEFAULT_BATCH`).
        features: input features per step.
        units: units.
        steps: the traced number of time steps, or None. Timed over that many steps
            (at most `MAX_MEASURED_STEPS`; `DEFAULT_STEPS` when unknown): the two loops
            cost a fixed split and concatenation, which short sequences do not repay.
    Raises:
        ValueError: `BATCH_SPLIT` is not one of `SPLIT_SETTINGS`.
    """
    _check_setting(BATCH_SPLIT, SPLIT_SETTINGS, "ZOO_BATCH_SPLIT", "BATCH_SPLIT")
    batch = int(batch or DEFAULT_BATCH)
    if BATCH_SPLIT != "auto" or batch < 2:
        return BATCH_SPLIT == "on" and batch >= 2
    if batch * units < MIN_MEASURED_SIZE:
        return False
    steps = min(int(steps or DEFAULT_STEPS), MAX_MEASURED_STEPS)
    key = (batch, int(features), int(units))
    return _measured(
        (layer_class.__name__, steps, *key),
        lambda: measure_split(layer_class, *key, steps=steps),
        "split",
        "whole",
    )


def choices() -> list[str]:
    """What this process measured and chose, one line per shape, e.g.
    ``"GRU 64x64x256 (batch x features x units), 100 steps: two half-batch loops"``."""
    with _lock:
        items = list(_chosen.items())
    lines = []
    for (kind, *shape), chosen in items:
        if kind == "lstm_step":
            what, steps = "Bidirectional LSTM", ""
            answer = "wide step" if chosen else "per-gate step"
        else:
            what, steps = kind, f", {shape.pop(0)} steps"
            answer = "two half-batch loops" if chosen else "one loop"
        sizes = "x".join(map(str, shape))
        lines.append(f"{what} {sizes} (batch x features x units){steps}: {answer}")
    return lines


def _check_setting(value: str, allowed: tuple, variable: str, attribute: str) -> None:
    if value not in allowed:
        raise ValueError(
            f"Received an invalid value for '{variable}' (zoo.layers.autotune.{attribute}), "
            f"expected one of {list(allowed)}, got {value!r}."
        )


def _measured(key: tuple, timings, this: str, that: str) -> bool:
    """Whether `this` was faster than `that` in ``timings()``, measured once per key."""
    with _lock:
        if key not in _chosen:
            # eagerly, also while a graph (or a strategy's replica function) is traced
            with tf.init_scope():
                seconds = timings()
            _chosen[key] = seconds[this] < seconds[that]
        return _chosen[key]


def measure(
    batch: int, features: int, units: int, steps: int = 32, repeats: int = 7, layer_class=None
) -> dict:
    """Median seconds of one forward pass of a forward and a backward LSTM (a
    bidirectional pair, both directions in one `tf.function`) over ``steps`` steps, in
    each layout: ``{"wide": s, "per_gate": s}``. Runs alternate between the layouts.
    `layer_class`: `zoo.layers.LSTM` (a keyword, so stubs may ignore it)."""
    x = tf.random.stateless_normal((batch, steps, features), seed=[0, 0])
    functions = {}
    for layout in ("wide", "per_gate"):
        pair = [
            layer_class(units, return_sequences=True, go_backwards=back, name=f"zoo_autotune_{i}")
            for i, back in enumerate((False, True))
        ]
        for layer in pair:
            layer.build(x.shape)
            layer.cell.wide = layout == "wide"
        functions[layout] = tf.function(lambda x, pair=pair: [layer(x) for layer in pair])
    return _median_times(functions, x, repeats)


def measure_split(
    layer_class, batch: int, features: int, units: int, steps: int = 32, repeats: int = 7
) -> dict:
    """Median seconds of one forward pass of a `layer_class` layer over ``steps`` steps,
    its batch as two loops and as one: ``{"split": s, "whole": s}``."""
    x = tf.random.stateless_normal((batch, steps, features), seed=[0, 0])
    functions = {}
    for layout, parts in (("split", 2), ("whole", 1)):
        layer = layer_class(units, return_sequences=True, name=f"zoo_autotune_{layout}")
        layer.batch_parts = parts
        layer.build(x.shape)
        functions[layout] = tf.function(layer)
    return _median_times(functions, x, repeats)


def _median_times(functions: dict, x, repeats: int) -> dict:
    """Median seconds of each function on `x`, after one warm-up call; runs alternate."""
    for fn in functions.values():
        fn(x)  # trace and warm up
    times: dict[str, list[float]] = {layout: [] for layout in functions}
    for _ in range(repeats):
        for layout, fn in functions.items():
            start = time.perf_counter()
            fn(x)
            times[layout].append(time.perf_counter() - start)
    return {layout: statistics.median(t) for layout, t in times.items()}

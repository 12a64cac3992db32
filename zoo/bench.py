"""Benchmarks behind `python -m zoo bench ...`.

`bench_layers` times our recurrent layers against the Keras built-ins: forward pass
and a training step (forward + backward + Adam update in one `tf.function`, as
`model.fit` runs it, XLA off), same weights, same inputs, interleaved so that both
see the same machine load, median over repeats.
"""

from __future__ import annotations

import json as _json
import statistics
import time

# (batch, timesteps, features, units): the main shape and a long sequence.
DEFAULT_SHAPES = ((64, 100, 64, 256), (32, 500, 32, 128))
LAYER_KINDS = ("lstm", "gru", "simple_rnn", "bilstm")


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Measured float32 matmul throughput of this machine, in GFLOP/s (n x n @ n x n)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    matmul(a, b).numpy()
    seconds = _median_time(lambda: matmul(a, b).numpy(), repeats)
    return 2 * n**3 / seconds / 1e9


def recurrent_flops(kind: str, batch: int, steps: int, features: int, units: int) -> float:
    """Multiply-add FLOPs of the matrix products of one forward pass (gates included)."""
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1, "bilstm": 4}[kind]
    directions = 2 if kind == "bilstm" else 1
    return directions * 2 * batch * steps * (features + units) * gates * units


def _make_layers(kind, units, return_sequences):
    import keras

    import zoo.layers as zl

    name = "lstm" if kind == "bilstm" else kind
    ours = zl.make_recurrent(
        name, units, bidirectional=kind == "bilstm", return_sequences=return_sequences
    )
    keras_cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}.get(
        name, keras.layers.SimpleRNN
    )
    theirs = keras_cls(units, return_sequences=return_sequences)
    if kind == "bilstm":
        theirs = keras.layers.Bidirectional(theirs)
    return ours, theirs


def _step_functions(layer, x):
    """Compiled forward and training-step functions of `layer` on input `x`."""
    import keras
    import tensorflow as tf

    layer(x)  # build
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(layer.trainable_variables)

    @tf.function(jit_compile=False)
    def forward(x):
        return layer(x, training=False)

    @tf.function(jit_compile=False)
    def train_step(x):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_mean(tf.square(y))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        return loss

    return forward, train_step


def bench_layers(
    shapes=None,
    repeats: int = 7,
    json: bool = False,
    kinds=LAYER_KINDS,
    return_sequences: bool = True,
) -> list[dict]:
    """Time our layers against Keras's; print a table (or JSON lines) and return rows.

    Args:
        shapes: iterable of ``(batch, timesteps, features, units)``; default
            ``DEFAULT_SHAPES``.
        repeats: timed calls per measurement (median reported), after warm-up.
        json: print one JSON object per row instead of the table.
        kinds: subset of ``("lstm", "gru", "simple_rnn", "bilstm")``.
        return_sequences: whether the layers return the whole sequence (the loss is
            the mean square of the output either way).

    Returns:
        One dict per (kind, shape): times in milliseconds (``fwd_ours``,
        ``fwd_keras``, ``train_ours``, ``train_keras``), the ratios ours/Keras, and for
        the forward pass the FLOP-count limit at the measured matmul speed
        (``fwd_limit``) and our time over it (``fwd_vs_limit``).
    """
    import numpy as np

    shapes = tuple(shapes or DEFAULT_SHAPES)
    gflops = matmul_gflops()
    rows = []
    for shape in shapes:
        batch, steps, features, units = shape
        x = np.random.default_rng(0).normal(size=(batch, steps, features)).astype("float32")
        for kind in kinds:
            ours, theirs = _make_layers(kind, units, return_sequences)
            theirs(x)
            ours.build(x.shape)
            ours.set_weights(theirs.get_weights())
            fwd_o, train_o = _step_functions(ours, x)
            fwd_k, train_k = _step_functions(theirs, x)
            for fn in (fwd_o, fwd_k, train_o, train_k):  # trace + warm up
                fn(x)
                fn(x)
            # Interleave so both see the same load from other processes.
            times = {"fwd_ours": [], "fwd_keras": [], "train_ours": [], "train_keras": []}
            for _ in range(repeats):
                for key, fn in (
                    ("fwd_ours", fwd_o),
                    ("fwd_keras", fwd_k),
                    ("train_ours", train_o),
                    ("train_keras", train_k),
                ):
                    times[key].append(_median_time(lambda fn=fn, x=x: np.asarray(fn(x)), 1))
            row = {
                "layer": kind,
                "shape": "x".join(map(str, shape)),
                **{k: 1000 * statistics.median(v) for k, v in times.items()},
            }
            row["fwd_ratio"] = row["fwd_ours"] / row["fwd_keras"]
            row["train_ratio"] = row["train_ours"] / row["train_keras"]
            flops = recurrent_flops(kind, *shape)
            row["fwd_limit"] = 1000 * flops / (gflops * 1e9)
            row["fwd_vs_limit"] = row["fwd_ours"] / row["fwd_limit"]
            row["matmul_gflops"] = gflops
            rows.append(row)
            if json:
                print(_json.dumps(row), flush=True)
            else:
                if len(rows) == 1:
                    _print_header(gflops, repeats)
                _print_row(row)
    return rows


def _print_header(gflops, repeats):
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"matmul: {gflops:.0f} GFLOP/s (2048^3, median); times in ms, median of {repeats}; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs (other processes slow both sides)"
    )
    print(
        f"{'layer':<11}{'batch x T x feat x units':>26}{'fwd ours':>10}{'keras':>8}"
        f"{'ratio':>7}{'train ours':>12}{'keras':>8}{'ratio':>7}{'fwd limit':>11}"
        f"{'ours/limit':>11}"
    )


def _print_row(row):
    print(
        f"{row['layer']:<11}{row['shape']:>26}{row['fwd_ours']:>10.1f}{row['fwd_keras']:>8.1f}"
        f"{row['fwd_ratio']:>7.2f}{row['train_ours']:>12.1f}{row['train_keras']:>8.1f}"
        f"{row['train_ratio']:>7.2f}{row['fwd_limit']:>11.1f}{row['fwd_vs_limit']:>11.1f}",
        flush=True,
    )


if __name__ == "__main__":
    bench_layers()

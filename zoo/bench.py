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


def _timed(fn):
    """(wall seconds, CPU seconds of this process) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


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


def _parse_shape(text):
    """``"64x100x64x256"`` or a 4-tuple -> ``(batch, timesteps, features, units)``."""
    try:
        parts = text if isinstance(text, (tuple, list)) else str(text).lower().split("x")
        shape = tuple(int(v) for v in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 4 or min(shape) <= 0:
        raise ValueError(
            "Received an invalid value for argument 'shapes', expected "
            f"BATCHxTIMESTEPSxFEATURESxUNITS with positive integers, got {text!r}."
        )
    return shape


def bench_layers(
    shapes=None,
    repeats: int = 7,
    json: bool = False,
    kinds=LAYER_KINDS,
    return_sequences: bool = True,
    json_path=None,
    out=None,
) -> list[dict]:
    """Time our layers against Keras's; print a table (or JSON lines) and return rows.

    Ours and Keras's run back to back in every repeat (forward ours, forward Keras,
    train ours, train Keras; the order of the pair alternates between repeats), so
    load from other processes falls on both sides alike. The ratios are medians of
    the per-repeat ratios ours/Keras (more robust to load changes during a run than
    a ratio of medians); the times are medians. The ``*_ratio_cpu`` columns are the
    same ratios of this process's CPU time, which time spent waiting for a core
    does not inflate: on a loaded machine they are the steadier comparison. When
    PyTorch is importable (an optional extra, not a requirement), `torch.nn.LSTM` /
    `GRU` / `RNN` of the same sizes are timed too (``fwd_torch``, ``train_torch``).

    Args:
        shapes: iterable of ``(batch, timesteps, features, units)`` tuples or
            ``"64x100x64x256"`` strings; default ``DEFAULT_SHAPES``.
        repeats: timed calls per measurement (median reported), after warm-up.
        json: print one JSON object per row instead of the table.
        kinds: subset of ``("lstm", "gru", "simple_rnn", "bilstm")``.
        return_sequences: whether the layers return the whole sequence (the loss is
            the mean square of the output either way).
        json_path: also write ``{"machine": ..., "rows": [...]}`` to this file.
        out: text stream for the table; default stderr, so that stdout holds only
            the result of ``python -m zoo bench layers --json``.

    Returns:
        One dict per (kind, shape): times in milliseconds (``fwd_ours``,
        ``fwd_keras``, ``train_ours``, ``train_keras``), the ratios ours/Keras, and for
        the forward pass the FLOP-count limit at the measured matmul speed
        (``fwd_limit``) and our time over it (``fwd_vs_limit``).
    """
    import sys

    import numpy as np

    out = sys.stderr if out is None else out
    shapes, kinds = _check_options(shapes, kinds, repeats)
    gflops = matmul_gflops()
    load_start = _load()
    with_torch = _torch() is not None
    rows = []
    for shape in shapes:
        batch, steps, features, _ = shape
        x = np.random.default_rng(0).normal(size=(batch, steps, features)).astype("float32")
        for kind in kinds:
            row = _bench_pair(kind, shape, x, repeats, return_sequences)
            flops = recurrent_flops(kind, *shape)
            row["fwd_limit"] = 1000 * flops / (gflops * 1e9)
            row["fwd_vs_limit"] = row["fwd_ours"] / row["fwd_limit"]
            row["matmul_gflops"] = gflops
            if with_torch:
                row.update(_bench_torch(kind, shape, x, repeats, return_sequences))
            rows.append(row)
            if json:
                print(_json.dumps(row), file=out, flush=True)
            else:
                if len(rows) == 1:
                    _print_header(gflops, repeats, load_start, out, with_torch)
                _print_row(row, out)
    if not json:
        print(f"load average at the end: {_load():.1f}", file=out, flush=True)
        from zoo.layers import autotune

        for line in autotune.choices():
            print(f"measured on this machine (zoo.layers.autotune): {line}", file=out)
    if json_path is not None:
        _write_json(json_path, rows, gflops, load_start, repeats)
    return rows


def _check_options(shapes, kinds, repeats):
    """The parsed shapes and kinds; ValueErrors naming the bad option."""
    shapes = tuple(_parse_shape(s) for s in (shapes or DEFAULT_SHAPES))
    kinds = tuple(kinds)
    for kind in kinds:
        if kind not in LAYER_KINDS:
            raise ValueError(
                f"Received an invalid value for argument 'kinds', expected names from "
                f"{LAYER_KINDS}, got {kind!r}."
            )
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(
            f"Received an invalid value for argument 'repeats', expected a positive "
            f"integer, got {repeats!r}."
        )
    return shapes, kinds


def _bench_pair(kind, shape, x, repeats, return_sequences):
    """One row: our layer and Keras's with the same weights, timed back to back."""
    import numpy as np

    ours, theirs = _make_layers(kind, shape[3], return_sequences)
    theirs(x)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    fwd_o, train_o = _step_functions(ours, x)
    fwd_k, train_k = _step_functions(theirs, x)
    for fn in (fwd_o, fwd_k, train_o, train_k):  # trace + warm up
        fn(x)
        fn(x)
    times = {"fwd_ours": [], "fwd_keras": [], "train_ours": [], "train_keras": []}
    cpu = {key: [] for key in times}
    pairs = [(("fwd_ours", fwd_o), ("fwd_keras", fwd_k))]
    pairs.append((("train_ours", train_o), ("train_keras", train_k)))
    for r in range(repeats):
        for pair in pairs:
            for key, fn in pair if r % 2 == 0 else pair[::-1]:
                wall, cpu_seconds = _timed(lambda fn=fn, x=x: np.asarray(fn(x)))
                times[key].append(wall)
                cpu[key].append(cpu_seconds)
    row = {
        "layer": kind,
        "shape": "x".join(map(str, shape)),
        **{k: 1000 * statistics.median(v) for k, v in times.items()},
    }
    for part in ("fwd", "train"):
        for suffix, measured in (("", times), ("_cpu", cpu)):
            row[f"{part}_ratio{suffix}"] = statistics.median(
                o / k
                for o, k in zip(measured[f"{part}_ours"], measured[f"{part}_keras"], strict=True)
            )
    return row


def _torch():
    """The `torch` module if PyTorch is installed, else None (it is optional)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _bench_torch(kind, shape, x, repeats, return_sequences):
    """``fwd_torch`` / ``train_torch`` (ms, medians) of PyTorch's layer of the same
    sizes, timed in a child process: in this one, TensorFlow's busy-waiting thread pools
    starve PyTorch's threads (measured 10-100x slower than alone)."""
    import subprocess
    import sys

    code = (
        "import json, sys; from zoo.bench import torch_times; "
        "print(json.dumps(torch_times(*json.loads(sys.argv[1]))))"
    )
    args = _json.dumps([kind, list(shape), repeats, return_sequences])
    result = subprocess.run(
        [sys.executable, "-c", code, args], capture_output=True, text=True, check=True
    )
    return _json.loads(result.stdout.strip().splitlines()[-1])


def torch_times(kind, shape, repeats, return_sequences=True) -> dict:
    """Times of `torch.nn.LSTM` / `GRU` / `RNN` (tanh; bidirectional LSTM for
    ``"bilstm"``) on the bench's input of ``shape`` ``(batch, timesteps, features,
    units)``: forward under `no_grad`, and a training step (forward, mean-square loss,
    backward, Adam), in milliseconds (medians of ``repeats``), on all cores."""
    import numpy as np

    torch = _torch()
    batch, steps, features, units = shape
    x = np.random.default_rng(0).normal(size=(batch, steps, features)).astype("float32")
    cls = {"lstm": torch.nn.LSTM, "bilstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    layer = cls.get(kind, torch.nn.RNN)(
        features, units, batch_first=True, bidirectional=kind == "bilstm"
    )
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3)
    inputs = torch.from_numpy(x)

    def output():
        y = layer(inputs)[0]
        return y if return_sequences else y[:, -1]

    def forward():
        with torch.no_grad():
            output()

    def train():
        optimizer.zero_grad()
        loss = output().square().mean()
        loss.backward()
        optimizer.step()

    for fn in (forward, forward, train, train):  # warm up
        fn()
    return {
        "fwd_torch": 1000 * _median_time(forward, repeats),
        "train_torch": 1000 * _median_time(train, repeats),
    }


def _write_json(json_path, rows, gflops, load_start, repeats):
    import os

    from zoo._io import atomic_file

    machine = {
        "cpus": os.cpu_count(),
        "matmul_gflops": gflops,
        "load_average_start": load_start,
        "load_average_end": _load(),
        "repeats": repeats,
    }
    text = _json.dumps({"machine": machine, "rows": rows}, indent=2)
    with atomic_file(json_path) as tmp:
        tmp.write_text(text + "\n")


def _load():
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _print_header(gflops, repeats, load, out, with_torch=False):
    import os

    print(
        f"matmul: {gflops:.0f} GFLOP/s (2048^3, median); times in ms, median of {repeats}; "
        f"ratio: median of back-to-back ours/Keras; load average {load:.1f} on "
        f"{os.cpu_count()} CPUs (other processes slow both sides)",
        file=out,
    )
    torch_header = f"{'torch fwd':>10}{'train':>8}" if with_torch else ""
    print(
        f"{'layer':<11}{'batch x T x feat x units':>26}{'fwd ours':>10}{'keras':>8}"
        f"{'ratio':>7}{'train ours':>12}{'keras':>8}{'ratio':>7}{'fwd limit':>11}"
        f"{'ours/limit':>11}{'cpu ratio fwd':>14}{'train':>6}{torch_header}",
        file=out,
    )


def _print_row(row, out):
    torch_columns = ""
    if "fwd_torch" in row:
        torch_columns = f"{row['fwd_torch']:>10.1f}{row['train_torch']:>8.1f}"
    print(
        f"{row['layer']:<11}{row['shape']:>26}{row['fwd_ours']:>10.1f}{row['fwd_keras']:>8.1f}"
        f"{row['fwd_ratio']:>7.2f}{row['train_ours']:>12.1f}{row['train_keras']:>8.1f}"
        f"{row['train_ratio']:>7.2f}{row['fwd_limit']:>11.1f}{row['fwd_vs_limit']:>11.1f}"
        f"{row['fwd_ratio_cpu']:>14.2f}{row['train_ratio_cpu']:>6.2f}{torch_columns}",
        file=out,
        flush=True,
    )


def main(argv=None) -> int:
    """``python -m zoo.bench [--shapes 64x100x64x256,...] [--kinds lstm,gru]
    [--repeats N] [--json [PATH]]``: the layer benchmark with its options."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m zoo.bench", description=__doc__)
    parser.add_argument("--shapes", default=None, help="comma-separated BxTxFxU")
    parser.add_argument("--kinds", default=",".join(LAYER_KINDS), help="comma-separated")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--json", nargs="?", const="-", default=None, help="JSON rows to stdout, or to PATH"
    )
    args = parser.parse_args(argv)
    try:
        rows = bench_layers(
            shapes=args.shapes.split(",") if args.shapes else None,
            repeats=args.repeats,
            kinds=args.kinds.split(","),
            json_path=None if args.json in (None, "-") else args.json,
        )
    except ValueError as error:
        print(f"zoo.bench: error: {error}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(_json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

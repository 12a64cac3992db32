"""Benchmarks of the data pipelines and of serving (`python -m zoo bench data|serve`).

Timings are medians/percentiles over repeated runs in one process; they are reports,
never test assertions. The layer benchmark lives in `zoo.bench`.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

#: Single-request p50 targets (ms) on a 2-core CPU, from the deployment issue.
SERVE_TARGETS_MS = {"sentiment": 2.0, "ner": 5.0, "translation": 50.0, "captioning": 50.0}
DATA_MODULES = ("sentiment", "ner", "translation", "captioning")


def bench_data(print_table: bool = True) -> list[dict]:
    """Examples/second of each task's tf.data pipeline (each module's `bench()`)."""
    rows = []
    for name in DATA_MODULES:
        module = importlib.import_module(f"zoo.data.{name}")
        try:
            result = module.bench()
        except Exception as e:  # noqa: BLE001 - report and continue with the others
            result = {"error": f"{type(e).__name__}: {e}"}
        rows.append({"task": name, **result})
    if print_table:
        print("Data pipelines (examples/second; must be >= 10x the training throughput):")
        for r in rows:
            eps = r.get("examples_per_second") or r.get("examples_per_sec")
            shown = f"{eps:,.0f}" if isinstance(eps, (int, float)) else r.get("error", r)
            print(f"  {r['task']:12s} {shown}")
    return rows


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _interleaved(fns: dict, repeats: int, warmup: int = 5) -> dict[str, dict]:
    """Time each callable `repeats` times, round-robin, so that every path sees the same
    background load. Returns per name ``{"samples": [s...], "cpu_ms": mean process CPU
    time per call (all threads, including TF's pools)}``."""
    for fn in fns.values():
        for _ in range(warmup):  # tracing, function instantiation, caches
            fn()
    out = {name: {"samples": [], "cpu": 0.0} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            t1, c1 = time.perf_counter(), time.process_time()
            out[name]["samples"].append(t1 - t0)
            out[name]["cpu"] += c1 - c0
    for r in out.values():
        r["cpu_ms"] = 1000 * r.pop("cpu") / repeats
    return out


def _inputs(model) -> list:
    if model.task.name == "captioning":
        from zoo.data import captioning

        return captioning.sample_images(model.config["data"], n=1)
    return model.task.example_inputs()[:1]


def load_average() -> str:
    """``"load average 1.23 / 2.34 / 3.45 (1/5/15 min) on N CPUs"`` (benchmarks are
    only comparable at similar load)."""
    if not hasattr(os, "getloadavg"):
        return f"load average unknown on {os.cpu_count()} CPUs"
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"
    )


def bench_serve(repeats: int = 100, batch: int = 32, print_table: bool = True) -> list[dict]:
    """Serving speed of each task's best preset, SavedModel vs the Keras path, in one run.

    For each task: single-request latency (p50, p99, min; ms) and mean process CPU time
    per request of the exported SavedModel's ``serving_default`` (loaded with plain
    ``tf.saved_model.load``) and of ``zoo.load(name).predict`` (the in-process Keras
    model, same raw input, same output), timed alternately so that both see the same
    background load; then throughput at batch `batch` (examples/s, median of
    alternating runs). For sentiment and NER also the TFLite interpreter alone (batch 1,
    ids in). Single-request p50 is compared with `SERVE_TARGETS_MS`. The load
    average is printed before and after: on a shared CPU, p50/p99 grow with it while
    ``min`` and ``cpu`` stay near the unloaded cost.
    """
    import tensorflow as tf

    import zoo
    from zoo.demo import best_models
    from zoo.export import TFLITE_TASKS, TFLiteModel

    before = load_average()
    if print_table:
        print(f"bench serve: {before}", flush=True)
    rows = []
    for task, name in best_models().items():
        model = zoo.load(name)
        one = _inputs(model)
        many = (one * batch)[:batch]
        with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
            path = Path(tmp) / name
            zoo.export(model, path)
            fn = tf.saved_model.load(str(path)).signatures["serving_default"]
            arg = next(iter(fn.structured_input_signature[1]))
            one_t, many_t = tf.constant(one), tf.constant(many)
            # Slow paths (captioning's beam search in predict) get fewer repeats.
            n = repeats if task in ("sentiment", "ner") else max(10, repeats // 4)
            single = _interleaved(
                {
                    "saved_model": lambda: fn(**{arg: one_t}),  # noqa: B023 - called at once
                    "keras": lambda: model.predict(one),  # noqa: B023 - called at once
                },
                n,
            )
            batched = _interleaved(
                {
                    "saved_model": lambda: fn(**{arg: many_t}),  # noqa: B023 - called at once
                    "keras": lambda: model.predict(many),  # noqa: B023 - called at once
                },
                max(3, n // 10),
                warmup=1,
            )
            tflite = None
            if task in TFLITE_TASKS:  # the interpreter alone, on the preprocessed ids
                zoo.export(model, Path(tmp) / "tflite", format="tflite")
                runner = TFLiteModel(Path(tmp) / "tflite")
                ((ids, _),) = runner.task.tflite_preprocess(runner.assets, one)
                tflite = _interleaved({"tflite": lambda: runner.run(ids)}, n)["tflite"]  # noqa: B023
        row = {"task": task, "model": name}
        if tflite is not None:
            row["tflite_p50_ms"], row["tflite_p99_ms"] = _percentiles(tflite["samples"])
            row["tflite_min_ms"] = 1000 * min(tflite["samples"])
        for path_name in ("saved_model", "keras"):
            s = single[path_name]["samples"]
            p50, p99 = _percentiles(s)
            row[f"{path_name}_p50_ms"] = p50
            row[f"{path_name}_p99_ms"] = p99
            row[f"{path_name}_min_ms"] = 1000 * min(s)
            row[f"{path_name}_cpu_ms"] = single[path_name]["cpu_ms"]
            row[f"{path_name}_batch_per_s"] = batch / float(
                np.median(batched[path_name]["samples"])
            )
        row["target_p50_ms"] = SERVE_TARGETS_MS[task]
        row["meets_target"] = row["saved_model_p50_ms"] <= SERVE_TARGETS_MS[task]
        row["single_requests"] = n
        rows.append(row)
    after = load_average()
    if print_table:
        print(
            f"{'':42s}{'--- SavedModel serving_default ---':>38s}  "
            f"{'---------- Keras predict ----------':>38s}"
        )
        head = f"{'p50':>6s} {'p99':>6s} {'min':>6s} {'cpu':>6s} {'b32/s':>7s}"
        print(f"{'task':12s} {'model':24s} {'target':>6s}  {head}   {head}")
        for r in rows:
            cells = []
            for p in ("saved_model", "keras"):
                cells.append(
                    f"{r[f'{p}_p50_ms']:6.2f} {r[f'{p}_p99_ms']:6.2f} {r[f'{p}_min_ms']:6.2f} "
                    f"{r[f'{p}_cpu_ms']:6.2f} {r[f'{p}_batch_per_s']:7.0f}"
                )
            verdict = "ok" if r["meets_target"] else "MISSED"
            print(
                f"{r['task']:12s} {r['model']:24s} {r['target_p50_ms']:6.0f}  "
                f"{cells[0]}   {cells[1]}  {verdict}"
            )
        for r in rows:
            if "tflite_p50_ms" in r:
                print(
                    f"{r['task']:12s} {r['model']:24s} TFLite interpreter, ids in (batch 1): "
                    f"p50 {r['tflite_p50_ms']:.2f}  p99 {r['tflite_p99_ms']:.2f}  "
                    f"min {r['tflite_min_ms']:.2f}"
                )
        print(
            "ms per single request (p50/p99/min; cpu = process CPU time per request, all "
            f"threads), b32/s = examples/s at batch {batch}; targets are SavedModel p50.\n"
            f"bench serve: {after}"
        )
    for r in rows:
        r["load_average_before"], r["load_average_after"] = before, after
    return rows

"""Benchmarks of the data pipelines and of serving (`python -m zoo bench data|serve`).

Timings are medians/percentiles over repeated runs in one process; they are reports,
never test assertions. The layer benchmark lives in `zoo.bench`.
"""

from __future__ import annotations

import importlib
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


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up (tracing, caches)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _inputs(model) -> list:
    if model.task.name == "captioning":
        from zoo.data import captioning

        return captioning.sample_images(model.config["data"], n=1)
    return model.task.example_inputs()[:1]


def bench_serve(repeats: int = 50, batch: int = 32, print_table: bool = True) -> list[dict]:
    """Single-request latency (p50/p99) and batch-32 throughput of each task's best preset:
    SavedModel ``serving_default`` vs the Keras path (`ZooModel.predict`), in one run."""
    import tensorflow as tf

    import zoo
    from zoo.demo import best_models

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
            sm_one = _time(lambda: fn(**{arg: one_t}), repeats)  # noqa: B023 - called at once
            sm_many = _time(lambda: fn(**{arg: many_t}), max(3, repeats // 10))  # noqa: B023 - called at once
        k_one = _time(lambda: model.predict(one), max(5, repeats // 5))  # noqa: B023 - called at once
        k_many = _time(lambda: model.predict(many), 3)  # noqa: B023 - called at once
        p50, p99 = _percentiles(sm_one)
        kp50, kp99 = _percentiles(k_one)
        rows.append(
            {
                "task": task,
                "model": name,
                "saved_model_p50_ms": p50,
                "saved_model_p99_ms": p99,
                "saved_model_batch_per_s": batch / float(np.median(sm_many)),
                "keras_p50_ms": kp50,
                "keras_p99_ms": kp99,
                "keras_batch_per_s": batch / float(np.median(k_many)),
                "target_p50_ms": SERVE_TARGETS_MS[task],
                "meets_target": p50 <= SERVE_TARGETS_MS[task],
            }
        )
    if print_table:
        print(
            f"{'task':12s} {'model':28s} {'SM p50':>8s} {'SM p99':>8s} {'SM b32/s':>9s} "
            f"{'Keras p50':>10s} {'Keras b32/s':>11s} {'target':>7s}"
        )
        for r in rows:
            print(
                f"{r['task']:12s} {r['model']:28s} {r['saved_model_p50_ms']:8.2f} "
                f"{r['saved_model_p99_ms']:8.2f} {r['saved_model_batch_per_s']:9.0f} "
                f"{r['keras_p50_ms']:10.2f} {r['keras_batch_per_s']:11.0f} "
                f"{r['target_p50_ms']:6.0f}{' ok' if r['meets_target'] else ' MISSED'}"
            )
    return rows

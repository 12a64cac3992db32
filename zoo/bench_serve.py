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


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


#: The columns of `bench_serve`, in print order: (key, heading).
PATHS = (
    ("keras", "Keras predict"),
    ("saved_model", "SavedModel"),
    ("tflite", "TFLite float"),
    ("tflite_int8", "TFLite int8"),
    ("onnx", "ONNX Runtime"),
)


def _serving_paths(model, tmp: Path, one: list) -> tuple[dict, dict, dict]:
    """``(predict callables, file sizes, notes)`` per path: raw input in, ``predict``'s
    answer out for every path (the exports through `zoo.load_exported`); a path whose
    export fails gets a note ("n/a: reason") instead."""
    import zoo

    paths, sizes, notes = {}, {}, {}
    from zoo.registry import preset_dir

    paths["keras"] = model.predict
    preset = preset_dir(model.config["name"])
    sizes["keras"] = _size(preset / "model.weights.h5") if preset else None
    exports = {
        "saved_model": {"format": "saved_model"},
        "tflite": {"format": "tflite"},
        "tflite_int8": {"format": "tflite", "quantize": "int8"},
        "onnx": {"format": "onnx"},
    }
    for key, kwargs in exports.items():
        try:
            path = zoo.export(model, tmp / key, **kwargs)
            loaded = zoo.load_exported(path)
            loaded.predict(one)  # a path that cannot answer is reported, not timed
        except Exception as e:  # noqa: BLE001 - reported in the table, the others go on
            notes[key] = f"n/a: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            continue
        paths[key] = loaded.predict
        sizes[key] = (
            _size(path)
            if key == "saved_model"
            else sum(_size(path / f["file"]) for f in loaded.metadata["functions"].values())
        )
        if key == "tflite_int8":
            q = loaded.metadata["quantization"]
            notes[key] = (
                f"{q['mode']}: {q['metric']} float {q['float']:.2f} / int8 {q['int8']:.2f} "
                f"(drop {q['drop']:.2f}) on {q['subset']['examples']} {q['subset']['split']} "
                "examples"
            )
    return paths, sizes, notes


def bench_serve(repeats: int = 100, batch: int = 32, print_table: bool = True) -> list[dict]:
    """Serving speed of each task's best preset in every deployment format, in one run.

    For each task and path (Keras ``zoo.load(name).predict``; the exported SavedModel,
    TFLite float, TFLite int8 and ONNX Runtime, each through ``zoo.load_exported(dir)
    .predict``: raw input in, the same answer out): single-request latency (p50, p99,
    min; ms), timed round-robin so that every path sees the same background load; then
    throughput at batch `batch` (examples/s; TFLite and ONNX exports have a batch of
    one, so their client loops over the examples); and the size of the model files
    (Keras: the weights; SavedModel: the directory; TFLite/ONNX: the model files, not
    the JSON assets). Single-request SavedModel p50 is compared with `SERVE_TARGETS_MS`.
    A path that cannot be exported for a task (e.g. a task whose portable functions are
    not written yet) prints "n/a" with the reason. The load average is printed before
    and after: on a shared CPU, p50/p99 grow with it while ``min`` stays near the
    unloaded cost.
    """
    import zoo
    from zoo.demo import best_models

    before = load_average()
    if print_table:
        print(f"bench serve: {before}", flush=True)
    rows = []
    for task, name in best_models().items():
        model = zoo.load(name)
        one = _inputs(model)
        many = (one * batch)[:batch]
        # Slow paths (captioning's beam search in predict) get fewer repeats.
        n = repeats if task in ("sentiment", "ner") else max(10, repeats // 4)
        with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
            paths, sizes, notes = _serving_paths(model, Path(tmp), one)
            single = _interleaved({k: (lambda f=f, x=one: f(x)) for k, f in paths.items()}, n)
            batched = _interleaved(
                {k: (lambda f=f, x=many: f(x)) for k, f in paths.items()},
                max(3, n // 10),
                warmup=1,
            )
        row = {"task": task, "model": name, "single_requests": n, "notes": notes}
        for key, _ in PATHS:
            if key not in paths:
                continue
            s = single[key]["samples"]
            p50, p99 = _percentiles(s)
            row[f"{key}_p50_ms"], row[f"{key}_p99_ms"] = p50, p99
            row[f"{key}_min_ms"] = 1000 * min(s)
            row[f"{key}_cpu_ms"] = single[key]["cpu_ms"]
            row[f"{key}_batch_per_s"] = batch / float(np.median(batched[key]["samples"]))
            row[f"{key}_bytes"] = sizes.get(key)
        row["target_p50_ms"] = SERVE_TARGETS_MS[task]
        row["meets_target"] = row["saved_model_p50_ms"] <= SERVE_TARGETS_MS[task]
        rows.append(row)
        if print_table:
            _print_serve([row])
    after = load_average()
    if print_table:
        print(
            "\nms per single request (raw input in, readable answer out), b32/s = examples/s "
            f"at batch {batch} (TFLite/ONNX: a loop of batch-1 calls); size = model files.\n"
            f"bench serve: {after}"
        )
    for r in rows:
        r["load_average_before"], r["load_average_after"] = before, after
    return rows


def _print_serve(rows: list[dict]) -> None:
    head = f"{'path':14s} {'p50':>7s} {'p99':>7s} {'min':>7s} {'b32/s':>7s} {'size MB':>8s}"
    for r in rows:
        print(f"\n{r['task']} ({r['model']}); SavedModel p50 target {r['target_p50_ms']:.0f} ms")
        print(f"  {head}")
        for key, label in PATHS:
            if f"{key}_p50_ms" not in r:
                print(f"  {label:14s} {r['notes'].get(key, 'n/a')}")
                continue
            size = r[f"{key}_bytes"]
            shown = f"{size / 1e6:8.1f}" if size else f"{'?':>8s}"
            print(
                f"  {label:14s} {r[f'{key}_p50_ms']:7.2f} {r[f'{key}_p99_ms']:7.2f} "
                f"{r[f'{key}_min_ms']:7.2f} {r[f'{key}_batch_per_s']:7.0f} {shown}"
                + (f"  {r['notes'][key]}" if key in r["notes"] else ""),
                flush=True,
            )

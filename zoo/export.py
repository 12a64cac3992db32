"""Export for deployment: SavedModel (raw input in the graph), TFLite and ONNX.

`export(name_or_model, directory, format=...)` writes:

* ``"saved_model"``: a SavedModel whose ``serving_default`` signature takes raw input
  (strings, or encoded image bytes for captioning; a scalar or a batch) and returns
  readable output; preprocessing and decoding are inside the graph, so it loads with
  plain ``tf.saved_model.load`` in a process that never imports `zoo`, and works with
  ``saved_model_cli``. Each task provides its signatures (`Runtime.serving_functions`;
  unidirectional sentiment models add the streaming ``initial_state`` / ``step``).
  ``assets.extra/export.json`` names the task and model.
* ``"tflite"`` / ``"onnx"``: the task's numeric functions (`Runtime.portable_functions`:
  ids in, scores/tag ids/tokens out, batch of one), one ``<fn>.tflite`` (builtin ops
  only, no Flex) or ``<fn>.onnx`` (tf2onnx, checked with onnxruntime) each, beside
  ``assets/*.json`` (vocabularies, label/tag names, a captioning preset's
  calibration: every preset asset), ``config.json`` and
  ``export.json`` (task, functions with their inputs/outputs, quantization). Strings
  stay outside: the stock TFLite interpreter has no string ops and ONNX Runtime's are
  not TensorFlow's; the task's client (``zoo/tasks/<task>/client.py``) tokenizes and
  decodes, and `zoo.load_exported` runs any export on raw input like ``predict``.
* ``quantize="int8"`` (TFLite): full-integer (calibrated on validation inputs) when it
  converts and loses at most `INT8_MAX_DROP` points of the task's metric on the
  evaluation subset, else dynamic-range; ``export.json`` records which, why, and the
  float and int8 metrics.

Every export is atomic (a temporary sibling directory renamed into place; an existing
target is kept unless `overwrite`) and checked to contain no cuDNN-only ops
(``CudnnRNN*``), which would fail on CPU-only servers (our layers never emit them).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import types
import warnings
from pathlib import Path

import tensorflow as tf

from zoo import _quiet
from zoo._io import atomic_dir
from zoo.exported import EXPORT_FORMATS, client_class, load_exported, read_metadata
from zoo.exported import tflite_interpreter as _interpreter

#: Ops that exist only on CUDA devices; a serving graph must never contain them.
GPU_ONLY_OPS = frozenset(
    {
        "CudnnRNN",
        "CudnnRNNV2",
        "CudnnRNNV3",
        "CudnnRNNBackprop",
        "CudnnRNNBackpropV2",
        "CudnnRNNBackpropV3",
        "CudnnRNNCanonicalToParams",
        "CudnnRNNParamsToCanonical",
    }
)


class ExportError(RuntimeError):
    """The model could not be exported (e.g. its graph holds GPU-only ops)."""


def graph_op_types(concrete_function) -> set[str]:
    """All op types in a concrete function's graph, including nested function bodies."""
    graph = concrete_function.graph
    ops = {op.type for op in graph.get_operations()}
    for fdef in graph.as_graph_def().library.function:
        ops.update(node.op for node in fdef.node_def)
    return ops


def _resolve(model_or_name):
    from zoo import registry

    if isinstance(model_or_name, registry.ZooModel):
        return model_or_name
    if isinstance(model_or_name, (str, os.PathLike)):
        return registry.load(model_or_name)
    raise TypeError(
        "Received an invalid value for argument 'model', expected a model name, a preset "
        f"directory or a zoo.registry.ZooModel, got {type(model_or_name).__name__}."
    )


def _resources(root) -> list:
    """Lookup tables and other `TrackableResource`s reachable from `root`'s checkpoint
    dependencies (a task's `Runtime` owns its serving tables)."""
    from tensorflow.saved_model.experimental import TrackableResource

    return [
        t for t in tf.train.TrackableView(root).descendants() if isinstance(t, TrackableResource)
    ]


def serving_module(zoo_model) -> tuple[tf.Module, dict]:
    """A `tf.Module` owning exactly what the serving functions capture, plus the
    concrete serving functions (signature name -> concrete function).

    The module tracks the functions' `tf.Variable`s themselves (``concrete.variables``)
    and the lookup tables, *not* the Keras model. Why: a Keras 3 variable exports itself
    as a new ``tf.Variable`` copy (``KerasVariable._export_to_saved_model_graph``), and
    the SavedModel's saver (``saver_def``, what TF1 ``loader.load`` and so
    ``saved_model_cli run`` restore through) restores those copies, while the graph reads
    the handles of the wrapped ``tf.Variable``s: they stayed uninitialized ("Could not
    find variable embedding/delta"). Tracking the wrapped variables directly (as
    ``keras.export.ExportArchive`` does with ``_all_variables``) makes the saver restore
    the very handles the signatures read, each weight stored once (tracking the Keras
    model as well would store every weight twice). Table initializers run from the
    ``__saved_model_init_op`` in both loaders.
    """
    runtime = zoo_model.runtime
    functions = runtime.serving_functions()
    if "serving_default" not in functions:
        raise ExportError(f"Task {zoo_model.task.name!r} gave no 'serving_default' function.")
    module = tf.Module(name=f"{zoo_model.task.name}_serving")
    signatures, variables, seen = {}, [], set()
    for name, fn in functions.items():
        setattr(module, name, fn)
        concrete = fn.get_concrete_function() if hasattr(fn, "get_concrete_function") else fn
        bad = graph_op_types(concrete) & GPU_ONLY_OPS
        if bad:
            raise ExportError(
                f"The '{name}' signature contains GPU-only ops {sorted(bad)}; it would fail on "
                "CPU-only servers. Build the model from zoo.layers (no cuDNN kernels)."
            )
        signatures[name] = concrete
        for v in concrete.variables:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    module.captured_variables = variables
    module.tables = _resources(runtime)
    return module, signatures


@contextlib.contextmanager
def _converter_quiet():
    """The converters' own chatter (MLIR's "fully_quantize: ..." on file descriptor 2,
    the interpreter banner, tf2onnx's INFO logs, the table_initializer warning) stays
    out of the terminal; errors still raise. ``ZOO_VERBOSE=1`` shows it all."""
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow")]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings(), _quiet.stderr_silenced():
            if not _quiet.verbose():
                warnings.simplefilter("ignore")
                for lg in loggers:
                    lg.setLevel(logging.ERROR)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def portable_functions(zoo_model) -> dict:
    """The runtime's numeric functions (`Runtime.portable_functions`), checked: at least
    one, each with a full ``input_signature`` and no GPU-only ops."""
    task = zoo_model.task
    functions = zoo_model.runtime.portable_functions()
    if not functions:
        raise ExportError(
            f"The task {task.name!r} has no portable functions yet, so it exports only with "
            "format='saved_model'."
        )
    for name, fn in functions.items():
        if not getattr(fn, "input_signature", None):
            raise ExportError(
                f"The portable function {name!r} of {task.name!r} has no input_signature."
            )
        bad = graph_op_types(fn.get_concrete_function()) & GPU_ONLY_OPS
        if bad:
            raise ExportError(
                f"The portable function {name!r} contains GPU-only ops {sorted(bad)}."
            )
    return functions


def tflite_flatbuffer(fn, mode: str = "none", calibration: list | None = None) -> bytes:
    """One portable function converted to a TFLite flatbuffer with builtin ops only.

    `mode`: ``"none"`` (float32), ``"int8-full"`` (weights and activations int8,
    `TFLITE_BUILTINS_INT8`, ranges from the `calibration` input dicts; the int32 id
    inputs and float outputs keep their types) or ``"int8-dynamic"`` (dynamic-range:
    int8 weights, activations quantized on the fly, no calibration).

    Variables become constants (the stock interpreter has no resource variables) and
    no Flex/Select ops are allowed: raw-string processing stays in the task's client.
    """
    concrete = fn.get_concrete_function()
    # With a trackable owner the converter takes its SavedModel path: it freezes the
    # variables itself and writes the named 'serving_default' signature (inputs and
    # outputs by name). Freezing first (convert_variables_to_constants_v2) would lose
    # the names: the frozen graph cannot be saved (custom-gradient captures).
    owner = tf.Module()
    owner.serve = fn
    owner.captured_variables = list(concrete.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], owner)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8-full":
        samples = list(calibration or [])
        if not samples:
            raise ExportError("Full-integer quantization needs calibration inputs; got none.")
        converter.representative_dataset = lambda: iter(samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with _converter_quiet():
        flatbuffer = converter.convert()
    # The converter silently falls back to an unnamed path when it cannot save `owner`.
    runner = _interpreter(model_content=flatbuffer).get_signature_list()
    if "serving_default" not in runner:
        raise ExportError(
            f"The TFLite model lost its 'serving_default' signature (got {sorted(runner)})."
        )
    return flatbuffer


#: ONNX opset of the exports (onnxruntime >= 1.14 runs it).
ONNX_OPSET = 17


def onnx_model(fn) -> bytes:
    """One portable function converted by tf2onnx (`from_function`), checked by creating
    an onnxruntime session. The recurrent loops become ONNX ``Loop`` nodes (the portable
    functions are traced with one step per while iteration, which tf2onnx converts)."""
    import onnxruntime as ort
    import tf2onnx

    with _converter_quiet():
        proto, _ = tf2onnx.convert.from_function(
            fn, input_signature=fn.input_signature, opset=ONNX_OPSET
        )
    data = proto.SerializeToString()
    try:
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - re-raised as an export error, with the cause
        raise ExportError(f"tf2onnx produced a model onnxruntime cannot load: {e}") from e
    return data


def _signature_json(fn) -> dict:
    concrete = fn.get_concrete_function()
    inputs = {spec.name: [spec.dtype.name, spec.shape.as_list()] for spec in fn.input_signature}
    outputs = {
        key: [t.dtype.name, t.shape.as_list()] for key, t in concrete.structured_outputs.items()
    }
    return {"inputs": inputs, "outputs": outputs}


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")


def _metadata(zoo_model, format: str, **extra) -> dict:
    from zoo import __version__

    return {
        "task": zoo_model.task.name,
        "model": zoo_model.config.get("name"),
        "format": format,
        **extra,
        "zoo_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _write_portable(zoo_model, directory: Path, files: dict[str, bytes], meta: dict) -> None:
    """``<fn>.tflite`` / ``<fn>.onnx`` + ``assets/<key>.json`` + ``config.json`` +
    ``export.json``."""
    for filename, data in files.items():
        (directory / filename).write_bytes(data)
    (directory / "assets").mkdir()
    for key, value in zoo_model.assets.items():
        (directory / "assets" / f"{key}.json").write_text(
            json.dumps(value, ensure_ascii=False), encoding="utf-8"
        )
    _write_json(directory / "config.json", zoo_model.config)
    _write_json(directory / "export.json", meta)


#: The largest metric drop (points) accepted from full-integer quantization before
#: falling back to dynamic-range (the issue's target).
INT8_MAX_DROP = 1.0
#: Calibration inputs per function for full-integer quantization.
CALIBRATION_SIZE = 100


def _score_tflite(zoo_model, flatbuffers: dict[str, bytes], examples) -> float:
    """The task's primary metric of the task client over `flatbuffers` on `examples`."""
    runners = {
        name: _interpreter(model_content=fb).get_signature_runner("serving_default")
        for name, fb in flatbuffers.items()
    }
    client = client_class(zoo_model.task.name)(
        lambda name, inputs: runners[name](**inputs), zoo_model.assets, zoo_model.config
    )
    inputs, references = examples
    scores = zoo_model.task.score(client.predict(inputs), references)
    return float(scores[zoo_model.task.primary_metric])


def _quantized_tflite(zoo_model, functions, limit: int | None = None) -> tuple[dict, dict]:
    """int8 flatbuffers and the ``quantization`` record: full-integer if it converts and
    its metric drop on the evaluation subset is at most `INT8_MAX_DROP`, else
    dynamic-range (the record says which and why, with float and int8 metrics)."""
    task = zoo_model.task
    limit = limit or task.eval_subset_size
    split = "test"
    examples = task.eval_examples(zoo_model.config["data"], split=split, limit=limit)
    floats = {name: tflite_flatbuffer(fn) for name, fn in functions.items()}
    float_metric = _score_tflite(zoo_model, floats, examples)
    calibration = zoo_model.runtime.calibration_inputs(CALIBRATION_SIZE)
    record = {
        "metric": task.primary_metric,
        "subset": {
            "split": split,
            "examples": len(examples[0]),
            "runtime": "TFLite via the task client",
        },
        "calibration": {
            "split": "validation",
            "examples": min(len(v) for v in calibration.values()),
        },
        "float": round(float_metric, 4),
    }
    tried = []
    try:
        full = {
            name: tflite_flatbuffer(fn, "int8-full", calibration[name])
            for name, fn in functions.items()
        }
        metric = _score_tflite(zoo_model, full, examples)
    except Exception as e:  # noqa: BLE001 - recorded; dynamic-range is the fallback
        reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        tried.append(f"int8-full failed to convert or run ({type(e).__name__}: {reason})")
    else:
        drop = float_metric - metric
        if drop <= INT8_MAX_DROP:
            why = (
                f"full-integer converted (TFLITE_BUILTINS_INT8) and its {task.primary_metric} "
                f"drop {drop:.2f} <= {INT8_MAX_DROP} point"
            )
            return full, {
                "mode": "int8-full",
                "why": why,
                **record,
                "int8": round(metric, 4),
                "drop": round(drop, 4),
            }
        tried.append(
            f"int8-full converted but dropped {task.primary_metric} by {drop:.2f} "
            f"(> {INT8_MAX_DROP} point)"
        )
    dynamic = {name: tflite_flatbuffer(fn, "int8-dynamic") for name, fn in functions.items()}
    metric = _score_tflite(zoo_model, dynamic, examples)
    why = "; ".join(tried) + "; dynamic-range (int8 weights, float activations) instead"
    return dynamic, {
        "mode": "int8-dynamic",
        "why": why,
        **record,
        "int8": round(metric, 4),
        "drop": round(float_metric - metric, 4),
    }


def _portable_export(zoo_model, format: str, quantize: str | None, eval_limit: int | None):
    """(files, export.json) of a TFLite or ONNX export."""
    functions = portable_functions(zoo_model)
    if format == "onnx":
        files = {f"{name}.onnx": onnx_model(fn) for name, fn in functions.items()}
        quantization = {"mode": "none", "why": "float32 (quantize=None)"}
    elif quantize == "int8":
        flatbuffers, quantization = _quantized_tflite(zoo_model, functions, eval_limit)
        files = {f"{name}.tflite": fb for name, fb in flatbuffers.items()}
    else:
        files = {f"{name}.tflite": tflite_flatbuffer(fn) for name, fn in functions.items()}
        quantization = {"mode": "none", "why": "float32 (quantize=None)"}
    meta = _metadata(
        zoo_model,
        format,
        functions={
            name: {"file": f"{name}.{format}", **_signature_json(fn)}
            for name, fn in functions.items()
        },
        quantization=quantization,
    )
    return files, meta


class TFLiteModel:
    """Kept for older code: ``TFLiteModel(directory)`` is ``zoo.load_exported(directory)``
    for a TFLite export (``predict(texts)`` like ``zoo.load(name).predict``)."""

    def __new__(cls, directory: str | os.PathLike):
        model = load_exported(directory)
        if model.format != "tflite":
            raise ExportError(f"'{directory}' is a {model.format} export, not a TFLite one.")
        return model


FORMATS = EXPORT_FORMATS
QUANTIZE = (None, "int8")


def export(
    model,
    directory: str | os.PathLike,
    *,
    format: str = "saved_model",
    quantize: str | None = None,
    overwrite: bool = False,
    eval_limit: int | None = None,
) -> Path:
    """Export a zoo model for serving.

    Args:
        model: a registered name, a preset directory, or a `ZooModel` from `zoo.load`.
        directory: the output directory (created; must not exist unless `overwrite`).
        format: ``"saved_model"`` (default; raw input in, readable output out, all in
            the graph), ``"tflite"`` or ``"onnx"`` (the task's numeric functions, one
            file each, beside ``assets/*.json``; `zoo.load_exported` adds the text side).
        quantize: None, or ``"int8"`` (TFLite only): full-integer where it converts
            and loses at most `INT8_MAX_DROP` points, else dynamic-range; the metric of
            float and int8 on the evaluation subset is measured and written into
            ``export.json``.
        overwrite: replace an existing `directory` (only once the new export is complete).
        eval_limit: examples of the int8 measurement (default: `Task.eval_subset_size`).

    Returns:
        The path of the written directory.

    Raises:
        FileExistsError: `directory` exists and `overwrite` is False (nothing is written).
        ExportError: the graph contains GPU-only ops, or the task cannot be exported.
    """
    if format not in FORMATS:
        raise ValueError(
            f"Received an invalid value for argument 'format', expected one of {list(FORMATS)}, "
            f"got {format!r}."
        )
    if quantize not in QUANTIZE:
        raise ValueError(
            f"Received an invalid value for argument 'quantize', expected one of "
            f"{list(QUANTIZE)}, got {quantize!r}."
        )
    if quantize is not None and format != "tflite":
        raise ValueError(
            f"Received an invalid value for argument 'quantize': {quantize!r} is available "
            f"with format='tflite' only, got format={format!r}."
        )
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(
            f"Refusing to overwrite existing path '{directory}'. Pass overwrite=True "
            "(or --overwrite on the command line) to replace it."
        )
    zoo_model = _resolve(model)
    # Traced/converted before anything is written.
    if format == "saved_model":
        module, signatures = serving_module(zoo_model)
        meta = _metadata(zoo_model, format, signatures=sorted(signatures))
    else:
        files, meta = _portable_export(zoo_model, format, quantize, eval_limit)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        if format == "saved_model":
            tf.saved_model.save(module, str(tmp), signatures=signatures)
            # assets.extra/ is the SavedModel's place for files TensorFlow ignores.
            (tmp / "assets.extra").mkdir(exist_ok=True)
            _write_json(tmp / "assets.extra" / "export.json", meta)
        else:
            _write_portable(zoo_model, tmp, files, meta)
    return directory


def describe(directory: str | os.PathLike, example: str | None = None) -> dict:
    """What an export offers: ``{"format", "signatures": {name: {"inputs": {key: spec},
    "outputs": [keys]}}, "snippet"}``; the snippet calls it from plain TensorFlow on
    `example` (a Python literal of one raw input; a placeholder when None)."""
    directory = Path(directory)
    if (directory / "saved_model.pb").is_file():
        loaded = tf.saved_model.load(str(directory))
        signatures = {}
        for name, fn in loaded.signatures.items():
            inputs = {
                k: f"{v.dtype.name}{list(v.shape) if v.shape.rank is not None else '[scalar or batch]'}"
                for k, v in fn.structured_input_signature[1].items()
            }
            signatures[name] = {"inputs": inputs, "outputs": sorted(fn.structured_outputs)}
        key = next(iter(signatures["serving_default"]["inputs"]))
        if key == "images":
            example = "open('image.png', 'rb').read()"
        example = f"[{example or repr('...')}]"
        snippet = (
            "  import tensorflow as tf\n"
            f"  serve = tf.saved_model.load({str(directory)!r}).signatures['serving_default']\n"
            f"  print(serve({key}=tf.constant({example})))"
        )
        return {"format": "saved_model", "signatures": signatures, "snippet": snippet}
    meta = read_metadata(directory)
    signatures = {
        name: {
            "inputs": {k: f"{dtype}{shape}" for k, (dtype, shape) in spec["inputs"].items()},
            "outputs": list(spec["outputs"]),
        }
        for name, spec in meta["functions"].items()
    }
    snippet = (
        "  import zoo\n"
        f"  model = zoo.load_exported({str(directory)!r})\n"
        f"  print(model.predict([{example or repr('...')}]))"
    )
    return {
        "format": meta["format"],
        "signatures": signatures,
        "quantization": meta["quantization"],
        "snippet": snippet,
    }


class _CallableModule(types.ModuleType):
    """`zoo.export` is both this module and the function: importing the submodule sets
    the attribute ``zoo.export`` to the module, so the module forwards calls to `export`."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

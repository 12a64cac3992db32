"""Export for deployment: SavedModels (and TFLite) whose signatures take raw input.

`export(name_or_model, directory)` writes a SavedModel whose ``serving_default``
signature takes raw input (strings, or encoded image bytes for captioning) and
returns readable output; preprocessing and decoding are inside the graph, so the
result loads with plain ``tf.saved_model.load`` in a process that never imports
`zoo`, and works with ``saved_model_cli``. Each task provides its signatures
(`Task.serving_functions`); this module only packages them:

* atomically: everything is written to a temporary sibling directory that is
  renamed into place at the end; an existing target is kept unless `overwrite`;
* portably: the graph is checked to contain no cuDNN-only ops (``CudnnRNN*``),
  which would fail on CPU-only servers (our layers never emit them);
* TFLite (sentiment and NER): ``format="tflite"`` writes ``<directory>/model.tflite``,
  the numeric model (token ids in; probabilities, or Viterbi-decoded tag ids and
  emissions, out) for a batch of one with TFLite builtin ops only, beside
  ``assets/*.json`` (vocabularies, label/tag names) and ``tflite_signature.json``
  (inputs, preprocessing, outputs). String preprocessing stays outside the flatbuffer:
  the stock TFLite/LiteRT interpreter has no string ops (they would need Flex/Select
  ops). `TFLiteModel` runs the export on raw strings like ``zoo.load(name).predict``.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import tensorflow as tf

from zoo._io import atomic_dir

FORMATS = ("saved_model", "tflite")
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


#: Tasks whose models convert to TFLite builtins (their Task has the `tflite_*` methods).
TFLITE_TASKS = ("sentiment", "ner")


def _interpreter(**kwargs):
    """`tf.lite.Interpreter` without its deprecation banner (LiteRT's `ai_edge_litert`
    interpreter is the same runtime; it is not a dependency here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return tf.lite.Interpreter(**kwargs)


def tflite_flatbuffer(zoo_model) -> bytes:
    """The task's numeric model (`Runtime.tflite_function`: ids in, scores/tags out, batch of
    one) converted to a TFLite flatbuffer with builtin ops only.

    Variables become constants (the stock interpreter has no resource variables) and
    no Flex/Select ops are allowed: raw-string preprocessing stays outside (see
    `Task.tflite_preprocess` and ``tflite_signature.json``).
    """
    task = zoo_model.task
    if not hasattr(zoo_model.runtime, "tflite_function"):
        raise ExportError(
            f"TFLite export is available for the tasks {list(TFLITE_TASKS)}, not "
            f"{task.name!r}. Use format='saved_model'."
        )
    fn = zoo_model.runtime.tflite_function()
    concrete = fn.get_concrete_function()
    bad = graph_op_types(concrete) & GPU_ONLY_OPS
    if bad:
        raise ExportError(f"The TFLite function contains GPU-only ops {sorted(bad)}.")
    # With a trackable owner the converter takes its SavedModel path: it freezes the
    # variables itself and writes the named 'serving_default' signature (inputs and
    # outputs by name). Freezing first (convert_variables_to_constants_v2) would lose
    # the names: the frozen graph cannot be saved (custom-gradient captures).
    owner = tf.Module()
    owner.serve = fn
    owner.captured_variables = list(concrete.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], owner)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    # The converter silently falls back to an unnamed path when it cannot save `owner`.
    runner = _interpreter(model_content=flatbuffer).get_signature_list()
    if "serving_default" not in runner:
        raise ExportError(
            f"The TFLite model of {task.name!r} lost its 'serving_default' signature "
            f"(got {sorted(runner)})."
        )
    return flatbuffer


def _write_tflite(zoo_model, flatbuffer: bytes, directory: Path) -> None:
    """``model.tflite`` + ``assets/<key>.json`` (vocabularies, label/tag names) +
    ``tflite_signature.json`` (inputs, preprocessing, outputs) + ``config.json``."""
    (directory / "model.tflite").write_bytes(flatbuffer)
    (directory / "assets").mkdir()
    for key, value in zoo_model.assets.items():
        (directory / "assets" / f"{key}.json").write_text(
            json.dumps(value, ensure_ascii=False), encoding="utf-8"
        )
    task = zoo_model.task
    signature = {
        "task": task.name,
        "model": zoo_model.config.get("name"),
        "format": "TFLite flatbuffer, builtin ops only; signature 'serving_default'",
        "batch_size": 1,
        **task.tflite_signature(zoo_model.assets),
    }
    (directory / "tflite_signature.json").write_text(
        json.dumps(signature, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (directory / "config.json").write_text(json.dumps(zoo_model.config, indent=2))


class TFLiteModel:
    """Runs an exported ``model.tflite`` on raw input with the JSON files beside it.

    ``TFLiteModel(directory).predict(texts)`` gives what ``zoo.load(name).predict(texts)``
    gives (sentiment: ``[{"label", "probability"}]``; NER: ``[{"tokens", "tags",
    "entities"}]``), computed by the stock TFLite interpreter, one string at a time
    (the model's batch is 1). The vocabularies and names come from the exported
    ``assets/*.json`` (not from the preset); the text preprocessing is the task's own
    (`Task.tflite_preprocess`, the same TensorFlow string ops as the SavedModel).
    """

    def __init__(self, directory: str | os.PathLike):
        from zoo.tasks import get_task

        directory = Path(directory)
        self.signature = json.loads((directory / "tflite_signature.json").read_text("utf-8"))
        self.assets = {
            p.stem: json.loads(p.read_text("utf-8")) for p in (directory / "assets").glob("*.json")
        }
        self.task = get_task(self.signature["task"])
        self.interpreter = _interpreter(model_path=str(directory / "model.tflite"))
        self._run = self.interpreter.get_signature_runner("serving_default")

    def run(self, inputs: dict) -> dict:
        """One example's numeric inputs (``[1, ...]`` arrays) -> the model's outputs."""
        return self._run(**inputs)

    def predict(self, inputs: list) -> list:
        """Raw strings -> one readable result per string (see the class docstring)."""
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)):
            raise TypeError(
                "Received an invalid value for argument 'inputs', expected a list of str, "
                f"got {type(inputs).__name__}."
            )
        return [
            self.task.tflite_postprocess(self.assets, self.run(x), context)
            for x, context in self.task.tflite_preprocess(self.assets, list(inputs))
        ]


def export(
    model,
    directory: str | os.PathLike,
    *,
    format: str = "saved_model",
    overwrite: bool = False,
) -> Path:
    """Export a zoo model for serving.

    Args:
        model: a registered name, a preset directory, or a `ZooModel` from `zoo.load`.
        directory: the output directory (created; must not exist unless `overwrite`).
        format: ``"saved_model"`` (default) or ``"tflite"``.
        overwrite: replace an existing `directory` (only once the new export is complete).

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
    else:
        flatbuffer = tflite_flatbuffer(zoo_model)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        if format == "saved_model":
            tf.saved_model.save(module, str(tmp), signatures=signatures)
        else:
            _write_tflite(zoo_model, flatbuffer, tmp)
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
                k: f"{v.dtype.name}{list(v.shape)}"
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
    model = next(directory.glob("*.tflite"), None)
    if model is None:
        raise ExportError(f"'{directory}' holds neither a SavedModel nor a .tflite file.")
    runner = _interpreter(model_path=str(model))
    signatures = {
        name: {"inputs": {k: "tensor" for k in spec["inputs"]}, "outputs": list(spec["outputs"])}
        for name, spec in runner.get_signature_list().items()
    }
    snippet = (
        "  from zoo.export import TFLiteModel\n"
        f"  model = TFLiteModel({str(directory)!r})\n"
        "  print(model.predict([...]))  # raw inputs, as zoo.load(...).predict takes them"
    )
    return {"format": "tflite", "signatures": signatures, "snippet": snippet}


class _CallableModule(types.ModuleType):
    """`zoo.export` is both this module and the function: importing the submodule sets
    the attribute ``zoo.export`` to the module, so the module forwards calls to `export`."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

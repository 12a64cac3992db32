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
* TFLite: ``format="tflite"`` writes ``<directory>/model.tflite``, the numeric model
  (token ids in, scores out) with TFLite builtin ops only, beside ``assets/`` (the
  vocabularies and label/tag names to tokenize and decode on device). Raw-string
  preprocessing would need TF "select" ops, which the stock TFLite/LiteRT interpreters
  do not run, so it stays in the SavedModel.
"""

from __future__ import annotations

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
    dependencies (the tasks hang their serving tables on the Keras model)."""
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
    the very handles the signatures read, and stores each weight once (the Keras model
    on top stored every weight twice). Table initializers run from the
    ``__saved_model_init_op`` in both loaders.
    """
    functions = zoo_model.task.serving_functions(zoo_model.model, zoo_model.assets)
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
    module.tables = _resources(zoo_model.model)
    return module, signatures


def core_function(keras_model):
    """The Keras model as a concrete function on its own (numeric) inputs."""
    inputs = getattr(keras_model, "inputs", None)
    if not inputs:
        raise ExportError(
            f"TFLite export needs a functional Keras model with declared inputs; "
            f"{type(keras_model).__name__} has none. Use format='saved_model'."
        )
    specs = [tf.TensorSpec(x.shape, x.dtype, name=x.name.split(":")[0]) for x in inputs]

    @tf.function(input_signature=specs, autograph=False)
    def core(*xs):
        out = keras_model(list(xs) if len(xs) > 1 else xs[0], training=False)
        return out if isinstance(out, dict) else {"output": out}

    return core.get_concrete_function()


def _write_tflite(zoo_model, directory: Path) -> None:
    """TFLite of the numeric model (ids in, scores out) with TFLite builtin ops only, plus the
    assets (vocabularies, label/tag names) an on-device app needs to tokenize and decode.
    String preprocessing stays in the SavedModel: TFLite's builtins have no string ops."""
    import json

    concrete = core_function(zoo_model.model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], zoo_model.model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = False
    (directory / "model.tflite").write_bytes(converter.convert())
    (directory / "assets").mkdir()
    for key, value in zoo_model.assets.items():
        (directory / "assets" / f"{key}.json").write_text(json.dumps(value, ensure_ascii=False))
    (directory / "config.json").write_text(json.dumps(zoo_model.config, indent=2))


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
    if format == "saved_model":
        module, signatures = serving_module(zoo_model)  # traced before anything is written
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        if format == "saved_model":
            tf.saved_model.save(module, str(tmp), signatures=signatures)
        else:
            _write_tflite(zoo_model, tmp)
    return directory


class _CallableModule(types.ModuleType):
    """`zoo.export` is both this module and the function: importing the submodule sets
    the attribute ``zoo.export`` to the module, so the module forwards calls to `export`."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

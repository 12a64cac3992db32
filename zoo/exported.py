"""Run any export of `zoo.export` on raw input: ``zoo.load_exported(directory).predict``.

The directory's ``export.json`` (``assets.extra/export.json`` in a SavedModel) names
the task and the format:

* ``saved_model``: ``serving_default`` on the raw input (plain TensorFlow), its outputs
  turned into ``predict``'s list by the task client module's ``from_serving``;
* ``tflite``: one stock TFLite interpreter per ``<fn>.tflite`` (signature
  ``serving_default``), driven by the task client (``zoo/tasks/<task>/client.py``);
* ``onnx``: one ``onnxruntime.InferenceSession`` per ``<fn>.onnx``, same client.

The answers are ``zoo.load(name).predict``'s (float formats: same labels, tags and
texts; int8: within the drop measured at export, see ``export.json``). A calibrated
captioning export also answers ``predict(images, with_confidence=True)`` like the
preset: the SavedModel from its ``confidence`` / ``confident`` outputs, TFLite and ONNX
in `zoo.tasks.captioning.client.CaptioningClient` from ``assets/calibration.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo import _quiet
from zoo import config as zoo_config

__all__ = [
    "ExportedModel",
    "client_class",
    "load_exported",
    "read_metadata",
    "tflite_interpreter",
]

#: The client class of each task, in ``zoo.tasks.<task>.client``.
CLIENTS = {
    "sentiment": "SentimentClient",
    "ner": "NERClient",
    "translation": "TranslationClient",
    "captioning": "CaptioningClient",
}
EXPORT_FORMATS = ("saved_model", "tflite", "onnx")


def client_module(task: str):
    return importlib.import_module(f"zoo.tasks.{task}.client")


def client_class(task: str):
    """The task's client class (see `zoo.tasks.base.Runtime` for the contract)."""
    if task not in CLIENTS:
        raise ValueError(
            f"Received an invalid value for argument 'task', expected one of {sorted(CLIENTS)}, "
            f"got {task!r}."
        )
    return getattr(client_module(task), CLIENTS[task])


def is_export_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a directory written by `zoo.export` (any format)."""
    path = Path(path)
    return (path / "export.json").is_file() or (path / "assets.extra" / "export.json").is_file()


def read_metadata(directory: str | os.PathLike) -> dict:
    """The export's ``export.json`` (``task``, ``model``, ``format``, ...)."""
    directory = Path(directory)
    for candidate in (directory / "export.json", directory / "assets.extra" / "export.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text("utf-8"))
    raise FileNotFoundError(
        f"Received an invalid value for argument 'directory': '{directory}' has no "
        "export.json (nor assets.extra/export.json); expected a directory written by "
        "zoo.export (any format)."
    )


def tflite_interpreter(**kwargs):
    """`tf.lite.Interpreter` (``model_path=`` or ``model_content=``), tensors allocated,
    without its deprecation banner (LiteRT's `ai_edge_litert` interpreter is the same
    runtime; it is not a dependency here)."""
    import tensorflow as tf

    with warnings.catch_warnings(), _quiet.stderr_silenced():  # XNNPACK's INFO line
        warnings.filterwarnings("ignore", message="(?s).*tf.lite.Interpreter is deprecated")
        interpreter = tf.lite.Interpreter(**kwargs)
        interpreter.allocate_tensors()
        return interpreter


def _check_list(inputs) -> None:
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, (list, tuple)):
        raise TypeError(
            "Received an invalid value for argument 'inputs', expected a list of raw inputs, "
            f"got {type(inputs).__name__}."
        )


def _check_with_confidence(value, task: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(
            "Received an invalid value for argument 'with_confidence', expected True or "
            f"False, got {value!r}."
        )
    if value and task != "captioning":
        raise ValueError(
            "Received an invalid value for argument 'with_confidence', expected False for "
            f"a {task} export (only captioning exports support with_confidence=True), got "
            f"{value!r}."
        )


def _image_bytes(x) -> bytes:
    """A captioning input (path, encoded bytes, PIL image, or array ``[H, W]`` /
    ``[H, W, C]``, uint8 0..255 or float 0..1, as `zoo.load` takes them) -> PNG bytes."""
    if isinstance(x, (bytes, bytearray)):
        return bytes(x)
    if isinstance(x, (str, os.PathLike)):
        if not Path(x).is_file():
            raise ValueError(f"Received an invalid image path {str(x)!r}: no such file.")
        return Path(x).read_bytes()
    import tensorflow as tf

    from zoo.data.captioning_images import to_uint8

    if not isinstance(x, (np.ndarray, tf.Tensor)) and hasattr(x, "getbands"):
        x = np.asarray(x)  # a PIL image
    if not isinstance(x, (np.ndarray, tf.Tensor)):
        raise TypeError(
            f"Received an invalid image of type {type(x).__name__}; expected a file path, "
            "encoded bytes (PNG/JPEG/GIF/BMP), a PIL image or an array [H, W] / [H, W, C]."
        )
    return tf.io.encode_png(to_uint8(x)).numpy()


class ExportedModel:
    """An export loaded for prediction (use `load_exported`).

    Attributes:
        task: the task name (``"sentiment"``, ``"ner"``, ...).
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
        metadata: the parsed ``export.json``.
        directory: where it was loaded from.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.metadata = read_metadata(self.directory)
        self.task = self.metadata["task"]
        self.format = self.metadata["format"]
        if self.format not in EXPORT_FORMATS:
            raise ValueError(
                f"Received an export with an invalid 'format' in export.json, expected one "
                f"of {list(EXPORT_FORMATS)}, got {self.format!r}."
            )
        if self.format == "saved_model":
            import tensorflow as tf

            self.loaded = tf.saved_model.load(str(self.directory))
            self.signature = self.loaded.signatures["serving_default"]
            self._arg = next(iter(self.signature.structured_input_signature[1]))
            self.client = None
            return
        self.assets = {
            p.stem: json.loads(p.read_text("utf-8"))
            for p in sorted((self.directory / "assets").glob("*.json"))
        }
        self.config = zoo_config.upgrade(
            json.loads((self.directory / "config.json").read_text("utf-8"))
        )
        self.runners = {
            name: self._runner(self.directory / spec["file"])
            for name, spec in self.metadata["functions"].items()
        }
        self.client = client_class(self.task)(self.run, self.assets, self.config)

    def _runner(self, path: Path):
        """``inputs dict -> outputs dict`` of one function file."""
        if self.format == "tflite":
            return tflite_interpreter(model_path=str(path)).get_signature_runner("serving_default")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]

        def run(**inputs):
            return dict(zip(names, session.run(names, inputs)))

        return run

    def run(self, fn_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call one exported numeric function (TFLite / ONNX) on numpy inputs."""
        if fn_name not in self.runners:
            raise ValueError(
                f"Received an invalid value for argument 'fn_name', expected one of "
                f"{sorted(self.runners)}, got {fn_name!r}."
            )
        return self.runners[fn_name](**inputs)

    @property
    def calibrated(self) -> bool:
        """Whether ``predict(..., with_confidence=True)`` answers: a captioning export
        of a calibrated preset (TFLite / ONNX: ``assets/calibration.json``; SavedModel:
        ``serving_default`` returns ``confidence`` and ``confident``)."""
        if self.task != "captioning":
            return False
        if self.format == "saved_model":
            return {"confidence", "confident"} <= set(self.signature.structured_outputs)
        return bool(self.assets.get("calibration"))

    def predict(self, inputs: list, *, with_confidence: bool = False) -> list[Any]:
        """Raw inputs -> one readable output each, as ``zoo.load(name).predict``.

        `with_confidence` (captioning exports only, see `calibrated`): one dict per
        image, ``{"caption", "confidence", "guess"}``, as
        ``zoo.load(name).predict(images, with_confidence=True)`` (``caption`` is "no
        confident caption" below the calibration's ``no_caption_below``)."""
        _check_list(inputs)
        _check_with_confidence(with_confidence, self.task)
        if self.client is not None:
            if with_confidence:
                return self.client.predict(list(inputs), with_confidence=True)
            return self.client.predict(list(inputs))
        if not inputs:
            return []
        import tensorflow as tf

        values = [_image_bytes(x) for x in inputs] if self._arg == "images" else list(inputs)
        if self._arg != "images":
            for i, x in enumerate(values):
                if not isinstance(x, str):
                    raise TypeError(
                        f"Received an invalid value for argument 'inputs': item {i} is "
                        f"{type(x).__name__}, expected str."
                    )
        outputs = self.signature(**{self._arg: tf.constant(values)})
        outputs = {k: v.numpy() for k, v in outputs.items()}
        if with_confidence:
            return client_module(self.task).from_serving(outputs, with_confidence=True)
        return client_module(self.task).from_serving(outputs)

    def __repr__(self) -> str:
        return (
            f"<ExportedModel {self.metadata.get('model')} ({self.task}, {self.format}) "
            f"from '{self.directory}'>"
        )


def load_exported(directory: str | os.PathLike) -> ExportedModel:
    """Load any directory written by `zoo.export` (SavedModel, TFLite or ONNX) for
    ``predict`` on raw input; ``.task``, ``.format`` and ``.metadata`` tell what it is."""
    return ExportedModel(directory)

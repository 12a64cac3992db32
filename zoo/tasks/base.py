"""The contract every task (sentiment, NER, captioning, translation) fulfils.

A `Task` ties one dataset pipeline (`zoo.data.<task>`) to one architecture
(`build_model`), one evaluation (`evaluate`, the code behind `python -m zoo
evaluate`), raw-input prediction (`predict`) and the serving functions that
`zoo.export` writes into a SavedModel. `zoo.train.train_from_config` and
`zoo.registry` only talk to tasks through this class.

Configs (``configs/<name>.yaml``, copied into each preset as ``config.json``)
have three sections that are passed through untouched:

* ``model``: hyperparameters for `build_model` (always has ``cell`` in
  ``{"simple_rnn", "lstm", "gru"}`` and ``bidirectional``);
* ``data``: what `load_data` / `evaluate` read (dataset name, vocabulary size, ...);
* ``train``: what `zoo.train` reads (epochs, batch_size, learning_rate, ...), and
  whatever task-specific training options the task documents.

Assets are JSON-serialisable values (vocabularies, tag and label names) that a
trained model needs at inference; they are fitted on the train split only and
stored as ``assets/<key>.json`` in the preset (never pickles).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf


class Runtime(tf.Module):
    """A trained model with its assets at inference time: the lookup tables and compiled
    functions that turn raw input into readable output (keras-hub's Preprocessor plus
    generate, in one `tf.Module`).

    Built by `Task.runtime(model, assets, config)`; `zoo.load(...)` holds one as
    ``ZooModel.runtime``, and `zoo.export` writes its `serving_functions` (the module
    tracks the tables, so `tf.saved_model.save` finds them). Nothing is ever set on the
    Keras model from outside: serving state lives here.

    Subclasses implement `predict` and `serving_functions`, and for TFLite / ONNX
    export `portable_functions` and `calibration_inputs`.

    The deployment contract (`zoo.export`, `zoo.load_exported`), per task:

    * `portable_functions()`: the numeric core, no strings, each a `tf.function` with a
      full ``input_signature`` (named `tf.TensorSpec`s, static batch where the recurrent
      loop needs it to lower to builtins) that returns a dict of named tensors. Each
      converts to TFLite builtins and to ONNX and is written as ``<fn>.tflite`` /
      ``<fn>.onnx``. Sentiment: ``{"classify"}``; NER: ``{"tag"}``; translation and
      captioning: ``{"encode", "decode_step"}``.
    * `calibration_inputs(n)`: up to `n` representative inputs per portable function
      for full-integer quantization, read offline from the validation split (or built
      from `Task.example_inputs`).
    * ``zoo/tasks/<task>/client.py``: a class (``SentimentClient``, ``NERClient``,
      ``TranslationClient``, ``CaptioningClient``) with
      ``__init__(self, run, assets: dict, config: dict)``, where
      ``run(fn_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]``
      calls one exported portable function (TFLite, ONNX Runtime, or the
      `tf.function` itself), and ``predict(inputs: list) -> list`` returning exactly
      what ``zoo.load(name).predict(inputs)`` returns (tokenizing, detokenizing and
      decoding loops live in the client; TF string ops are allowed where they are
      needed to tokenize exactly like the graph; ``CaptioningClient.predict`` also
      takes ``with_confidence=True``, as the captioning runtime does). `assets` are the
      preset's assets (``assets/<key>.json`` of the export), `config` its
      ``config.json``. Plus a module function ``from_serving(outputs: dict[str,
      np.ndarray]) -> list`` turning the SavedModel ``serving_default`` outputs into
      the same list (captioning's with a ``with_confidence`` flag).
    * Scoring predictions (int8 vs float, measured at export time through the client):
      `Task.eval_examples` + `Task.score`.
    """

    def __init__(self, model: keras.Model, assets: dict, config: dict, name: str | None = None):
        super().__init__(name=name)
        self.model = model
        # Untracked: JSON values, not TensorFlow state.
        object.__setattr__(self, "assets", assets)
        object.__setattr__(self, "config", config)

    def predict(self, inputs: list) -> list:
        """Raw inputs (strings, or images for captioning) -> one readable output each."""
        raise NotImplementedError

    def serving_functions(self) -> dict[str, Any]:
        """`tf.function`s on raw input for export; must contain ``"serving_default"``.
        Each takes and returns tensors only (strings in, strings/numbers out)."""
        raise NotImplementedError

    def portable_functions(self) -> dict[str, Any]:
        """Numeric-only `tf.function`s (full ``input_signature``, dict outputs) for
        TFLite and ONNX export; see the class docstring. Default: none."""
        return {}

    def calibration_inputs(self, n: int) -> dict[str, list[dict[str, np.ndarray]]]:
        """``{fn_name: [inputs, ...]}``: up to `n` representative input dicts per portable
        function (numpy arrays matching its ``input_signature``), offline, for int8
        calibration."""
        raise NotImplementedError


@dataclasses.dataclass
class TaskData:
    """Batched, ready-to-fit datasets for one config.

    Attributes:
        train, validation, test: `tf.data.Dataset`s yielding ``(inputs, targets)`` or
            ``(inputs, targets, sample_weight)``, batched with the global batch size,
            prefetched; `train` shuffled with the seed.
        assets: JSON-serialisable values the model needs at inference.
        info: facts recorded in the preset's metadata (``data_version``, split sizes...).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    assets: dict[str, Any]
    info: dict[str, Any]


class Task:
    """Base class: one subclass per task, in ``zoo/tasks/<task>.py``."""

    #: Task name used in configs (``task: sentiment``).
    name: ClassVar[str] = ""
    #: Key of the headline metric in `evaluate`'s result (e.g. "accuracy", "f1", "bleu").
    primary_metric: ClassVar[str] = ""
    #: Keras logs key used for best-checkpoint selection and early stopping.
    monitor: ClassVar[str] = "val_loss"
    #: "min" or "max" for `monitor`.
    monitor_mode: ClassVar[str] = "min"
    #: Number of test examples in the quick evaluation subset checked by the default tests.
    eval_subset_size: ClassVar[int] = 500

    # -- config -----------------------------------------------------------------------
    def check_config(self, cfg: dict) -> None:
        """Check the ``model`` and ``data`` sections without reading data or building
        anything; raise `zoo.config.ConfigError` naming the key. Training calls it first."""
        raise NotImplementedError

    # -- data -------------------------------------------------------------------------
    def load_data(
        self, data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
    ) -> TaskData:
        """Build the train/validation/test pipelines and fit the assets on train.

        `smoke=True` uses a small slice of each split (a few hundred examples) so tests
        and notebooks in smoke mode run in seconds.
        """
        raise NotImplementedError

    # -- model ------------------------------------------------------------------------
    def build_model(
        self,
        model_cfg: dict,
        assets: dict,
        *,
        data_cfg: dict | None = None,
        for_training: bool = False,
    ) -> keras.Model:
        """Build the architecture from hyperparameters and assets (no trained weights).

        With `for_training=True` the task may initialise weights from external
        resources (e.g. GloVe vectors for the embedding); loading a preset never does.
        """
        raise NotImplementedError

    def compile_model(
        self, model: keras.Model, optimizer: keras.optimizers.Optimizer, train_cfg: dict
    ) -> None:
        """`model.compile` with the task's loss and Keras metrics."""
        raise NotImplementedError

    def callbacks(self, model: keras.Model, data: TaskData, config: dict) -> list:
        """Extra callbacks run before checkpointing, e.g. one that writes ``val_f1`` into
        the epoch logs so that `monitor` can select on it. `config` is the whole resolved
        config (``model``, ``data`` and the resolved ``train`` section). Default: none."""
        return []

    # -- inference and evaluation ----------------------------------------------------
    def runtime(self, model: keras.Model, assets: dict, config: dict) -> Runtime:
        """The task's `Runtime` for a trained `model` with its `assets` and full `config`."""
        raise NotImplementedError

    def evaluate(
        self,
        runtime: Runtime,
        data_cfg: dict,
        *,
        split: str = "test",
        limit: int | None = None,
    ) -> dict[str, float]:
        """Metrics of ``runtime.model`` on a split (first `limit` examples when given). Must
        contain `primary_metric`. Used by training, `python -m zoo evaluate` and the tests;
        it never changes the model."""
        raise NotImplementedError

    def example_inputs(self) -> list:
        """A few raw inputs for the demo and the smoke tests."""
        raise NotImplementedError

    # -- scoring raw predictions (export-time int8 vs float measurement) -------------
    def eval_examples(
        self, data_cfg: dict, *, split: str = "test", limit: int | None = None
    ) -> tuple[list, list]:
        """``(inputs, references)`` of the first `limit` examples of a split, in the order
        `evaluate` reads them (so ``limit=eval_subset_size`` is the subset the tests and
        ``zoo evaluate`` use): `inputs` raw, as ``predict`` takes them; `references`
        whatever `score` compares predictions with (labels, tag lists, reference texts)."""
        raise NotImplementedError

    def score(self, predictions: list, references: list) -> dict[str, float]:
        """Metrics of `predictions` (what ``predict`` returned for `eval_examples`' inputs,
        from any runtime: Keras, SavedModel, TFLite, ONNX) against `references`; contains
        `primary_metric`, on the same scale as `evaluate` (percent for accuracy/F1)."""
        raise NotImplementedError


def masked_fill_value(dtype) -> float:
    """A large negative number for masked positions before a max or softmax: -1e9, or
    -3e4 in float16 (where -1e9 is -inf, and -inf - -inf is NaN on a fully masked row)."""
    return -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else -1e9


def with_layer_config(model, class_name: str, key: str, value, convert) -> keras.Model:
    """A copy of `model` in which every layer of class `class_name` has ``config[key] =
    value``, its weights passed through ``convert(array) -> array``; `model` itself
    when no layer needed the change. Used for export (e.g. a float16-stored table
    widened to float32 once, so the exported graph has no float16 ops)."""
    config = model.get_config()
    changed = set()
    for layer in config["layers"]:
        if layer["class_name"] == class_name and layer["config"].get(key) != value:
            layer["config"][key] = value
            changed.add(layer["config"]["name"])
    if not changed:
        return model
    copy = keras.Model.from_config(config)
    for layer in model.layers:
        weights = layer.get_weights()
        if layer.name in changed:
            weights = [convert(w) for w in weights]
        copy.get_layer(layer.name).set_weights(weights)
    return copy

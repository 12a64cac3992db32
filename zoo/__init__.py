"""RNN Zoo: recurrent layers, task models, pretrained presets and export, on Keras 3.

Public API::

    import zoo
    zoo.list_models()                       # registered model names
    m = zoo.load("ner_bilstm_conll2003")    # a trained model, offline, sha256-verified
    m.predict(["Pankaj lives in Munich"])
    zoo.export("sentiment_bilstm_mr", "out/")  # SavedModel on raw strings
    zoo.export("sentiment_lstm_mr", "lite/", format="tflite", quantize="int8")
    zoo.load_exported("lite/").predict(["A gorgeous film."])  # any export format

Subpackages: `zoo.layers` (SimpleRNN, LSTM, GRU, Bidirectional), `zoo.data`
(sources, TFDS builders, tf.data pipelines), `zoo.tasks` (the four task architectures).
"""

from __future__ import annotations

import importlib

from zoo import _quiet

_quiet.install()  # TensorFlow's C++ start-up lines stay out of the terminal (ZOO_VERBOSE=1)

__version__ = "0.1.0"

_LAZY = {
    "load": "zoo.registry",
    "list_models": "zoo.registry",
    "info": "zoo.registry",
    "export": "zoo.export",
    "load_exported": "zoo.exported",
    "train_from_config": "zoo.train",
}
_SUBMODULES = {
    "layers",
    "data",
    "tasks",
    "registry",
    "train",
    "export",
    "exported",
    "metrics",
    "bench",
}


def __getattr__(name: str):
    # Lazy so that `import zoo` stays cheap and `zoo.layers` does not import the data stack.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])

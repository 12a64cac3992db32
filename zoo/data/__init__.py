"""Datasets: pinned sources (`zoo.data.sources`), TFDS builders and tf.data pipelines.

Importing this package registers the zoo's TFDS builders, so `tfds.load("zoo_...")`
works offline from the pinned artifacts. One module per task:
`sentiment`, `ner`, `translation`, `captioning`; `glove` gives word vectors.
"""

from __future__ import annotations

import importlib
import importlib.util

from zoo.data.sources import Artifact, ChecksumError, SourceUnavailableError, fetch

TASK_MODULES = ("glove", "sentiment", "ner", "translation", "captioning")

for _name in TASK_MODULES:
    # find_spec: while the package is being built up, a task module may not exist yet.
    if importlib.util.find_spec(f"zoo.data.{_name}") is not None:
        importlib.import_module(f"zoo.data.{_name}")  # registers the TFDS builders
del _name

__all__ = ["Artifact", "ChecksumError", "SourceUnavailableError", "fetch", *TASK_MODULES]

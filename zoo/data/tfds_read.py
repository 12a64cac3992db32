"""How the zoo's pipelines read their TFDS builders."""

from __future__ import annotations

import tensorflow_datasets as tfds

#: TFDS caches small datasets in memory on its own; a ``take(k)`` after that cache (smoke
#: runs, ``evaluate(limit=...)``) leaves it half-read, and TensorFlow warns and throws it
#: away every time. The pipelines cache where they need it, after vectorising.
NO_AUTOCACHE = tfds.ReadConfig(try_autocache=False)

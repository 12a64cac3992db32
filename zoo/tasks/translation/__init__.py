"""Translation Spanish -> English: recurrent encoder-decoder with attention.

* ``model.py``: `Translator` (architecture, float16 weight storage), `model_config`,
  the loss and metric;
* ``runtime.py``: `TranslatorRuntime` (vocabularies, greedy/beam decoding, predict and
  serving functions);
* ``task.py``: `TranslationTask` (data, compile, evaluate).

See `zoo.tasks.translation.model` for the architecture and config keys.
"""

from zoo.tasks.translation.model import (
    CELLS,
    MODEL_DEFAULTS,
    MODEL_KEYS,
    MaskedSparseCrossentropy,
    Translator,
    masked_accuracy,
    model_config,
)
from zoo.tasks.translation.runtime import TranslatorRuntime
from zoo.tasks.translation.task import TranslationTask

__all__ = [
    "CELLS",
    "MODEL_DEFAULTS",
    "MODEL_KEYS",
    "MaskedSparseCrossentropy",
    "TranslationTask",
    "Translator",
    "TranslatorRuntime",
    "masked_accuracy",
    "model_config",
]

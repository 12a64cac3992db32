"""Image captioning (one-to-many): a conv image encoder -> a recurrent decoder.

* ``model.py``: `CaptioningModel`, its config checks and in-graph decoding
  (`greedy_search`, `beam_search`, `greedy_decode`);
* ``runtime.py``: `CaptioningRuntime` (raw images in, captions out; serving functions)
  and `ids_to_strings`;
* ``task.py``: `CaptioningTask` (data, compile, val-BLEU callback, evaluate),
  `caption_metrics` and the `nearest_neighbour_captions` baseline;
* ``client.py``: `CaptioningClient`, the NumPy side of a TFLite / ONNX export
  (decoding, and the confidence from the export's ``assets/calibration.json``);
* ``confidence.py``: the calibrated confidence of a caption and the "no confident
  caption" answer (``runtime.describe``, ``predict(..., with_confidence=True)``, in
  every export format);
  ``calibrate.py`` fits and measures it (``python -m zoo calibrate NAME``), ``probes.py``
  draws the noise and drawings it is measured on.

See `zoo.tasks.captioning.model` for the architecture and config keys, and
`zoo.tasks.captioning.task` for the metrics and results.
"""

from zoo.tasks.captioning.model import (
    CELLS,
    DATA_KEYS,
    MODEL_KEYS,
    CaptioningModel,
    beam_search,
    greedy_decode,
    greedy_search,
)
from zoo.tasks.captioning.runtime import CaptioningRuntime, ids_to_strings
from zoo.tasks.captioning.task import (
    CaptioningTask,
    caption_metrics,
    nearest_neighbour_captions,
)

__all__ = [
    "CELLS",
    "DATA_KEYS",
    "MODEL_KEYS",
    "CaptioningModel",
    "CaptioningRuntime",
    "CaptioningTask",
    "beam_search",
    "caption_metrics",
    "greedy_decode",
    "greedy_search",
    "ids_to_strings",
    "nearest_neighbour_captions",
]

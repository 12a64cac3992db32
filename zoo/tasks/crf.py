from zoo.layers.crf import *  # noqa: F403  (moved to zoo.layers.crf; re-exported for tasks/ner.py)
from zoo.layers.crf import CRF, CRFLoss, iob2_constraints  # noqa: F401

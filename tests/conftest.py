"""Shared test setup: offline data mirror, quiet TensorFlow, deterministic seeds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# importlib import mode (test files share basenames across folders): make the shared
# test helpers (toy_task.py, run_toy_train.py) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The local mirror of URL-only datasets (spa-eng.zip) is ../shared/data by default
# (zoo.data.sources.DEFAULT_MIRROR); registry artifacts are fetched with pip/apt and cached
# in $ZOO_HOME (default ~/.cache/zoo).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# zoo first: its import hook keeps TensorFlow's start-up lines out of the test output.
import zoo  # noqa: E402,F401

# isort: split
import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


#: TFDS datasets the default tests read; prepared once, before xdist workers start, so
#: that two workers never write the same dataset directory at the same time.
TFDS_DATASETS = (
    "zoo_conll2003",
    "zoo_spa_eng",
    "zoo_emoji_captions",
    "zoo_sentiment_snippets/movie_reviews",
)


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("ZOO_SKIP_PREPARE"):
        return
    if config.getoption("collectonly", default=False):
        return
    import tensorflow_datasets as tfds

    import zoo.data  # noqa: F401 - registers the builders
    from zoo.data.sources import zoo_home

    for name in TFDS_DATASETS:
        tfds.builder(name, data_dir=str(zoo_home() / "tensorflow_datasets")).download_and_prepare()

"""A tiny synthetic task (sign of a sequence sum) for testing training and presets
without real data. Registered in tests only (`register()`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoo import config
from zoo.layers import make_recurrent
from zoo.tasks import TASKS
from zoo.tasks.base import Runtime, Task, TaskData


def register() -> None:
    TASKS["toy"] = "toy_task:ToyTask"


def toy_config(name: str = "toy_lstm_sum", **train) -> dict:
    return {
        "name": name,
        "task": "toy",
        "model": {"cell": "lstm", "bidirectional": False, "units": 8},
        "data": {"n": 256, "timesteps": 6, "features": 3},
        "train": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, "patience": 5, **train},
    }


def make_arrays(data_cfg: dict, seed: int, split: str):
    offset = {"train": 0, "validation": 1, "test": 2}[split]
    rng = np.random.default_rng(seed * 10 + offset)
    n = data_cfg["n"] if split == "train" else data_cfg["n"] // 4
    x = rng.normal(size=(n, data_cfg["timesteps"], data_cfg["features"])).astype("float32")
    if data_cfg.get("inject_nan") and split == "train":
        x[5:] = np.nan
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]
    return x, y


class ToyRuntime(Runtime):
    def predict(self, inputs):
        p = self.model.predict(np.stack(inputs), verbose=0)[:, 0]
        return [self.assets["labels"][int(v > 0.5)] for v in p]

    def serving_functions(self):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32)])
        def serve(x):
            return {"probability": self.model(x, training=False)[:, 0]}

        return {"serving_default": serve}


class ToyTask(Task):
    name = "toy"
    primary_metric = "accuracy"
    monitor = "val_accuracy"
    monitor_mode = "max"
    eval_subset_size = 16

    def check_config(self, cfg):
        config.check_keys(
            "data", cfg["data"], ("n", "timesteps", "features", "inject_nan", "shuffle")
        )

    def load_data(self, data_cfg, *, batch_size, seed=0, smoke=False):
        def ds(split, shuffle):
            x, y = make_arrays(data_cfg, 0, split)
            d = tf.data.Dataset.from_tensor_slices((x, y))
            if shuffle and data_cfg.get("shuffle", True):
                d = d.shuffle(len(x), seed=seed)
            return d.batch(batch_size)

        return TaskData(
            ds("train", True),
            ds("validation", False),
            ds("test", False),
            {"labels": ["negative", "positive"]},
            {"data_version": "toy-1"},
        )

    def build_model(self, model_cfg, assets, *, data_cfg=None, for_training=False):
        data_cfg = data_cfg or {"timesteps": 6, "features": 3}
        inputs = keras.Input((data_cfg["timesteps"], data_cfg["features"]))
        h = make_recurrent(
            model_cfg["cell"],
            model_cfg["units"],
            bidirectional=model_cfg.get("bidirectional", False),
        )(inputs)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))

    def compile_model(self, model, optimizer, train_cfg):
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])

    def runtime(self, model, assets, config):
        return ToyRuntime(model, assets, config)

    def evaluate(self, runtime, data_cfg, *, split="test", limit=None):
        x, y = make_arrays(data_cfg, 0, split)
        if limit:
            x, y = x[:limit], y[:limit]
        p = runtime.model.predict(x, verbose=0)
        return {"accuracy": float(np.mean((p > 0.5) == (y > 0.5)) * 100)}

    def example_inputs(self):
        return [np.ones((6, 3), "float32")]

"""Every registered model (timm-style, parametrised over the registry): builds from its
config, runs on a batch of its own pipeline, overfits that batch, and survives a weights
save/load round trip."""

from __future__ import annotations

import functools
import json

import keras
import numpy as np
import pytest
from budget import default_or_slow

from zoo import registry
from zoo.tasks import get_task

MODELS = registry.list_models()


@functools.cache
def _smoke_data(task_name: str, data_json: str):
    task = get_task(task_name)
    return task.load_data(json.loads(data_json), batch_size=8, seed=0, smoke=True)


def _setup(name):
    config = registry.get_config(name)
    task = get_task(config["task"])
    data = _smoke_data(config["task"], json.dumps(config["data"], sort_keys=True))
    batch = next(iter(data.train))
    return config, task, data, batch


def _soft_target_floor(batch) -> float:
    """The lowest binary cross-entropy reachable on a sentiment batch ``(ids, y[, weight])``
    with soft targets ``y`` in (0, 1): their entropy, weighted as Keras weighs the loss;
    0 for every other batch."""
    y = batch[1] if 2 <= len(batch) <= 3 else None
    if getattr(y, "dtype", None) != "float32" or len(y.shape) != 1:
        return 0.0
    y = np.clip(np.asarray(y, np.float64), 1e-7, 1 - 1e-7)
    weight = np.asarray(batch[2], np.float64) if len(batch) == 3 else np.ones_like(y)
    return float(np.mean(weight * -(y * np.log(y) + (1 - y) * np.log(1 - y))))


def _inputs(batch):
    return batch[0]


@pytest.mark.parametrize("name", MODELS)
def test_config_name_follows_the_naming_scheme(name):
    config = registry.get_config(name)
    assert config["name"] == name
    prefix = registry.TASK_PREFIX[config["task"]]
    cell = {"simple_rnn": "rnn", "lstm": "lstm", "gru": "gru"}[config["model"]["cell"]]
    bi = "bi" if config["model"].get("bidirectional") else ""
    assert name.startswith(f"{prefix}_{bi}{cell}_"), (name, config["model"])


@pytest.mark.xdist_group("zoo_models")
@pytest.mark.parametrize("name", default_or_slow(MODELS))
def test_registered_model_overfits_a_batch_and_round_trips(name, tmp_path):
    config, task, data, batch = _setup(name)
    keras.utils.set_random_seed(0)
    model = task.build_model(config["model"], data.assets, data_cfg=config["data"])
    task.compile_model(model, keras.optimizers.Adam(1e-2), dict(config["train"]))
    before = model.predict_on_batch(_inputs(batch))

    losses = [float(np.ravel(model.train_on_batch(*batch))[0]) for _ in range(25)]
    assert np.all(np.isfinite(losses)), losses
    # Soft targets cannot be fit below their entropy: the excess over it must fall.
    floor = _soft_target_floor(batch)
    assert losses[-1] - floor < 0.7 * (losses[0] - floor), (
        f"loss did not fall: {losses[0]:.3f} -> {losses[-1]:.3f} (floor {floor:.3f})"
    )
    if hasattr(model, "round_to_storage"):  # presets stored in float16: compare like for like
        model.round_to_storage()
    after = model.predict_on_batch(_inputs(batch))
    assert not np.allclose(
        np.asarray(keras.tree.flatten(before)[0]), np.asarray(keras.tree.flatten(after)[0])
    )

    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    fresh = task.build_model(config["model"], data.assets, data_cfg=config["data"])
    fresh.load_weights(path)
    reloaded = fresh.predict_on_batch(_inputs(batch))
    for a, b in zip(keras.tree.flatten(after), keras.tree.flatten(reloaded)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.xdist_group("zoo_models")
@pytest.mark.parametrize("name", default_or_slow(MODELS))
def test_registered_model_trains_under_mixed_precision(name):
    """What `zoo.train` and the notebooks switch on when a GPU is present
    (``mixed_float16``) builds, trains and predicts on the CPU too: finite losses,
    float32 outputs."""
    config, task, data, batch = _setup(name)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = task.build_model(config["model"], data.assets, data_cfg=config["data"])
        task.compile_model(model, keras.optimizers.Adam(1e-3), dict(config["train"]))
        losses = [float(np.ravel(model.train_on_batch(*batch))[0]) for _ in range(3)]
        outputs = keras.tree.flatten(model.predict_on_batch(_inputs(batch)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(losses)), losses
    first = np.asarray(outputs[0])
    assert first.dtype == np.float32, first.dtype
    assert np.all(np.isfinite(first))

"""Training writes presets that load by path, verify their hashes and reproduce
predictions; altered presets, bad configs and diverging runs fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import toy_task

from zoo import config as zoo_config
from zoo import registry
from zoo.train import TrainingDivergedError, train_from_config


@pytest.fixture(autouse=True)
def _toy(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(registry.TASK_PREFIX, "toy", "toy")
    toy_task.register()
    yield
    from zoo.tasks import TASKS

    TASKS.pop("toy", None)


@pytest.fixture
def trained(tmp_path):
    return train_from_config(
        toy_task.toy_config(),
        run_dir=tmp_path / "run",
        preset_dir=tmp_path / "preset",
        verbose=0,
        command="test",
    )


def test_trained_preset_loads_and_reproduces_predictions(trained):
    loaded = registry.load(trained.preset)
    x = toy_task.make_arrays(trained.config["data"], 0, "test")[0][:8]
    np.testing.assert_allclose(
        loaded.model.predict(x, verbose=0), trained.model.predict(x, verbose=0), atol=1e-6
    )
    meta = json.loads((trained.preset / "metadata.json").read_text())
    assert meta["metrics"] == trained.metrics
    assert meta["eval_subset"]["limit"] == 16
    assert set(meta["files"]) == {"config.json", "model.weights.h5", "assets/labels.json"}
    assert meta["epochs_run"] == 2 and meta["command"] == "test"
    assert loaded.predict(x[0]) in ("negative", "positive")


def test_training_learns_the_toy_problem(tmp_path):
    res = train_from_config(
        toy_task.toy_config(epochs=15), run_dir=tmp_path / "r", save_preset=False, verbose=0
    )
    assert res.metrics["accuracy"] > 80


@pytest.mark.parametrize("victim", ["model.weights.h5", "config.json", "assets/labels.json"])
def test_altered_preset_file_is_rejected_naming_the_file(trained, victim):
    path = trained.preset / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(registry.PresetError, match=f"sha256 mismatch for '{victim}'"):
        registry.load(trained.preset)


def test_truncated_weights_are_rejected(trained):
    path = trained.preset / "model.weights.h5"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(registry.PresetError, match="model.weights.h5"):
        registry.load(trained.preset)


def test_missing_preset_file_is_named(trained):
    (trained.preset / "model.weights.h5").unlink()
    with pytest.raises(registry.PresetError, match="missing 'model.weights.h5'"):
        registry.load(trained.preset)


def test_weights_of_another_architecture_are_rejected(trained, tmp_path):
    other = train_from_config(
        toy_task.toy_config(), run_dir=tmp_path / "r2", save_preset=False, epochs=1, verbose=0
    )
    cfg = json.loads((trained.preset / "config.json").read_text())
    cfg["model"]["units"] = 5
    registry.save_preset(other.model, cfg, other.assets, {}, tmp_path / "mixed")
    # Put the 8-unit weights into a preset whose config says 5 units, with valid hashes.
    (tmp_path / "mixed" / "model.weights.h5").write_bytes(
        (trained.preset / "model.weights.h5").read_bytes()
    )
    meta = json.loads((tmp_path / "mixed" / "metadata.json").read_text())
    meta["files"]["model.weights.h5"] = registry.sha256_file(
        tmp_path / "mixed" / "model.weights.h5"
    )
    (tmp_path / "mixed" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(registry.PresetError, match="do not fit the architecture"):
        registry.load(tmp_path / "mixed")


def test_unknown_model_name_lists_close_matches(monkeypatch, tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ner_bilstm_conll2003.yaml").write_text("name: x\n")
    monkeypatch.setattr(registry, "CONFIGS_DIR", tmp_path / "configs")
    monkeypatch.setattr(registry, "PRETRAINED_DIR", tmp_path / "none")
    with pytest.raises(registry.UnknownModelError) as e:
        registry.load("ner_bilstm_conll")
    assert "'ner_bilstm_conll2003'" in str(e.value) and "list_models()" in str(e.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(extra=1), "unknown key 'extra' in the config's top level"),
        (lambda c: c.pop("model"), "missing key 'model'"),
        (lambda c: c.update(task="poetry"), "invalid value for 'task'"),
        (lambda c: c["train"].update(epochs=0), "train.epochs"),
        (lambda c: c["train"].update(learning_rate=-1), "train.learning_rate"),
        (lambda c: c["train"].update(optimiser="adam"), "did you mean 'optimizer'"),
        (lambda c: c["train"].update(optimizer="adagrad9"), "train.optimizer"),
        (lambda c: c["train"].update(lr_schedule={"type": "zigzag"}), "lr_schedule.type"),
        (
            lambda c: c["train"].update(lr_schedule={"type": "cosine", "warmup_steps": -3}),
            "lr_schedule.warmup_steps",
        ),
    ],
)
def test_invalid_configs_fail_before_training(tmp_path, mutate, message):
    cfg = toy_task.toy_config()
    mutate(cfg)
    with pytest.raises(ValueError, match=message):
        train_from_config(cfg, run_dir=tmp_path / "r", save_preset=False, verbose=0)


@pytest.mark.parametrize("kind", ["constant", "cosine", "plateau"])
def test_warmup_ramps_the_scheduled_learning_rate_linearly_then_hands_it_back(kind):
    import keras

    from zoo.callbacks import schedule_callbacks

    lr0, epochs, warmup, per_epoch = 0.01, 3, 11, 8  # warmup ends inside epoch 2
    cfg = {"learning_rate": lr0, "epochs": epochs}
    cfg["lr_schedule"] = {"type": kind, "warmup_steps": warmup, "factor": 0.5, "patience": 0}
    seen, at_epoch_end = [], []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

        def on_epoch_end(self, epoch, logs=None):
            at_epoch_end.append(float(self.model.optimizer.learning_rate))

    x = np.random.default_rng(0).normal(size=(per_epoch * 4, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr0), loss="mse")
    model.fit(
        x,
        x[:, :1],
        validation_data=(x, x[:, :1]),
        batch_size=4,
        epochs=epochs,
        callbacks=[*schedule_callbacks(cfg), Record()],
        verbose=0,
    )

    def scheduled(epoch):  # what the epoch schedule alone gives
        if kind == "cosine":
            return lr0 * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * epoch / epochs)))
        return lr0

    steps = np.arange(len(seen))
    ramp = np.minimum(1.0, (steps + 1) / warmup)
    if kind == "plateau":  # only the ramp is checked, and that no ramp value leaks out
        np.testing.assert_allclose(seen[:per_epoch], lr0 * ramp[:per_epoch], rtol=1e-6)
        assert all(v <= lr0 * (1 + 1e-6) for v in at_epoch_end)
        # epoch 1 ends mid-ramp (8 of 11 steps): the plateau sees lr0 (or halves it), not 8/11
        assert np.isclose(at_epoch_end[0], [lr0, lr0 * 0.5], rtol=1e-6).any()
        return
    expected = np.array([scheduled(s // per_epoch) for s in steps]) * ramp
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    np.testing.assert_allclose(at_epoch_end, [scheduled(e) for e in range(epochs)], rtol=1e-6)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    cfg = toy_task.toy_config(epochs=3)
    cfg["data"]["inject_nan"] = True
    with pytest.raises(TrainingDivergedError, match="loss became nan"):
        train_from_config(cfg, run_dir=tmp_path / "r", preset_dir=tmp_path / "p", verbose=0)
    assert not (tmp_path / "p").exists()


def test_deterministic_runs_give_bitwise_identical_weights(tmp_path):
    runs = [
        train_from_config(
            toy_task.toy_config(),
            run_dir=tmp_path / f"r{i}",
            save_preset=False,
            deterministic=True,
            verbose=0,
        )
        for i in range(2)
    ]
    for a, b in zip(runs[0].model.get_weights(), runs[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- one config vocabulary: old keys of committed presets are translated on load ---------
PRESETS = registry.list_models(pretrained=True)
OLD_KEYS = {key for renames in zoo_config.RENAMED_KEYS.values() for key in renames}


@pytest.mark.parametrize("name", PRESETS)
def test_every_committed_preset_config_upgrades_loads_and_verifies(name):
    directory = registry.preset_dir(name)
    raw_text = (directory / "config.json").read_text()
    raw = json.loads(raw_text)
    upgraded = zoo_config.upgrade(raw)
    assert json.loads(raw_text) == raw, "upgrade must not change its argument"
    for section in ("model", "data"):
        assert not OLD_KEYS & set(upgraded[section]), (name, section)
    assert upgraded["model"]["cell"] in zoo_config.CELLS
    registry.verify_preset(directory)  # the committed file, hashes unchanged
    loaded = registry.load(name)
    assert loaded.config == upgraded
    # configs/<name>.yaml is written in the current vocabulary and describes the same model.
    yaml_config = registry.read_config(registry.CONFIGS_DIR / f"{name}.yaml")
    assert yaml_config["model"] == upgraded["model"]
    assert yaml_config["data"] == upgraded["data"]


@pytest.mark.parametrize(
    "name", ["ner_bilstm_conll2003", "sentiment_lstm_mr", "translate_rnn_spa_eng"]
)
def test_old_key_config_builds_the_same_model_as_the_new_key_config(name):
    from zoo.tasks import get_task

    directory = registry.preset_dir(name)
    old = json.loads((directory / "config.json").read_text())
    assert OLD_KEYS & (set(old["model"]) | set(old["data"])), "this preset has old keys"
    new = registry.read_config(registry.CONFIGS_DIR / f"{name}.yaml")
    assert not OLD_KEYS & (set(new["model"]) | set(new["data"]))
    from_old = registry.load(name).model  # built from the file's old keys, upgraded
    task = get_task(new["task"])
    assets = registry._read_assets(directory)
    from_new = task.build_model(new["model"], assets, data_cfg=new["data"], for_training=False)
    from_new.load_weights(directory / "model.weights.h5")
    old_weights, new_weights = from_old.get_weights(), from_new.get_weights()
    assert len(old_weights) == len(new_weights) > 0
    for a, b in zip(old_weights, new_weights, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_upgrade_translates_each_old_key_and_the_model_name_cell_spelling():
    old = {
        "name": "x",
        "task": "ner",
        "model": {"cell": "rnn", "layers": 2, "embedding_storage": "float32"},
        "data": {"glove_vocab": 10},
        "train": {},
    }
    new = zoo_config.upgrade(old)
    assert new["model"] == {"cell": "simple_rnn", "num_layers": 2, "storage_dtype": "float32"}
    assert new["data"] == {"glove_vocabulary": 10}
    assert old["model"]["layers"] == 2 and old["data"] == {"glove_vocab": 10}
    for key in ("embedding_base_dtype", "weights_dtype"):
        assert zoo_config.upgrade({"model": {key: "float16"}})["model"] == {
            "storage_dtype": "float16"
        }


def test_an_old_key_beside_its_new_name_is_refused():
    with pytest.raises(zoo_config.ConfigError, match="'model.layers'.*'model.num_layers'"):
        zoo_config.upgrade({"model": {"layers": 1, "num_layers": 2}})


def test_an_unknown_key_still_errors_with_did_you_mean():
    from zoo.tasks import get_task

    config = registry.get_config("ner_bilstm_conll2003")
    config["model"]["num_layer"] = config["model"].pop("num_layers")
    with pytest.raises(zoo_config.ConfigError, match="'num_layer'.*did you mean 'num_layers'"):
        get_task("ner").check_config(zoo_config.upgrade(config))

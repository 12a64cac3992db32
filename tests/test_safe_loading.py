"""Loading never executes code from a file.

* Every task model (each ``configs/*.yaml``, shrunk) saves as a ``.keras`` file that a fresh
  process reloads with ``keras.saving.load_model(path, safe_mode=True)`` (our classes are
  registered, nothing is a Lambda) and that gives identical outputs.
* ``safe_mode`` refuses a ``.keras`` file with a Lambda layer, and a file whose config names
  an arbitrary Python callable does not run it.
* Committed presets hold only JSON and numeric HDF5 (no pickles, no object arrays), and
  `zoo.load` + `predict` never unpickle anything.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import yaml

import zoo
from zoo import registry
from zoo.data import ner as ner_data
from zoo.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
PRETRAINED = sorted(p for p in (ROOT / "zoo" / "pretrained").iterdir() if p.is_dir())

#: Tiny assets per task (the real ones are vocabularies of up to 50k words).
ASSETS = {
    "sentiment": {
        "vocabulary": ["", "[UNK]", "good", "bad", "film", "not"],
        "labels": ["negative", "positive"],
        "preprocessing": {"max_length": 20, "train_vocabulary_size": 5},
    },
    "ner": {"words": ["eu", "rejects", "german"], "chars": list("EUrejctsGman"), "tags": []},
    "captioning": {"vocabulary": ["", "[UNK]", "[START]", "[END]", "a", "face", "smiling"]},
    "translation": {
        "source_vocabulary": ["", "[UNK]", "hola", "mundo"],
        "target_vocabulary": ["", "[UNK]", "[START]", "[END]", "hello", "world"],
    },
}
ASSETS["ner"]["tags"] = list(ner_data.TAGS)

_SIZE_KEYS = (
    "units",
    "embedding_dim",
    "feature_dim",
    "target_embedding_dim",
    "encoder_units",
    "decoder_units",
    "attention_units",
    "char_filters",
    "dense_units",
)


def _small(model_cfg: dict) -> dict:
    """The config's architecture with every width set to 8 (same layers, cells, options)."""
    out = dict(model_cfg)
    for key in _SIZE_KEYS:
        if out.get(key):
            out[key] = 8
    if "conv_filters" in out:
        out["conv_filters"] = [4, 8]
    return out


def _inputs(task: str, data_cfg: dict, rng: np.random.Generator):
    """A batch of 2 for the task's model, with padding (name -> array, and how to call)."""
    if task == "sentiment":
        return {"ids": np.array([[2, 3, 4, 0, 0], [5, 1, 2, 3, 4]], "int32")}
    if task == "ner":
        words = np.array([[2, 3, 4, 0], [1, 2, 0, 0]], "int32")
        chars = rng.integers(1, 14, size=(2, 4, 5)).astype("int32") * (words[..., None] > 0)
        return {"words": words, "chars": chars, "casing": (words > 0).astype("int32") * 4}
    if task == "captioning":
        size = int(data_cfg.get("image_size", 64))
        return {
            "images": rng.random((2, size, size, 3)).astype("float32"),
            "caption": np.array([[2, 4, 5, 6], [2, 4, 0, 0]], "int32"),
        }
    return {
        "source": np.array([[2, 3, 0], [3, 2, 2]], "int32"),
        "target": np.array([[2, 4, 5], [2, 5, 0]], "int32"),
    }


def _call(model, task: str, arrays: dict):
    if task in ("sentiment",):
        out = model(arrays["ids"], training=False)
    elif task == "ner":
        out = model(
            {k: arrays[k] for k in ("words", "chars", "casing")},
            training=False,
        )
    elif task == "captioning":
        out = model((arrays["images"], arrays["caption"]), training=False)
    else:
        out = model((arrays["source"], arrays["target"]), training=False)
    return [np.asarray(o) for o in keras.tree.flatten(out)]


#: Run in a fresh interpreter: import the task modules (registers our classes), reload each
#: .keras file with safe_mode=True, call it on the saved inputs, save the outputs.
_RELOAD = r"""
import json, sys
from pathlib import Path
import keras, numpy as np
import zoo.tasks
for name in zoo.tasks.TASKS:
    zoo.tasks.get_task(name)  # imports zoo.tasks.<name>: registers its Keras classes
sys.path.insert(0, sys.argv[2])
from test_safe_loading import _call
for entry in json.loads(Path(sys.argv[1], "manifest.json").read_text()):
    model = keras.saving.load_model(entry["file"], safe_mode=True)
    with np.load(entry["inputs"], allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(entry["reloaded"], *_call(model, entry["task"], arrays))
    modules = sorted({type(x).__module__.split(".")[0] for x in model._flatten_layers()})
    print(json.dumps({"name": entry["name"], "modules": modules}))
"""


#: One config per task, together covering the three cells, bidirectional layers, the CRF,
#: attention and both subclassed models; the slow test takes every config.
REPRESENTATIVE = [
    "sentiment_rnn_mr",
    "ner_bilstm_conll2003",
    "caption_gru_emoji",
    "translate_bigru_spa_eng",
]


def _save_models(root: Path, configs: list[Path]) -> list[dict]:
    """Each config's (shrunk) model saved as .keras, with its inputs and outputs."""
    rng = np.random.default_rng(0)
    manifest = []
    for path in configs:
        cfg = yaml.safe_load(path.read_text())
        task = get_task(cfg["task"])
        keras.utils.set_random_seed(0)
        model = task.build_model(_small(cfg["model"]), ASSETS[cfg["task"]], data_cfg=cfg["data"])
        arrays = _inputs(cfg["task"], cfg["data"], rng)
        entry = {
            "name": cfg["name"],
            "task": cfg["task"],
            "file": str(root / f"{cfg['name']}.keras"),
            "inputs": str(root / f"{cfg['name']}.inputs.npz"),
            "reloaded": str(root / f"{cfg['name']}.reloaded.npz"),
        }
        model.save(entry["file"])
        np.savez(entry["inputs"], **arrays)
        entry["outputs"] = _call(model, cfg["task"], arrays)
        manifest.append(entry)
    (root / "manifest.json").write_text(
        json.dumps([{k: v for k, v in e.items() if k != "outputs"} for e in manifest])
    )
    return manifest


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras_files")
    return root, _save_models(root, [ROOT / "configs" / f"{n}.yaml" for n in REPRESENTATIVE])


def _check_reload_in_fresh_process(root: Path, manifest: list[dict]) -> None:
    assert {e["task"] for e in manifest} == {"sentiment", "ner", "captioning", "translation"}
    res = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(root), str(Path(__file__).parent)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for entry in manifest:
        with np.load(entry["reloaded"], allow_pickle=False) as f:
            reloaded = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
        assert len(reloaded) == len(entry["outputs"]), entry["name"]
        for a, b in zip(entry["outputs"], reloaded):
            np.testing.assert_array_equal(a, b, err_msg=entry["name"])
    # every layer of every reloaded model is ours or Keras's
    printed = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [p["name"] for p in printed] == [e["name"] for e in manifest]
    for p in printed:
        assert set(p["modules"]) <= {"zoo", "keras"}, p


@pytest.mark.xdist_group("subprocess")
def test_task_models_reload_with_safe_mode_in_a_fresh_process_with_identical_outputs(
    saved_models,
):
    _check_reload_in_fresh_process(*saved_models)


@pytest.mark.slow
@pytest.mark.xdist_group("subprocess")
def test_every_config_model_reloads_with_safe_mode_in_a_fresh_process(tmp_path):
    _check_reload_in_fresh_process(tmp_path, _save_models(tmp_path, CONFIGS))


def test_keras_file_members_are_json_and_numeric_hdf5(saved_models):
    _, manifest = saved_models
    for entry in manifest:
        with zipfile.ZipFile(entry["file"]) as z:
            names = set(z.namelist())
            assert names <= {"config.json", "metadata.json", "model.weights.h5"}, names
            json.loads(z.read("config.json"))
            z.extract("model.weights.h5", Path(entry["file"]).parent / entry["name"])
        _assert_numeric_hdf5(Path(entry["file"]).parent / entry["name"] / "model.weights.h5")


def _tiny_model(layer) -> keras.Model:
    inp = keras.Input((3,))
    return keras.Model(inp, layer(inp))


def test_keras_file_with_a_lambda_layer_is_refused_under_safe_mode(tmp_path):
    path = tmp_path / "lambda.keras"
    _tiny_model(keras.layers.Lambda(lambda x: x + 1.0)).save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)


def test_keras_file_naming_an_arbitrary_callable_does_not_run_it(tmp_path):
    # A hand-edited .keras file whose layer is `subprocess.Popen(["touch", marker])`.
    plain, evil, marker = tmp_path / "plain.keras", tmp_path / "evil.keras", tmp_path / "RAN"
    _tiny_model(keras.layers.Dense(2, name="d")).save(plain)
    with zipfile.ZipFile(plain) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    layer = next(x for x in config["config"]["layers"] if x["class_name"] == "Dense")
    layer.update(
        module="subprocess",
        class_name="Popen",
        registered_name=None,
        config={"args": ["touch", str(marker)]},
    )
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(evil, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises((TypeError, ValueError)):
        keras.saving.load_model(evil, safe_mode=True)
    assert not marker.exists()


# -- committed presets ------------------------------------------------------------------

_ALLOWED_SUFFIXES = {".json", ".h5"}
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _assert_numeric_hdf5(path: Path) -> None:
    """Every dataset numeric (no object / variable-length dtype), every attribute a string
    or a number."""

    def check_attrs(obj):
        for key, value in obj.attrs.items():
            assert isinstance(value, (str, bytes, int, float, np.number)) or (
                isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
            ), f"{path}:{obj.name} attribute {key!r} is {type(value).__name__}"

    def visit(name, obj):
        check_attrs(obj)
        if isinstance(obj, h5py.Dataset):
            assert obj.dtype.kind in "biuf", f"{path}:{name} has dtype {obj.dtype}"
            assert h5py.check_vlen_dtype(obj.dtype) is None, f"{path}:{name} is variable-length"

    with h5py.File(path, "r") as f:
        check_attrs(f)
        f.visititems(visit)


@pytest.mark.parametrize("preset", PRETRAINED, ids=[p.name for p in PRETRAINED])
def test_committed_preset_holds_only_json_and_numeric_hdf5(preset):
    files = [p for p in preset.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert path.suffix in _ALLOWED_SUFFIXES, f"unexpected file {path}"
        head = path.read_bytes()[:2]
        assert head not in _PICKLE_MAGIC, f"{path} looks like a pickle"
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            assert h5py.is_hdf5(path), path
            _assert_numeric_hdf5(path)
    registry.verify_preset(preset)  # and every file is the one recorded


@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every way of unpickling (and numpy's pickle opt-in) fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    real_np_load = np.load

    def np_load(*args, **kwargs):
        assert not kwargs.get("allow_pickle"), "np.load(allow_pickle=True)"
        return real_np_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", np_load)


#: One preset per task (all presets of a task share the loading code).
ONE_PER_TASK = [
    "sentiment_bilstm_mr",
    "ner_bilstm_conll2003",
    "caption_lstm_emoji",
    "translate_bigru_spa_eng",
]


@pytest.mark.parametrize("name", ONE_PER_TASK)
def test_zoo_load_and_predict_never_unpickle(name, no_unpickling):
    model = zoo.load(name)
    inputs = model.task.example_inputs()[:2]
    out = model.predict(inputs)
    assert len(out) == len(inputs)


def test_tampered_config_naming_a_python_callable_is_refused_without_running_it(tmp_path):
    """Even a preset whose hashes were recomputed (an attacker controls every file) cannot
    make `zoo.load` import a callable: configs hold hyperparameters, never classes."""
    import shutil

    from zoo._io import sha256_file

    preset = tmp_path / "preset"
    shutil.copytree(ROOT / "zoo" / "pretrained" / "sentiment_rnn_mr", preset)
    marker = tmp_path / "RAN"
    config = json.loads((preset / "config.json").read_text())
    config["model"]["cell"] = {
        "module": "subprocess",
        "class_name": "Popen",
        "config": {"args": ["touch", str(marker)]},
    }
    (preset / "config.json").write_text(json.dumps(config))
    meta = json.loads((preset / "metadata.json").read_text())
    meta["files"]["config.json"] = sha256_file(preset / "config.json")
    (preset / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises((ValueError, TypeError)):
        zoo.load(preset)
    assert not marker.exists()

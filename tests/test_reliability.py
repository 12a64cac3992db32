"""Faults and scale: a SIGKILLed run resumes to the same weights; MirroredStrategy on two
logical devices equals one device; two MultiWorkerMirroredStrategy workers agree."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "run_toy_train.py"


def _run(args, env=None, timeout=300):
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.xdist_group("subprocess")
def test_sigkilled_run_resumes_and_matches_uninterrupted_run(tmp_path):
    # 256 train examples / batch 32 = 8 batches per epoch; kill in the middle of epoch 3.
    ref = _run([tmp_path / "ref", tmp_path / "ref.npz"])
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed = _run([tmp_path / "run", tmp_path / "run.npz"], env={"ZOO_TEST_KILL_AT_BATCH": "20"})
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    backup = json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())
    assert backup["epoch"] == 2  # two whole epochs were backed up before the kill
    resumed = _run([tmp_path / "run", tmp_path / "run.npz"])  # the same command again
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = (tmp_path / "run" / "history.csv").read_text().strip().splitlines()
    assert [int(r.split(",")[0]) for r in history[1:]] == [0, 1, 2, 3]
    for a, b in zip(_weights(tmp_path / "ref.npz"), _weights(tmp_path / "run.npz")):
        np.testing.assert_array_equal(a, b)


@pytest.mark.xdist_group("subprocess")
def test_mirrored_strategy_on_two_logical_devices_equals_one_device(tmp_path):
    # Unshuffled: the distributed input pipeline is a rewritten clone whose shuffle order need
    # not match the single-device one; what must match is the arithmetic of the update.
    one = _run(
        [
            tmp_path / "one",
            tmp_path / "one.npz",
            "--devices",
            "2",
            "--batch-size",
            "64",
            "--no-shuffle",
        ]
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = _run(
        [
            tmp_path / "two",
            tmp_path / "two.npz",
            "--devices",
            "2",
            "--strategy",
            "mirrored",
            "--batch-size",
            "32",
            "--no-shuffle",
        ]
    )  # 32 per replica x 2 replicas = the same global batch
    assert two.returncode == 0, two.stderr[-2000:]
    assert "replicas 1" in one.stdout and "replicas 2" in two.stdout, (one.stdout, two.stdout)
    for a, b in zip(_weights(tmp_path / "one.npz"), _weights(tmp_path / "two.npz")):
        np.testing.assert_allclose(a, b, atol=1e-4)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.xdist_group("subprocess")
def test_two_multiworker_processes_train_to_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(tf_config)}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(SCRIPT),
                    str(tmp_path / f"w{i}"),
                    str(tmp_path / f"w{i}.npz"),
                    "--strategy",
                    "multiworker",
                    "--epochs",
                    "2",
                    "--batch-size",
                    "16",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    w0, w1 = _weights(tmp_path / "w0.npz"), _weights(tmp_path / "w1.npz")
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert any(np.abs(a).sum() > 0 for a in w0)


def _bucketed(sizes_and_lengths, with_weights=False):
    """Batches like a length-bucketed pipeline: ({"ids": [n, t]}, y [n][, w [n]]) with the
    example index stored in y, so the test can see which examples survive."""
    import tensorflow as tf

    batches, start = [], 0
    for n, t in sizes_and_lengths:
        idx = np.arange(start, start + n)
        start += n
        ids = np.tile(idx[:, None] + 1, (1, t)).astype("int32")
        batch = ({"ids": ids}, idx.astype("float32"))
        batches.append((*batch, np.ones(n, "float32")) if with_weights else batch)

    def gen():
        yield from batches

    spec = (
        {"ids": tf.TensorSpec([None, None], tf.int32)},
        tf.TensorSpec([None], tf.float32),
    )
    if with_weights:
        spec = (*spec, tf.TensorSpec([None], tf.float32))
    return tf.data.Dataset.from_generator(gen, output_signature=spec), batches


@pytest.mark.parametrize("with_weights", [False, True])
@pytest.mark.parametrize("replicas", [2, 3])
def test_even_batches_gives_every_replica_an_equal_nonempty_shard(replicas, with_weights):
    from zoo.train import even_batches

    layout = [(16, 9), (7, 17), (1, 4), (2, 30), (5, 5), (16, 3)]  # partial bucket ends
    ds, batches = _bucketed(layout, with_weights)
    out = list(even_batches(ds, replicas).as_numpy_iterator())
    expected = [b for b in batches if len(b[1]) >= replicas]
    assert len(out) == len(expected)
    for got, src in zip(out, expected):
        n = len(src[1])
        keep = n - n % replicas
        assert len(got) == len(src)  # same structure (2- or 3-tuple)
        assert got[0]["ids"].shape == (keep, src[0]["ids"].shape[1])  # padding length kept
        np.testing.assert_array_equal(got[0]["ids"], src[0]["ids"][:keep])
        np.testing.assert_array_equal(got[1], src[1][:keep])
        assert keep % replicas == 0 and keep > 0
    dropped = sum(len(b[1]) for b in batches) - sum(len(g[1]) for g in out)
    assert dropped <= (replicas - 1) * len(batches)


def test_even_batches_is_identity_on_one_replica():
    from zoo.train import even_batches

    ds, _ = _bucketed([(3, 2), (1, 5)])
    assert even_batches(ds, 1) is ds


@pytest.mark.xdist_group("subprocess")
@pytest.mark.parametrize(
    "config",
    [
        # Buckets by length; in smoke mode its first global batch (2 x 64) holds 23
        # sentences, which Keras 3.15 cannot build a model from when split 12 + 11.
        "sentiment_rnn_mr",
        # Bucketed; a 1-sentence batch leaves one replica an empty shard, on which
        # TensorFlow's Conv1D (the character CNN) returns a wrongly shaped result.
        pytest.param("ner_bilstm_conll2003", marks=pytest.mark.slow),
    ],
)
def test_bucketed_smoke_training_under_mirrored_on_two_devices_finishes(tmp_path, config):
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--zoo-cli",
            "2",
            "train",
            str(root / "configs" / f"{config}.yaml"),
            "--smoke",
            "--epochs",
            "1",
            "--strategy",
            "mirrored",
            "--run-dir",
            str(tmp_path / "run"),
            "--preset-dir",
            str(tmp_path / "preset"),
        ],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert meta["num_replicas"] == 2 and meta["strategy"] == "MirroredStrategy"
    saved = json.loads((tmp_path / "preset" / "config.json").read_text())
    assert saved["data"].get("bucketing", True) is True  # NER always buckets its train split
    assert len(meta["history"]["loss"]) == 1 and np.isfinite(meta["history"]["loss"][0])


# -- faults: divergence and crashes while writing ----------------------------------------


@pytest.fixture
def toy(monkeypatch, tmp_path):
    import toy_task

    from zoo import registry
    from zoo.tasks import TASKS

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(registry.TASK_PREFIX, "toy", "toy")
    toy_task.register()
    yield toy_task
    TASKS.pop("toy", None)


def _toy_model():
    import keras

    from zoo.layers import make_recurrent

    inputs = keras.Input((6, 3))
    return keras.Model(inputs, keras.layers.Dense(1)(make_recurrent("gru", 4)(inputs)))


def _half_written_h5(path, *args, **kwargs):
    Path(path).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 16)  # a truncated HDF5 file
    raise OSError("No space left on device")


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "tmp" in p.name or ".old-" in p.name)


def test_best_checkpoint_ignores_an_epoch_whose_training_loss_is_not_finite(tmp_path):
    from zoo.callbacks import BestCheckpoint

    model = _toy_model()
    path = tmp_path / "best.weights.h5"
    cb = BestCheckpoint(path, "val_accuracy", "max")
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_accuracy": 0.6, "loss": 0.7})
    good = [w.copy() for w in model.get_weights()]
    model.set_weights([np.full_like(w, np.nan) for w in good])
    # a NaN model's accuracy can look better (every NaN prediction counts as class 0)
    cb.on_epoch_end(1, {"val_accuracy": 0.9, "loss": float("nan")})
    assert cb.best == 0.6
    fresh = _toy_model()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), good):
        np.testing.assert_array_equal(a, b)


def test_crash_while_writing_the_best_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    from zoo.callbacks import BestCheckpoint

    model = _toy_model()
    path = tmp_path / "best.weights.h5"
    cb = BestCheckpoint(path, "val_loss", "min")
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_loss": 0.5, "loss": 0.5})
    good = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in good])
    monkeypatch.setattr(model, "save_weights", _half_written_h5)
    with pytest.raises(OSError, match="No space left"):
        cb.on_epoch_end(1, {"val_loss": 0.1, "loss": 0.1})
    assert cb.best == 0.5  # the failed write is not recorded as the best
    fresh = _toy_model()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), good):
        np.testing.assert_array_equal(a, b)
    assert _leftovers(tmp_path) == []


def test_diverging_run_stops_clearly_and_keeps_the_last_good_checkpoint(toy, tmp_path, monkeypatch):
    import keras

    from zoo.train import TrainingDivergedError, train_from_config

    snapshot = {}

    class PoisonSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                snapshot["good"] = [w.copy() for w in self.model.get_weights()]

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # as if an update had blown up the weights
                self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])

    monkeypatch.setattr(toy.ToyTask, "callbacks", lambda self, *a: [PoisonSecondEpoch()])
    cfg = toy.toy_config(epochs=4)
    with pytest.raises(TrainingDivergedError, match="loss became nan in epoch 2") as e:
        train_from_config(cfg, run_dir=tmp_path / "r", preset_dir=tmp_path / "p", verbose=0)
    best = tmp_path / "r" / "best.weights.h5"
    assert f"intact at '{best}'" in str(e.value)
    model = toy.ToyTask().build_model(cfg["model"], {}, data_cfg=cfg["data"])
    model.load_weights(best)
    for a, b in zip(model.get_weights(), snapshot["good"]):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "p").exists()  # no preset from a diverged run


def test_crash_while_writing_a_preset_leaves_the_old_preset_intact(toy, tmp_path, monkeypatch):
    from zoo import registry
    from zoo._io import sha256_file
    from zoo.train import train_from_config

    res = train_from_config(
        toy.toy_config(), run_dir=tmp_path / "r", preset_dir=tmp_path / "out" / "p", verbose=0
    )
    preset = res.preset
    before = {p.name: sha256_file(p) for p in preset.rglob("*") if p.is_file()}
    monkeypatch.setattr(registry, "_save_model_weights", lambda m, path: _half_written_h5(path))
    with pytest.raises(OSError, match="No space left"):
        registry.save_preset(res.model, res.config, res.assets, {}, preset, overwrite=True)
    after = {p.name: sha256_file(p) for p in preset.rglob("*") if p.is_file()}
    assert after == before
    registry.verify_preset(preset)
    x = toy.make_arrays(res.config["data"], 0, "test")[0][:4]
    np.testing.assert_allclose(
        registry.load(preset).model.predict(x, verbose=0), res.model.predict(x, verbose=0)
    )
    assert _leftovers(preset.parent) == []


def test_cli_train_passes_strategy_and_deterministic_to_the_training_function(
    monkeypatch, tmp_path, capsys
):
    import zoo.train
    from zoo.cli import main

    seen = {}

    def fake_train(config, **kwargs):
        seen.update(kwargs, config=config)
        raise ValueError("stop here")  # the CLI turns it into one line, exit 1

    monkeypatch.setattr(zoo.train, "train_from_config", fake_train)
    cfg = str(Path(__file__).resolve().parents[1] / "configs" / "sentiment_rnn_mr.yaml")
    code = main(["train", cfg, "--strategy", "mirrored", "--deterministic", "--smoke"])
    assert code == 1 and "stop here" in capsys.readouterr().err
    assert seen["config"] == cfg
    assert seen["strategy"] == "mirrored" and seen["deterministic"] is True and seen["smoke"]

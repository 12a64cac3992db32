"""Table-driven: bad input across the public API gives a specific exception naming what
was wrong, what was received and what is expected; the CLI prints one line, exits non-zero."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import registry
from zoo.cli import main
from zoo.data.sources import Artifact, SourceUnavailableError, fetch
from zoo.layers import GRU, LSTM, Bidirectional, SimpleRNN, make_recurrent
from zoo.tasks import get_task
from zoo.train import make_strategy, train_from_config


@functools.cache
def _zoo_model(name):
    return zoo.load(name)


def _png_bytes():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


def _cfg(**over):
    cfg = {"name": "x", "task": "sentiment", "model": {"cell": "lstm"}, "data": {}, "train": {}}
    cfg.update(over)
    return cfg


CASES = [
    ("units=0", lambda: LSTM(0), ValueError, "'units'"),
    ("units=-3", lambda: GRU(-3), ValueError, "-3"),
    ("units='8'", lambda: SimpleRNN("8"), ValueError, "'units'"),
    ("unknown activation", lambda: LSTM(4, activation="wiggle"), ValueError, "wiggle"),
    ("dropout > 1", lambda: LSTM(4, dropout=1.5), ValueError, "dropout"),
    (
        "Bidirectional(Dense)",
        lambda: Bidirectional(__import__("keras").layers.Dense(3)),
        ValueError,
        "Dense",
    ),
    ("bad merge_mode", lambda: Bidirectional(LSTM(4), merge_mode="max"), ValueError, "merge_mode"),
    ("2-D input", lambda: LSTM(4)(np.zeros((2, 3), "float32")), ValueError, "3"),
    ("unknown cell", lambda: make_recurrent("lstmm", 4), ValueError, "'lstm'"),
    ("unknown task", lambda: get_task("poetry"), ValueError, "'task'"),
    (
        "unknown model",
        lambda: zoo.load("sentimnt_bilstm_mr"),
        registry.UnknownModelError,
        "sentiment_bilstm_mr",
    ),
    ("model name of wrong type", lambda: zoo.load(3.5), TypeError, "'name'"),
    ("list_models bad task", lambda: zoo.list_models(task="poetry"), ValueError, "'task'"),
    ("info unknown", lambda: zoo.info("nope_nope"), registry.UnknownModelError, "list_models"),
    ("config not a mapping", lambda: registry.validate_config([1, 2]), ValueError, "mapping"),
    ("config unknown key", lambda: registry.validate_config(_cfg(colour=1)), ValueError, "colour"),
    (
        "config missing key",
        lambda: registry.validate_config({"name": "x", "task": "ner", "model": {}, "data": {}}),
        ValueError,
        "train",
    ),
    (
        "config section wrong type",
        lambda: registry.validate_config(_cfg(model=[1])),
        ValueError,
        "'model'",
    ),
    (
        "missing config file",
        lambda: registry.read_config("/nonexistent/x.yaml"),
        FileNotFoundError,
        "x.yaml",
    ),
    ("epochs=0", lambda: train_from_config(_cfg(train={"epochs": 0})), ValueError, "train.epochs"),
    (
        "batch_size=True",
        lambda: train_from_config(_cfg(train={"batch_size": True})),
        ValueError,
        "train.batch_size",
    ),
    (
        "learning_rate=100",
        lambda: train_from_config(_cfg(train={"learning_rate": 100})),
        ValueError,
        "train.learning_rate",
    ),
    (
        "unknown optimizer",
        lambda: train_from_config(_cfg(train={"optimizer": "adamm"})),
        ValueError,
        "train.optimizer",
    ),
    (
        "unknown train key",
        lambda: train_from_config(_cfg(train={"epoch": 3})),
        ValueError,
        "'epoch'",
    ),
    ("unknown strategy", lambda: make_strategy("tpu-pod"), ValueError, "'strategy'"),
    (
        "export bad format",
        lambda: zoo.export("sentiment_bilstm_mr", "/tmp/x", format="onnx2"),
        ValueError,
        "'format'",
    ),
    ("export wrong type", lambda: zoo.export(object(), "/tmp/never"), TypeError, "'model'"),
    (
        "preset dir without files",
        lambda: registry.verify_preset("/tmp"),
        registry.PresetError,
        "config.json",
    ),
    (
        "entity_f1 misaligned",
        lambda: zoo.metrics.entity_f1([["O"]], [["O", "O"]]),
        ValueError,
        "Sentence 0",
    ),
    (
        "entity_f1 count mismatch",
        lambda: zoo.metrics.entity_f1([["O"]], []),
        ValueError,
        "sentences",
    ),
    ("train config of wrong type", lambda: train_from_config(3), TypeError, "'config'"),
    (
        "train strategy of wrong type",
        lambda: train_from_config(_cfg(), strategy=2),
        TypeError,
        "'strategy'",
    ),
    (
        "sentiment predict non-str item",
        lambda: _zoo_model("sentiment_bilstm_mr").predict(["fine", 3]),
        TypeError,
        "item 1",
    ),
    (
        "ner predict None item",
        lambda: _zoo_model("ner_bilstm_conll2003").predict([None]),
        TypeError,
        "item 0",
    ),
    (
        "translation predict bytes item",
        lambda: _zoo_model("translate_bigru_spa_eng").predict(["hola", b"mundo"]),
        TypeError,
        "inputs[1]",
    ),
    (
        "undecodable image bytes",
        lambda: _zoo_model("caption_lstm_emoji").predict([b"definitely not an image"]),
        tf.errors.InvalidArgumentError,
        "not a PNG, JPEG, GIF or BMP image",
    ),
    (
        "truncated image",
        lambda: _zoo_model("caption_lstm_emoji").predict([_png_bytes()[:30]]),
        tf.errors.InvalidArgumentError,
        "corrupt or truncated",
    ),
    (
        "image array with 7 channels",
        lambda: _zoo_model("caption_lstm_emoji").predict([np.zeros((4, 4, 7), "uint8")]),
        ValueError,
        "(4, 4, 7)",
    ),
    (
        "cell of wrong type (a serialized object)",
        lambda: make_recurrent({"module": "os", "class_name": "system"}, 4),
        ValueError,
        "'cell'",
    ),
]
#: Known gaps: the case fails today; fix the code, then drop the mark.
KNOWN_GAPS: dict[str, str] = {}  # what: why (cases expected to fail until fixed)


@pytest.mark.parametrize(
    ("what", "call", "exc", "fragment"),
    [
        pytest.param(*c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[c[0]]))
        if c[0] in KNOWN_GAPS
        else c
        for c in CASES
    ],
    ids=[c[0] for c in CASES],
)
def test_bad_input_gets_a_specific_error(what, call, exc, fragment, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    with pytest.raises(exc) as e:
        call()
    assert fragment in str(e.value), f"{what}: {e.value}"


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30


def test_missing_artifact_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.delenv("ZOO_MIRROR", raising=False)
    with pytest.raises(SourceUnavailableError, match="nothing.zip"):
        fetch(Artifact("nothing.zip", "0" * 64, url="https://example.org/nothing.zip"))


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["info", "no_such_model"], 2),
        (["predict", "no_such_model", "hi"], 2),
        (["export", "no_such_model", "/tmp/zoo-never"], 2),
        (["train", "/nonexistent.yaml"], 2),
        (["data", "info", "no_such_dataset"], 2),
        (["list", "--task", "poetry"], 2),
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(argv, code, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["predict", "caption_lstm_emoji", "{tmp}/notes.png"], 1, "not a PNG, JPEG, GIF or BMP"),
        (["predict", "caption_lstm_emoji", "/nonexistent.png"], 1, "no such file"),
        (["evaluate", "sentiment_bilstm_mr", "--limit", "-3"], 1, "'limit'"),
        (["train", "configs/nope.yaml"], 2, "nope.yaml"),
    ],
)
def test_cli_error_is_exactly_one_line_naming_the_problem(argv, code, fragment, capsys, tmp_path):
    (tmp_path / "notes.png").write_text("just some text, not an image\n")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("zoo: error: ") and fragment in err[0], err[0]

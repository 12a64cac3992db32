"""A newcomer's first hour: a quiet terminal, readable answers, one-line config errors.

The subprocess tests start the CLI with a clean environment (no TF_CPP_MIN_LOG_LEVEL, no
ZOO_MIRROR), as a user's shell would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import toy_task
import yaml

from zoo import registry
from zoo.cli import main
from zoo.data import sources

ROOT = Path(__file__).resolve().parents[1]
#: What TensorFlow's native start-up logs look like (absl prefixes, the CPU banner).
TF_STARTUP = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|To enable the following)", re.M)


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ZOO_"))}
    return {**env, **extra}


def _zoo(*argv, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zoo", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(**env),
        cwd=ROOT,
    )


@pytest.mark.parametrize("name", ["sentiment_lstm_lex_mr", "ner_bilstm_conll2003"])
def test_cli_prints_no_tensorflow_log_lines_from_a_clean_shell(name):
    # Both run a masked recurrent layer, for which oneDNN logs an error-level line.
    proc = _zoo("predict", name, "Angela Merkel loved the film in Paris.")
    assert proc.returncode == 0, proc.stderr
    assert not TF_STARTUP.search(proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout.strip()


def test_verbose_brings_tensorflow_logs_back():
    # The check that the silencing is real: the same command with ZOO_VERBOSE=1 shows them.
    proc = _zoo("--verbose", "predict", "sentiment_lstm_mr", "A warm and funny film.")
    assert proc.returncode == 0, proc.stderr
    assert TF_STARTUP.search(proc.stderr), "no TensorFlow start-up line to silence here"


def test_list_and_info_do_not_import_tensorflow():
    code = (
        "import sys; from zoo.cli import main; "
        "assert main(['list']) == 0; assert main(['info', 'ner_bilstm_conll2003']) == 0; "
        "assert main(['list', '--markdown']) == 0; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False False"


def test_info_is_a_short_card_and_json_has_everything(capsys):
    assert main(["info", "ner_bilstm_conll2003"]) == 0
    card = capsys.readouterr().out.strip().splitlines()
    assert len(card) <= 14
    text = "\n".join(card)
    for fragment in ("task", "ner", "lstm", "f1", "±", "MB", "python -m zoo train", "licence"):
        assert fragment in text, fragment
    assert main(["info", "ner_bilstm_conll2003", "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["metrics_seeds"]["seeds"] and full["model"]["cell"] == "lstm"


def test_info_of_a_casing_robust_tagger_gives_its_lower_cased_f1(capsys):
    name = "ner_bilstm_casepair_conll2003"
    assert main(["info", name]) == 0
    text = capsys.readouterr().out
    lower = registry.info(name)["metrics"]["f1_lowercased"]
    assert f"lower-cased text: {lower:.2f}" in text
    assert main(["info", "ner_bilstm_conll2003"]) == 0
    assert "lower-cased" not in capsys.readouterr().out  # not measured for it


def _config(tmp_path, name, mutate) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "sentiment_lstm_mr.yaml").read_text())
    mutate(cfg)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


BAD_CONFIGS = {
    "top_level_typo": (lambda c: c.__setitem__("trian", c.pop("train")), ["'trian'", "'train'"]),
    "section_key_typo": (
        lambda c: c["model"].__setitem__("unitz", c["model"].pop("units")),
        ["'unitz'", "'model'", "did you mean 'units'"],
    ),
    "data_key_typo": (
        lambda c: c["data"].__setitem__("max_lenght", 3),
        ["'max_lenght'", "did you mean 'max_length'"],
    ),
    "unknown_cell": (
        lambda c: c["model"].__setitem__("cell", "lstn"),
        ["'model.cell'", "'lstn'", "did you mean 'lstm'", "'gru'"],
    ),
    "wrong_type": (
        lambda c: c["train"].__setitem__("batch_size", "32"),
        ["'train.batch_size'", "'32'", "positive integer"],
    ),
    "schedule_typo": (
        lambda c: c["train"].__setitem__("lr_schedule", {"type": "cosin"}),
        ["lr_schedule.type", "did you mean 'cosine'"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line_naming_file_key_and_fix(case, tmp_path, capsys):
    mutate, fragments = BAD_CONFIGS[case]
    path = _config(tmp_path, case, mutate)
    assert main(["train", str(path), "--smoke", "--run-dir", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"zoo: error: {path}: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("name: x\n  task: [oops\n", "not valid YAML at line 2"), (b"\xff\xfe\x00bin", "not a text")],
)
def test_file_that_is_not_yaml_exits_2_in_one_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "broken.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["train", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and fragment in lines[0], lines


READABLE = {
    "ner_bilstm_conll2003": (
        "Angela Merkel met Emmanuel Macron in Paris.",
        "Angela Merkel [PER] met Emmanuel Macron [PER] in Paris [LOC] .",
    ),
    "sentiment_lstm_mr": (
        "A warm, funny and beautifully acted film.",
        r"^positive +[01]\.\d\d  A warm",
    ),
    "translate_bigru_spa_eng": ("Hace mucho frío hoy.", r"^Hace mucho frío hoy\.  ->  \w"),
}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_predict_prints_readable_lines_and_json_on_request(name, capsys):
    text, expected = READABLE[name]
    assert main(["predict", name, text]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and not out.startswith(("{", "["))
    if name.startswith("ner"):
        assert out == expected
    else:
        assert re.search(expected, out), out
    assert main(["predict", name, text, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["input"] == text


def test_caption_predict_reads_image_paths_and_names_an_undecodable_one(tmp_path, capsys):
    from zoo.data import captioning

    good = tmp_path / "good.png"
    good.write_bytes(captioning.sample_images(n=1)[0])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    assert main(["predict", "caption_lstm_emoji", str(good)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{good}  ->  ") and len(out) > len(str(good)) + 6
    assert main(["predict", "caption_lstm_emoji", str(good), str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0], err


def test_train_says_seed_early_stop_and_what_to_try(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    toy_task.register()
    config = tmp_path / "toy.yaml"
    # patience 0 and a learning rate too small to improve validation: early stopping fires.
    config.write_text(yaml.safe_dump(toy_task.toy_config(epochs=6, patience=0, seed=0)))
    preset = tmp_path / "preset"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(config), "--preset-dir", str(preset)]) == 0
    out, err = capsys.readouterr()
    assert "seed 0:" in err and "seed None" not in err
    meta = json.loads((preset / "metadata.json").read_text())
    if meta["epochs_run"] < 6:
        assert f"early stopping ended the run at epoch {meta['epochs_run']} of 6" in err
    else:
        assert "ran all 6 epochs" in err
    assert f"kept the weights of epoch {meta['best_epoch']}" in err
    assert f"zoo predict {preset}" in out and f"zoo evaluate {preset}" in out
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "shuffle=True" in m or "ran out of data" in m], messages


def test_unknown_cardinality_pipeline_trains_without_keras_warnings(tmp_path, monkeypatch):
    # Length-bucketed pipelines have unknown cardinality; Keras warned "Your input ran out
    # of data" at the end of every validation pass until the trainer counted them.
    import tensorflow as tf

    from zoo.train import train_from_config

    toy_task.register()
    original = toy_task.ToyTask.load_data

    def unknown_cardinality(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        keep = lambda x, y: tf.reduce_all(tf.math.is_finite(x))  # noqa: E731
        data.train, data.validation = data.train.filter(keep), data.validation.filter(keep)
        assert int(data.validation.cardinality()) < 0
        return data

    monkeypatch.setattr(toy_task.ToyTask, "load_data", unknown_cardinality)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_from_config(
            toy_task.toy_config(epochs=2), run_dir=tmp_path / "r", save_preset=False, verbose=0
        )
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "ran out of data" in m or "shuffle=True" in m], messages


def test_export_ends_with_signatures_and_a_snippet_that_runs(tmp_path, capsys):
    target = tmp_path / "sentiment"
    assert main(["export", "sentiment_lstm_mr", str(target)]) == 0
    out = capsys.readouterr().out
    assert "serving_default(text: string[scalar or batch])" in out
    snippet = out.split("Call it from Python (plain TensorFlow, no zoo needed):\n", 1)[1]
    code = "\n".join(line[2:] for line in snippet.splitlines() if line.startswith("  "))
    assert code.count("\n") == 2, code  # three lines
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_clean_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert "probability" in proc.stdout or "label" in proc.stdout, proc.stdout


def test_mirror_defaults_to_shared_data_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("ZOO_MIRROR", raising=False)
    expected = [sources.DEFAULT_MIRROR] if sources.DEFAULT_MIRROR.is_dir() else []
    assert sources.mirror_dirs() == expected
    monkeypatch.setenv("ZOO_MIRROR", "")
    assert sources.mirror_dirs() == []  # an explicit empty value turns the mirror off


def test_results_table_does_not_need_tensorflow_and_ranks_by_recorded_metric():
    table = registry.results_table()
    assert "| `ner_bilstm_conll2003` | ner | bilstm |" in table


def test_smoke_training_and_limited_evaluation_do_not_throw_caches_away(tmp_path):
    # TensorFlow's warning "The calling iterator did not fully read the dataset being
    # cached" came from TFDS's auto-cache under take(k); with every log level shown it
    # must not appear.
    proc = _zoo(
        "--verbose",
        "train",
        "configs/sentiment_lstm_mr.yaml",
        "--smoke",
        "--epochs",
        "1",
        "--run-dir",
        str(tmp_path / "run"),
        "--preset-dir",
        str(tmp_path / "preset"),
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cache_dataset_ops" not in proc.stderr
    assert TF_STARTUP.search(proc.stderr)  # the logs were on, so the check could fail
